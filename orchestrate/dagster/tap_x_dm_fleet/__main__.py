"""`python -m tap_x_dm_fleet check|run|report ACCOUNTS_YML`: the fleet from a shell.

- `check`: accounts.yml against its schema, one line per problem (exit 1).
- `run`: Dagster in this process on a SQLite instance (`DAGSTER_HOME`, default
  `output_dir/dagster`): each tick evaluates the `due_batch` sensor and executes the
  `fleet_batch` run it asks for; `--until-done` stops once every account is complete
  or stopped for its own reason. `dagster dev` does the same with the daemon
  (docs/fleet.md).
- `report`: one line per account, and `output_dir/summary.json`; exit 0 when every
  account is `complete` or `stopped_account`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from tap_x_dm_fleet.accounts import AccountsError, Fleet, load_fleet
from tap_x_dm_fleet.measure import TreeSampler
from tap_x_dm_fleet.schedule import FleetSchedule, iso

FINISHED = frozenset({"complete", "stopped_account"})


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def run(fleet: Fleet, *, until_done: bool, deadline: float | None) -> int:
    """Tick the batch sensor and execute its runs in process until done (or the deadline)."""
    os.environ.setdefault("DAGSTER_HOME", str(fleet.output_dir / "dagster"))
    home = Path(os.environ["DAGSTER_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():  # SQLite storage in DAGSTER_HOME, no telemetry
        (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
    from dagster import DagsterInstance, RunRequest, SkipReason, build_sensor_context

    from tap_x_dm_fleet.definitions import defs, due_batch, fleet_batch

    instance = DagsterInstance.get()
    FleetSchedule(fleet).release_stale_claims()
    started = time.time()
    while True:
        schedule = FleetSchedule(fleet)
        if until_done and _all_finished(fleet, schedule):
            _say("fleet: every account is complete or stopped for its own reason")
            return 0
        if deadline is not None and time.time() - started > deadline:
            _say(f"fleet: not done after {deadline:.0f} s")
            return 1
        context = build_sensor_context(instance=instance, definitions=defs, sensor_name="due_batch")
        result = due_batch(context)
        if isinstance(result, RunRequest):
            fleet_batch.execute_in_process(
                run_config=result.run_config, instance=instance, tags=result.tags
            )
            continue
        why = result.skip_message if isinstance(result, SkipReason) else ""
        now = time.time()
        wake = schedule.next_wake(now)
        if wake is None:
            _say(f"fleet: nothing left to run ({why})")
            return 0
        if wake - now > 5:
            _say(f"fleet: waiting until {iso(wake)}: {why}")
        time.sleep(min(max(wake - now, 0.2), 30.0))


def _all_finished(fleet: Fleet, schedule: FleetSchedule) -> bool:
    return all(schedule.entry(a.name)["status"] in FINISHED for a in fleet.accounts if a.enabled)


def report(fleet: Fleet, brands_file: str | None) -> int:
    """Print one line per account, write output_dir/summary.json, say whether all ended well."""
    schedule = FleetSchedule(fleet)
    expected: dict[str, int] = {}
    if brands_file:
        brands = json.loads(Path(brands_file).read_text(encoding="utf-8"))["brands"]
        expected = {b["name"]: int(b["dm_events"]) for b in brands}
    accounts: dict[str, Any] = {}
    ok = True
    for account in fleet.accounts:
        entry = schedule.entry(account.name)
        unique = _unique_ids(account.folder / "records" / "dm_events.jsonl")
        item = {
            "status": entry["status"],
            "runs": entry["runs"],
            "records": entry["records"],
            "requests": entry["requests"],
            "cost_usd": entry["cost_usd"],
            "dm_events_unique": unique,
            "error": entry["error"],
        }
        good = entry["status"] in FINISHED
        if account.name in expected:
            item["dm_events_expected"] = expected[account.name]
            if entry["status"] == "complete" and unique != expected[account.name]:
                good = False
        if entry["records"].get("dm_events", 0) != unique:
            item["dm_events_doubled"] = entry["records"].get("dm_events", 0) - unique
            good = False
        ok = ok and good
        accounts[account.name] = item
        error = entry["error"] or ""
        error = error if len(error) <= 200 else error[:199] + "…"
        why = f" ({error})" if error and entry["status"] != "complete" else ""
        want = f"/{expected[account.name]}" if account.name in expected else ""
        _say(
            f"{account.name}: {entry['status']}{why}; {entry['runs']} run(s), "
            f"{sum(entry['requests'].values())} request(s), dm_events {unique}{want}, "
            f"records {json.dumps(entry['records'], sort_keys=True)}"
            + ("" if good else "  <-- NOT OK")
        )
    summary = {"ok": ok, "accounts": accounts, "spent_usd": schedule.data["spent_usd"]}
    path = fleet.output_dir / "summary.json"
    path.write_text(json.dumps(summary, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    _say(f"fleet: {'OK' if ok else 'NOT OK'}; {path}")
    return 0 if ok else 1


def _unique_ids(path: Path) -> int:
    try:
        with path.open(encoding="utf-8") as lines:
            return len({json.loads(line)["id"] for line in lines})
    except FileNotFoundError:
        return 0


def main(argv: list[str] | None = None) -> int:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m tap_x_dm_fleet")
    parser.add_argument("command", choices=("check", "run", "report"))
    parser.add_argument("accounts", help="accounts.yml")
    parser.add_argument("--until-done", action="store_true")
    parser.add_argument("--deadline-seconds", type=float, default=None)
    parser.add_argument("--brands-file", default=None, help="the sandbox's, for report")
    parser.add_argument("--measure", action="store_true", help="run: write measure.json")
    args = parser.parse_args(argv)
    try:
        fleet = load_fleet(args.accounts)
    except AccountsError as exc:
        for problem in exc.problems:
            sys.stderr.write(problem + "\n")
        return 1
    if args.command != "report" and shutil.which(fleet.tap_executable) is None:
        sys.stderr.write(
            f"{args.accounts}: fleet.tap_executable: {fleet.tap_executable} is not an "
            "executable (install the tap: pip install tap-x-dm, or point to its venv's bin)\n"
        )
        return 1
    os.environ["TAP_X_DM_FLEET_ACCOUNTS"] = str(Path(args.accounts).resolve())
    if args.command == "check":
        _say(f"{args.accounts}: {len(fleet.accounts)} account(s), OK")
        return 0
    if args.command == "run":
        if not args.measure:
            return run(fleet, until_done=args.until_done, deadline=args.deadline_seconds)
        with TreeSampler() as sampler:
            code = run(fleet, until_done=args.until_done, deadline=args.deadline_seconds)
        path = fleet.output_dir / "measure.json"
        path.write_text(json.dumps(sampler.figures(), indent=1) + "\n", encoding="utf-8")
        return code
    return report(fleet, args.brands_file)


if __name__ == "__main__":
    raise SystemExit(main())
