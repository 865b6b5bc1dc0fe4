"""Unit tests of one newest-first pass and its saved progress (no HTTP)."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from tap_x_dm.ids_and_times import TWEPOCH_MS
from tap_x_dm.sync.passes import (
    SKEW_MS,
    NewestFirstPass,
    PassProgress,
    bookmark_id,
    complete,
    covered_id,
    resumable,
    stops_at_bookmark,
)

BASE_MS = 1_790_000_000_000  # 2026-09-21T14:13:20Z


def snowflake(ms: int, sequence: int = 0) -> int:
    return ((ms - TWEPOCH_MS) << 22) | sequence


def iso(ms: int) -> str:
    moment = dt.datetime.fromtimestamp(ms / 1000, tz=dt.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def event(event_id: int, created_ms: int | None = None) -> dict[str, Any]:
    found: dict[str, Any] = {"id": str(event_id)}
    if created_ms is not None:
        found["created_at"] = iso(created_ms)
    return found


def new_pass(since: int | None = None, start_ms: int | None = None, **kw: Any) -> NewestFirstPass:
    return NewestFirstPass(PassProgress(since_id=since, **kw), start_ms=start_ms)


def admitted(one_pass: NewestFirstPass, events: list[dict[str, Any]]) -> list[int]:
    return [int(e["id"]) for e in events if one_pass.admit(e)]


def test_ids_compare_as_integers_not_strings() -> None:
    # "999" > "1000" as strings: a pass must not think 1000 is at or below 999.
    one_pass = new_pass(since=999)
    assert admitted(one_pass, [event(1000, BASE_MS)]) == [1000]


def test_new_means_above_the_bookmark_id_whatever_created_at_says() -> None:
    bookmark = snowflake(BASE_MS + 885)
    # Minted 100 ms later, but labelled a second earlier (X's clock is not the id's).
    newer = snowflake(BASE_MS + 985)
    one_pass = new_pass(since=bookmark)
    events = [event(newer, BASE_MS - 1000), event(bookmark, BASE_MS + 1000)]
    assert admitted(one_pass, events) == [newer]
    assert not one_pass.reached_floor  # the bookmark alone does not prove the rest older


def test_the_pass_stops_only_once_nothing_after_can_be_new() -> None:
    bookmark = snowflake(BASE_MS)
    one_pass = new_pass(since=bookmark)
    just_below = event(snowflake(BASE_MS - 1000), BASE_MS - 1000)
    assert not one_pass.admit(just_below)
    assert not one_pass.reached_floor  # within the skew: an event after it may be newer
    well_below = event(snowflake(BASE_MS - SKEW_MS - 1), BASE_MS - SKEW_MS - 1)
    assert not one_pass.admit(well_below)
    assert one_pass.reached_floor


def test_a_list_ordered_by_created_at_with_ids_unordered_within_a_second() -> None:
    rng = random.Random(5)
    minted = sorted(BASE_MS + rng.randrange(0, 60_000) for _ in range(300))
    events = [(snowflake(ms, n), ms + rng.randrange(-2000, 2001)) for n, ms in enumerate(minted)]
    listed = sorted(events, key=lambda e: (-(e[1] // 1000), rng.random()))  # by second, shuffled
    bookmark = sorted(e[0] for e in events)[150]
    one_pass = new_pass(since=bookmark)
    got = []
    for event_id, at_ms in listed:
        if one_pass.admit(event(event_id, at_ms // 1000 * 1000)):
            got.append(event_id)
        if one_pass.reached_floor:
            break
    assert sorted(got) == sorted(e[0] for e in events if e[0] > bookmark)


def stop_index(read_below: int, listed: list[dict[str, Any]], since: int) -> int:
    """How many events of `listed` a pass reads before it may stop."""
    one_pass = NewestFirstPass(
        PassProgress(since_id=since), start_ms=None, read_below_id=read_below
    )
    for n, listed_event in enumerate(listed, start=1):
        one_pass.admit(listed_event)
        if one_pass.reached_floor:
            return n
    return len(listed)


def test_below_what_was_read_nothing_is_new_so_the_pass_stops_at_the_bookmark() -> None:
    # A burst: an event every 40 ms up to the bookmark's. The pass right after it reads its
    # last 5 s (126 events below the bookmark); once a pass read X's list a minute later, the
    # next stops at the bookmark's own event.
    bookmark = snowflake(BASE_MS)
    listed = [event(snowflake(BASE_MS - 40 * n), BASE_MS - 40 * n) for n in range(200)]
    state: dict[str, Any] = {
        "replication_key_id": str(bookmark),
        "replication_key_value": iso(BASE_MS),
    }
    assert stop_index(bookmark, listed, bookmark) == 1 + 126
    assert not stops_at_bookmark({**state, "read_below_id": str(snowflake(BASE_MS - 5_000))})
    assert not stops_at_bookmark({**state, "read_below_id": str(snowflake(BASE_MS + SKEW_MS))})
    a_minute_on = snowflake(BASE_MS + 60_000)
    assert stop_index(a_minute_on, listed, bookmark) == 1
    assert stops_at_bookmark({**state, "read_below_id": str(a_minute_on)})


def test_a_completed_catch_up_pass_lets_the_next_pass_read_down_to_the_bookmark() -> None:
    # What was read above the bookmark held the old event types only.
    bookmark = snowflake(BASE_MS)
    state: dict[str, Any] = {
        "replication_key_id": str(bookmark),
        "read_below_id": str(bookmark + 9),
    }
    catch_up = PassProgress(since_id=None, ceiling_id=bookmark, event_types=["ParticipantsJoin"])
    complete(state, catch_up)
    assert covered_id(state) == bookmark and state["read_below_id"] == str(bookmark)


def test_repeats_from_shifted_pages_are_dropped_in_constant_memory() -> None:
    ids = [snowflake(BASE_MS + 60_000 * n) for n in range(40, 0, -1)]
    one_pass = new_pass()
    page_one = [event(i) for i in ids[:20]]
    page_two = [event(i) for i in ids[15:]]  # five events of page one, shifted by arrivals
    assert admitted(one_pass, page_one + page_two) == ids
    assert one_pass.progress.repeats == 5
    assert len(one_pass.progress.frontier) == 1  # only ids within FRONTIER of the oldest


def test_start_date_is_inclusive_on_created_at() -> None:
    one_pass = new_pass(start_ms=BASE_MS)
    assert one_pass.admit(event(snowflake(BASE_MS - 500), BASE_MS))
    assert not one_pass.admit(event(snowflake(BASE_MS - 100), BASE_MS - 1))
    assert not one_pass.reached_floor
    assert not one_pass.admit(event(snowflake(BASE_MS - 20_000), BASE_MS - 20_000))
    assert one_pass.reached_floor


def test_missing_created_at_falls_back_to_the_snowflake_time() -> None:
    one_pass = new_pass(start_ms=BASE_MS)
    assert one_pass.admit(event(snowflake(BASE_MS + 1)))
    assert not one_pass.admit(event(snowflake(BASE_MS - 1)))


def test_a_catch_up_pass_reads_only_up_to_its_ceiling_and_never_lowers_the_bookmark() -> None:
    ceiling = snowflake(BASE_MS)
    one_pass = new_pass(ceiling_id=ceiling, event_types=["ParticipantsJoin"])
    events = [event(snowflake(BASE_MS + 5)), event(ceiling - 10), event(ceiling - 20)]
    assert admitted(one_pass, events) == [ceiling - 10, ceiling - 20]
    state: dict[str, Any] = {"replication_key_id": str(ceiling)}
    complete(state, one_pass.progress)
    assert bookmark_id(state) == ceiling


def test_progress_round_trips_and_the_bookmark_moves_only_on_complete() -> None:
    one_pass = new_pass()
    newest = snowflake(BASE_MS)
    one_pass.admit(event(newest, BASE_MS))
    one_pass.admit(event(newest - 5, BASE_MS))
    saved = one_pass.progress.to_state()
    assert PassProgress.from_state(saved).to_state() == saved
    state: dict[str, Any] = {"pass": saved}
    assert bookmark_id(state) is None
    complete(state, one_pass.progress)
    assert state["replication_key_id"] == str(newest)
    assert state["replication_key_value"] == iso(BASE_MS)
    assert "pass" not in state  # a stale pass brought back by a merge is not tied to it
    resumed = one_pass.progress
    resumed.newest_created_at = None  # a pass resumed in a later run: its newest id's time
    later: dict[str, Any] = {}
    complete(later, resumed)
    assert later["replication_key_value"] == iso(BASE_MS)


def test_an_in_flight_pass_resumes_only_from_its_own_bookmark_and_types() -> None:
    progress = PassProgress(since_id=100, event_types=["MessageCreate"], cursor="c")
    state: dict[str, Any] = {"replication_key_id": "100", "pass": progress.to_state()}
    assert state["pass"] == {"since_id": "100", "event_types": ["MessageCreate"], "cursor": "c"}
    resumed = resumable(state, event_types=["MessageCreate"])
    assert resumed is not None and resumed.cursor == "c"
    assert resumable(state, event_types=["MessageCreate", "ParticipantsJoin"]) is None
    assert resumable({**state, "replication_key_id": "200"}, event_types=["MessageCreate"]) is None
    assert resumable(state, event_types=["MessageCreate"], catch_up=True) is None
    catch_up = PassProgress(since_id=None, ceiling_id=100, event_types=["MessageCreate"])
    caught: dict[str, Any] = {"replication_key_id": "100", "pass": catch_up.to_state()}
    assert resumable(caught, event_types=["MessageCreate"]) is None  # not a main pass
    assert resumable(caught, event_types=["MessageCreate"], catch_up=True) is not None


def test_a_pass_a_later_completed_pass_covers_is_stale() -> None:
    """A `pass` brought back by a state merge after a later pass completed (issue 20)."""
    old = PassProgress(since_id=100, event_types=["MessageCreate"], cursor="c", top_id=500)
    state: dict[str, Any] = {"replication_key_id": "100", "pass": old.to_state()}
    assert resumable(state, event_types=["MessageCreate"]) is not None
    assert resumable({**state, "read_below_id": "499"}, event_types=["MessageCreate"])
    assert resumable({**state, "read_below_id": "500"}, event_types=["MessageCreate"]) is None
    assert resumable({**state, "read_below_id": "900"}, event_types=["MessageCreate"]) is None


def test_a_killed_pass_that_emitted_events_resumes_whatever_its_top_id() -> None:
    """Started in the same second as the last completed pass, it has that pass's `top_id`;
    started over from the top, its events would be emitted twice."""
    killed = PassProgress(
        since_id=100, event_types=["MessageCreate"], cursor="c", top_id=500, emitted=100
    )
    state: dict[str, Any] = {
        "replication_key_id": "100",
        "read_below_id": "500",
        "pass": killed.to_state(),
    }
    resumed = resumable(state, event_types=["MessageCreate"])
    assert resumed is not None and resumed.cursor == "c" and resumed.emitted == 100
