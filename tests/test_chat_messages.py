"""chat_messages: every XChat event the owner's blob can open decrypts and verifies; the
rest are rows with their reason; nothing decrypted or secret reaches any output.

The pages are the sandbox's, read over HTTP; the tap's `chat_messages` stream
decrypts them with chatxdk and the account's exported blob, as `chat_events`
hands them over.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tap_x_dm.chat import crypto
from tests.chat_content_support import (
    KINDS,
    blob_file,
    roles,
    secrets_of,
)
from tests.chat_support import chat_sandbox, xchat_cache
from tests.conftest import Killed, TapRun, run_tap
from tests.test_run_summary import read_summary

__all__ = ["chat_sandbox", "xchat_cache"]


CHAT = ["chat_conversations", "chat_events", "chat_messages"]


def decrypting_run(sb: Any, tmp_path: Path, clock: Any, **config: Any) -> TapRun:
    """A full run of the chat streams with the account's exported blob."""
    config.setdefault("xchat_key_blob", str(blob_file(sb, tmp_path)))
    config.setdefault("xchat_key_version", "1")
    config.setdefault("select", CHAT)
    return run_tap(sb, clock=clock, **config)


def rows_of(run: TapRun) -> dict[str, dict[str, Any]]:
    rows = run.records("chat_messages")
    assert len({r["id"] for r in rows}) == len(rows)  # each event once
    return {r["id"]: r for r in rows}


def test_every_event_is_a_row_that_says_how_far_it_got(chat_sandbox, tmp_path, clock) -> None:
    sb = chat_sandbox(clock)
    run = decrypting_run(sb, tmp_path, clock, page_size=4)
    rows = rows_of(run)
    expected_outcomes = {
        "both_systems": {"ok": 11},
        "tampered": {"ok": 4, "bad_signature": 1},
        "upgraded_group": {"ok": 6, "departed_signer": 3},
        "new_group": {"ok": 8},
        "unopenable": {"unknown_key_version": 3},
    }
    for role, conversation in roles(sb).items():
        expected = sb.xchat.events(conversation)
        assert Counter(rows[e["id"]]["status"] for e in expected) == expected_outcomes[role], role
        for event in expected:
            row, want = rows[event["id"]], event["expect"]
            assert row["sequence_id"] == event["sequence_id"]
            assert row["sender_id"] == event["sender_id"]
            assert row["account_id"] == sb.account.id
            if want["outcome"] != "ok":
                assert row["status"] == want["outcome"], (role, want)
                assert row["verified"] is False
                assert row.get("text") is None  # withheld: unverified or unopened
                continue
            assert (row["decrypted"], row["verified"]) == (True, True), (role, want)
            assert row["kind"] == KINDS[want["kind"]], (role, want)
            if "text" in want:
                assert row["text"] == want["text"]
    assert len(rows) == sum(sum(c.values()) for c in expected_outcomes.values())
    assert sorted(rows) == sorted(run.ids("chat_events"))  # one row per chat event
    assert len(run.schemas("chat_messages")) == 1


def test_replies_reactions_edits_deletes_and_attachments(chat_sandbox, tmp_path, clock) -> None:
    sb = chat_sandbox(clock)
    conversation = roles(sb)["both_systems"]
    rows = rows_of(decrypting_run(sb, tmp_path, clock))
    by_kind = {e["expect"]["kind"]: e for e in sb.xchat.events(conversation)}
    reply = rows[by_kind["reply"]["id"]]
    assert reply["reply_to_sequence_id"] == by_kind["reply"]["expect"]["reply_to"]
    reaction = rows[by_kind["reaction"]["id"]]
    assert reaction["emoji"] == "\N{THUMBS UP SIGN}"
    assert reaction["target_sequence_id"] == by_kind["reaction"]["expect"]["target"]
    edit = rows[by_kind["edit"]["id"]]
    assert edit["target_sequence_id"] == by_kind["edit"]["expect"]["target"]
    delete = rows[by_kind["delete"]["id"]]
    assert delete["deleted_sequence_ids"] == by_kind["delete"]["expect"]["targets"]
    assert delete["delete_for_all"] is True
    (with_media,) = [r for r in rows.values() if r.get("attachments")]
    media = with_media["attachments"][0]["media"]
    assert (media["filename"], media["dimensions"]) == ("receipt.png", {"width": 16, "height": 8})
    mine = [r for r in rows.values() if r["dm_conversation_id"] == conversation]
    assert len(mine) == len(sb.xchat.events(conversation))


def test_the_upgraded_group_says_so_and_names_its_members(chat_sandbox, tmp_path, clock) -> None:
    sb = chat_sandbox(clock)
    upgraded, new_group = roles(sb)["upgraded_group"], roles(sb)["new_group"]
    creates = [
        r
        for r in rows_of(decrypting_run(sb, tmp_path, clock)).values()
        if r.get("group_change_type") == "Created"
    ]
    flags = {r["conversation_id"]: r["legacy_group_upgrade"] for r in creates}
    assert flags == {upgraded: True, new_group: False}
    cast = sb.xchat.cast
    (create,) = [r for r in creates if r["conversation_id"] == upgraded]
    assert create["group_member_ids"] == [sb.account.id, *cast["group_members"]]


