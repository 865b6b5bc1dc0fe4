"""The fleet's benchmark (docs/benchmarks.md, "A fleet on Dagster"); not part of the tests.

    orchestrate/dagster/.venv/bin/python orchestrate/dagster/bench_fleet.py dagster-run
    orchestrate/dagster/.venv/bin/python orchestrate/dagster/bench_fleet.py fleet output/fleet

`dagster-run`: what one Dagster run costs, measured with `os.wait4` on a child:
a fresh process that loads Dagster and runs a one-op job on a SQLite instance (what
Dagster's default run launcher starts per run), and the marginal CPU of one more
in-process run once Dagster is loaded.

`fleet`: from a finished fleet-demo (`measure.json`, `fleet_state.json` and the
sandbox's `brands.json`): the tree's peak RSS, CPU per account-window, and each
account's time to a full sync against its own quota bound.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path

_ONE_RUN = """
import os, resource, sys, time
from dagster import DagsterInstance, job, op
@op
def noop() -> None:
    pass
@job
def one() -> None:
    noop()
instance = DagsterInstance.get()
one.execute_in_process(instance=instance)
if len(sys.argv) > 1:
    n = int(sys.argv[1])
    before = resource.getrusage(resource.RUSAGE_SELF)
    for _ in range(n):
        one.execute_in_process(instance=instance)
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) / n
    print(f"marginal_cpu_seconds={cpu:.3f}")
"""


def _child(argv: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    process = subprocess.Popen(  # noqa: S603
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    out = process.stdout.read() if process.stdout else ""
    _, _, usage = os.wait4(process.pid, 0)
    return usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, out


def dagster_run() -> None:
    """Print the CPU and peak RSS of a Dagster run, fresh and in process."""
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "DAGSTER_HOME": home}
        fresh = [_child([sys.executable, "-c", _ONE_RUN], env) for _ in range(3)]
        _, _, out = _child([sys.executable, "-c", _ONE_RUN, "10"], env)
        bare = [_child([sys.executable, "-c", "pass"], env) for _ in range(3)]
    _show(
        {
            "fresh_process_run_cpu_seconds": _median(c for c, _, _ in fresh),
            "fresh_process_run_peak_rss_mib": round(max(r for _, r, _ in fresh), 1),
            "in_process_marginal_run_cpu_seconds": float(out.strip().split("=")[1]),
            "python_start_cpu_seconds": round(statistics.median(c for c, _, _ in bare), 3),
        },
    )


def fleet(folder: Path) -> None:
    """Print the fleet figures of a finished fleet-demo in `folder`."""
    measure = json.loads((folder / "measure.json").read_text())
    state = json.loads((folder / "fleet_state.json").read_text())
    brands = json.loads((folder / "secrets" / "brands.json").read_text())
    accounts = yaml_free_accounts(folder / "accounts.yml")
    window = float(accounts["window"])
    limit = int(accounts["limit"])
    runs = cpu = 0.0
    ratios, lags, windows_total = [], [], 0
    late: list[float] = []
    for brand in brands["brands"]:
        entry = state["accounts"][brand["name"]]
        runs += entry["runs"]
        cpu += entry.get("cpu_seconds", 0.0)
        if entry["status"] != "complete":
            continue
        dm_requests = entry["requests"].get("/2/dm_events", 0)
        windows = math.ceil(dm_requests / limit)
        windows_total += windows
        bound = (windows - 1) * window  # each window spent at once; the last one's requests
        took = entry["completed_at"] - entry["first_run_at"]
        late += entry.get("late_seconds", [])
        lags.append((took - bound) / windows)
        ratios.append(took / bound if bound else float("nan"))
    _show(
        {
            **measure,
            "accounts": len(brands["brands"]),
            "account_runs": runs,
            "tap_run_cpu_seconds_mean": round(cpu / runs, 3) if runs else None,
            "cpu_seconds_per_account_window": round(
                (measure["driver_cpu_seconds"] + measure["tap_runs_cpu_seconds"])
                / max(1, windows_total),
                3,
            ),
            "complete_accounts": len(lags),
            "lag_seconds_per_window_median": _median(lags),
            "lag_seconds_per_window_max": round(max(lags), 2) if lags else None,
            "late_start_seconds_median": _median(late),
            "late_start_seconds_max": max(late, default=None),
            "time_over_bound_median": round(statistics.median(ratios), 3) if ratios else None,
            "window_seconds": window,
        },
    )


def _median(values: Iterable[float]) -> float | None:
    found = list(values)
    return round(statistics.median(found), 3) if found else None


def _show(figures: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(figures, indent=1) + "\n")


def yaml_free_accounts(path: Path) -> dict[str, str]:
    """The demo's window and limit, which fleet-demo.sh writes as a comment in accounts.yml."""
    for line in path.read_text().splitlines():
        if line.startswith("# sandbox:"):
            return dict(part.split("=") for part in line.split() if "=" in part)
    return {"window": "8", "limit": "2"}


if __name__ == "__main__":
    if sys.argv[1:2] == ["dagster-run"]:
        dagster_run()
    else:
        fleet(Path(sys.argv[2]))
