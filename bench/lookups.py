"""Users and posts: expanded on every DM page, or looked up once by id (`object_lookups`).

A month of daily runs against the sandbox: one generated inbox of 60 days, and on
each simulated day a sandbox that holds the events created up to that day's run
(06:00 UTC), on a clock shared with the tap, which runs in-process. X bills an
object once per user per UTC day, and every run falls on a day of its own, so each
run's sandbox bills afresh. The first run is a full sync of the 30 days
`/2/dm_events` serves; the 30 after it are incremental.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Callable
from typing import Any

from singer_sdk.singerlib.encoding.simple import SimpleSingerWriter

DAY_S = 86_400
#: The generated inbox: 60 days of a brand account's DMs, about 170 events a day.
INBOX = {"users": 400, "conversations": 120, "days": 60, "events": 10_000}
RUNS = 31  # a first sync, then 30 daily runs
KINDS = ("dm_events", "users", "tweets", "media")
PRICES = {"dm_events": 0.010, "users": 0.010, "tweets": 0.005, "media": 0.005}


class _LastState(SimpleSingerWriter):
    """Keeps the last STATE and counts RECORDs per stream; writes nothing."""

    def __init__(self) -> None:
        self.state: dict[str, Any] = {}
        self.records: dict[str, int] = {}

    def write_message(self, message: Any) -> None:
        kind = type(message).__name__
        if kind == "StateMessage":
            self.state = json.loads(json.dumps(message.value))
        elif kind == "RecordMessage":
            self.records[message.stream] = self.records.get(message.stream, 0) + 1


def _schedule(mode: dict[str, Any]) -> dict[str, Any]:
    """Run the month with these settings; what X billed, requests by endpoint, rows written."""
    from tap_x_dm.tap import TapXDM
    from tap_x_dm_sandbox import ManualClock, Sandbox, SandboxConfig
    from tap_x_dm_sandbox.data import Dataset

    end = 1_796_000_000 // DAY_S * DAY_S + 6 * 3600  # a fixed 06:00 UTC, late 2026
    first = end - (RUNS - 1) * DAY_S
    inbox = Dataset.generate(seed=7, now_ms=end * 1000, **INBOX).to_json()
    events = sorted(inbox["events"], key=lambda e: int(e["id"]))
    billed = dict.fromkeys(KINDS, 0)
    requests: dict[str, int] = {}
    rows: dict[str, int] = {}
    state: dict[str, Any] = {}
    locks = tempfile.mkdtemp(prefix="tap-x-dm-bench-locks-")
    for day in range(RUNS):
        now = first + day * DAY_S
        upto = ((now * 1000 - 1_288_834_974_657) << 22) | ((1 << 22) - 1)
        dataset = Dataset.from_json(
            {**inbox, "events": [e for e in events if int(e["id"]) <= upto]}
        )
        clock = ManualClock(now)
        config = SandboxConfig(rate_limit=1_000_000_000, lookup_rate_limit=1_000_000_000)
        with Sandbox(config, clock=clock, dataset=dataset) as sb:
            writer = _LastState()
            tap = TapXDM(
                config={
                    "api_url": sb.base_url,
                    "access_token": sb.access_token(),
                    "run_lock_dir": locks,
                    **mode,
                },
                state=state,
                message_writer=writer,
                clock=clock,
            )
            tap.sync_all()
            state = writer.state
            for kind, count in sb.billed.items():
                billed[kind] = billed.get(kind, 0) + count  # chat_events too
            for entry in sb.request_log:
                requests[entry["endpoint"]] = requests.get(entry["endpoint"], 0) + 1
            for stream, count in writer.records.items():
                rows[stream] = rows.get(stream, 0) + count
    return {
        "billed": billed,
        "requests": requests,
        "rows": rows,
        "state_chars": len(json.dumps(state.get("bookmarks", {}).get("users", {}))),
    }


def _usd(counts: dict[str, int], kinds: tuple[str, ...] = KINDS) -> float:
    return sum(counts.get(kind, 0) * PRICES[kind] for kind in kinds)


def object_lookups(out: Callable[[str], None], table: Callable[[list[list[str]]], None]) -> None:
    """Dollars billed by kind and requests by endpoint, expansions vs by_id."""
    modes = [
        ("expansions", {"object_lookups": "expansions"}),
        ("by_id, refresh 1 day", {"object_lookups": "by_id", "object_lookups_refresh_days": 1}),
        ("by_id, refresh 7 days (default)", {"object_lookups": "by_id"}),
        ("by_id, refresh 30 days", {"object_lookups": "by_id", "object_lookups_refresh_days": 30}),
        (
            "by_id, refresh 7 days, at most 50 ids",
            {"object_lookups": "by_id", "object_lookups_max_ids": 50},
        ),
    ]
    rows = [
        [
            "object_lookups",
            "billed dm_events/users/tweets/media",
            "users+tweets+media $",
            "total $",
            "requests dm_events / users / tweets",
            "user rows written",
        ]
    ]
    logging.disable(logging.WARNING)  # the in-process taps' log lines; the table says it all
    try:
        results = [(label, _schedule(mode)) for label, mode in modes]
    finally:
        logging.disable(logging.NOTSET)
    for label, result in results:
        billed, requests = result["billed"], result["requests"]
        rows.append(
            [
                label,
                "/".join(str(billed[kind]) for kind in KINDS),
                f"{_usd(billed, KINDS[1:]):.2f}",
                f"{_usd(billed):.2f}",
                f"{requests.get('dm_events', 0)} / {requests.get('users_lookup', 0)} / "
                f"{requests.get('tweets_lookup', 0)}",
                str(result["rows"].get("users", 0)),
            ]
        )
        if label.endswith("(default)"):
            state_chars = result["state_chars"]
    inbox = ", ".join(f"{k} {v:,}" for k, v in INBOX.items())
    out(
        f"### Users and posts: expanded, or looked up by id ({RUNS - 1} daily runs after a "
        f"first sync; inbox: {inbox})"
    )
    out()
    table(rows)
    out(
        "Every stream selected; one run a day at 06:00 UTC, each on a UTC day of its own "
        "(X bills an object once per user per day). Requests on GET /2/users and "
        "GET /2/tweets draw on their own rate limits, not the DM endpoints'; the "
        f"dm_events requests are the same in every mode. State of `users` with a 7-day "
        f"refresh at the end: {state_chars:,} characters."
    )
    out()
