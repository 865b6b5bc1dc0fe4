"""How much a maintainer must hold in their head: the state's distinct keys, counted.

After a run with an archive, two conversations, `dm_event_ids` and `object_lookups:
by_id`, the state at rest has at most 20 distinct leaf key paths (ids, dates and stream
names counted once), and a pass in flight at most 8 fields. With every stream selected,
XChat's too, at most 24: the chat streams add a partition's `context.conversation_id` and
`updated_at`, oldest first its `cursor`, and `xchat_checked_on`; their bookmark and read in
flight use the legacy names (`replication_key_id`, `pass.cursor`, `pass.top_id`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tap_x_dm.state import loading as tap_state
from tap_x_dm_sandbox import ManualClock
from tests.archive_sandbox import archive_from_sandbox
from tests.conftest import Killed, run_tap
from tests.test_chat import ALL_CHAT
from tests.test_chat import catalog as chat_catalog
from tests.test_routing import configured

#: Map keys that are data: X ids, conversation ids, archive file identities, days and times.
DATA_KEY = re.compile(r"^([0-9]+(-[0-9]+)?|files:[0-9a-f]+|[0-9]{4}-[0-9]{2}-[0-9]{2}.*)$")
AT_REST = {
    "version",
    "account.id",
    "account.username",
    "bookmarks.<stream>",  # a stream with nothing to keep: {}
    "bookmarks.<stream>.replication_key",
    "bookmarks.<stream>.replication_key_value",
    "bookmarks.<stream>.replication_key_id",
    "bookmarks.<stream>.read_below_id",
    "bookmarks.<stream>.arrivals_per_week",
    "bookmarks.<stream>.dm_event_ids.<key>",
    "bookmarks.<stream>.archive.api_missing_ids",
    "bookmarks.<stream>.archive.imported_times.<key>",
    "bookmarks.<stream>.archive.imported_files.<key>",
    "bookmarks.<stream>.loaded_by_day.<key>",
    "bookmarks.<stream>.partitions[].context.dm_conversation_id",
    "bookmarks.<stream>.partitions[].replication_key",
    "bookmarks.<stream>.partitions[].replication_key_value",
    "bookmarks.<stream>.partitions[].replication_key_id",
    "bookmarks.<stream>.partitions[].read_below_id",
    "bookmarks.<stream>.partitions[].arrivals_per_week",
}


def leaf_paths(value: Any, path: str = "") -> set[str]:
    """Distinct paths to the state's values; stream names and data keys counted once."""
    if isinstance(value, dict):
        found: set[str] = set()
        for key, inner in value.items():
            name = "<stream>" if path == "bookmarks" else "<key>" if DATA_KEY.match(key) else key
            found |= leaf_paths(inner, f"{path}.{name}" if path else name)
        return found or {path}
    if isinstance(value, list) and any(isinstance(item, dict) for item in value):
        return {
            p for item in value if isinstance(item, dict) for p in leaf_paths(item, path + "[]")
        }
    return {path}


def passes_in(state: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        entry["pass"]
        for stream in state.get("bookmarks", {}).values()
        for entry in [stream, stream.get("via_dm_events") or {}, *stream.get("partitions", [])]
        if isinstance(entry.get("pass"), dict)
    ]


