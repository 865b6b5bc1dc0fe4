"""Measure the sandbox Dataset: build time, memory and paging speed.

Each size runs in a fresh interpreter so its RSS is its own. The budget is
300 MB RSS for the whole process (interpreter included) at 1,000,000 events;
the script exits 1 when a run's peak RSS exceeds it.

    .venv/bin/python scripts/bench_sandbox_memory.py            # 6k, 100k, 1M events
    .venv/bin/python scripts/bench_sandbox_memory.py 250000     # one size
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from tap_x_dm_sandbox.data import ALL_EVENT_TYPES, DAY_MS, Dataset

BUDGET_MB = 300.0
NOW_MS = 1_790_000_000_000
DEFAULT_SIZES = (6_000, 100_000, 1_000_000)


def rss_mb() -> tuple[float, float]:
    """Current and peak resident set size in MB, from /proc (Linux)."""
    values = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024
    return values["VmRSS"], values["VmHWM"]


def walk(
    dataset: Dataset,
    viewer: str,
    *,
    conversation_id: str | None = None,
    min_ms: int | None = None,
    event_types: frozenset[str] = ALL_EVENT_TYPES,
) -> tuple[int, int, float, float]:
    """Page through everything: (events, pages, first page seconds, mean seconds per page)."""
    below: int | None = None
    events = pages = 0
    first = 0.0
    started = time.perf_counter()
    while True:
        page_started = time.perf_counter()
        ids, more = dataset.page(
            viewer_id=viewer,
            conversation_id=conversation_id,
            below_id=below,
            limit=100,
            min_ms=min_ms,
            event_types=event_types,
        )
        if pages == 0:
            first = time.perf_counter() - page_started
        pages += 1
        events += len(ids)
        if not more:
            break
        below = ids[-1]
    return events, pages, first, (time.perf_counter() - started) / pages


def measure(events: int) -> dict[str, object]:
    """Build one dataset and time the operations the server performs."""
    base_rss, _ = rss_mb()
    started = time.perf_counter()
    dataset = Dataset.generate(seed=7, now_ms=NOW_MS, events=events)
    build = time.perf_counter() - started
    built_rss, _ = rss_mb()
    account = dataset.users[0].id
    visible, pages, first_page, per_page = walk(dataset, account)
    recent, _, _, per_page_30d = walk(dataset, account, min_ms=NOW_MS - 30 * DAY_MS)
    _, _, _, per_page_mc = walk(dataset, account, event_types=frozenset({"MessageCreate"}))
    joins, _, _, per_page_joins = walk(
        dataset, account, event_types=frozenset({"ParticipantsJoin", "ParticipantsLeave"})
    )
    conversation = dataset.conversations_of(account)[0]
    in_conv, _, _, per_page_conv = walk(dataset, account, conversation_id=conversation)
    ids, _ = dataset.page(
        viewer_id=account,
        conversation_id=None,
        below_id=None,
        limit=100,
        min_ms=None,
        event_types=ALL_EVENT_TYPES,
    )
    started = time.perf_counter()
    for event_id in ids:
        dataset.event(event_id)
    event_100 = time.perf_counter() - started
    started = time.perf_counter()
    dataset.add_events(100, now_ms=NOW_MS + 1)
    add_100 = time.perf_counter() - started
    rss, peak = rss_mb()
    return {
        "events": events,
        "build_s": round(build, 3),
        "rss_before_build_mb": round(base_rss, 1),
        "rss_after_build_mb": round(built_rss, 1),
        "rss_end_mb": round(rss, 1),
        "peak_rss_mb": round(peak, 1),
        "account_visible_events": visible,
        "account_pages": pages,
        "first_page_ms (builds the account index)": round(first_page * 1e3, 3),
        "page_ms_mean": round(per_page * 1e3, 4),
        "page_ms_mean_30_days": round(per_page_30d * 1e3, 4),
        "account_events_30_days": recent,
        "page_ms_mean_message_create_only": round(per_page_mc * 1e3, 4),
        "page_ms_mean_join_leave_only": round(per_page_joins * 1e3, 4),
        "account_join_leave_events": joins,
        "page_ms_mean_one_conversation": round(per_page_conv * 1e3, 4),
        "events_in_that_conversation": in_conv,
        "event_dicts_for_one_page_ms": round(event_100 * 1e3, 3),
        "add_100_events_ms": round(add_100 * 1e3, 3),
    }


def main() -> int:
    """Run each size in a child interpreter and print its figures."""
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        print(json.dumps(measure(int(sys.argv[2]))))
        return 0
    sizes = [int(arg) for arg in sys.argv[1:]] or list(DEFAULT_SIZES)
    worst = 0.0
    for size in sizes:
        result = subprocess.run(
            [sys.executable, __file__, "--child", str(size)],
            check=True,
            capture_output=True,
            text=True,
        )
        figures = json.loads(result.stdout)
        worst = max(worst, float(figures["peak_rss_mb"]))
        print(f"--- {size:,} events")
        for key, value in figures.items():
            print(f"  {key:45} {value}")
    verdict = "OK" if worst < BUDGET_MB else "OVER BUDGET"
    print(f"peak RSS {worst:.1f} MB vs budget {BUDGET_MB:.0f} MB: {verdict}")
    return 0 if worst < BUDGET_MB else 1


if __name__ == "__main__":
    sys.exit(main())
