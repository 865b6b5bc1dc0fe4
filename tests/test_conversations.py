"""conversation_events: one partition per configured conversation, full history."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import pytest

from tap_x_dm_sandbox import ManualClock
from tests.conftest import Killed, run_tap


def conversation_requests(sandbox: Any) -> list[dict[str, Any]]:
    return [e for e in sandbox.request_log if e["path"].startswith("/2/dm_conversations/")]


def partition_states(state: dict[str, Any]) -> dict[str, dict[str, Any]]:
    partitions = state["bookmarks"]["conversation_events"]["partitions"]
    return {p["context"]["dm_conversation_id"]: p for p in partitions}


def test_partitions_read_full_history_then_only_new_events(
    sandbox_factory: Any, clock: ManualClock
) -> None:
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000, days=90)
    account = sandbox.account.id
    conversations = sandbox.dataset.conversations_of(account)
    group = next(c for c in conversations if "-" not in c)
    one_to_one = next(c for c in conversations if "-" in c)
    participant = next(p for p in one_to_one.split("-") if p != account)
    histories = {
        c: sandbox.visible_events(conversation_id=c, window_days=None) for c in (group, one_to_one)
    }
    assert any(
        e["created_at"] < sandbox.visible_events(window_days=30)[-1]["created_at"]
        for e in histories[group]
    ), "the group should have history older than 30 days"

    first = run_tap(
        sandbox,
        clock=clock,
        dm_conversation_ids=[group],
        participant_ids=[participant],
    )

    records = first.records("conversation_events")
    by_conversation: dict[str, list[str]] = {}
    for record in records:
        by_conversation.setdefault(record["dm_conversation_id"], []).append(record["id"])
        assert record["account_id"] == account
    assert by_conversation == {c: [e["id"] for e in h] for c, h in histories.items()}
    requests = conversation_requests(sandbox)
    with_path = f"/2/dm_conversations/with/{participant}/dm_events"
    assert sum(e["path"] == with_path for e in requests) == max(
        1, math.ceil(len(histories[one_to_one]) / 100)
    )
    assert sum(e["path"] == f"/2/dm_conversations/{group}/dm_events" for e in requests) == max(
        1, math.ceil(len(histories[group]) / 100)
    )
    states = partition_states(first.final_state)
    assert set(states) == {group, one_to_one}
    assert states[group]["replication_key_id"] == histories[group][0]["id"]

    # Later run: one request per partition, only the new events.
    sandbox.clear_log()
    clock.advance(600)
    new = sandbox.add_events(3, conversation_id=group)
    second = run_tap(
        sandbox,
        clock=clock,
        state=first.final_state,
        dm_conversation_ids=[group],
        participant_ids=[participant],
        conversation_routing=False,  # each on its own endpoint (routing: tests/test_routing.py)
    )
    assert sorted(r["id"] for r in second.records("conversation_events")) == sorted(
        e["id"] for e in new
    )
    assert len(conversation_requests(sandbox)) == 2
    unchanged = partition_states(second.final_state)[one_to_one]
    # No new event: the arrival rate it remembers for its next first page is halved.
    assert unchanged.pop("arrivals_per_week") == math.ceil(
        states[one_to_one].pop("arrivals_per_week") / 2
    )
    # Everything below a later id has been read now (600 s later, less the 5 s allowance).
    covered = int(unchanged.pop("read_below_id"))
    assert covered - int(states[one_to_one].pop("read_below_id")) == 600_000 << 22
    assert unchanged == states[one_to_one]


@pytest.mark.parametrize("answer", ["errors", "404", "empty"])
def test_unknown_conversation_keeps_its_bookmark_and_the_others_go_on(
    sandbox_factory: Any, clock: ManualClock, caplog: pytest.LogCaptureFixture, answer: str
) -> None:
    # X's errors-only 200 (resource-not-found), and the older answers: a 404, an empty page.
    sandbox = sandbox_factory(
        clock=clock, rate_limit=10_000, events=600, unknown_conversation=answer
    )
    known = next(c for c in sandbox.dataset.conversations_of(sandbox.account.id) if "-" not in c)
    missing = "1999999999999999999"
    old = {"replication_key": "created_at", "replication_key_value": "2026-01-01T00:00:00.000Z",
           "replication_key_id": "1"}  # fmt: skip
    state = {"bookmarks": {"conversation_events": {"partitions": [
        {"context": {"dm_conversation_id": missing}, **old}]}}}  # fmt: skip

    with caplog.at_level("WARNING"):
        run = run_tap(sandbox, clock=clock, state=state, dm_conversation_ids=[missing, known])

    ids = {r["id"] for r in run.records("conversation_events")}
    assert ids == {e["id"] for e in sandbox.visible_events(conversation_id=known, window_days=None)}
    partitions = partition_states(run.final_state)
    assert set(partitions) == {missing, known}
    warned = [r.getMessage() for r in caplog.records if missing in r.getMessage()]
    if answer == "empty":
        assert warned == []
    else:
        assert {k: partitions[missing][k] for k in old} == old  # bookmark kept
        assert warned == [
            "conversation_events: X says 1 configured conversation(s) or participant(s) do not "
            f"exist or are not the account's: dm_conversation_ids {missing}. Each is skipped in "
            "this run (its bookmark is kept) and the rest loads; remove them from the config if "
            "they are gone for good."
        ]


def test_many_missing_conversations_and_participants_are_one_warning_of_ten_and_a_count(
    sandbox_factory: Any, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000, events=600)
    known = next(c for c in sandbox.dataset.conversations_of(sandbox.account.id) if "-" not in c)
    missing = [str(1999999999999999900 + n) for n in range(11)]
    stranger = "1888888888888888888"  # no conversation with the account

    with caplog.at_level("WARNING"):
        run = run_tap(
            sandbox,
            clock=clock,
            dm_conversation_ids=[*missing, known],
            participant_ids=[stranger],
            select=["conversation_events"],
        )

    assert run.error is None
    ids = {r["id"] for r in run.records("conversation_events")}
    assert ids == {e["id"] for e in sandbox.visible_events(conversation_id=known, window_days=None)}
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warned) == 1
    named = ", ".join(f"dm_conversation_ids {m}" for m in missing[:10])
    assert "X says 12 configured conversation(s) or participant(s) do not exist" in warned[0]
    assert f"not the account's: {named} and 2 more. Each is skipped" in warned[0]


@pytest.mark.parametrize("reverse", [False, True])
def test_a_conversation_configured_twice_is_one_partition_read_once(
    sandbox_factory: Any, clock: ManualClock, reverse: bool
) -> None:
    # By id (in either order of its two user ids) and by participant: one conversation.
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000, events=600)
    account = sandbox.account.id
    one_to_one = next(c for c in sandbox.dataset.conversations_of(account) if "-" in c)
    low, high = one_to_one.split("-")
    participant = high if low == account else low
    configured = f"{high}-{low}" if reverse else one_to_one

    run = run_tap(
        sandbox, clock=clock, dm_conversation_ids=[configured], participant_ids=[participant]
    )

    assert set(partition_states(run.final_state)) == {one_to_one}
    assert len(conversation_requests(sandbox)) == 1
    expected = sandbox.visible_events(conversation_id=one_to_one, window_days=None)
    assert [r["id"] for r in run.records("conversation_events")] == [e["id"] for e in expected]


def test_a_killed_partition_pass_continues_from_its_page_and_the_others_are_kept(
    sandbox_factory: Any, clock: ManualClock
) -> None:
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000, days=90)
    account = sandbox.account.id
    groups = [c for c in sandbox.dataset.conversations_of(account) if "-" not in c]
    histories = {c: sandbox.visible_events(conversation_id=c, window_days=None) for c in groups}
    big, small = sorted(groups, key=lambda c: len(histories[c]))[-1], groups[0]
    assert len(histories[big]) > 30
    order = sorted([big, small])  # partitions sync in the order they are configured
    seen: list[str] = []

    def die_in_the_big_partitions_third_page(message: dict[str, Any]) -> None:
        record = message.get("record") or {}
        if message["type"] == "RECORD" and record.get("dm_conversation_id") == big:
            seen.append(record["id"])
            if len(seen) == 25:
                raise Killed

    settings = {"dm_conversation_ids": order, "page_size": 10}
    broken = run_tap(
        sandbox,
        clock=clock,
        raise_errors=False,
        on_message=die_in_the_big_partitions_third_page,
        select=["conversation_events"],
        **settings,
    )
    assert isinstance(broken.error, Killed)
    saved = partition_states(broken.final_state)[big]["pass"]
    assert saved["top_id"] and saved["emitted"] == 20  # two pages of 10
    sandbox.clear_log()

    rerun = run_tap(
        sandbox, clock=clock, state=broken.final_state, select=["conversation_events"], **settings
    )

    got = [r["id"] for r in rerun.records("conversation_events") if r["dm_conversation_id"] == big]
    assert got == [e["id"] for e in histories[big]][20:]  # from the third page on, nothing lost
    big_requests = [e for e in conversation_requests(sandbox) if big in e["path"]]
    assert len(big_requests) == math.ceil((len(histories[big]) - 20) / 10)
    assert partition_states(rerun.final_state)[big]["replication_key_id"] == histories[big][0]["id"]


@pytest.mark.parametrize("history_days", [30, None])
def test_a_conversation_endpoint_serving_less_than_the_bookmark_needs_records_the_gap(
    sandbox_factory: Any,
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
    history_days: int | None,
) -> None:
    sandbox = sandbox_factory(
        clock=clock, rate_limit=10_000, days=90, conversation_history_days=history_days
    )
    conversation = next(c for c in sandbox.dataset.conversations_of(sandbox.account.id))
    events = sandbox.visible_events(conversation_id=conversation, window_days=None)
    now_ms = clock.time() * 1000
    old = [e for e in events if e["created_at"] < _iso(now_ms - 60 * 86_400_000)]
    bookmark = max(old, key=lambda e: int(e["id"]))  # the last run read up to 60+ days ago
    newer = {e["id"] for e in events if int(e["id"]) > int(bookmark["id"])}
    served = {e["id"] for e in sandbox.visible_events(conversation_id=conversation, window_days=30)}
    partition = {
        "context": {"dm_conversation_id": conversation},
        "replication_key": "created_at",
        "replication_key_value": bookmark["created_at"],
        "replication_key_id": bookmark["id"],
    }
    state = {"bookmarks": {"conversation_events": {"partitions": [partition]}}}

    with caplog.at_level("WARNING"):
        run = run_tap(
            sandbox,
            clock=clock,
            state=state,
            dm_conversation_ids=[conversation],
            select=["conversation_events"],
        )

    emitted = {r["id"] for r in run.records("conversation_events")}
    saved = partition_states(run.final_state)[conversation]
    gaps = (saved.get("archive") or {}).get("api_missing_ids")
    warned = [m for m in caplog.messages if "are lost from the API" in m]
    if history_days is None:  # X serves it all: every newer event, no gap
        assert emitted == newer and gaps is None and warned == []
    else:
        assert emitted == newer & served and newer - served
        lowest = min(emitted, key=int)
        assert gaps == [[bookmark["id"], lowest]]
        assert len(warned) == 1
        assert warned[0].startswith(
            f"conversation_events[{conversation}]: the last run read up to "
        )
        assert "the state records the gap (archive.api_missing_ids)" in warned[0]


def _iso(ms: float) -> str:
    moment = dt.datetime.fromtimestamp(ms / 1000, tz=dt.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S")