def test_signing_keys_are_asked_once_per_run_in_batches(chat_sandbox, tmp_path, clock) -> None:
    sb = chat_sandbox(clock)
    decrypting_run(sb, tmp_path, clock)
    asked = [e for e in sb.request_log if e["path"] == "/2/users/public_keys"]
    ids = [i for e in asked for i in e["query"]["ids"].split(",")]
    assert len(ids) == len(set(ids))  # nobody asked twice in a run
    senders = {e["sender_id"] for c in roles(sb).values() for e in sb.xchat.events(c)}
    assert set(ids) == senders
    assert len(asked) <= len(roles(sb))  # at most one request per conversation's first page


def test_nothing_decrypted_or_secret_reaches_any_output(
    chat_sandbox, tmp_path, clock, caplog, capsys
) -> None:
    sb = chat_sandbox(clock)
    caplog.set_level(logging.DEBUG)
    summary = tmp_path / "summary.json"
    run = decrypting_run(sb, tmp_path, clock, page_size=4, run_summary_path=str(summary))
    assert any(r.get("text") for r in rows_of(run).values())  # the run did decrypt
    assert summary.exists()
    outputs = {
        "log": caplog.text,
        "stdout/stderr": "".join(capsys.readouterr()),
        "state": json.dumps(run.states),
        "summary": summary.read_text(),
        "other streams": json.dumps(
            [m for m in run.messages if m.get("stream") != "chat_messages"]
        ),
    }
    for secret in secrets_of(sb):
        for where, text in outputs.items():
            assert secret not in text, (where, secret[:6])


def chat_paths(sb: Any) -> list[str]:
    return [e["path"] for e in sb.request_log if e["path"].startswith("/2/chat/")]


def chat_bookmarks(state: dict[str, Any]) -> list[Any]:
    return (state.get("bookmarks", {}).get("chat_events") or {}).get("partitions") or []


def assert_held_back_then_recovered(sb, tmp_path, clock, run, caplog, needle: str) -> None:
    """Nothing of the chat streams moved; the next run, able to decrypt, loads everything."""
    assert run.error is None
    assert run.schemas("chat_messages") == []
    assert run.ids("chat_events") == [] and run.ids("chat_conversations") == []
    assert chat_paths(sb) == []  # not one Chat API request
    assert chat_bookmarks(run.final_state) == []
    assert sorted(run.ids("dm_events")) == sorted(e["id"] for e in sb.visible_events())
    lines = [r.getMessage() for r in caplog.records if "chat_messages" in r.getMessage()]
    assert len(lines) == 1 and needle in lines[0] and "read nothing" in lines[0]
    fixed = decrypting_run(sb, tmp_path, clock, state=run.final_state)
    expected = {e["id"]: e for c in roles(sb).values() for e in sb.xchat.events(c)}
    rows = rows_of(fixed)
    assert sorted(rows) == sorted(expected) == sorted(fixed.ids("chat_events"))
    assert all(rows[i]["status"] == e["expect"]["outcome"] for i, e in expected.items())


def test_selected_without_a_blob_the_chat_streams_wait_for_it(
    chat_sandbox, tmp_path, clock, caplog
) -> None:
    sb = chat_sandbox(clock)
    caplog.set_level(logging.WARNING)
    run = run_tap(sb, clock=clock, select=[*CHAT, "dm_events"])
    assert_held_back_then_recovered(sb, tmp_path, clock, run, caplog, "no key blob")


def test_selected_without_the_extra_the_chat_streams_wait_for_it(
    chat_sandbox, tmp_path, clock, caplog, monkeypatch
):
    sb = chat_sandbox(clock)
    with monkeypatch.context() as patched:
        patched.setattr(crypto.importlib.util, "find_spec", lambda name: None)
        caplog.set_level(logging.WARNING)
        blob = blob_file(sb, tmp_path)
        run = run_tap(
            sb,
            clock=clock,
            select=[*CHAT, "dm_events"],
            xchat_key_blob=str(blob),
            xchat_key_version="1",
        )
    assert_held_back_then_recovered(
        sb, tmp_path, clock, run, caplog, "pip install 'tap-x-dm[xchat]'"
    )


def test_a_bad_blob_is_one_line_that_never_quotes_it(chat_sandbox, clock) -> None:
    sb = chat_sandbox(clock)
    secret = "c2VjcmV0LWJ1dC1ub3QtYS1ibG9i"
    with pytest.raises(Exception) as caught:
        run_tap(sb, clock=clock, xchat_key_blob=secret, xchat_key_version="1")
    assert "xchat_key_blob" in str(caught.value)
    assert secret not in str(caught.value)
    with pytest.raises(Exception) as caught:
        run_tap(sb, clock=clock, xchat_key_blob=secret)
    assert "xchat_key_version" in str(caught.value)


