"""The figures README.md and docs/sandbox.md quote from `bash scripts/demo.sh` are that run's.

The demo starts the sandbox with its defaults (seed, data, 15 requests a window) and a 20 s
window, its history ending when the demo first runs, then `meltano run tap-x-dm target-jsonl`
(with `--postgres`: two whole conversations too, target-postgres and the dbt models). Here the
same sandbox answers the tap in-process (no Meltano: the same records and requests), with the
history's end fixed at DEMO_NOW_MS, the end the quoted figures come from. Only the posts DMs
link to change with that end; the README gives their range, which the slow test checks over
many ends. The models' rows are counted here by their documented grain (one row per event,
per conversation, per customer turn), without dbt.
"""

from __future__ import annotations

import logging
import re
import statistics
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from tap_x_dm_sandbox import ManualClock, Sandbox, SandboxConfig
from tests.conftest import run_tap

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
SANDBOX_DOC = REPO / "docs" / "sandbox.md"
#: 2026-11-30 04:53:20 UTC: the end of the sandbox's history in the runs the docs quote.
DEMO_NOW_MS = 1_796_014_400_000
DEMO_RATE_WINDOW = 20  # scripts/demo.sh: DEMO_RATE_WINDOW, default 20


@dataclass
class DemoRun:
    """What one demo run loaded, by stream, and what the sandbox was asked."""

    rows: Counter[str]
    requests: int
    account_id: str
    billed: dict[str, int]  # distinct resources the sandbox billed (same UTC day: once)
    billed_usd: float
    events: dict[str, dict[str, Any]] = field(default_factory=dict)  # every event once, by id


def demo_conversations(sandbox: Sandbox) -> list[str]:
    """The demo's `--postgres` choice: the newest group and one-to-one of the first page."""
    page = requests.get(
        sandbox.base_url + "/2/dm_events?max_results=100&dm_event.fields=dm_conversation_id",
        headers={"Authorization": "Bearer " + sandbox.access_token()},
        timeout=30,
    ).json()["data"]
    ids = [e["dm_conversation_id"] for e in page if "dm_conversation_id" in e]
    return [c for c in ids if "-" not in c][:1] + [c for c in ids if "-" in c][:1]


def demo_run(now_ms: int, *, postgres: bool = False, window: int = DEMO_RATE_WINDOW) -> DemoRun:
    clock = ManualClock(now_ms / 1000)
    config = SandboxConfig(now_ms=now_ms, rate_window=window)
    sandbox = Sandbox(config, clock=clock).start()
    try:
        settings: dict[str, Any] = {}
        if postgres:
            settings["dm_conversation_ids"] = demo_conversations(sandbox)
        before = len(sandbox.request_log)
        run = run_tap(sandbox, clock=clock, **settings)
        rows = Counter(m["stream"] for m in run.messages if m["type"] == "RECORD")
        result = DemoRun(
            rows,
            len(sandbox.request_log) - before,
            sandbox.account.id,
            dict(sandbox.ledger.counts),
            sandbox.ledger.usd(),
        )
        for stream in ("dm_events", "conversation_events"):
            result.events.update((r["id"], r) for r in run.records(stream))
        return result
    finally:
        sandbox.stop()


def turns(run: DemoRun) -> dict[str, list[float | None]]:
    """x_dm__response_times by kind: each turn's response seconds (None: unanswered).

    The model's rule: messages ordered by id; a turn opens with an inbound message after an
    outbound one (or first); the k-th turn's reply is the conversation's k-th outbound one.
    """
    by_conversation: dict[str, list[dict[str, Any]]] = {}
    for event in run.events.values():
        if event["event_type"] == "MessageCreate" and event.get("dm_conversation_id"):
            by_conversation.setdefault(event["dm_conversation_id"], []).append(event)
    found: dict[str, list[float | None]] = {}
    for conversation, events in by_conversation.items():
        events.sort(key=lambda e: int(e["id"]))
        outbound = [e for e in events if e["sender_id"] == run.account_id]
        kind = "one_to_one" if "-" in conversation else "group"
        previous, seen_outbound = None, 0
        for event in events:
            inbound = event["sender_id"] != run.account_id
            if inbound and previous in (None, "outbound"):
                reply = outbound[seen_outbound] if seen_outbound < len(outbound) else None
                found.setdefault(kind, []).append(
                    None if reply is None else seconds(reply) - seconds(event)
                )
            seen_outbound += not inbound
            previous = "inbound" if inbound else "outbound"
    return found


def seconds(event: dict[str, Any]) -> float:
    from datetime import datetime

    return datetime.fromisoformat(event["created_at"].replace("Z", "+00:00")).timestamp()


