"""Syncing dm_events over HTTP: full, incremental, resumed, filtered and paged passes."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import pytest

from tap_x_dm.ids_and_times import TWEPOCH_MS
from tap_x_dm_sandbox import ManualClock
from tests.conftest import Killed, dm_requests, run_tap
from tests.sync_support import list_requests


def expected_record(
    event: dict[str, Any], account_id: str, properties: dict[str, Any]
) -> dict[str, Any]:
    """The event as X sent it, every other property of the schema null."""
    return {**dict.fromkeys(properties), **event, "account_id": account_id, "source": "api"}


def test_full_sync_equals_the_30_day_set(sandbox_factory: Any, clock: ManualClock) -> None:
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000)
    expected = sandbox.visible_events(window_days=30)
    assert len(expected) > 150  # several pages, or the test proves little

    run = run_tap(sandbox, clock=clock)

    records = run.records("dm_events")
    assert [r["id"] for r in records] == [e["id"] for e in expected]
    assert len(set(run.ids())) == len(records)
    account = sandbox.account.id
    properties = run.schemas("dm_events")[0]["schema"]["properties"]
    assert records == [expected_record(e, account, properties) for e in expected]
    assert len(list_requests(sandbox)) == math.ceil(len(expected) / 100)
    assert len(list_requests(sandbox, "/2/users/me")) == 1
    bookmark = run.final_state["bookmarks"]["dm_events"]
    assert bookmark["replication_key"] == "created_at"
    assert bookmark["replication_key_value"] == expected[0]["created_at"]
    assert bookmark["replication_key_id"] == expected[0]["id"]
    assert "progress_markers" not in bookmark
    assert run.final_state["account"]["id"] == account


def test_meta_only_last_page_costs_one_more_request(
    sandbox_factory: Any, clock: ManualClock
) -> None:
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000, meta_only_last_page=True)
    expected = sandbox.visible_events(window_days=30)
    page_size = 50
    # Make the last page exactly full so the sandbox advertises one more, empty, page.
    remainder = len(expected) % page_size
    if remainder:
        sandbox.add_events(page_size - remainder)
        expected = sandbox.visible_events(window_days=30)
    assert len(expected) % page_size == 0

    run = run_tap(sandbox, clock=clock, page_size=page_size)

    assert run.ids() == [e["id"] for e in expected]
    assert len(list_requests(sandbox)) == len(expected) // page_size + 1


@pytest.mark.every_vocabulary
def test_incremental_rerun_reads_one_page_and_emits_only_new_events(
    sandbox_factory: Any, clock: ManualClock
) -> None:
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000)
    expanded = {"object_lookups": "expansions"}  # by_id: see tests/test_lookups.py
    first = run_tap(sandbox, clock=clock, **expanded)
    sandbox.clear_log()

    clock.advance(3600)
    new = sandbox.add_events(7)
    second = run_tap(sandbox, clock=clock, state=first.final_state, **expanded)

    assert sorted(second.ids(), key=int, reverse=True) == sorted(
        (e["id"] for e in new), key=int, reverse=True
    )
    assert len(list_requests(sandbox)) == 1
    assert list_requests(sandbox, "/2/users/me") == []  # the account is remembered in state
    newest = max(new, key=lambda e: int(e["id"]))
    assert second.final_state["bookmarks"]["dm_events"]["replication_key_id"] == newest["id"]
    # Only the objects the new events refer to, not those of the older events on the page.
    referenced = {e["sender_id"] for e in new if "sender_id" in e}
    assert sorted(r["id"] for r in second.records("users")) == sorted(referenced)

    sandbox.clear_log()
    third = run_tap(sandbox, clock=clock, state=second.final_state, **expanded)
    assert third.ids() == []
    assert third.records("users") + third.records("tweets") + third.records("media") == []
    assert len(list_requests(sandbox)) == 1
    assert (
        third.final_state["bookmarks"]["dm_events"] == second.final_state["bookmarks"]["dm_events"]
    )


def test_events_sharing_the_bookmark_millisecond_are_not_lost_or_doubled(
    sandbox_factory: Any, clock: ManualClock
) -> None:
    # No skew: every event added at one instant shares the bookmark's created_at.
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000, created_at_skew_seconds=0)
    clock.advance(60)
    bookmark_event = sandbox.add_events(1)[0]
    first = run_tap(sandbox, clock=clock)
    assert first.final_state["bookmarks"]["dm_events"]["replication_key_id"] == bookmark_event["id"]
    # The clock has not moved: new events land in the bookmark's millisecond, ids above it.
    same_ms = sandbox.add_events(3)
    assert {e["created_at"] for e in same_ms} == {bookmark_event["created_at"]}

    second = run_tap(sandbox, clock=clock, state=first.final_state)

    assert sorted(second.ids()) == sorted(e["id"] for e in same_ms)


@pytest.mark.every_vocabulary
def test_a_run_that_dies_halfway_continues_from_the_page_in_flight(
    sandbox_factory: Any, clock: ManualClock
) -> None:
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000)
    first = run_tap(sandbox, clock=clock)
    clock.advance(3600)
    new = sandbox.add_events(250)  # three pages of new events
    new_ids = sorted((e["id"] for e in new), key=int, reverse=True)
    sandbox.clear_log()

    def die_in_page_two(message: dict[str, Any]) -> None:
        if message["type"] == "RECORD" and message["stream"] == "dm_events":
            seen.append(message["record"]["id"])
            if len(seen) == 130:
                raise Killed

    seen: list[str] = []
    broken = run_tap(
        sandbox,
        clock=clock,
        state=first.final_state,
        raise_errors=False,
        on_message=die_in_page_two,
    )

    assert isinstance(broken.error, Killed)
    assert broken.ids() == new_ids[:130]
    old_bookmark = first.final_state["bookmarks"]["dm_events"]["replication_key_id"]
    saved = broken.final_state["bookmarks"]["dm_events"]
    # The bookmark has not moved; the pass in flight has: the small first page (too small for
    # 250 new events, so read again at 100) and page one are done, page two's cursor saved.
    assert saved["replication_key_id"] == old_bookmark
    assert saved["pass"]["since_id"] == old_bookmark
    assert saved["pass"]["top_id"]  # it has read pages
    assert saved["pass"]["emitted"] == 100  # page one's; page two's 30 are emitted again
    assert saved["pass"]["newest_id"] == new_ids[0]
    sandbox.clear_log()

    rerun = run_tap(sandbox, clock=clock, state=broken.final_state)

    # The rerun re-reads only the page the kill interrupted, then goes on: nothing lost.
    assert rerun.ids() == new_ids[100:]
    assert len(list_requests(sandbox)) == 2
    assert set(broken.ids()) | set(rerun.ids()) == set(new_ids)
    done = rerun.final_state["bookmarks"]["dm_events"]
    assert done["replication_key_id"] == new_ids[0]
    assert "pass" not in done


def test_start_date_limits_what_is_read_and_emitted(
    sandbox_factory: Any, clock: ManualClock
) -> None:
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000)
    events = sandbox.visible_events(window_days=30)
    cutoff = events[len(events) // 3]["created_at"]
    expected = [e for e in events if e["created_at"] >= cutoff]

    run = run_tap(sandbox, clock=clock, start_date=cutoff)

    assert run.ids() == [e["id"] for e in expected]
    # Paging stopped at start_date instead of reading the whole 30 days.
    assert len(list_requests(sandbox)) == math.ceil((len(expected) + 1) / 100)


@pytest.mark.every_vocabulary
def test_event_types_are_sent_and_respected(sandbox_factory: Any, clock: ManualClock) -> None:
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000)
    joins_and_leaves = [
        e
        for e in sandbox.visible_events(window_days=30)
        if e["event_type"] in {"ParticipantsJoin", "ParticipantsLeave"}
    ]
    assert joins_and_leaves

    run = run_tap(sandbox, clock=clock, event_types=["ParticipantsJoin", "ParticipantsLeave"])

    assert run.ids() == [e["id"] for e in joins_and_leaves]
    assert list_requests(sandbox)[0]["query"]["event_types"] == "ParticipantsJoin,ParticipantsLeave"


def test_empty_account(sandbox_factory: Any, clock: ManualClock) -> None:
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000)
    user = sandbox.dataset.empty_user_id()

    run = run_tap(sandbox, clock=clock, access_token=sandbox.access_token(user))

    assert run.ids() == []
    assert len(list_requests(sandbox)) == 1
    assert "replication_key_value" not in run.final_state["bookmarks"].get("dm_events", {})


@pytest.mark.parametrize("page_size", [1, 37])
def test_small_pages_read_everything_once(
    sandbox_factory: Any, clock: ManualClock, page_size: int
) -> None:
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000, events=400, conversations=40, days=40)
    expected = sandbox.visible_events(window_days=30)

    run = run_tap(sandbox, clock=clock, page_size=page_size)

    assert run.ids() == [e["id"] for e in expected]
    assert len(list_requests(sandbox)) == max(1, math.ceil(len(expected) / page_size))
    assert all(entry["query"]["max_results"] == str(page_size) for entry in list_requests(sandbox))


@pytest.mark.parametrize(("offset_pagination", "repeats"), [(False, 0), (True, 5)])
def test_arrivals_during_a_pass_are_neither_doubled_nor_lost(
    sandbox_factory: Any,
    clock: ManualClock,
    offset_pagination: bool,
    repeats: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # With offset-carrying tokens, five arrivals push five events of page one onto page two.
    caplog.set_level("INFO")
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000, offset_pagination=offset_pagination)
    expected = sandbox.visible_events(window_days=30)
    arrived: list[dict[str, Any]] = []

    def add_during_first_page(message: dict[str, Any]) -> None:
        if message["type"] == "RECORD" and message["stream"] == "dm_events" and not arrived:
            clock.advance(1)
            arrived.extend(sandbox.add_events(5))

    run = run_tap(sandbox, clock=clock, on_message=add_during_first_page)

    assert run.ids() == [e["id"] for e in expected]  # arrivals wait for the next run
    summary = next(r.getMessage() for r in caplog.records if "pass complete" in r.getMessage())
    assert (f", {repeats} repeat(s) dropped" in summary) == bool(repeats), summary
    second = run_tap(sandbox, clock=clock, state=run.final_state)
    assert sorted(second.ids()) == sorted(e["id"] for e in arrived)


def test_bookmark_older_than_30_days_names_the_gap(
    sandbox_factory: Any, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000, events=600, conversations=40)
    forty_days_ago = dt.datetime.fromtimestamp(clock.time(), tz=dt.timezone.utc) - dt.timedelta(40)
    minted_ms = int(forty_days_ago.timestamp() * 1000)
    old = {
        "bookmarks": {
            "dm_events": {
                "replication_key": "created_at",
                "replication_key_value": forty_days_ago.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                "replication_key_id": str((minted_ms - TWEPOCH_MS) << 22),
            }
        }
    }

    with caplog.at_level("WARNING"):
        run = run_tap(sandbox, clock=clock, state=old)

    assert run.ids() == [e["id"] for e in sandbox.visible_events(window_days=30)]
    gap = [r.getMessage() for r in caplog.records if "older than the 30 days" in r.getMessage()]
    assert len(gap) == 1
    assert f"events from {forty_days_ago.date().isoformat()} to" in gap[0]
    assert "set archive_path to the account's X archive" in gap[0]
    assert "the next run fills the gap." in gap[0] and "\n" not in gap[0]


def test_widening_event_types_reads_the_new_types_history_once(
    sandbox_factory: Any, clock: ManualClock
) -> None:
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000)
    events = sandbox.visible_events(window_days=30)
    membership = [e for e in events if e["event_type"] != "MessageCreate"]
    assert membership
    first = run_tap(sandbox, clock=clock, event_types=["MessageCreate"])
    assert first.final_state["bookmarks"]["dm_events"]["event_types"] == ["MessageCreate"]
    sandbox.clear_log()

    second = run_tap(sandbox, clock=clock, state=first.final_state)

    assert second.ids() == [e["id"] for e in membership]
    queries = [e["query"]["event_types"] for e in list_requests(sandbox)]
    assert queries == [
        "ParticipantsJoin,ParticipantsLeave",
        "MessageCreate,ParticipantsJoin,ParticipantsLeave",
    ]
    assert second.final_state["bookmarks"]["dm_events"]["event_types"] == [
        "MessageCreate", "ParticipantsJoin", "ParticipantsLeave",
    ]  # fmt: skip
    third = run_tap(sandbox, clock=clock, state=second.final_state)
    assert third.ids() == []


@pytest.mark.parametrize("page_number_tokens", [False, True], ids=["cursor", "page-number"])
def test_a_small_first_page_bills_few_events_and_loses_none_when_it_falls_short(
    sandbox_factory: Any, clock: ManualClock, page_number_tokens: bool
) -> None:
    # Page-number tokens count pages of the current request's size: following a small
    # first page's token with a page of 100 would skip events. The pass never does.
    sandbox = sandbox_factory(
        clock=clock, rate_limit=10_000, page_number_pagination=page_number_tokens
    )
    first = run_tap(sandbox, clock=clock)
    rate = first.final_state["bookmarks"]["dm_events"]["arrivals_per_week"]
    assert isinstance(rate, int)  # no float in state: targets re-emit it through plain JSON
    assert 280 < rate < 560  # what the 30 days read said: about 60 DMs a day
    state = first.final_state

    clock.advance(3600)
    few = sandbox.add_events(3)
    # Read a minute after they came: the next pass may stop at the newest of them, so its
    # first page is small again (see tests/test_bursts.py for a run that catches a burst).
    clock.advance(60)
    sandbox.reset_billing()
    sandbox.clear_log()
    quiet = run_tap(sandbox, clock=clock, state=state)
    assert sorted(quiet.ids()) == sorted(e["id"] for e in few)
    # Twice the events the rate foretells since the bookmark was minted, plus ten.
    bookmark = int(state["bookmarks"]["dm_events"]["replication_key_id"])
    weeks = (clock.time() * 1000 - ((bookmark >> 22) + TWEPOCH_MS)) / (7 * 86_400_000)
    first_page = int(2 * rate * weeks) + 10
    assert first_page <= 20
    requests = dm_requests(sandbox)
    assert [r["query"]["max_results"] for r in requests] == [str(first_page)]
    assert sandbox.billed["dm_events"] == first_page  # not 100
    state = quiet.final_state

    clock.advance(3600)
    many = sandbox.add_events(250)  # a burst: far more than the rate foretold
    sandbox.clear_log()
    busy = run_tap(sandbox, clock=clock, state=state)
    assert sorted(busy.ids(), key=int) == sorted((e["id"] for e in many), key=int)
    sizes = [r["query"]["max_results"] for r in dm_requests(sandbox)]
    assert len(sizes) == math.ceil(250 / 100) + 1  # the small page, then pages of 100
    assert sizes[1:] == ["100"] * 3
    assert busy.final_state["bookmarks"]["dm_events"]["replication_key_id"] == max(
        (e["id"] for e in many), key=int
    )


def test_the_small_first_page_survives_a_state_read_from_a_file(
    sandbox_factory: Any, clock: ManualClock, tmp_path: Any
) -> None:
    # `--state FILE` goes through the SDK's JSON reader (floats become Decimal): the
    # remembered arrival rate must still size the first page, as from a state in memory.
    import json

    from singer_sdk.helpers._util import read_json_file

    sandbox = sandbox_factory(clock=clock, rate_limit=10_000)
    first = run_tap(sandbox, clock=clock)
    path = tmp_path / "state.json"
    path.write_text(json.dumps(first.final_state))
    state = read_json_file(path)

    clock.advance(3600)
    sandbox.add_events(3)
    sandbox.clear_log()
    run_tap(sandbox, clock=clock, state=state)
    (request,) = dm_requests(sandbox)
    assert int(request["query"]["max_results"]) <= 20  # not page_size