def test_a_rich_run_leaves_20_key_paths_and_a_pass_in_flight_8_fields(
    sandbox_factory: Any, tmp_path: Path
) -> None:
    clock = ManualClock(1_796_515_200.0)
    world = {"seed": 1, "events": 500, "days": 60, "conversations": 30, "users": 16}
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000, **world)
    archive = archive_from_sandbox(sandbox).build_folder(tmp_path / "twitter-2026-12-01")
    old = sandbox.visible_events(window_days=None)[-3]["id"]  # beyond the API's 30 days
    settings = {
        "archive_path": str(archive),
        "object_lookups": "by_id",
        "dm_event_ids": [old, "1999999999999999999"],  # X has one, not the other
        **configured(sandbox, 2),
    }
    first = run_tap(sandbox, clock=clock, **settings)
    clock.advance(3600)
    sandbox.add_events(5)
    second = run_tap(sandbox, clock=clock, state=first.final_state, **settings)

    at_rest = second.final_state
    assert leaf_paths(at_rest) == AT_REST
    assert len(AT_REST) == 20
    assert tap_state.load(at_rest) == at_rest
    asked = at_rest["bookmarks"]["dm_events"]["dm_event_ids"]
    assert asked == {old: "fetched", "1999999999999999999": "not_found"}

    clock.advance(3600)
    sandbox.add_events(250)
    records = []

    def die_in_the_third_page(message: dict[str, Any]) -> None:
        if message["type"] == "RECORD" and message["stream"] == "dm_events":
            records.append(message)
            if len(records) == 120:
                raise Killed

    busy = run_tap(
        sandbox,
        clock=clock,
        state=at_rest,
        raise_errors=False,
        page_size=50,
        on_message=die_in_the_third_page,
        **settings,
    )  # a page of 50: the kill comes in the third
    assert isinstance(busy.error, Killed)
    in_flight = [p for state in busy.states for p in passes_in(state)]
    assert in_flight and max(len(p) for p in in_flight) <= 8
    assert any("routed_by" in p for p in in_flight)  # the conversations' passes, fed
    dm_pass = busy.final_state["bookmarks"]["dm_events"]["pass"]
    assert sorted(dm_pass) == [
        "cursor",
        "emitted",
        "event_types",
        "frontier_ids",
        "newest_id",
        "page_size",
        "since_id",
        "top_id",
    ]


#: What the chat streams add at rest (tap_x_dm.chat.reading): the rest is in legacy names.
CHAT_AT_REST = {
    "bookmarks.<stream>.partitions[].context.conversation_id",
    "bookmarks.<stream>.partitions[].updated_at",
}
#: Oldest-first conversations keep the last page's token; a run selecting no chat stream the
#: day it checked for XChat.
CHAT_AT_REST_AT_MOST = CHAT_AT_REST | {
    "bookmarks.<stream>.partitions[].cursor",
    "bookmarks.<stream>.xchat_checked_on",
}


@pytest.mark.parametrize("oldest_first", [False, True], ids=["newest_first", "oldest_first"])
def test_every_stream_selected_the_state_stays_within_24_key_paths(
    chat_sandbox: Any, oldest_first: bool
) -> None:
    """The chat streams add at most 4 paths to the rich run's 20; a read in flight none."""
    clock = ManualClock()
    sb = chat_sandbox(clock, chat_oldest_first=oldest_first)
    every = ["dm_events", "users", "tweets", "media", *ALL_CHAT]

    def run(streams: list[str], state: dict[str, Any] | None, **kwargs: Any) -> Any:
        config = {"page_size": 4, "xchat_ciphertext": True}
        chosen = chat_catalog(sb, streams, **config)
        return run_tap(sb, clock=clock, catalog=chosen, state=state, **config, **kwargs)

    first = run(every, None)
    chat_paths = leaf_paths(first.final_state) - AT_REST
    cursor = {"bookmarks.<stream>.partitions[].cursor"}
    expected = CHAT_AT_REST | (cursor if oldest_first else set())
    assert chat_paths == expected
    assert tap_state.load(first.final_state) == first.final_state

    busy = sb.xchat.conversations(sb.account.id)[-1].id
    clock.advance(3600)
    sb.xchat.add_messages(busy, 12)
    seen: list[dict[str, Any]] = []

    def die_in_the_second_page(message: dict[str, Any]) -> None:
        if message["type"] == "RECORD" and message["stream"] == "chat_events":
            seen.append(message)
            if len(seen) == 6:
                raise Killed

    killed = run(every, first.final_state, raise_errors=False, on_message=die_in_the_second_page)
    assert isinstance(killed.error, Killed)
    in_flight = [
        p["pass"]
        for state in killed.states
        for p in state.get("bookmarks", {}).get("chat_events", {}).get("partitions", [])
        if "pass" in p
    ]
    assert in_flight and {k for p in in_flight for k in p} <= {"cursor", "top_id"}

    clock.advance(3600)
    resumed = run(every, killed.final_state)
    unselected = run(["dm_events"], resumed.final_state, xchat_check=True)  # the daily check
    chat_paths = leaf_paths(unselected.final_state) - AT_REST
    assert chat_paths == expected | {"bookmarks.<stream>.xchat_checked_on"}
    assert chat_paths <= CHAT_AT_REST_AT_MOST
    assert len(AT_REST | CHAT_AT_REST_AT_MOST) == 24