def quoted_demo_output() -> tuple[dict[str, int], int]:
    text = README.read_text()
    rows = {s: int(n) for s, n in re.findall(r"output/(\w+)\.jsonl +(\d+) rows", text)}
    (requests_made,) = re.findall(r"Requests made to the sandbox: (\d+) ", text)
    return rows, int(requests_made)


def quoted_tweets_range() -> tuple[int, int]:
    text = " ".join(README.read_text().split())
    pattern = r"`tweets` \(the posts DMs link to\), which ranges from (\d+) to (\d+)"
    (low, high) = re.findall(pattern, text)[0]
    return int(low), int(high)


@pytest.fixture(scope="module")
def jsonl_demo() -> DemoRun:
    return demo_run(DEMO_NOW_MS)


def test_the_readme_quotes_the_demos_rows_and_requests(jsonl_demo: DemoRun) -> None:
    rows, requests_made = quoted_demo_output()
    assert rows == dict(jsonl_demo.rows)
    assert set(rows) == {"dm_events", "media", "tweets", "users"}
    assert requests_made == jsonl_demo.requests == 21
    low, high = quoted_tweets_range()
    assert low <= rows["tweets"] <= high


def test_the_postgres_demo_quoted_in_docs_is_that_runs() -> None:
    run = demo_run(DEMO_NOW_MS, postgres=True)
    found = turns(run)
    expected = {
        **{f"x_dm.{stream}": n for stream, n in run.rows.items()},
        "x_dm_analytics.x_dm__events": len(run.events),
        "x_dm_analytics.x_dm__conversations": len(
            {e["dm_conversation_id"] for e in run.events.values()}
        ),
        "x_dm_analytics.x_dm__response_times": sum(len(t) for t in found.values()),
        "x_dm_analytics.x_dm__response_times_by_kind": len(found),
    }
    text = SANDBOX_DOC.read_text()
    sample = text[text.index("## From the sandbox into PostgreSQL") :]
    quoted = {name: int(n) for name, n in re.findall(r"(x_dm\w*\.\w+) +(\d+) rows", sample)}
    assert quoted == expected
    assert run.rows["conversation_events"] > 0  # the demo's two conversations, read whole
    # The headline by kind, as the docs round it: "one-to-one: median 8 h; group: 89 h".
    medians = {
        kind: round(statistics.median(s for s in times if s is not None) / 3600)
        for kind, times in found.items()
    }
    headline = f"(one-to-one: median {medians['one_to_one']} h; group: {medians['group']} h)"
    assert headline in " ".join(sample.split())
    models = " ".join(README.read_text().split())
    assert (
        f"in the sandbox the group median is {medians['group']} h, "
        f"the one-to-one {medians['one_to_one']} h" in models
    )


def test_the_cost_lines_quoted_in_docs_are_the_demos(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    run = demo_run(DEMO_NOW_MS)
    logged = [r.getMessage().split(" at X's")[0] for r in caplog.records]
    text = " ".join((REPO / "docs" / "costs.md").read_text().split())
    line = r"`((?:dm_events|This run): \d+ request\(s\), returned [^`]*?) at X's"
    quoted = re.findall(line, text)
    assert len(quoted) == 2 and all(line in logged for line in quoted), (quoted, logged)
    bill = r"the sandbox billed that run \$([\d.]+): (\d+) distinct users, (\d+) posts"
    users, posts = str(run.billed["users"]), str(run.billed["tweets"])
    assert re.findall(bill, text) == [(f"{run.billed_usd:.2f}", users, posts)]


def test_the_first_sync_forecast_quoted_in_docs_is_the_demos(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    demo_run(DEMO_NOW_MS, window=900)  # DEMO_RATE_WINDOW=900: X's 15-minute window
    (line,) = [m for r in caplog.records if (m := r.getMessage()).startswith("dm_events: a first")]
    text = " ".join((REPO / "docs" / "costs.md").read_text().split())
    assert line.split(" Each page")[0] in text.replace("`", "")


@pytest.mark.slow
def test_every_figure_but_the_posts_is_the_same_whenever_the_demo_first_runs() -> None:
    rows, requests_made = quoted_demo_output()
    low, high = quoted_tweets_range()
    for k in range(24):  # a month of ends, 31 h 7 min apart (every hour of the day)
        run = demo_run(DEMO_NOW_MS + k * 112_020_000)
        assert {**run.rows, "tweets": rows["tweets"]} == rows, k
        assert run.requests == requests_made, k
        assert low <= run.rows["tweets"] <= high, (k, run.rows["tweets"])
