"""Every RECORD has the same columns; a stream with nothing to read sends nothing.

Targets that take their columns from the first record (singer-io target-csv) or from each
batch (target-parquet) shift or drift when X leaves a property out; a target creates an
empty table for a SCHEMA that is never followed by a record.
"""

from __future__ import annotations

from typing import Any

import pytest

from tap_x_dm_sandbox import ManualClock, Sandbox
from tests.conftest import run_tap

STREAMS = ("dm_events", "users", "tweets", "media")


@pytest.fixture
def sandbox(sandbox_factory: Any, clock: ManualClock) -> Sandbox:
    return sandbox_factory(clock=clock, rate_limit=10_000, events=400, conversations=20)


def test_every_record_has_every_top_level_property_null_when_absent(
    sandbox: Sandbox, clock: ManualClock
) -> None:
    run = run_tap(sandbox, clock=clock)
    expected_ids = sorted(e["id"] for e in sandbox.visible_events(window_days=30))
    assert sorted(run.ids()) == expected_ids
    by_id = {e["id"]: e for e in sandbox.visible_events(window_days=30)}
    for stream in STREAMS:
        (schema,) = run.schemas(stream)
        properties = list(schema["schema"]["properties"])
        records = run.records(stream)
        assert records, stream
        for record in records:
            assert list(record) == properties, stream  # the schema's order, every time
    nulls = 0
    for record in run.records("dm_events"):
        event = by_id[record["id"]]
        for name, value in record.items():
            if name in event and name != "entities":
                assert value is not None, (record["id"], name)
            nulls += value is None
        assert record["text"] == event.get("text")
    assert nulls > 0  # joins and leaves have no text; not every message has attachments


def test_conversation_events_sends_nothing_until_a_conversation_is_configured(
    sandbox: Sandbox, clock: ManualClock
) -> None:
    run = run_tap(sandbox, clock=clock)
    assert run.schemas("conversation_events") == []
    assert run.records("conversation_events") == []
    assert [m for m in run.messages if m.get("stream") == "conversation_events"] == []
    assert len(run.schemas("dm_events")) == 1

    conversation = next(iter(sandbox.dataset.conversations_of(sandbox.account.id)))
    configured = run_tap(sandbox, clock=clock, dm_conversation_ids=[conversation])
    assert len(configured.schemas("conversation_events")) == 1
    records = configured.records("conversation_events")
    assert records
    assert {r["dm_conversation_id"] for r in records} == {conversation}
