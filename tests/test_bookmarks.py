"""Unit tests of one newest-first pass (no HTTP)."""

from __future__ import annotations

import datetime as dt

from tap_x_dm.bookmarks import NewestFirstPass, Position, read_bookmark, write_bookmark


def event(event_id: int, created_at: str) -> dict[str, str]:
    return {"id": str(event_id), "created_at": created_at}


def test_ids_compare_as_integers_not_strings() -> None:
    # "999" > "1000" as strings; a pass must not think 1000 is older.
    same_ms = "2026-11-01T10:00:00.000Z"
    older, newer = Position.of(event(999, same_ms)), Position.of(event(1000, same_ms))
    assert newer > older


def test_pass_stops_at_bookmark_and_keeps_same_millisecond_ties() -> None:
    ms = "2026-11-01T10:00:00.000Z"
    bookmark = Position.of(event(500, ms))
    one_pass = NewestFirstPass(bookmark=bookmark, start_date=None)
    admitted = [
        e["id"]
        for e in (event(502, ms), event(501, ms), event(500, ms), event(499, ms))
        if one_pass.admit(e)
    ]
    assert admitted == ["502", "501"]
    assert one_pass.reached_floor


def test_repeats_from_shifted_pages_are_dropped() -> None:
    one_pass = NewestFirstPass(bookmark=None, start_date=None)
    page_one = [event(i, f"2026-11-01T10:00:{i % 60:02d}.000Z") for i in (30, 29, 28)]
    page_two = [event(i, f"2026-11-01T10:00:{i % 60:02d}.000Z") for i in (28, 27)]  # 28 again
    admitted = [e["id"] for e in page_one + page_two if one_pass.admit(e)]
    assert admitted == ["30", "29", "28", "27"]
    assert one_pass.repeats == 1


def test_start_date_is_inclusive() -> None:
    start = dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc)
    one_pass = NewestFirstPass(bookmark=None, start_date=start)
    assert one_pass.admit(event(3, "2026-11-01T00:00:00.000Z"))
    assert not one_pass.admit(event(2, "2026-10-31T23:59:59.999Z"))
    assert one_pass.reached_floor


def test_bookmark_moves_only_on_complete_and_round_trips() -> None:
    state: dict[str, str] = {}
    one_pass = NewestFirstPass(bookmark=None, start_date=None)
    one_pass.admit(event(10, "2026-11-01T10:00:00.010Z"))
    assert state == {}
    one_pass.complete(state)
    position, raw = read_bookmark(state)
    assert raw == "2026-11-01T10:00:00.010Z"
    assert position == Position.of(event(10, raw))


def test_bookmark_without_tie_break_treats_its_millisecond_as_seen() -> None:
    state: dict[str, str] = {
        "replication_key": "created_at",
        "replication_key_value": "2026-11-01T10:00:00.000Z",
    }
    position, _ = read_bookmark(state)
    one_pass = NewestFirstPass(bookmark=position, start_date=None)
    assert not one_pass.admit(event(2**62, "2026-11-01T10:00:00.000Z"))
    write_bookmark(state, "2026-11-01T10:00:00.000Z", 7)
    assert state["replication_key_id"] == "7"


def test_missing_created_at_falls_back_to_the_snowflake_time() -> None:
    # 1582838499983564806 is X's example MessageCreate of 2022-10-19T20:58:00.000Z
    # (X's example shows whole seconds; the id holds the milliseconds).
    position = Position.of({"id": "1582838499983564806"})
    assert position.created_at == dt.datetime(
        2022, 10, 19, 20, 58, 0, 770000, tzinfo=dt.timezone.utc
    )


def test_a_catch_up_pass_skips_what_lies_above_its_ceiling() -> None:
    ceiling = Position.of(event(100, "2026-11-01T10:00:00.000Z"))
    one_pass = NewestFirstPass(bookmark=None, start_date=None, ceiling=ceiling)
    admitted = [
        e["id"]
        for e in (
            event(120, "2026-11-01T11:00:00.000Z"),
            event(100, "2026-11-01T10:00:00.000Z"),
            event(90, "2026-11-01T09:00:00.000Z"),
        )
        if one_pass.admit(e)
    ]
    assert admitted == ["100", "90"]
    assert not one_pass.reached_floor
