"""Rate-limit handling against the sandbox: waits before a 429, learned from headers."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from tap_x_dm.api.ratelimit import endpoint_of
from tap_x_dm_sandbox import ManualClock
from tests.conftest import run_tap


def test_endpoint_templates() -> None:
    assert endpoint_of("/2/dm_events") == "/2/dm_events"
    assert endpoint_of("/2/dm_events/123") == "/2/dm_events/:event_id"
    assert (
        endpoint_of("/2/dm_conversations/1-2/dm_events")
        == "/2/dm_conversations/:dm_conversation_id/dm_events"
    )
    assert (
        endpoint_of("/2/dm_conversations/with/9/dm_events")
        == "/2/dm_conversations/with/:participant_id/dm_events"
    )


def test_sync_spanning_windows_waits_instead_of_429(
    sandbox_factory: Any, clock: ManualClock
) -> None:
    sandbox = sandbox_factory(clock=clock, rate_limit=15, rate_window=900.0)
    expected = sandbox.visible_events(window_days=30)
    pages = math.ceil(len(expected) / 100)
    assert pages > 15, "the sync must span more than one window"

    run = run_tap(sandbox, clock=clock)

    assert run.ids() == [e["id"] for e in expected]
    statuses = [e["status"] for e in sandbox.request_log if e["path"] == "/2/dm_events"]
    assert statuses.count(429) == 0
    assert len(statuses) == pages
    waits = [s for s in clock.sleeps if s > 0]
    assert len(waits) == math.ceil(pages / 15) - 1
    assert all(0 < w <= 902 for w in waits)


def test_429_without_headers_backs_off_and_completes(
    sandbox_factory: Any, clock: ManualClock
) -> None:
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000, events=300)
    sandbox.faults.inject("rate_limit_no_headers", count=2, path_prefix="/2/dm_events")

    run = run_tap(sandbox, clock=clock)

    assert run.ids() == [e["id"] for e in sandbox.visible_events(window_days=30)]
    assert [e["status"] for e in sandbox.request_log if e["path"] == "/2/dm_events"][:3] == [
        429,
        429,
        200,
    ]
    assert len([s for s in clock.sleeps if s > 0]) == 2


def test_server_errors_and_dropped_connections_are_retried(
    sandbox_factory: Any, clock: ManualClock
) -> None:
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000, events=300)
    sandbox.faults.inject("server_error", count=1, path_prefix="/2/dm_events")
    sandbox.faults.inject("html_502", count=1, path_prefix="/2/dm_events")
    sandbox.faults.inject("truncated_json", count=1, path_prefix="/2/dm_events")

    run = run_tap(sandbox, clock=clock)

    assert run.ids() == [e["id"] for e in sandbox.visible_events(window_days=30)]


def test_too_long_wait_stops_cleanly_keeping_finished_work(
    sandbox_factory: Any, clock: ManualClock
) -> None:
    sandbox = sandbox_factory(clock=clock, rate_limit=2, rate_window=3600.0)
    expected = sandbox.visible_events(window_days=30)
    assert len(expected) > 300

    run = run_tap(sandbox, clock=clock, max_rate_limit_wait_seconds=600)

    assert run.error is None
    assert clock.sleeps == [] or max(clock.sleeps) <= 600
    # The pass did not finish, so no bookmark moved; the run still ended with a STATE.
    assert "replication_key_value" not in run.final_state.get("bookmarks", {}).get("dm_events", {})
    assert run.tap is not None and run.tap.services.stop.reason is not None


def test_runs_stopped_by_the_rate_limit_each_get_further_until_the_pass_completes(
    sandbox_factory: Any, clock: ManualClock
) -> None:
    sandbox = sandbox_factory(clock=clock, rate_limit=2, rate_window=3600.0)
    # 29 days, so that the clock moving on by an hour a run drops nothing off X's 30 days.
    start = dt.datetime.fromtimestamp(clock.time() - 29 * 86400, tz=dt.timezone.utc)
    start_date = start.strftime("%Y-%m-%dT%H:%M:%SZ")
    expected = [
        e["id"]
        for e in sandbox.visible_events(window_days=30)
        if e["created_at"] >= start.strftime("%Y-%m-%dT%H:%M:%S")
    ]
    pages = -(-len(expected) // 100)
    state: dict[str, Any] = {"account": {"id": sandbox.account.id}}
    emitted: list[str] = []
    settings = {"max_rate_limit_wait_seconds": 600, "start_date": start_date}
    for run_number in range(1, pages + 1):
        run = run_tap(sandbox, clock=clock, state=state, **settings)
        assert run.error is None
        emitted += run.ids()
        state = run.final_state
        in_flight = state["bookmarks"]["dm_events"].get("pass")
        if in_flight is None:  # the pass completed in this run
            break
        # Two requests a window, one window a run: every run keeps two more pages.
        assert in_flight["emitted"] == 2 * 100 * run_number
        clock.advance(3600)  # the scheduler's next run, one window later
    assert run_number == -(-pages // 2)
    assert emitted == expected  # each event once, in X's order, across the chain of runs
    assert state["bookmarks"]["dm_events"]["replication_key_id"] == expected[0]
