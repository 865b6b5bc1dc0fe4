"""XChat streams when something is missing or goes wrong: no access, gone conversations, caps."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
import requests

from tap_x_dm_sandbox import ManualClock
from tests.chat_support import (
    CHAT_STREAMS,
    all_chat_events,
    chat_requests,
    chat_run,
)


@pytest.mark.parametrize("status", [403, 404])
def test_an_app_without_chat_access_still_loads_its_legacy_dms(
    chat_sandbox: Any, status: int, caplog: pytest.LogCaptureFixture, tmp_path: Any
) -> None:
    clock = ManualClock()
    sb = chat_sandbox(clock, chat_access_denied=status)
    caplog.set_level(logging.INFO)
    summary_file = tmp_path / "summary.json"
    run = chat_run(sb, clock, [*CHAT_STREAMS, "dm_events"], run_summary_path=str(summary_file))
    assert run.error is None
    summary = json.loads(summary_file.read_text())
    assert (summary["status"], summary["exit_code"]) == ("complete", 0)
    assert sorted(run.ids("dm_events")) == sorted(e["id"] for e in sb.visible_events())
    assert run.ids("chat_events") == []
    warnings = [
        r for r in caplog.records if r.levelno == logging.WARNING and "Chat API" in r.message
    ]
    assert len(warnings) == 1 and f"answered {status}" in warnings[0].message
    assert [e["status"] for e in chat_requests(sb)] == [status]  # then nothing more


def test_a_conversation_answering_404_is_skipped_not_the_chat_streams(
    chat_sandbox: Any, caplog: pytest.LogCaptureFixture
) -> None:
    clock = ManualClock()
    sb = chat_sandbox(clock)
    gone = sb.xchat.conversations(sb.account.id)[0].id
    sb.faults.inject("non_json", status=404, path_prefix=f"/2/chat/conversations/{gone}/")
    caplog.set_level(logging.WARNING)
    run = chat_run(sb, clock, CHAT_STREAMS)
    mine = {
        k for k, e in all_chat_events(sb).items() if e["conversation_id"].replace(":", "-") == gone
    }
    assert sorted(run.ids("chat_events")) == sorted(set(all_chat_events(sb)) - mine)
    assert any(
        f"chat_events[{gone}]" in r.message and "skipped" in r.message for r in caplog.records
    )


def test_a_gone_conversation_is_skipped_with_a_warning(
    chat_sandbox: Any, caplog: pytest.LogCaptureFixture
) -> None:
    clock = ManualClock()
    sb = chat_sandbox(clock)
    gone = sb.xchat.conversations(sb.account.id)[0].id
    problem = {
        "resource_type": "chat_conversation",
        "title": "Not Found Error",
        "detail": f"Could not find chat_conversation with id: [{gone}].",
        "type": "https://api.twitter.com/2/problems/resource-not-found",
    }
    body = {"errors": [problem]}
    sb.faults.inject("malformed_200", body=body, path_prefix=f"/2/chat/conversations/{gone}/")
    caplog.set_level(logging.WARNING)
    run = chat_run(sb, clock, CHAT_STREAMS)
    others = {
        k for k, e in all_chat_events(sb).items() if e["conversation_id"].replace(":", "-") != gone
    }
    assert sorted(run.ids("chat_events")) == sorted(others)
    assert any(
        f"chat_events[{gone}]" in r.message and "skipped" in r.message for r in caplog.records
    )
    # Not read whole: the next run reads it.
    again = chat_run(sb, clock, CHAT_STREAMS, state=run.final_state)
    assert len(again.ids("chat_events")) == len(all_chat_events(sb)) - len(others)


def test_a_history_shorter_than_the_bookmark_warns_of_the_gap(
    chat_sandbox: Any, caplog: pytest.LogCaptureFixture
) -> None:
    clock = ManualClock()
    sb = chat_sandbox(clock)
    first = chat_run(sb, clock, CHAT_STREAMS)
    conversation = sb.xchat.conversations(sb.account.id)[0].id
    clock.advance(60)
    sb.xchat.add_messages(conversation, 5)
    # X now serves only the newest two events: three new ones are lost from the API.
    headers = {"Authorization": f"Bearer {sb.access_token()}"}
    url = f"{sb.base_url}/2/chat/conversations/{conversation}/events"
    page = requests.get(url, headers=headers, params={"max_results": 2}, timeout=10).json()
    page["meta"].pop("next_token")
    page["meta"]["has_more"] = False
    sb.faults.inject(
        "malformed_200", body=page, path_prefix=f"/2/chat/conversations/{conversation}/"
    )
    caplog.set_level(logging.WARNING)
    run = chat_run(sb, clock, CHAT_STREAMS, state=first.final_state)
    assert sorted(run.ids("chat_events")) == sorted(e["id"] for e in page["data"])
    assert any("lost from the API" in r.message for r in caplog.records)


def test_no_chat_stream_selected_warns_once_a_day_when_the_account_has_xchat(
    chat_sandbox: Any, caplog: pytest.LogCaptureFixture
) -> None:
    clock = ManualClock()
    sb = chat_sandbox(clock)
    caplog.set_level(logging.WARNING)
    first = chat_run(sb, clock, ["dm_events"], xchat_check=True)
    warned = [r for r in caplog.records if "no chat stream is selected" in r.message]
    assert len(warned) == 1
    probes = chat_requests(sb)
    assert [(e["path"], e["query"]["max_results"]) for e in probes] == [
        ("/2/chat/conversations", "1")
    ]
    day = first.final_state["bookmarks"]["chat_conversations"]["xchat_checked_on"]
    sb.clear_log()
    caplog.clear()
    second = chat_run(sb, clock, ["dm_events"], state=first.final_state, xchat_check=True)
    assert chat_requests(sb) == [] and not caplog.records
    clock.advance(86_400)
    chat_run(sb, clock, ["dm_events"], state=second.final_state, xchat_check=True)
    assert len(chat_requests(sb)) == 1
    sb.clear_log()
    chat_run(sb, clock, ["dm_events"], xchat_check=False)
    assert chat_requests(sb) == []
    assert day == "1970-01-01" or day.startswith("20")


def test_max_cost_usd_stops_before_a_chat_page_it_cannot_afford(chat_sandbox: Any) -> None:
    clock = ManualClock()
    sb = chat_sandbox(clock)
    run = chat_run(sb, clock, CHAT_STREAMS, page_size=4, max_cost_usd=0.10)
    assert 0 < len(run.ids("chat_events")) <= 10  # $0.01 each
    rest = chat_run(sb, clock, CHAT_STREAMS, page_size=4, state=run.final_state)
    assert sorted(run.ids("chat_events") + rest.ids("chat_events")) == sorted(all_chat_events(sb))


def test_the_run_summary_counts_both_systems(chat_sandbox: Any, tmp_path: Any) -> None:
    clock = ManualClock()
    sb = chat_sandbox(clock)
    path = tmp_path / "summary.json"
    run = chat_run(sb, clock, [*CHAT_STREAMS, "dm_events"], run_summary_path=str(path))
    summary = json.loads(path.read_text())
    legacy = {r["dm_conversation_id"] for r in run.records("dm_events")}
    assert summary["systems"] == {
        "legacy": {"conversations": len(legacy), "events": len(run.ids("dm_events"))},
        "xchat": {"conversations": 5, "events": len(all_chat_events(sb))},
    }
    assert summary["resources"]["chat_events"] == len(all_chat_events(sb))
