"""What a run cost: requests and billed resources per stream and per run, priced as X does."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from tap_x_dm_sandbox import ManualClock
from tests.conftest import dm_requests, run_tap

LINE = re.compile(
    r"^(?P<label>[\w ]+): (?P<requests>\d+) request\(s\), returned (?P<events>\d+) DM event\(s\), "
    r"(?P<users>\d+) user\(s\), (?P<tweets>\d+) post\(s\), (?P<media>\d+) media: about "
    r"\$(?P<usd>[\d.]+) at X's pay-per-use prices \(an estimate; X bills a resource returned "
    r"again the same UTC day once, so the bill can be lower\)\."
    r"(?P<tail> (?:New events: [^.]+\. )?Status: .+)?$"
)


def cost_lines(caplog: pytest.LogCaptureFixture) -> dict[str, dict[str, str]]:
    found = {}
    for record in caplog.records:
        match = LINE.match(record.getMessage())
        if match:
            found[match["label"]] = match.groupdict()
    return found


def test_each_stream_and_the_run_log_requests_resources_and_an_estimate(
    sandbox_factory: Any, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO")
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000)
    expected = sandbox.visible_events(window_days=30)

    run = run_tap(sandbox, clock=clock)

    lines = cost_lines(caplog)
    assert set(lines) == {"dm_events", "users_lookup", "tweets_lookup", "This run"}
    dm, users, tweets = lines["dm_events"], lines["users_lookup"], lines["tweets_lookup"]
    assert int(dm["requests"]) == len(dm_requests(sandbox))
    endpoints = [entry["endpoint"] for entry in sandbox.request_log]
    assert int(users["requests"]) == endpoints.count("users_lookup") > 0
    assert int(tweets["requests"]) == endpoints.count("tweets_lookup") > 0
    assert int(dm["events"]) == len(expected) == len(run.ids())
    assert int(dm["users"]) == int(dm["tweets"]) == 0  # object_lookups by_id: not expanded
    assert int(users["users"]) == len(run.records("users"))
    assert int(tweets["tweets"]) == len(run.records("tweets"))
    total = lines["This run"]
    lookups = int(users["requests"]) + int(tweets["requests"])
    assert int(total["requests"]) == int(dm["requests"]) + lookups + 1  # and GET /2/users/me
    assert int(total["users"]) == int(users["users"]) + 1
    # X bills a resource once a UTC day; the tap counts every one returned: never below the bill.
    assert float(total["usd"]) >= round(sandbox.billed_usd, 2)
    assert int(dm["events"]) == sandbox.billed["dm_events"]


@pytest.mark.every_vocabulary
def test_prices_can_be_set_for_other_contracts(
    sandbox_factory: Any, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO")
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000, events=300)
    prices = {"dm_events": 1.0, "users": 0, "tweets": 0, "media": 0}

    run_tap(sandbox, clock=clock, prices_usd=prices)

    dm = cost_lines(caplog)["dm_events"]
    assert float(dm["usd"]) == int(dm["events"])


@pytest.mark.every_vocabulary
def test_runs_under_a_cost_cap_stop_cleanly_and_in_a_row_load_every_event_once(
    sandbox_factory: Any, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("WARNING")
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000, events=1500)
    # 29 days, so that the clock moving on by an hour a run drops nothing off X's 30 days.
    start = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(clock.time() - 29 * 86400))
    expected = [
        e["id"]
        for e in sandbox.visible_events(window_days=30)
        if e["created_at"] >= start.removesuffix("Z")
    ]
    state: dict[str, Any] = {"account": {"id": sandbox.account.id}}
    emitted: list[str] = []
    runs = 0
    for runs in range(1, 21):  # noqa: B007  # the count is asserted below
        sandbox.reset_billing()
        run = run_tap(sandbox, clock=clock, state=state, max_cost_usd=4.0, start_date=start)
        assert run.error is None
        assert sandbox.billed_usd <= 4.0  # X's bill, never over the cap
        emitted += run.ids()
        state = run.final_state
        if state["bookmarks"]["dm_events"].get("pass") is None:
            break
        clock.advance(3600)  # the next scheduled run
    assert sorted(emitted, key=int) == sorted(expected, key=int)
    assert len(emitted) == len(set(emitted))
    # A page of 100 events could cost $4.00 at worst (each with two users, a post and a media):
    # one page a run, with the cursor kept, so each run goes one page further.
    assert runs == -(-len(expected) // 100)
    stops = [r.getMessage() for r in caplog.records if "max_cost_usd=4.00" in r.getMessage()]
    assert stops and all(line.startswith("Stopping: the next page could cost") for line in stops)


@pytest.mark.parametrize("tokens", ["cursor", "page_number"])
def test_a_cap_lowered_below_the_saved_page_loads_what_it_allows_and_runs_in_a_row_load_all(
    sandbox_factory: Any, clock: ManualClock, caplog: pytest.LogCaptureFixture, tokens: str
) -> None:
    caplog.set_level("INFO")
    sandbox = sandbox_factory(
        clock=clock, rate_limit=10_000, events=3000, page_number_pagination=tokens == "page_number"
    )
    start = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(clock.time() - 29 * 86400))
    expected = [
        e["id"]
        for e in sandbox.visible_events(window_days=30)
        if e["created_at"] >= start.removesuffix("Z")
    ]
    state: dict[str, Any] = {"account": {"id": sandbox.account.id}}
    first = run_tap(sandbox, clock=clock, state=state, max_cost_usd=8.0, start_date=start)
    in_flight = first.final_state["bookmarks"]["dm_events"]["pass"]
    assert in_flight["page_size"] == 100 and in_flight["cursor"]  # stopped mid-pass
    emitted, loaded, state = first.ids(), [], first.final_state
    for _ in range(40):
        clock.advance(3600)  # the next scheduled run
        sandbox.reset_billing()
        sandbox.clear_log()
        run = run_tap(sandbox, clock=clock, state=state, max_cost_usd=1.5, start_date=start)
        state = run.final_state
        assert run.error is None
        assert sandbox.billed_usd <= 1.5
        assert len(dm_requests(sandbox, "/2/dm_events")) == 1  # a page of 42: $1.47 at worst
        emitted += run.ids()
        loaded.append(len(run.ids()))
        if state["bookmarks"]["dm_events"].get("pass") is None:
            break
    assert sorted(emitted, key=int) == sorted(expected, key=int)
    assert len(emitted) == len(set(emitted))
    if tokens == "cursor":  # the cursor goes on: every run loads a page of new events
        assert loaded[:-1] == [42] * (len(loaded) - 1) and 0 < loaded[-1] <= 42
    shrunk = [m for m in caplog.messages if "max_cost_usd affords pages of at most" in m]
    assert shrunk == [
        "dm_events: max_cost_usd affords pages of at most 42 event(s); the pass continues at "
        "that size instead of 100 (events read again are skipped)."
    ]


FIRST_SYNC = re.compile(
    r"^dm_events: a first sync\. Its first page spans .+ of DMs, so the last 30 days hold about "
    r"(?P<events>[\d,]+) events: about (?P<requests>[\d,]+) requests, at least (?P<wait>.+) at "
    r"15 requests per 15 min, and about \$(?P<usd>[\d,.]+) \(an estimate\)\. "
)


def test_a_long_first_sync_says_how_long_and_how_much_after_its_first_page(
    sandbox_factory: Any, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO")
    sandbox = sandbox_factory(clock=clock, rate_limit=15, rate_window=900.0)

    run_tap(sandbox, clock=clock)

    lines = [m for r in caplog.records if (m := FIRST_SYNC.match(r.getMessage()))]
    assert len(lines) == 1
    estimate = int(lines[0]["requests"].replace(",", ""))
    actual = len(dm_requests(sandbox, "/2/dm_events"))
    assert actual / 2 <= estimate <= actual * 2  # from one page of 100: an estimate
    assert lines[0]["wait"] != "under a minute"


def test_many_conversations_on_their_first_run_say_how_long_at_least(
    sandbox_factory: Any, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO")
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000)
    groups = [c for c in sandbox.dataset.conversations_of(sandbox.account.id) if "-" not in c]

    run_tap(sandbox, clock=clock, dm_conversation_ids=groups[:31], select=["conversation_events"])

    assert (
        "conversation_events: 31 conversations on their first run: at least 31 requests (one "
        "each, more for long histories), at least 30 min at 15 requests per 15 min (X's current "
        "DM limit)."
    ) in [r.getMessage() for r in caplog.records]
