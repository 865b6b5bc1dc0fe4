"""Syncing the objects DM events refer to (users, tweets, media) and events looked up by id."""

from __future__ import annotations

from typing import Any

import pytest

from tap_x_dm_sandbox import ManualClock
from tests.conftest import dm_requests, run_tap
from tests.sync_support import list_requests


@pytest.mark.every_vocabulary
def test_dm_event_ids_are_fetched_once_without_moving_the_bookmark(
    sandbox_factory: Any, clock: ManualClock
) -> None:
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000, days=90)
    first = run_tap(sandbox, clock=clock)
    # Events older than 30 days: /2/dm_events cannot serve them, the lookup can.
    recent = {e["id"] for e in sandbox.visible_events(window_days=30)}
    old = [e for e in sandbox.visible_events(window_days=None) if e["id"] not in recent][:2]
    wanted = [e["id"] for e in old]
    sandbox.clear_log()

    missing = "1999999999999999999"  # X answers 404: asked once, kept apart (an archive has it?)
    second = run_tap(sandbox, clock=clock, state=first.final_state, dm_event_ids=[*wanted, missing])

    assert sorted(second.ids()) == sorted(wanted)
    nulls = dict.fromkeys(second.schemas("dm_events")[0]["schema"]["properties"])
    assert second.records("dm_events") == [
        {**nulls, **e, "account_id": sandbox.account.id, "source": "api"} for e in old
    ]
    assert len(list_requests(sandbox)) == 1
    lookups = [e for e in sandbox.request_log if e["path"].startswith("/2/dm_events/")]
    assert len(lookups) == 3
    bookmarks = second.final_state["bookmarks"]["dm_events"]
    asked = {**dict.fromkeys(wanted, "fetched"), missing: "not_found"}
    assert bookmarks["dm_event_ids"] == dict(sorted(asked.items(), key=lambda kv: int(kv[0])))
    assert (
        bookmarks["replication_key_id"]
        == first.final_state["bookmarks"]["dm_events"]["replication_key_id"]
    )

    sandbox.clear_log()
    third = run_tap(sandbox, clock=clock, state=second.final_state, dm_event_ids=[*wanted, missing])
    assert third.ids() == []
    assert [e for e in sandbox.request_log if e["path"].startswith("/2/dm_events/")] == []


@pytest.mark.every_vocabulary
def test_includes_streams_hold_every_referenced_object_once(
    sandbox_factory: Any, clock: ManualClock
) -> None:
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000)
    events = sandbox.visible_events(window_days=30)

    run = run_tap(sandbox, clock=clock)

    users = run.records("users")
    tweets = run.records("tweets")
    media = run.records("media")
    expected_users = {e["sender_id"] for e in events if "sender_id" in e} | {
        p for e in events for p in e.get("participant_ids", [])
    }
    expected_tweets = {
        ref["id"]
        for e in events
        for ref in e.get("referenced_tweets", [])
        if sandbox.dataset.tweet(ref["id"]) is not None
    }
    expected_media = {k for e in events for k in e.get("attachments", {}).get("media_keys", [])}
    assert sorted(u["id"] for u in users) == sorted(expected_users)
    assert sorted(t["id"] for t in tweets) == sorted(expected_tweets)
    assert sorted(m["media_key"] for m in media) == sorted(expected_media)
    assert expected_tweets and expected_media
    for record in users + tweets + media:
        assert record["account_id"] == sandbox.account.id
    account_user = next(u for u in users if u["id"] == sandbox.account.id)
    assert account_user["username"] == sandbox.account.username
    # A schema precedes the first record of each includes stream.
    first_schema = next(i for i, m in enumerate(run.messages) if m.get("stream") == "users")
    assert run.messages[first_schema]["type"] == "SCHEMA"
    assert run.schemas("media")[0]["key_properties"] == ["account_id", "media_key"]
    assert run.schemas("dm_events")[0]["key_properties"] == ["account_id", "id"]


def test_streams_sync_in_an_order_that_fills_includes_first(clock: ManualClock) -> None:
    from tap_x_dm.tap import TapXDM

    tap = TapXDM(config={"access_token": "x"}, clock=clock)
    names = list(tap.streams)
    assert names == [
        "chat_conversations",
        "chat_events",
        "chat_messages",  # written with chat_events' pages; its own turn only warns
        "conversation_events",
        "dm_events",
        "media",
        "tweets",
        "users",
    ]


def test_dm_requests_ask_for_every_field_and_expansion(
    sandbox_factory: Any, clock: ManualClock
) -> None:
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000, events=50, conversations=10)
    run_tap(sandbox, clock=clock, object_lookups="expansions")
    query = dm_requests(sandbox)[0]["query"]
    assert query["dm_event.fields"].split(",") == sorted(query["dm_event.fields"].split(","))
    assert set(query["dm_event.fields"].split(",")) == {
        "attachments", "created_at", "dm_conversation_id", "entities", "event_type", "id",
        "participant_ids", "referenced_tweets", "sender_id", "text",
    }  # fmt: skip
    assert set(query["expansions"].split(",")) == {
        "attachments.media_keys", "participant_ids", "referenced_tweets.id", "sender_id",
    }  # fmt: skip
    assert query["max_results"] == "100"


def test_a_repeated_dm_event_id_is_fetched_once(sandbox_factory: Any, clock: ManualClock) -> None:
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000, events=600, conversations=40)
    first = run_tap(sandbox, clock=clock)
    recent = {e["id"] for e in sandbox.visible_events(window_days=30)}
    old = next(e for e in sandbox.visible_events(window_days=None) if e["id"] not in recent)
    sandbox.clear_log()

    run = run_tap(
        sandbox, clock=clock, state=first.final_state, dm_event_ids=[old["id"], old["id"]]
    )

    assert run.ids() == [old["id"]]
    assert len([e for e in sandbox.request_log if e["path"].startswith("/2/dm_events/")]) == 1


def test_expanded_objects_are_asked_for_only_when_their_stream_is_selected(
    sandbox_factory: Any, clock: ManualClock
) -> None:
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000)
    expected = sandbox.visible_events(window_days=30)

    run = run_tap(sandbox, clock=clock, select=["dm_events"])

    assert run.ids() == [e["id"] for e in expected]
    assert all("expansions" not in e["query"] for e in dm_requests(sandbox))
    # The one user billed is the account, from GET /2/users/me.
    assert sandbox.billed == {
        "dm_events": len(expected),
        "users": 1,
        "tweets": 0,
        "media": 0,
        "chat_events": 0,
    }
    sandbox.reset_billing()
    sandbox.clear_log()

    users_only = run_tap(
        sandbox, clock=clock, select=["dm_events", "users"], state={}, object_lookups="expansions"
    )

    query = dm_requests(sandbox)[-1]["query"]
    assert set(query["expansions"].split(",")) == {"participant_ids", "sender_id"}
    assert sandbox.billed["tweets"] == sandbox.billed["media"] == 0
    loaded = {r["id"] for r in users_only.records("users")} | {sandbox.account.id}
    assert sandbox.billed["users"] == len(loaded)
