"""The quota after a burst: idle runs cost one DM request, the seconds below a burst are read once.

A pass may stop only where nothing later in X's list can be new, and X's `created_at`
comes from another clock than the ids (`passes.SKEW_MS`): after 300 events in 12 s the
5 s below the bookmark hold over a hundred events. The run after the burst reads them
once; every run after that stops at the bookmark's own event, because everything below
`read_below_id` was read already (issue 22).
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tap_x_dm.ids_and_times import TWEPOCH_MS
from tap_x_dm.sync.page_sizes import FIRST_PAGE_SLACK, WEEK_MS
from tap_x_dm_sandbox import ManualClock
from tests.conftest import Killed, dm_requests, run_tap
from tests.test_routing import configured

#: A fixed start, so X's whole-second `created_at` rounds the same way every time.
START = 1_796_515_200.25


def burst(sandbox: Any, clock: ManualClock, *, events: int = 300, seconds: int = 12) -> list[str]:
    """`events` new DMs within `seconds`, 25 to a second; the clock ends a second after."""
    added: list[dict[str, Any]] = []
    for _ in range(seconds):
        added += sandbox.add_events(events // seconds)
        clock.advance(1)
    return [e["id"] for e in added]


def first_page_foretold(state: dict[str, Any], now_s: float) -> int:
    """What `passes.first_page_size` asks for: twice the events the rate foretells, plus ten."""
    bookmark = state["bookmarks"]["dm_events"]
    minted_ms = (int(bookmark["replication_key_id"]) >> 22) + TWEPOCH_MS
    expected = bookmark["arrivals_per_week"] * (now_s * 1000 - minted_ms) / WEEK_MS
    return min(100, int(2 * expected) + FIRST_PAGE_SLACK)


def one_run(
    sandbox: Any, clock: ManualClock, state: dict[str, Any], **settings: Any
) -> tuple[Any, list[str], int]:
    """A run; the `max_results` of its DM requests and the DM events X billed it."""
    sandbox.reset_billing()
    sandbox.clear_log()
    run = run_tap(sandbox, clock=clock, state=state, **settings)
    sizes = [r["query"]["max_results"] for r in dm_requests(sandbox)]
    return run, sizes, sandbox.billed["dm_events"]


@pytest.mark.parametrize("order_by", ["id", "created_at"])
@pytest.mark.parametrize("caught_at_once", [False, True], ids=["a-minute-later", "at-once"])
def test_after_a_burst_idle_runs_cost_one_request_each(
    sandbox_factory: Any, caught_at_once: bool, order_by: str
) -> None:
    # X's created_at: whole seconds, up to 2 s off the id's time; lists by id or by created_at.
    clock = ManualClock(START)
    sandbox = sandbox_factory(
        clock=clock, rate_limit=10_000, order_by=order_by, created_at_skew_seconds=2.0
    )
    state = run_tap(sandbox, clock=clock).final_state
    clock.advance(3600)
    burst_ids = burst(sandbox, clock)
    if not caught_at_once:
        clock.advance(59)  # a run a minute after: the 5 s below its newest event have passed

    busy, sizes, billed = one_run(sandbox, clock, state)

    assert sorted(busy.ids(), key=int) == sorted(burst_ids, key=int)
    # The small first page the old rate foretold falls short and is set aside: ⌈301/100⌉ + 1.
    assert sizes == [str(first_page_foretold(state, clock.time()))] + ["100"] * 4
    assert billed == 400  # the small page's events are on the first page of 100 too
    state = busy.final_state
    bookmark = state["bookmarks"]["dm_events"]["replication_key_id"]
    assert bookmark == max(burst_ids, key=int)

    for hour in range(1, 6):
        clock.advance(3600)
        idle, sizes, billed = one_run(sandbox, clock, state)
        assert idle.ids() == [], hour
        if caught_at_once and hour == 1:
            # The busy run read X's list within 10 s of the burst's newest event: the 5 s
            # below it are read once more, with full pages (the rate cannot tell how many).
            assert sizes == ["100", "100"]
            assert billed == 200
        else:
            assert sizes == [str(first_page_foretold(state, clock.time()))], hour
            assert billed == int(sizes[0]), hour
        state = idle.final_state
        assert state["bookmarks"]["dm_events"]["replication_key_id"] == bookmark


@pytest.mark.parametrize("caught_at_once", [False, True], ids=["a-minute-later", "at-once"])
def test_with_conversations_configured_idle_runs_after_a_burst_cost_one_request(
    sandbox_factory: Any, caught_at_once: bool
) -> None:
    clock = ManualClock(START)
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000)
    settings = configured(sandbox, 4)
    state = run_tap(sandbox, clock=clock, **settings).final_state
    clock.advance(3600)
    burst(sandbox, clock)
    if not caught_at_once:
        clock.advance(59)
    state = one_run(sandbox, clock, state, **settings)[0].final_state
    costs = []
    for _ in range(3):
        clock.advance(3600)
        idle, sizes, billed = one_run(sandbox, clock, state, **settings)
        assert idle.ids() == [] and idle.ids("conversation_events") == []
        costs.append((len(sizes), billed))
        assert len(sizes) > 1 or billed == int(sizes[0])  # one page: each of its events once
        state = idle.final_state
    # The conversations ride on the one /2/dm_events request. Caught at once, a conversation
    # the burst did not touch had read down to 5 s before that run (`read_below_id`), and
    # whatever could still appear above that is read once: the burst's last 10 s, 3 pages.
    assert [requests for requests, _ in costs] == [3 if caught_at_once else 1, 1, 1]
    if caught_at_once:
        assert costs[0][1] == 300


def test_widened_event_types_read_down_to_the_bookmark_again(sandbox_factory: Any) -> None:
    # What was read above the bookmark held only the old types: after the catch-up pass
    # (the new types up to the bookmark), the pass reads the new types down to the bookmark.
    clock = ManualClock(START)
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000)
    everything = [e["id"] for e in sandbox.visible_events(window_days=30)]
    first = run_tap(
        sandbox, clock=clock, event_types=["ParticipantsJoin", "ParticipantsLeave"], page_size=10
    )
    bookmark = int(first.final_state["bookmarks"]["dm_events"]["replication_key_id"])
    above = [i for i in everything if int(i) > bookmark]
    assert len(above) > 10  # more than a page of messages above the bookmark, below the read

    second = run_tap(sandbox, clock=clock, state=first.final_state, page_size=10)

    assert sorted(first.ids() + second.ids(), key=int) == sorted(everything, key=int)
    assert set(above) <= set(second.ids())


def test_a_completed_pass_brought_back_by_a_state_merge_is_not_resumed(
    sandbox_factory: Any,
) -> None:
    """Meltano merges a failed run's state onto a later one's (so does `--merge-state`): a
    `pass` the later run completed comes back beside its `read_below_id`. Resumed, its old
    cursor would read below that, complete at once, and leave new events unread, run after
    run; covered by `read_below_id`, it is ignored and a new pass starts (issue 20)."""
    clock = ManualClock(START)
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000)
    state = run_tap(sandbox, clock=clock).final_state
    clock.advance(3600)
    burst(sandbox, clock)  # caught at once: the next (idle) pass reads two pages below it
    state = one_run(sandbox, clock, state)[0].final_state
    clock.advance(3600)

    def die_after_a_page(message: dict[str, Any]) -> None:
        saved = (message.get("value") or {}).get("bookmarks", {}).get("dm_events", {})
        if message["type"] == "STATE" and (saved.get("pass") or {}).get("cursor"):
            raise Killed

    failed = run_tap(
        sandbox, clock=clock, state=state, raise_errors=False, on_message=die_after_a_page
    )
    assert isinstance(failed.error, Killed)
    old_pass = failed.final_state["bookmarks"]["dm_events"]["pass"]
    assert old_pass["cursor"] and "emitted" not in old_pass  # an idle pass, a page in
    completed = run_tap(sandbox, clock=clock, state=failed.final_state).final_state
    assert "pass" not in completed["bookmarks"]["dm_events"]
    merged = copy.deepcopy(completed)
    merged["bookmarks"]["dm_events"]["pass"] = old_pass
    clock.advance(3600)
    new = [e["id"] for e in sandbox.add_events(3)]
    clock.advance(60)

    run, sizes, _ = one_run(sandbox, clock, merged)

    assert sorted(run.ids(), key=int) == sorted(new, key=int)
    assert len(sizes) == 1
    assert "pass" not in run.final_state["bookmarks"]["dm_events"]
    assert run.final_state["bookmarks"]["dm_events"]["replication_key_id"] == max(new, key=int)
