"""XChat streams (conversations, events, keys) against the sandbox over HTTP."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
import requests

from tap_x_dm.chat.envelope import read_envelope
from tap_x_dm.chat.reading import NEWEST_FIRST, OLDEST_FIRST, ConversationRead
from tap_x_dm.clock import SystemClock
from tap_x_dm.state.loading import StateError
from tap_x_dm.state.loading import load as load_state
from tap_x_dm_sandbox import ManualClock
from tests.chat_support import (
    ALL_CHAT,
    CHAT_STREAMS,
    all_chat_events,
    catalog,
    chat_requests,
    chat_run,
    event_pages,
)
from tests.conftest import tap_config


@pytest.mark.parametrize("oldest_first", [False, True], ids=["newest_first", "oldest_first"])
def test_every_chat_event_loads_once_then_only_new_ones(
    chat_sandbox: Any, oldest_first: bool
) -> None:
    clock = ManualClock()
    sb = chat_sandbox(clock, chat_oldest_first=oldest_first)
    expected = all_chat_events(sb)
    first = chat_run(sb, clock, CHAT_STREAMS, page_size=4)
    assert sorted(first.ids("chat_events")) == sorted(expected)  # each once
    conversations = sb.xchat.conversations(sb.account.id)
    assert sorted(first.ids("chat_conversations")) == sorted(c.id for c in conversations)
    # One request per page: the inbox, then ceil(n / 4) pages per conversation.
    minimum = 1 + sum(-(-len(sb.xchat.events(c.id)) // 4) for c in conversations)
    assert len(chat_requests(sb)) == minimum
    by_id = {r["id"]: r for r in first.records("chat_events")}
    for event_id, event in expected.items():
        record = by_id[event_id]
        assert record["conversation_id"] == event["conversation_id"]  # as served: A:B or g...
        assert record["sequence_id"] == event["sequence_id"]
        assert record["sender_id"] == event["sender_id"]
        assert record["previous_id"] == event["previous_id"]
        assert record["account_id"] == sb.account.id
        assert "encoded_event" not in record
        if ":" in event["conversation_id"]:
            low, high = sorted(event["conversation_id"].split(":"), key=int)
            assert record["dm_conversation_id"] == f"{low}-{high}"
        else:
            assert record["dm_conversation_id"] is None
    rows = {r["id"]: r for r in first.records("chat_conversations")}
    for conversation in conversations:
        one_to_one = conversation.type == "direct"
        assert rows[conversation.id]["dm_conversation_id"] == (
            conversation.id if one_to_one else None
        )

    # Nothing new: the inbox only.
    sb.clear_log()
    quiet = chat_run(sb, clock, CHAT_STREAMS, page_size=4, state=first.final_state)
    assert quiet.ids("chat_events") == [] and quiet.ids("chat_conversations") == []
    assert [e["path"] for e in chat_requests(sb)] == ["/2/chat/conversations"]

    # New messages in one conversation: only they, only there.
    busy = conversations[-1].id
    clock.advance(60)
    sb.xchat.add_messages(busy, 6)
    added = set(all_chat_events(sb)) - set(expected)
    sb.clear_log()
    later = chat_run(sb, clock, CHAT_STREAMS, page_size=4, state=quiet.final_state)
    assert sorted(later.ids("chat_events")) == sorted(added)
    assert later.ids("chat_conversations") == [busy]
    pages = event_pages(sb)
    assert {e["path"] for e in pages} == {f"/2/chat/conversations/{busy}/events"}
    # Newest first: the 2 pages holding the 6 new events (the second reaches the bookmark).
    # Oldest first: the last page read before, again, then the new ones (at most one page again).
    assert len(pages) == 2 if not oldest_first else len(pages) <= 3


def test_ciphertext_adds_encoded_events_signatures_and_the_accounts_conversation_keys(
    chat_sandbox: Any,
) -> None:
    clock = ManualClock()
    sb = chat_sandbox(clock)
    expected = all_chat_events(sb)
    run = chat_run(sb, clock, ALL_CHAT, xchat_ciphertext=True)
    records = {r["id"]: r for r in run.records("chat_events")}
    assert sorted(records) == sorted(expected)
    for event_id, event in expected.items():
        assert records[event_id]["encoded_event"] == event["encoded_event"]
        assert records[event_id]["message_event_signature"]["signature"]
    keys = run.records("chat_conversation_keys")
    assert len({(k["conversation_id"], k["key_version"]) for k in keys}) == len(keys)
    served = {
        (e["conversation_id"], read_envelope(e["encoded_event"]).key_version)
        for e in expected.values()
        if e["expect"]["kind"] in ("key_change", "group_create")
        or read_envelope(e["encoded_event"]).is_key_change
    }
    assert {(k["conversation_id"], k["key_version"]) for k in keys} == {
        pair for pair in served if pair[1] is not None
    }
    for key in keys:  # the account's own copy, as the key-change event holds it
        envelope = read_envelope(key["encoded_event"])
        assert (key["encrypted_key"], key["public_key_version"]) == envelope.participant_keys[
            sb.account.id
        ]
    messages = {e["id"] for e in expected.values() if e["expect"]["kind"] == "message"}
    assert messages and all(records[m]["key_version"] for m in messages)


def test_2166_names_give_the_same_columns(chat_sandbox: Any) -> None:
    clock = ManualClock()
    new = chat_run(chat_sandbox(clock), clock, CHAT_STREAMS)
    old = chat_run(chat_sandbox(clock, chat_vocabulary="2.166"), clock, CHAT_STREAMS)
    assert sorted(new.records("chat_events"), key=lambda r: r["id"]) == sorted(
        old.records("chat_events"), key=lambda r: r["id"]
    )
    assert all(r["created_at"].endswith("Z") for r in old.records("chat_events"))
    lists = ("admin_ids", "member_ids", "participant_ids")  # 2.166 serves them as fields

    def conversations(run: Any) -> list[dict[str, Any]]:
        rows = run.records("chat_conversations")
        return sorted(({k: v for k, v in r.items() if k not in lists} for r in rows), key=str)

    assert conversations(new) == conversations(old)
    assert all(r["message_ttl_ms"] == 0 for r in old.records("chat_conversations"))


def test_the_page_order_is_learned_from_sequence_ids() -> None:
    def rows(*sequences: int) -> list[dict[str, Any]]:
        return [{"id": f"u{s}", "sequence_id": str(s), "previous_id": None} for s in sequences]

    state: dict[str, Any] = {"replication_key_id": "5"}
    newest = ConversationRead(state, None)
    assert [r["id"] for r in newest.admit(rows(9, 8, 7))] == ["u9", "u8", "u7"]
    assert newest.order == NEWEST_FIRST and not newest.end_page(None, "t2")
    assert state == {"replication_key_id": "5", "pass": {"cursor": "t2", "top_id": "9"}}
    assert [r["id"] for r in newest.admit(rows(6, 5, 4))] == ["u6"]
    assert newest.end_page("t2", "t3")  # reached the bookmark: done, whatever comes next
    assert state == {"replication_key_id": "9"}  # at rest: no cursor, no pass

    state = {"replication_key_id": "5", "cursor": "t1"}
    oldest = ConversationRead(state, None)
    assert [r["id"] for r in oldest.admit(rows(4, 5, 6))] == ["u6"]
    assert oldest.order == OLDEST_FIRST and oldest.end_page("t1", None)
    assert state == {"replication_key_id": "6", "cursor": "t1"}  # the next read starts here


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("replication_key_id", "12ab"),
        ("pass", {"top_id": 7.5}),
        ("pass", {"cursor": 3}),
        ("cursor", 3),
        ("updated_at", "yesterday"),
    ],
)
def test_a_bad_chat_state_value_is_one_line_naming_its_key(key: str, value: object) -> None:
    state = {
        "bookmarks": {
            "chat_events": {
                "partitions": [{"context": {"conversation_id": "1-2"}, key: value}],
            }
        }
    }
    with pytest.raises(StateError, match=rf"bookmarks\.chat_events\.partitions\[0\]\.{key}"):
        load_state(state)
    with pytest.raises(StateError, match="xchat_checked_on"):
        load_state({"bookmarks": {"chat_conversations": {"xchat_checked_on": "Monday"}}})


@pytest.mark.parametrize(("new", "sizes"), [(3, ["10"]), (12, ["10", "100"])])
def test_an_incremental_read_first_asks_for_a_few_events(
    chat_sandbox: Any, new: int, sizes: list[str]
) -> None:
    """X bills every event a page returns: not a full page of old ones for a few new."""
    clock = ManualClock()
    sb = chat_sandbox(clock)
    first = chat_run(sb, clock, CHAT_STREAMS)
    busy = sb.xchat.conversations(sb.account.id)[-1].id
    before = set(all_chat_events(sb))
    clock.advance(60)
    sb.xchat.add_messages(busy, new)
    sb.clear_log()
    run = chat_run(sb, clock, CHAT_STREAMS, state=first.final_state)
    assert sorted(run.ids("chat_events")) == sorted(set(all_chat_events(sb)) - before)
    assert [e["query"]["max_results"] for e in event_pages(sb)] == sizes


@pytest.mark.parametrize("msec", ["yesterday", "1.7e12", ""])
def test_a_created_at_msec_that_is_not_a_number_is_one_line_naming_it(
    chat_sandbox: Any, tmp_path: Any, msec: str
) -> None:
    """Over HTTP, from the command line: one error line naming the response, no traceback."""
    sb = chat_sandbox(ManualClock(start=SystemClock().time()), chat_vocabulary="2.166")
    conversation = sb.xchat.conversations(sb.account.id)[0].id
    path = f"/2/chat/conversations/{conversation}/events"
    headers = {"Authorization": f"Bearer {sb.access_token()}"}
    fields = "id,conversation_id,sender_id,created_at_msec,encoded_event"
    page = requests.get(
        f"{sb.base_url}{path}",
        headers=headers,
        params={"max_results": 100, "chat_message_event.fields": fields},
        timeout=10,
    ).json()
    assert page["data"][0]["created_at_msec"].isdigit()  # what the 2.166 Chat API serves
    page["data"][0]["created_at_msec"] = msec
    bad = page["data"][0]["id"]
    sb.faults.inject("malformed_200", body=page, path_prefix=path)
    config = tmp_path / "config.json"
    config.write_text(json.dumps(tap_config(sb, run_lock_dir=str(tmp_path / "locks"))))
    catalog_file = tmp_path / "catalog.json"
    catalog_file.write_text(json.dumps(catalog(sb, CHAT_STREAMS)))
    sb.clear_log()
    done = subprocess.run(
        [sys.executable, "-m", "tap_x_dm", "--config", str(config), "--catalog", str(catalog_file)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if "| ERROR " in line]
    assert len(errors) == 1, done.stderr
    assert f"GET {path} answered 200 with a body tap-x-dm cannot read: event {bad}" in errors[0]
    assert f"created_at_msec is not a number of milliseconds ({msec!r})" in errors[0]
    states = [json.loads(line) for line in done.stdout.splitlines() if '"STATE"' in line]
    records = [line for line in done.stdout.splitlines() if '"chat_events"' in line]
    assert not any('"RECORD"' in line for line in records)  # nothing of the page
    for state in states:  # and its conversation's bookmark never moved
        chat = state["value"].get("bookmarks", {}).get("chat_events", {})
        partitions = chat.get("partitions", [])
        assert not [p for p in partitions if p["context"]["conversation_id"] == conversation]
    # The inbox (2.167 names refused, then 2.166's), then that page, and nothing more.
    assert [(e["path"], e["status"]) for e in chat_requests(sb)] == [
        ("/2/chat/conversations", 400),
        ("/2/chat/conversations", 200),
        (path, 200),
    ]
