"""Rate budgets across streams and partitions, retries, and what does not clear by waiting.

Against the sandbox with a ManualClock: counts of requests, 429s and waits come from
its request log and the clock's recorded sleeps, never from wall time.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from typing import Any

import pytest

from tap_x_dm.api.ratelimit import RateBudget
from tap_x_dm_sandbox import ManualClock
from tests.conftest import run_tap

DM = "/2/dm_events"
CONV = "/2/dm_conversations/:dm_conversation_id/dm_events"
WITH = "/2/dm_conversations/with/:participant_id/dm_events"
LIST_ENDPOINTS = {"dm_events", "dm_conversation_events", "dm_conversation_with_events"}


def largest_conversations(sandbox: Any, n: int) -> list[str]:
    sizes = Counter(e["dm_conversation_id"] for e in sandbox.visible_events(window_days=None))
    return [conversation for conversation, _ in sizes.most_common(n)]


def conversation_ids(sandbox: Any, conversations: list[str]) -> list[str]:
    return [
        e["id"]
        for conversation in conversations
        for e in sandbox.visible_events(conversation_id=conversation)
    ]


@pytest.mark.parametrize("shared", [False, True], ids=["per-endpoint", "shared"])
def test_short_windows_across_both_streams_every_event_at_most_one_429_per_window(
    sandbox_factory: Any, clock: ManualClock, shared: bool
) -> None:
    limit = 4
    sandbox = sandbox_factory(
        clock=clock,
        rate_limit=limit,
        rate_window=60.0,
        shared_budget=shared,
        events=3000,
        conversations=40,
    )
    conversations = largest_conversations(sandbox, 2)

    run = run_tap(sandbox, clock=clock, dm_conversation_ids=conversations, page_size=50)

    assert run.error is None
    assert run.ids() == [e["id"] for e in sandbox.visible_events(window_days=30)]
    assert run.ids("conversation_events") == conversation_ids(sandbox, conversations)
    lists = [e for e in sandbox.request_log if e["endpoint"] in LIST_ENDPOINTS]
    served = Counter(e["endpoint"] for e in lists if e["status"] == 200)
    refused = [e for e in lists if e["status"] == 429]
    waits = [s for s in clock.sleeps if s > 0]
    assert all(0 < wait <= 60 + 2 for wait in waits)
    budget = run.tap.services.budget if run.tap else None
    assert budget is not None
    if shared:
        # Until the tap has seen that X counts both endpoints together, its first
        # dm_events request may find the shared window spent: one 429, then it knows.
        assert len(refused) <= 1
        assert len(waits) == math.ceil(sum(served.values()) / limit) - 1
        assert budget.window(DM) is budget.window(CONV)
    else:
        assert refused == []
        assert len(waits) == sum(math.ceil(n / limit) - 1 for n in served.values())
        assert budget.window(DM) is not budget.window(CONV)


def test_one_budget_and_one_authenticator_serve_every_stream(
    sandbox_factory: Any, clock: ManualClock
) -> None:
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000, events=300)

    run = run_tap(sandbox, clock=clock, dm_conversation_ids=largest_conversations(sandbox, 2))

    assert run.tap is not None
    authenticators = {id(stream.authenticator) for stream in run.tap.streams.values()
                      if hasattr(stream, "authenticator")}  # fmt: skip
    assert authenticators == {id(run.tap.services.authenticator)}
    assert run.tap.services.authenticator.budget is run.tap.services.budget


def test_a_too_long_wait_stops_cleanly_keeping_the_finished_partitions(
    sandbox_factory: Any, clock: ManualClock
) -> None:
    sandbox = sandbox_factory(clock=clock, rate_limit=3, rate_window=3600.0, events=1500)
    sizes = Counter(e["dm_conversation_id"] for e in sandbox.visible_events(window_days=None))
    small = [c for c, n in sizes.items() if 0 < n <= 100][:2]
    assert len(small) == 2

    run = run_tap(sandbox, clock=clock, dm_conversation_ids=small, max_rate_limit_wait_seconds=600)

    assert run.error is None
    assert run.tap is not None and run.tap.services.stop.reason is not None
    assert "longer than max_rate_limit_wait_seconds=600" in str(run.tap.services.stop.reason)
    assert clock.sleeps == []
    bookmarks = run.final_state["bookmarks"]
    partitions = bookmarks["conversation_events"]["partitions"]
    assert sorted(p["context"]["dm_conversation_id"] for p in partitions) == sorted(small)
    assert all("replication_key_value" in p for p in partitions)
    assert "replication_key_value" not in bookmarks.get("dm_events", {})
    assert [e["status"] for e in sandbox.request_log if e["path"] == DM] == [200, 200, 200]


@pytest.mark.parametrize(
    ("switch", "expected"),
    [
        ("usage_capped", "GET /2/users/me answered 429: UsageCapExceeded: Usage cap exceeded"),
        ("credits_depleted", "GET /2/users/me answered 402: Payment Required"),
    ],
)
def test_caps_that_waiting_cannot_clear_fail_at_once(
    sandbox_factory: Any, clock: ManualClock, switch: str, expected: str
) -> None:
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000)
    setattr(sandbox, switch, True)

    run = run_tap(sandbox, clock=clock, raise_errors=False)

    assert run.error is not None
    assert str(run.error).startswith(expected)
    assert len(sandbox.request_log) == 1
    assert clock.sleeps == []


def test_server_errors_are_retried_a_bounded_number_of_times_each_logged_once(
    sandbox_factory: Any, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000)
    sandbox.faults.inject("server_error", count=10, path_prefix=DM)

    run = run_tap(sandbox, clock=clock, raise_errors=False, max_retries=3)

    assert str(run.error) == (
        "GET /2/dm_events answered 503: Service Unavailable: Service Unavailable "
        "(gave up after 4 tries)"
    )
    assert [e["status"] for e in sandbox.request_log if e["path"] == DM] == [503] * 4
    retries = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Retrying")]
    assert len(retries) == 3
    # python-backoff's own lines never reach users: the retry lines above say it all.
    assert not [
        r for r in caplog.records if r.getMessage().startswith(("Backing off", "Giving up"))
    ]
    for n, line in enumerate(retries, start=1):
        assert line.startswith(f"Retrying {DM} in ")
        assert line.endswith(
            f"retry {n} of 3: GET /2/dm_events answered 503: Service Unavailable: "
            "Service Unavailable."
        )
    waits = [s for s in clock.sleeps if s > 0]
    assert len(waits) == 3
    assert all(1 <= w <= 2 * 2**n for n, w in enumerate(waits))  # exponential, jittered


def test_a_timed_out_request_is_retried(sandbox_factory: Any, clock: ManualClock) -> None:
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000, events=300)
    sandbox.faults.inject("slow", seconds=1.3, path_prefix=DM)

    run = run_tap(sandbox, clock=clock, request_timeout=1)

    assert run.ids() == [e["id"] for e in sandbox.visible_events(window_days=30)]
    assert len([s for s in clock.sleeps if s > 0]) == 1


# -- the budget's bookkeeping ------------------------------------------------------------------


def headers(limit: int, remaining: int, reset: float) -> dict[str, str]:
    return {
        "x-rate-limit-limit": str(limit),
        "x-rate-limit-remaining": str(remaining),
        "x-rate-limit-reset": str(int(reset)),
    }


@pytest.fixture
def budget(clock: ManualClock) -> RateBudget:
    return RateBudget(clock, max_wait_seconds=1200, logger=logging.getLogger("test"))


def test_lock_step_windows_of_two_list_endpoints_merge(
    budget: RateBudget, clock: ManualClock
) -> None:
    reset = clock.time() + 900
    budget.observe(CONV, headers(15, 9, reset))
    budget.observe(DM, headers(15, 8, reset))
    assert budget.window(DM) is budget.window(CONV)
    budget.observe(WITH, headers(15, 7, reset))
    assert budget.window(WITH) is budget.window(DM)


def test_separate_windows_do_not_merge(budget: RateBudget, clock: ManualClock) -> None:
    reset = clock.time() + 900
    budget.observe(CONV, headers(15, 13, reset))
    budget.observe(DM, headers(15, 14, reset))  # its own fresh window
    assert budget.window(DM) is not budget.window(CONV)
    budget.observe("/2/users/me", headers(15, 13, reset))  # users/me is never a list window
    assert budget.window("/2/users/me") is not budget.window(DM)


def test_a_429_when_the_other_window_ran_out_merges(budget: RateBudget, clock: ManualClock) -> None:
    reset = clock.time() + 900
    budget.observe(CONV, headers(15, 0, reset))
    budget.observe(DM, headers(15, 0, reset), status=429)
    assert budget.window(DM) is budget.window(CONV)


def test_a_429_whose_reset_has_passed_backs_off_instead_of_hammering(
    budget: RateBudget, clock: ManualClock
) -> None:
    delay = budget.delay_for_retry(DM, headers(15, 0, clock.time() - 5), attempt=1)
    assert 1.0 <= delay <= 2.0
    ahead = budget.delay_for_retry(DM, headers(15, 0, clock.time() + 100), attempt=1)
    assert ahead == pytest.approx(101, abs=1)
    assert budget.delay_for_retry(DM, {}, attempt=20) <= 120  # bounded


def test_lock_step_counts_of_separate_windows_are_not_merged() -> None:
    clock = ManualClock(start=1_000_000.0)
    budget = RateBudget(clock, max_wait_seconds=1200, logger=logging.getLogger("test"))
    reset = str(int(clock.time()) + 900)
    with_path = "/2/dm_conversations/with/:participant_id/dm_events"
    by_id = "/2/dm_conversations/:dm_conversation_id/dm_events"

    def headers(remaining: int) -> dict[str, str]:
        return {
            "x-rate-limit-limit": "15",
            "x-rate-limit-remaining": str(remaining),
            "x-rate-limit-reset": reset,
        }

    budget.observe(with_path, headers(14))
    budget.observe(by_id, headers(14))  # its own first request: per-endpoint windows
    budget.observe(with_path, headers(13))  # 13 continues its own 14, not by_id's
    budget.observe(by_id, headers(13))
    assert budget.window(with_path) is not budget.window(by_id)
    assert budget.window(with_path).remaining == 13  # type: ignore[union-attr]


def test_a_shared_window_is_still_learned() -> None:
    clock = ManualClock(start=1_000_000.0)
    budget = RateBudget(clock, max_wait_seconds=1200, logger=logging.getLogger("test"))
    reset = str(int(clock.time()) + 900)

    def headers(remaining: int) -> dict[str, str]:
        return {
            "x-rate-limit-limit": "15",
            "x-rate-limit-remaining": str(remaining),
            "x-rate-limit-reset": reset,
        }

    budget.observe("/2/dm_events", headers(14))
    budget.observe("/2/dm_events", headers(13))
    budget.observe("/2/dm_conversations/:dm_conversation_id/dm_events", headers(12))
    assert budget.window("/2/dm_events") is budget.window(
        "/2/dm_conversations/:dm_conversation_id/dm_events"
    )
