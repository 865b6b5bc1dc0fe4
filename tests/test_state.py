"""The versioned state: 0.1's shape is upgraded, a newer or broken one is refused in one line."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tap_x_dm.state import loading as tap_state
from tap_x_dm.state.loading import STATE_VERSION, StateError, load
from tap_x_dm_sandbox import ManualClock
from tests.conftest import dm_requests, run_tap


def v1_state(sandbox: Any, newest: dict[str, Any]) -> dict[str, Any]:
    """What tap-x-dm 0.1.0 wrote after a complete pass (no version, created_at + tie-break)."""
    return {
        "account": {"id": sandbox.account.id, "username": sandbox.account.username},
        "bookmarks": {
            "dm_events": {
                "replication_key": "created_at",
                "replication_key_value": newest["created_at"],
                "replication_key_id": newest["id"],
                "event_types": ["MessageCreate", "ParticipantsJoin", "ParticipantsLeave"],
                "looked_up_event_ids": [],
            }
        },
    }


def test_the_state_0_1_wrote_is_upgraded_and_the_run_goes_on_incrementally(
    sandbox_factory: Any, clock: ManualClock
) -> None:
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000)
    old = v1_state(sandbox, sandbox.visible_events(window_days=30)[0])
    clock.advance(600)
    new = sandbox.add_events(4)
    sandbox.clear_log()

    run = run_tap(sandbox, clock=clock, state=copy.deepcopy(old))

    assert sorted(run.ids()) == sorted(e["id"] for e in new)
    assert len(dm_requests(sandbox)) == 1
    final = run.final_state
    assert final["version"] == STATE_VERSION
    assert final["bookmarks"]["dm_events"]["replication_key_id"] == max(
        (e["id"] for e in new), key=int
    )
    assert final["account"] == old["account"]


def test_a_hand_written_bookmark_without_its_id_counts_its_millisecond_as_seen() -> None:
    upgraded = load(
        {
            "bookmarks": {
                "dm_events": {
                    "replication_key": "created_at",
                    "replication_key_value": "2026-11-01T10:00:00.000Z",
                }
            }
        }
    )
    bookmark = int(upgraded["bookmarks"]["dm_events"]["replication_key_id"])
    minted_ms = (bookmark >> 22) + 1288834974657
    assert minted_ms == 1_793_527_200_000  # 2026-11-01T10:00:00.000Z
    assert bookmark & ((1 << 22) - 1) == (1 << 22) - 1  # the last id of that millisecond


def test_a_state_of_a_newer_tap_is_refused_not_misread() -> None:
    with pytest.raises(StateError, match="written by a newer tap-x-dm \\(state version 99"):
        load({"version": 99, "bookmarks": {}})


@pytest.mark.parametrize(
    ("state", "key"),
    [
        ({"bookmarks": []}, "bookmarks"),
        ({"bookmarks": {"dm_events": "yesterday"}}, "bookmarks.dm_events"),
        (
            {"bookmarks": {"dm_events": {"replication_key_value": "yesterday"}}},
            "bookmarks.dm_events.replication_key_value",
        ),
        (
            {"bookmarks": {"dm_events": {"replication_key_id": "abc"}}},
            "bookmarks.dm_events.replication_key_id",
        ),
        (
            {"bookmarks": {"conversation_events": {"partitions": {"a": 1}}}},
            "bookmarks.conversation_events.partitions",
        ),
        (
            {"bookmarks": {"conversation_events": {"partitions": [{"dm_conversation_id": "1"}]}}},
            "bookmarks.conversation_events.partitions[0]",
        ),
        ({"bookmarks": {"dm_events": {"pass": "yes"}}}, "bookmarks.dm_events.pass"),
        ({"account": {"id": "me"}}, "account.id"),
        (
            {"version": 4, "bookmarks": {"dm_events": {"dm_event_ids": {"1": "maybe"}}}},
            "bookmarks.dm_events.dm_event_ids",
        ),
        (
            {"version": 4, "bookmarks": {"dm_events": {"read_below_id": 12}}},
            "bookmarks.dm_events.read_below_id",
        ),
        (
            {"version": 4, "bookmarks": {"dm_events": {"pass": {"page_size": 0}}}},
            "bookmarks.dm_events.pass.page_size",
        ),
        (
            {"version": 4, "bookmarks": {"conversation_events": {"via_dm_events": {"pass": 1}}}},
            "bookmarks.conversation_events.via_dm_events.pass",
        ),
        (
            {"version": 4, "bookmarks": {"dm_events": {"event_types": ["Typing"]}}},
            "bookmarks.dm_events.event_types",
        ),
        ({"version": "2"}, "version"),
    ],
)
def test_a_broken_state_names_its_key_and_the_fix(state: dict[str, Any], key: str) -> None:
    with pytest.raises(StateError) as raised:
        load(state)
    message = str(raised.value)
    assert message.startswith(f"State key {key} ")
    assert "meltano state clear" in message
    assert "\n" not in message


def test_state_holds_no_float_for_targets_to_choke_on(
    sandbox_factory: Any, clock: ManualClock
) -> None:
    # target-postgres reads floats as Decimal and re-emits STATE through plain JSON, which
    # refuses them: every number the tap keeps in state is a whole number.
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000)
    first = run_tap(sandbox, clock=clock)
    clock.advance(3600)
    sandbox.add_events(5)
    second = run_tap(sandbox, clock=clock, state=first.final_state)

    def floats(value: Any) -> list[Any]:
        if isinstance(value, float):
            return [value]
        if isinstance(value, dict):
            return [f for v in value.values() for f in floats(v)]
        if isinstance(value, list):
            return [f for v in value for f in floats(v)]
        return []

    assert floats(first.states + second.states) == []


# -- the schema, and docs/state.md's account of it ---------------------------------------

STATE_DOC = Path(__file__).resolve().parents[1] / "docs" / "state.md"
#: Keys of the SDK's envelope: shown in docs/state.md's example, not explained one by one.
ENVELOPE = {
    *("version", "account", "id", "username", "bookmarks", "replication_key"),
    *("dm_events", "conversation_events", "users", "tweets", "replication_key_value"),
    *("partitions", "context", "dm_conversation_id"),
}


def schema_keys(node: Any) -> set[str]:
    """Every property name the state schema declares."""
    if isinstance(node, dict):
        found = set(node.get("properties", {}))
        return found | {k for value in node.values() for k in schema_keys(value)}
    if isinstance(node, list):
        return {k for value in node for k in schema_keys(value)}
    return set()


def state_doc() -> tuple[str, dict[str, Any]]:
    """docs/state.md (it was the README's state section) and its example state."""
    section = STATE_DOC.read_text()
    assert section.startswith("# State and incremental runs")
    example = section[section.index("```json") + len("```json") : section.index("```\n\n- ")]
    return section, json.loads(example)


def test_the_state_schema_is_a_valid_json_schema_with_a_line_for_each_check() -> None:
    jsonschema.Draft202012Validator.check_schema(tap_state.schema())
    assert tap_state.schema()["properties"]["version"]["const"] == STATE_VERSION


def test_the_state_doc_shows_and_explains_every_key_of_the_schema() -> None:
    section, example = state_doc()
    assert load(example) == example  # a whole state of the current version, as the tap reads it
    shown = set(re.findall(r'"([a-z_]+)":', json.dumps(example)))
    explained = set(re.findall(r"`([a-z_]+)`", section))
    declared = schema_keys(tap_state.schema())
    assert declared >= ENVELOPE
    assert declared - ENVELOPE - explained == set()  # each of the tap's own keys, in words
    assert ENVELOPE - shown == set()
    assert shown - declared == {"media"}  # a stream with nothing to keep
