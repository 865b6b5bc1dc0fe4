"""X's real timestamps: whole seconds, from another clock than the id's, maybe the list's order.

The sandbox serves `created_at` as X does (`...:21.000Z`, skewed up to 2 s from the
id's time), and can order lists by `created_at` with ids shuffled within a second.
The bookmark (the highest id of a completed pass) and the stop rule must lose
nothing and double nothing at the bookmark's boundary, in either order.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from tap_x_dm.errors import XAPIError
from tap_x_dm_sandbox import ManualClock
from tests.conftest import dm_requests, run_tap

X_TIMESTAMPS = {"created_at_precision": "s", "created_at_skew_seconds": 2.0}


def ids_of(events: list[dict[str, Any]]) -> list[str]:
    return sorted((e["id"] for e in events), key=int)


@pytest.mark.parametrize("order_by", ["id", "created_at"])
def test_a_full_sync_reads_every_event_once_with_x_timestamps(
    sandbox_factory: Any, clock: ManualClock, order_by: str
) -> None:
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000, order_by=order_by, **X_TIMESTAMPS)
    expected = sandbox.visible_events(window_days=30)
    assert all(e["created_at"].endswith(".000Z") for e in expected if "created_at" in e)

    run = run_tap(sandbox, clock=clock, page_size=50)

    assert sorted(run.ids(), key=int) == ids_of(expected)
    assert len(run.ids()) == len(set(run.ids()))
    bookmark = run.final_state["bookmarks"]["dm_events"]["replication_key_id"]
    assert bookmark == max((e["id"] for e in expected), key=int)


@pytest.mark.parametrize("order_by", ["id", "created_at"])
def test_events_within_seconds_of_the_bookmark_are_neither_lost_nor_doubled(
    sandbox_factory: Any, clock: ManualClock, order_by: str
) -> None:
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000, order_by=order_by, **X_TIMESTAMPS)
    clock.advance(60)
    around = sandbox.add_events(6)  # all within the bookmark's second: the boundary itself
    first = run_tap(sandbox, clock=clock)
    assert set(ids_of(around)) <= set(first.ids())
    emitted = set(first.ids())
    for step in range(6):
        clock.advance(0.3)  # arrivals a fraction of a second apart, created_at skewed by ±2 s
        new = sandbox.add_events(3)
        sandbox.clear_log()
        # Without an arrival rate the pass asks for full pages: this test is about the boundary
        # (a burst of 24 events within 3 s), not about the size of the first page.
        state = first.final_state
        state["bookmarks"]["dm_events"].pop("arrivals_per_week", None)
        run = run_tap(sandbox, clock=clock, state=state)
        assert sorted(run.ids(), key=int) == ids_of(new), step
        assert not emitted & set(run.ids()), step  # no event emitted by two completed runs
        emitted |= set(run.ids())
        assert len(dm_requests(sandbox)) == 1
        first = run
    assert emitted == set(ids_of(sandbox.visible_events(window_days=30)))


def test_a_cursor_x_no_longer_accepts_restarts_the_pass_without_re_emitting(
    sandbox_factory: Any, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    sandbox = sandbox_factory(clock=clock, rate_limit=2, rate_window=3600.0)
    expected = [e["id"] for e in sandbox.visible_events(window_days=30)]
    state = {"account": {"id": sandbox.account.id}}
    stopped = run_tap(sandbox, clock=clock, state=state, max_rate_limit_wait_seconds=60)
    assert stopped.ids() == expected[:200]  # two pages, then a wait too long for this run
    sandbox.expire_pagination_tokens()
    sandbox.set_rate_limit(10_000, 3600.0)
    sandbox.clear_log()

    rerun = run_tap(sandbox, clock=clock, state=stopped.final_state)

    assert rerun.ids() == expected[200:]
    statuses = [e["status"] for e in dm_requests(sandbox)]
    assert statuses[0] == 400  # the saved cursor, refused
    lines = [r.getMessage() for r in caplog.records if "no longer accepts" in r.getMessage()]
    assert len(lines) == 1
    assert "skips the 200 event(s) it already emitted" in lines[0]
    assert "pagination_token=" in lines[0]
    assert rerun.final_state["bookmarks"]["dm_events"]["replication_key_id"] == expected[0]


def test_a_cursor_x_refuses_twice_is_one_line_not_a_loop_of_re_reads(
    sandbox_factory: Any, clock: ManualClock
) -> None:
    # Every cursor X issues is refused at once (a TTL below zero): the pass goes back to the
    # top once, then stops with X's refusal in one line instead of re-reading for ever.
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000, pagination_token_ttl=-1.0)
    state = {"account": {"id": sandbox.account.id}}

    run = run_tap(sandbox, clock=clock, state=state, raise_errors=False)

    statuses = [e["status"] for e in dm_requests(sandbox)]
    assert statuses == [200, 400, 200, 400]  # top, refused cursor, top again, refused again
    assert isinstance(run.error, XAPIError) and "pagination_token" in str(run.error)
    assert "replication_key_id" not in run.final_state["bookmarks"].get("dm_events", {})
