"""tap-x-dm benchmark: requests, dollars, rate-limit waits, CPU and memory, in one run.

    .venv/bin/python -m bench            # everything (about 5 minutes on 2 cores)
    .venv/bin/python -m bench --quick    # peak RSS at 10k and 100k instead of 1M
    .venv/bin/python -m bench --only lookups   # one section: users and posts, expanded or by id
    .venv/bin/python -m bench --only chat      # XChat sync requests against their minimum

Everything runs against the sandbox on 127.0.0.1. The tap runs as users run it
(`tap-x-dm --config ... [--state ...]`, stdout to a file or /dev/null); the bare
loop (`bench/bare_loop.py`) is `requests` + `json`. CPU (user + sys) and peak RSS
are each measured program's own (see `bench/harness.py`); the sandbox serves from
a process of its own, reported apart. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.chat import chat_sync
from bench.conversations import conversation_routing
from bench.harness import (
    NO_LIMIT,
    TapRunner,
    Usage,
    cli_sandbox,
    run_bare_loop,
)
from bench.lookups import object_lookups

#: Data that `/2/dm_events` serves in full: 29 days, 20 conversations the account is in.
DATA_FLAGS = (
    "--days", "29", "--conversations", "20",
    "--rate-limit", str(NO_LIMIT), "--lookup-rate-limit", str(NO_LIMIT),
)  # fmt: skip
CPU_EVENTS = 20_000
SMALL_EVENTS = 1_000
REPEATS = 3


def out(line: str = "") -> None:
    """Print one line of the report at once."""
    print(line, flush=True)


def table(rows: list[list[str]]) -> None:
    """Print rows as a Markdown table (the first row is the header)."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for n, row in enumerate(rows):
        out("| " + " | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) + " |")
        if n == 0:
            out("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    out()


def machine() -> list[str]:
    """nproc, CPU model, Python and singer-sdk versions."""
    from importlib.metadata import version

    model = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return [
        f"nproc {os.cpu_count()}, {model}",
        f"Python {platform.python_version()}, singer-sdk {version('singer-sdk')}, "
        f"tap-x-dm {version('tap-x-dm')}",
    ]


def proc_cpu(pid: int) -> float:
    """CPU seconds (user + sys) a running process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def records_by_stream(path: Path) -> dict[str, int]:
    """RECORD lines per stream in a tap's output."""
    counts: dict[str, int] = {}
    with path.open("rb") as lines:
        for line in lines:
            if line.startswith(b'{"type":"RECORD"'):
                stream = json.loads(line)["stream"]
                counts[stream] = counts.get(stream, 0) + 1
    return counts


# -- 1 and 2: requests and billing ----------------------------------------------------


def requests_and_billing() -> None:
    """Full sync, then incremental runs with k new events (an in-process sandbox)."""
    from tap_x_dm.objects.includes import references_of
    from tap_x_dm_sandbox import ManualClock, Sandbox, SandboxConfig
    from tap_x_dm_sandbox.billing import usd

    config = SandboxConfig(
        events=5_000, days=29, conversations=20, rate_limit=NO_LIMIT, lookup_rate_limit=NO_LIMIT
    )
    # Runs are minutes apart in real life and messages seconds apart: new events come a
    # minute after the last run, one a second. (The tap reads on until an event SKEW_MS
    # older than its bookmark, for X's created_at clock: a burst of events sharing the
    # bookmark's millisecond would cost one more request.)
    clock = ManualClock(time.time())
    with Sandbox(config, clock=clock) as sb:
        sb.start()
        tap = TapRunner(sb.base_url, sb.access_token())
        visible = len(sb.visible_events())
        _, state = tap.run(keep_output=True)
        log = sb.request_log
        pages = sum(1 for entry in log if entry["endpoint"] == "dm_events")
        me = sum(1 for entry in log if entry["endpoint"] == "users_me")
        out(f"### Requests per full sync (N = {visible:,} events, page size 100)")
        out()
        table(
            [
                ["", "tap", "minimum"],
                ["GET /2/dm_events", str(pages), f"⌈N/100⌉ = {math.ceil(visible / 100)}"],
                ["GET /2/users/me", str(me), "1 (once per state)"],
            ]
        )

        rows = [
            [
                "k new",
                "requests",
                "billed dm_events/users/tweets/media",
                "billed $",
                "min requests ⌈(k+1)/100⌉",
                "min billed",
                "min $",
            ]
        ]
        for k in (0, 3, 50, 250):
            sb.clear_log()
            sb.reset_billing()  # as on a new UTC day: X bills everything it returns again
            clock.advance(60)
            added = []
            for _ in range(k):  # one a second, not k in the same millisecond
                clock.advance(1)
                added += sb.add_events(1)
            _, state = tap.run(state, keep_output=True)
            requests_made = len(sb.request_log)
            billed = sb.billed
            wanted: dict[str, set[str]] = {"users": set(), "tweets": set(), "media": set()}
            for event in added:
                for kind, keys in references_of(event).items():
                    wanted[kind].update(keys)
            minimum = {"dm_events": k, **{kind: len(keys) for kind, keys in wanted.items()}}
            rows.append(
                [
                    str(k),
                    str(requests_made),
                    "/".join(str(billed[kind]) for kind in minimum),
                    f"{sb.billed_usd:.2f}",
                    str(math.ceil((k + 1) / 100)),
                    "/".join(str(minimum[kind]) for kind in minimum),
                    f"{usd(minimum):.2f}",
                ]
            )
        out(
            "### Incremental runs (each after the previous one; billed as on the first run of "
            "a UTC day)"
        )
        out()
        table(rows)
        out(
            "Minimum requests: ⌈(k + 1)/100⌉ (a pass must see one event at or below its "
            "bookmark to stop). The tap's first request asks for the events its remembered "
            "arrival rate foretells (`passes.first_page_size`: twice, plus 10), so a run with "
            "few new events is billed for about ten more than the minimum, not a hundred; "
            "when more arrived than foretold (a burst), that page is set aside and the pass "
            "reads again at 100 a page: one request more, and the page that holds the "
            "bookmark is billed in full on the first run of a UTC day (later runs the same "
            "day: X bills each object once a day, so only the minimum)."
        )
        out()


# -- 3: rate-limit windows ------------------------------------------------------------


def rate_limit_windows(limit: int = 5, window: float = 3.0, events: int = 1_400) -> None:
    """Wall time of a sync that needs several windows, vs the bound."""
    from tap_x_dm_sandbox import Sandbox, SandboxConfig

    config = SandboxConfig(
        events=events, days=29, conversations=20, rate_limit=limit, rate_window=window
    )
    with Sandbox(config) as sb:
        sb.start()
        tap = TapRunner(sb.base_url, sb.access_token())
        usage, _ = tap.run(keep_output=True)
        pages = sum(1 for entry in sb.request_log if entry["endpoint"] == "dm_events")
        refused = sum(1 for entry in sb.request_log if entry["status"] == 429)
    from tap_x_dm.api.ratelimit import RESET_MARGIN_SECONDS

    waits = math.ceil(pages / limit) - 1
    bound = waits * window
    with_margin = waits * (window + 1 + RESET_MARGIN_SECONDS)
    out(f"### A sync across rate-limit windows ({limit} requests per {window:g} s window)")
    out()
    table(
        [
            [
                "requests (dm_events)",
                "429 answers",
                "wall time",
                "bound (⌈req/limit⌉ − 1) × window",
                "bound + ≤ 1 s rounding + margin, per wait",
            ],
            [
                str(pages),
                str(refused),
                f"{usage.wall_s:.1f} s",
                f"{bound:.1f} s",
                f"{with_margin:.1f} s",
            ],
        ]
    )
    out(
        "Above the bound, by design: X's `x-rate-limit-reset` is whole epoch seconds (the "
        "sandbox rounds a window's end up), so a window can end up to 1 s after its true end, "
        f"and the tap waits {RESET_MARGIN_SECONDS:g} s past the reset (`RESET_MARGIN_SECONDS`) "
        "rather than risk a 429; plus the tap's start (about 0.5 s) and its requests. "
        "No request was refused."
    )
    out()


# -- 4: CPU ---------------------------------------------------------------------------


def median_of(runs: int, measure: Callable[[], Usage]) -> Usage:
    """The run with the median CPU time of `runs` runs."""
    usages = sorted((measure() for _ in range(runs)), key=lambda usage: usage.cpu_s)
    return usages[len(usages) // 2]


def cpu_at(events: int) -> dict[str, Any]:
    """Median CPU of the tap and of the bare loop over one CLI sandbox of `events` events."""
    with cli_sandbox("--events", str(events), *DATA_FLAGS) as sb:
        tap = TapRunner(sb.base_url, sb.token)
        _, _ = tap.run(keep_output=True)
        records = records_by_stream(tap.dir / "out.jsonl")
        server_before = proc_cpu(sb.process.pid)
        tap_usage = median_of(REPEATS, lambda: tap.run()[0])
        server_tap = (proc_cpu(sb.process.pid) - server_before) / REPEATS
        server_before = proc_cpu(sb.process.pid)
        bare_usage = median_of(REPEATS, lambda: run_bare_loop(sb.base_url, sb.token))
        server_bare = (proc_cpu(sb.process.pid) - server_before) / REPEATS
    return {
        "n": records.get("dm_events", 0),
        "records": records,
        "tap": tap_usage,
        "bare": bare_usage,
        "server_tap": server_tap,
        "server_bare": server_bare,
    }


def cpu() -> None:
    """CPU per event: the tap vs the bare loop, in total and at the margin."""
    big = cpu_at(CPU_EVENTS)
    small = cpu_at(SMALL_EVENTS)
    n, tap, bare = big["n"], big["tap"].cpu_s, big["bare"].cpu_s
    slope_n = n - small["n"]
    tap_slope = (tap - small["tap"].cpu_s) / slope_n
    bare_slope = (bare - small["bare"].cpu_s) / slope_n
    others = ", ".join(f"{k} {v:,}" for k, v in sorted(big["records"].items()) if k != "dm_events")
    out(
        f"### CPU (user + sys), full sync of N = {n:,} events, no rate limit, median of "
        f"{REPEATS} runs"
    )
    out()
    table(
        [
            ["", "tap-x-dm", "bare loop", "ratio"],
            ["CPU, whole process", f"{tap:.2f} s", f"{bare:.2f} s", f"{tap / bare:.2f}"],
            [
                "CPU per event (whole process / N)",
                f"{tap / n * 1e6:.0f} µs",
                f"{bare / n * 1e6:.0f} µs",
                f"{tap / bare:.2f}",
            ],
            [
                f"CPU per event at the margin ({small['n']:,} → {n:,} events)",
                f"{tap_slope * 1e6:.0f} µs",
                f"{bare_slope * 1e6:.0f} µs",
                f"{tap_slope / bare_slope:.2f}",
            ],
            [
                f"fixed cost (start, {small['n']:,}-event run minus margin)",
                f"{(small['tap'].cpu_s - tap_slope * small['n']):.2f} s",
                f"{(small['bare'].cpu_s - bare_slope * small['n']):.2f} s",
                "",
            ],
            [
                "peak RSS",
                f"{big['tap'].maxrss_mib:.0f} MiB",
                f"{big['bare'].maxrss_mib:.0f} MiB",
                "",
            ],
            [
                "sandbox CPU per run (its own process)",
                f"{big['server_tap']:.2f} s",
                f"{big['server_bare']:.2f} s",
                "",
            ],
        ]
    )
    out(
        f"The tap also writes the events' objects ({others} records), SCHEMA and STATE; "
        "the bare loop writes the event RECORDs only."
    )
    out()


# -- 5: memory ------------------------------------------------------------------------


def memory(sizes: tuple[int, ...]) -> None:
    """Peak RSS of a full sync at each size (no rate limit)."""
    rows = [["events", "peak RSS", "CPU", "wall time"]]
    for events in sizes:
        with cli_sandbox("--events", str(events), *DATA_FLAGS) as sb:
            tap = TapRunner(sb.base_url, sb.token)
            usage, _ = tap.run()
        rows.append(
            [
                f"{int(sb.values['events']):,}",
                f"{usage.maxrss_mib:.1f} MiB",
                f"{usage.cpu_s:.1f} s",
                f"{usage.wall_s:.0f} s",
            ]
        )
    out("### Peak RSS of the tap (full sync, no rate limit)")
    out()
    table(rows)


def main(argv: list[str] | None = None) -> int:
    """Run every section and print the report (Markdown)."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="peak RSS at 100,000 events instead of 1,000,000"
    )
    parser.add_argument(
        "--only",
        choices=["requests", "conversations", "lookups", "chat", "windows", "cpu", "memory"],
        help="one section",
    )
    args = parser.parse_args(argv)
    started = time.perf_counter()
    out("## tap-x-dm benchmark")
    out()
    for line in machine():
        out(f"- {line}")
    flags = (" --quick" if args.quick else "") + (f" --only {args.only}" if args.only else "")
    out(f"- command: {Path(sys.executable).name} -m bench{flags}")
    out()
    sections: dict[str, Callable[[], None]] = {
        "requests": requests_and_billing,
        "conversations": lambda: conversation_routing(out, table),
        "lookups": lambda: object_lookups(out, table),
        "chat": lambda: chat_sync(out, table),
        "windows": rate_limit_windows,
        "cpu": cpu,
        "memory": lambda: memory((10_000, 100_000 if args.quick else 1_000_000)),
    }
    for name, section in sections.items():
        if args.only in (None, name):
            section()
    out(f"(benchmark ran {time.perf_counter() - started:.0f} s; median of {REPEATS} where noted)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
