"""Unknown properties never reach the target, at any depth, with the SDK's conformance off.

The tap's streams use `TypeConformanceLevel.NONE` (the SDK then keeps every property)
and drop unknown ones themselves (`tap_x_dm.api.answers`). These tests pin both halves:
the emitted RECORD has no unknown property, and the tap's pruning gives the same
record as the SDK's recursive conformance would.
"""

from __future__ import annotations

import copy
import json
import logging
from typing import Any

import pytest
from singer_sdk.helpers._typing import conform_record_data_types
from singer_sdk.helpers.conform import TypeConformanceLevel

from tap_x_dm.api.answers import KnownProperties
from tap_x_dm.tap import TapXDM
from tap_x_dm_sandbox import ManualClock, Sandbox, SandboxConfig
from tests.conftest import CollectingWriter

ACCOUNT = {"account": {"id": "944480690", "username": "FloodSocial"}}


def event_with_unknown_keys() -> dict[str, Any]:
    return {
        "id": "1582838288302845958",
        "event_type": "MessageCreate",
        "text": "see https://t.co/x and @Acme",
        "sender_id": "944480690",
        "dm_conversation_id": "944480690-906948460078698496",
        "created_at": "2026-10-19T21:30:00.000Z",
        "attachments": {"media_keys": ["3_1"], "card_ids": ["c1"], "future_attachment": 1},
        "urls": [
            {
                "start": 4,
                "end": 17,
                "url": "https://t.co/x",
                "expanded_url": "https://acme.example",
                "future_url_field": {"a": 1},
            }
        ],
        "mentions": [{"start": 22, "end": 27, "username": "Acme", "future_mention": True}],
        "referenced_tweets": [{"id": "1578900353814519810", "future_ref": "x"}],
        "future_top_level": "dropped",
    }


@pytest.fixture
def tap_and_writer() -> tuple[TapXDM, CollectingWriter]:
    writer = CollectingWriter()
    tap = TapXDM(
        config={"access_token": "unused", "api_url": "http://127.0.0.1:9"},
        state=copy.deepcopy(ACCOUNT),
        message_writer=writer,
        clock=ManualClock(),
    )
    return tap, writer


def test_the_tap_streams_switch_the_sdk_conformance_off(
    tap_and_writer: tuple[TapXDM, CollectingWriter],
) -> None:
    tap, _ = tap_and_writer
    for stream in tap.streams.values():
        assert stream.TYPE_CONFORMANCE_LEVEL is TypeConformanceLevel.NONE, stream.name


def test_an_event_with_unknown_nested_keys_is_emitted_without_them(
    tap_and_writer: tuple[TapXDM, CollectingWriter], caplog: pytest.LogCaptureFixture
) -> None:
    tap, writer = tap_and_writer
    stream = tap.streams["dm_events"]
    with caplog.at_level(logging.WARNING):
        # What the SDK does with each record a stream yields: post_process, then RECORD.
        stream._write_record_message(stream.post_process(event_with_unknown_keys()))
        stream._write_record_message(stream.post_process(event_with_unknown_keys()))
    records = [m["record"] for m in writer.messages if m["type"] == "RECORD"]
    assert len(records) == 2
    record = records[0]
    assert record["attachments"] == {"media_keys": ["3_1"], "card_ids": ["c1"]}
    assert record["urls"] == [
        {"start": 4, "end": 17, "url": "https://t.co/x", "expanded_url": "https://acme.example"}
    ]
    assert record["mentions"] == [{"start": 22, "end": 27, "username": "Acme"}]
    assert record["referenced_tweets"] == [{"id": "1578900353814519810"}]
    assert "future_top_level" not in record
    assert record["account_id"] == "944480690" and record["source"] == "api"
    assert "future" not in json.dumps(records)
    warned = [r.getMessage() for r in caplog.records if "does not know" in r.getMessage()]
    assert len(warned) == 5  # once per field and run, however many events carry it
    assert any("'attachments.future_attachment'" in line for line in warned)
    assert any("'urls.future_url_field'" in line for line in warned)


def test_included_objects_with_unknown_nested_keys_are_emitted_without_them(
    tap_and_writer: tuple[TapXDM, CollectingWriter],
) -> None:
    tap, writer = tap_and_writer
    tweets = tap.streams["tweets"]
    tweet = {
        "id": "1578900353814519810",
        "text": "hello",
        "edit_history_tweet_ids": ["1578900353814519810"],
        "public_metrics": {"like_count": 1, "future_metric": 2},
        "future_tweet_field": 1,
    }
    tweets.write_objects([tweet])
    (record,) = [m["record"] for m in writer.messages if m["type"] == "RECORD"]
    assert "future_tweet_field" not in record
    assert "future" not in json.dumps(record)
    assert record["account_id"] == "944480690"


def sdk_conformed(record: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    return conform_record_data_types(
        stream_name="s",
        record=copy.deepcopy(record),
        schema=schema,
        level=TypeConformanceLevel.RECURSIVE,
        logger=logging.getLogger("test"),
    )


def with_unknown_keys(value: Any, depth: int = 0) -> Any:
    """`value` with an unknown key added to every object in it, at every depth."""
    if isinstance(value, dict):
        return {**{k: with_unknown_keys(v, depth + 1) for k, v in value.items()}, f"zz{depth}": 1}
    if isinstance(value, list):
        return [with_unknown_keys(item, depth + 1) for item in value]
    return value


def test_pruning_gives_the_records_the_sdk_recursive_conformance_gives(
    tap_and_writer: tuple[TapXDM, CollectingWriter],
) -> None:
    tap, _ = tap_and_writer
    with Sandbox(SandboxConfig(events=400), clock=ManualClock()) as sb:
        events = sb.visible_events(window_days=None)
    samples: dict[str, list[dict[str, Any]]] = {
        "dm_events": [*events, event_with_unknown_keys()],
        "users": [u for u in (dict(vars(user)) for user in sb.users) if isinstance(u, dict)],
    }
    checked = 0
    for stream_name, objects in samples.items():
        schema = tap.streams[stream_name].schema
        plan = KnownProperties(schema)
        for obj in objects:
            for candidate in (obj, with_unknown_keys(obj)):
                pruned = copy.deepcopy(candidate)
                plan.prune(pruned, lambda _path: None)
                assert pruned == sdk_conformed(candidate, schema)
                checked += 1
    assert checked > 400
