"""Quota routing: conversation partitions fed by the `/2/dm_events` pages a run reads anyway.

Every test compares a routed run with the same run on each conversation's own
endpoint (`conversation_routing: false`): the records and the partitions'
state must be the same; only the requests differ.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

import pytest

from tap_x_dm_sandbox import ManualClock, Sandbox
from tests.conftest import TapRun, dm_requests, run_tap

DAY_S = 86_400


def configured(sandbox: Sandbox, count: int) -> dict[str, list[str]]:
    """`count` conversations of the account: groups by id, one-to-ones by participant."""
    account = sandbox.account.id
    conversations = sandbox.dataset.conversations_of(account)
    groups = [c for c in conversations if "-" not in c][: count // 2]
    pairs = [c for c in conversations if "-" in c][: count - len(groups)]
    participants = [next(p for p in c.split("-") if p != account) for c in pairs]
    return {"dm_conversation_ids": groups, "participant_ids": participants}


def conversation_ids(settings: dict[str, list[str]], account: str) -> list[str]:
    pairs = ["-".join(sorted((p, account), key=int)) for p in settings["participant_ids"]]
    return [*settings["dm_conversation_ids"], *pairs]


def partitions(run: TapRun) -> dict[str, dict[str, Any]]:
    entries = run.final_state["bookmarks"]["conversation_events"]["partitions"]
    return {p["context"]["dm_conversation_id"]: p for p in entries}


def paths(sandbox: Sandbox) -> list[str]:
    return [entry["path"] for entry in dm_requests(sandbox)]


def test_an_incremental_run_costs_one_request_however_many_conversations(
    sandbox_factory: Any, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000)
    settings = configured(sandbox, 11)
    ids = conversation_ids(settings, sandbox.account.id)
    first = run_tap(sandbox, clock=clock, **settings)
    clock.advance(600)
    new = [
        *sandbox.add_events(2, conversation_id=ids[0]),
        *sandbox.add_events(1, conversation_id=ids[7]),
    ]
    other = next(c for c in sandbox.dataset.conversations_of(sandbox.account.id) if c not in ids)
    new_elsewhere = sandbox.add_events(1, conversation_id=other)
    state = copy.deepcopy(first.final_state)

    sandbox.clear_log()
    plain = run_tap(sandbox, clock=clock, state=state, conversation_routing=False, **settings)
    assert len(paths(sandbox)) == 12  # one per conversation, and dm_events'
    sandbox.clear_log()
    with caplog.at_level(logging.INFO):
        routed = run_tap(sandbox, clock=clock, state=state, **settings)

    assert paths(sandbox) == ["/2/dm_events"]
    assert "11 of 11 conversation(s) are read from the /2/dm_events pages" in caplog.text
    expected = sorted(int(e["id"]) for e in new)
    assert sorted(int(r["id"]) for r in routed.records("conversation_events")) == expected
    assert sorted(int(r["id"]) for r in plain.records("conversation_events")) == expected
    assert sorted(int(i) for i in routed.ids("dm_events")) == sorted(
        int(e["id"]) for e in [*new, *new_elsewhere]
    )
    assert partitions(routed) == partitions(plain)
    assert partitions(routed)[ids[0]]["replication_key_id"] == str(max(expected[:2], key=int))
    # X bills what the pages return: fewer events than the 11 first pages of the plain run.
    assert sum(1 for _ in routed.records("conversation_events")) == 3


def test_with_only_conversations_selected_a_hidden_pass_reads_dm_events(
    sandbox_factory: Any, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000)
    settings = configured(sandbox, 6)
    ids = conversation_ids(settings, sandbox.account.id)
    select = ["conversation_events"]
    first = run_tap(sandbox, clock=clock, select=select, **settings)
    clock.advance(600)
    new = sandbox.add_events(3, conversation_id=ids[2])
    state = copy.deepcopy(first.final_state)

    plain = run_tap(
        sandbox, clock=clock, state=state, select=select, conversation_routing=False, **settings
    )
    sandbox.clear_log()
    with caplog.at_level(logging.INFO):
        routed = run_tap(sandbox, clock=clock, state=state, select=select, **settings)

    assert paths(sandbox) == ["/2/dm_events"]
    assert "dm_events is not selected; reading the /2/dm_events pages" in caplog.text
    assert "bookmarks.conversation_events.via_dm_events" in caplog.text
    assert [int(r["id"]) for r in routed.records("conversation_events")] == sorted(
        (int(e["id"]) for e in new), reverse=True
    )
    assert routed.records("dm_events") == []
    assert partitions(routed) == partitions(plain)
    via = routed.final_state["bookmarks"]["conversation_events"]["via_dm_events"]
    assert via["passes_completed"] == 1 and via["pass"] is None
    assert via["arrivals_per_week"] > 0
    assert "dm_events" not in routed.final_state["bookmarks"]


def test_one_conversation_keeps_its_own_endpoint_when_that_is_cheaper(
    sandbox_factory: Any, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000)
    settings = configured(sandbox, 1)
    select = ["conversation_events"]
    first = run_tap(sandbox, clock=clock, select=select, **settings)
    clock.advance(600)
    sandbox.clear_log()
    with caplog.at_level(logging.INFO):
        second = run_tap(sandbox, clock=clock, state=first.final_state, select=select, **settings)
    assert "via_dm_events" not in second.final_state["bookmarks"]["conversation_events"]
    participant = settings["participant_ids"][0]
    assert paths(sandbox) == [f"/2/dm_conversations/with/{participant}/dm_events"]
    assert "1 conversation(s) use their own endpoint" in caplog.text


def test_a_partition_far_behind_dm_events_reads_its_own_endpoint(
    sandbox_factory: Any, clock: ManualClock
) -> None:
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000)
    settings = configured(sandbox, 2)
    ids = conversation_ids(settings, sandbox.account.id)
    first = run_tap(sandbox, clock=clock, **settings)
    clock.advance(2 * DAY_S)
    sandbox.add_events(2, conversation_id=ids[0])
    only_dm = run_tap(sandbox, clock=clock, state=first.final_state, select=["dm_events"])
    clock.advance(600)
    new = sandbox.add_events(1, conversation_id=ids[1])
    sandbox.clear_log()
    third = run_tap(sandbox, clock=clock, state=only_dm.final_state, **settings)
    conversation_paths = [p for p in paths(sandbox) if p != "/2/dm_events"]
    assert len(conversation_paths) == 2  # both partitions are two days behind dm_events
    assert {r["id"] for r in third.records("conversation_events")} >= {e["id"] for e in new}


def test_a_stopped_routed_pass_resumes_and_loads_every_event_once(
    sandbox_factory: Any, clock: ManualClock
) -> None:
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000)
    settings = configured(sandbox, 4)
    ids = conversation_ids(settings, sandbox.account.id)
    first = run_tap(sandbox, clock=clock, **settings)
    clock.advance(600)
    new = [e for c in ids for e in sandbox.add_events(60, conversation_id=c)]
    state = copy.deepcopy(first.final_state)
    plain = run_tap(sandbox, clock=clock, state=state, conversation_routing=False, **settings)

    # A cap that affords about one page stops the run after it; the next run goes on.
    capped = run_tap(sandbox, clock=clock, state=state, max_cost_usd=5, **settings)
    saved = partitions(capped)
    assert {p["pass"]["routed_by"] for p in saved.values() if p.get("pass")} == {"dm_events#2"}
    assert all(saved[c]["replication_key_id"] == partitions(first)[c]["replication_key_id"]
               for c in ids)  # fmt: skip
    rest = run_tap(sandbox, clock=clock, state=capped.final_state, **settings)

    loaded = [r["id"] for run in (capped, rest) for r in run.records("conversation_events")]
    assert len(loaded) == len(set(loaded)) == len(new)
    assert set(loaded) == {e["id"] for e in new}
    assert partitions(rest) == partitions(plain)
