"""The README's privacy stream maps work as documented."""

from __future__ import annotations

import hashlib
from typing import Any

from tap_x_dm_sandbox import ManualClock
from tests.conftest import run_tap


def test_text_can_be_dropped_or_hashed(sandbox_factory: Any, clock: ManualClock) -> None:
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000, events=300, conversations=30)
    group = next(c for c in sandbox.dataset.conversations_of(sandbox.account.id) if "-" not in c)
    stream_maps = {
        "dm_events": {"text": "__NULL__"},
        "conversation_events": {
            "text_sha256": "sha256(record.get('text') or '')",
            "text": "__NULL__",
        },
    }

    run = run_tap(sandbox, clock=clock, dm_conversation_ids=[group], stream_maps=stream_maps)

    events = run.records("dm_events")
    assert events and all("text" not in r for r in events)
    by_id = {e["id"]: e for e in sandbox.visible_events(conversation_id=group, window_days=None)}
    conversation = run.records("conversation_events")
    assert conversation and all("text" not in r for r in conversation)
    for record in conversation:
        text = by_id[record["id"]].get("text") or ""
        assert record["text_sha256"] == hashlib.sha256(text.encode()).hexdigest()