def test_a_refused_signing_key_lookup_stops_before_the_page_and_the_next_run_reads_it(
    chat_sandbox, tmp_path, clock, caplog
) -> None:
    sb = chat_sandbox(clock)
    expected = {e["id"]: e for c in roles(sb).values() for e in sb.xchat.events(c)}

    def refuse_keys_after_the_first_row(message: dict[str, Any]) -> None:
        wrote_a_row = message["type"] == "RECORD" and message["stream"] == "chat_messages"
        if wrote_a_row and not sb.faults.pending:
            sb.faults.inject("server_error", path_prefix="/2/users/public_keys", count=100)

    caplog.set_level(logging.WARNING)
    summary = tmp_path / "summary.json"
    first = decrypting_run(
        sb,
        tmp_path,
        clock,
        max_retries=0,
        run_summary_path=str(summary),
        on_message=refuse_keys_after_the_first_row,
    )
    assert first.error is None  # a clean stop, like a rate-limit stop
    ended = read_summary(summary)
    assert (ended["status"], ended["exit_code"]) == ("budget_spent", 0)
    assert "signing keys" in ended["stop_line"]
    rows = rows_of(first)
    # The first conversation only: every event written has its row, each as it should be.
    (read,) = {r["conversation_id"] for r in rows.values()}
    assert sorted(rows) == sorted(first.ids("chat_events"))
    assert sorted(rows) == sorted(i for i, e in expected.items() if e["conversation_id"] == read)
    assert all(rows[i]["status"] == expected[i]["expect"]["outcome"] for i in rows)
    # Exactly: the key lookup that worked, the one refused, and not one request after it.
    keys = [e for e in sb.request_log if e["path"] == "/2/users/public_keys"]
    assert [e["status"] for e in keys] == [200, 503]
    assert sb.request_log[-1] is keys[-1]
    refused = sb.request_log.index(keys[-1])
    assert sb.request_log[refused - 1]["path"].endswith("/events")  # the page it stopped at
    stopped = sb.request_log[refused - 1]["path"].split("/")[-2]
    partitions = {p["context"]["conversation_id"]: p for p in chat_bookmarks(first.final_state)}
    assert "replication_key_id" not in partitions.get(stopped, {})  # its page is read again
    warnings = [r.getMessage() for r in caplog.records if "signing keys" in r.getMessage()]
    assert len(warnings) == 1 and "503" in warnings[0] and "reads it again" in warnings[0]

    sb.faults.clear()
    second = decrypting_run(sb, tmp_path, clock, max_retries=0, state=first.final_state)
    more = rows_of(second)
    assert not set(more) & set(rows)  # no event twice
    assert sorted([*rows, *more]) == sorted(expected)  # nothing lost
    assert all(more[i]["status"] == expected[i]["expect"]["outcome"] for i in more)
    assert sorted(more) == sorted(second.ids("chat_events"))


def test_a_signing_key_lookup_refused_for_good_skips_the_chat_streams_not_stops_the_run(
    chat_sandbox, tmp_path, clock, caplog
) -> None:
    # A 403 will not heal by itself: a clean stop before the page (exit 0, like a rate limit)
    # would stop every run there. It is the app's missing Chat access: one warning, the chat
    # streams move nothing, the legacy streams load.
    sb = chat_sandbox(clock)
    sb.faults.inject("client_forbidden", path_prefix="/2/users/public_keys", count=100)
    caplog.set_level(logging.WARNING)
    summary = tmp_path / "summary.json"

    run = decrypting_run(sb, tmp_path, clock, run_summary_path=str(summary))

    assert read_summary(summary)["status"] == "complete"
    keys = [e for e in sb.request_log if e["path"] == "/2/users/public_keys"]
    assert [e["status"] for e in keys] == [403]  # not retried, not asked again
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "GET /2/users/public_keys answered 403" in warnings[0]
    assert run.ids("chat_messages") == [] and run.ids("chat_events") == []
    assert all("replication_key_id" not in p for p in chat_bookmarks(run.final_state))


def test_every_row_has_every_column(chat_sandbox, tmp_path, clock) -> None:
    sb = chat_sandbox(clock)
    run = decrypting_run(sb, tmp_path, clock)
    (schema,) = run.schemas("chat_messages")
    columns = set(schema["schema"]["properties"])
    assert all(set(row) == columns for row in run.records("chat_messages"))


def test_a_kill_mid_page_leaves_no_gap_in_chat_messages(chat_sandbox, tmp_path, clock) -> None:
    sb = chat_sandbox(clock)
    written: list[str] = []

    def kill_after_the_fifth_row(message: dict[str, Any]) -> None:
        if message["type"] == "RECORD" and message["stream"] == "chat_messages":
            written.append(message["record"]["id"])
            if len(written) == 5:
                raise Killed

    first = decrypting_run(
        sb, tmp_path, clock, page_size=4, raise_errors=False, on_message=kill_after_the_fifth_row
    )
    assert isinstance(first.error, Killed)
    second = decrypting_run(sb, tmp_path, clock, page_size=4, state=first.final_state)
    loaded = set(written) | set(rows_of(second))
    expected = {e["id"] for c in roles(sb).values() for e in sb.xchat.events(c)}
    assert loaded == expected  # every event has its row; the killed page's rows come again
    assert len(rows_of(second)) <= len(expected) - len(written) + 4  # at most a page again
