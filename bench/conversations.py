"""Configured conversations: own endpoints, or the `/2/dm_events` pages (`conversation_routing`).

For each k, a sandbox of the default inbox, a first sync with 11 conversations
configured (5 groups by id, 6 one-to-ones by participant), then, an hour later
(an hourly schedule), k new events spread over those conversations and one
incremental run, measured alone: its billing is counted afresh, as on a new UTC
day (X would bill a same-day re-read once: an upper bound). The tap runs
in-process on the sandbox's clock.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from typing import Any

DAY_S = 86_400
GAP_S = 3_600
CONVERSATIONS = 11
NEW_EVENTS = (0, 3, 50, 250)


def _catalog(config: dict[str, Any], streams: list[str] | None) -> dict[str, Any] | None:
    """The discovered catalog with only `streams` selected (None: every stream)."""
    from tap_x_dm.tap import TapXDM

    if streams is None:
        return None
    catalog = TapXDM(config=config, validate_config=False).catalog_dict
    for entry in catalog["streams"]:
        for metadata in entry["metadata"]:
            if metadata["breadcrumb"] == []:
                metadata["metadata"]["selected"] = entry["tap_stream_id"] in streams
    return catalog


def _incremental(k: int, mode: dict[str, Any], streams: list[str] | None) -> tuple[int, int]:
    """DM requests and DM events billed by one incremental run with k new events."""
    from bench.lookups import _LastState
    from tap_x_dm.tap import TapXDM
    from tap_x_dm_sandbox import ManualClock, Sandbox, SandboxConfig

    clock = ManualClock(1_796_000_000 // DAY_S * DAY_S + 6 * 3600)
    with Sandbox(SandboxConfig(rate_limit=1_000_000_000), clock=clock) as sb:
        account = sb.account.id
        ours = sb.dataset.conversations_of(account)
        groups = [c for c in ours if "-" not in c][:5]
        pairs = [c for c in ours if "-" in c][: CONVERSATIONS - len(groups)]
        config = {
            "api_url": sb.base_url,
            "access_token": sb.access_token(),
            "run_lock_dir": tempfile.mkdtemp(prefix="tap-x-dm-bench-locks-"),
            "dm_conversation_ids": groups,
            "participant_ids": [next(p for p in c.split("-") if p != account) for c in pairs],
            **mode,
        }
        catalog = _catalog(config, streams)
        state: dict[str, Any] = {}
        for day in range(2):
            if day:
                clock.advance(GAP_S)
                for n in range(k):
                    sb.add_events(1, conversation_id=[*groups, *pairs][n % CONVERSATIONS])
                sb.clear_log()
                sb.reset_billing()
            writer = _LastState()
            TapXDM(
                config=config, state=state, catalog=catalog, message_writer=writer, clock=clock
            ).sync_all()
            state = writer.state
        requests = [e for e in sb.request_log if e["path"].startswith("/2/dm_")]
        return len(requests), sb.billed.get("dm_events", 0)


def conversation_routing(
    out: Callable[[str], None], table: Callable[[list[list[str]]], None]
) -> None:
    """Requests and DM events billed per incremental run, routed or on own endpoints."""
    modes = [
        ("every stream, routed (default)", {}, None),
        ("every stream, own endpoints", {"conversation_routing": False}, None),
        ("conversation_events only, routed", {}, ["conversation_events"]),
        ("conversation_events only, own endpoints", {"conversation_routing": False},
         ["conversation_events"]),
    ]  # fmt: skip
    header = ["selection, conversation_routing"]
    header += [f"k={k}: requests / events billed" for k in NEW_EVENTS]
    rows = [header]
    logging.disable(logging.WARNING)
    try:
        for label, mode, streams in modes:
            cells = [label]
            for k in NEW_EVENTS:
                requests, billed = _incremental(k, mode, streams)
                cells.append(f"{requests} / {billed}")
            rows.append(cells)
    finally:
        logging.disable(logging.NOTSET)
    out(f"### Incremental runs with {CONVERSATIONS} conversations configured")
    out()
    out(
        f"k new events spread over the {CONVERSATIONS} conversations, an hour after a first "
        "sync; requests to the DM endpoints and DM events X billed (`bench/conversations.py`)."
    )
    out()
    table(rows)
