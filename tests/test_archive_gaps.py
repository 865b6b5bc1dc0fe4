"""Gaps /2/dm_events lost (runs stopped for 40 days), filled from the X archive (api_missing_ids).

The world is one generated history; the first run sees it only up to a join
`J1` (a sandbox of that part, as if the later events had not happened yet),
the clock then moves 40+ days to where another join `J2` is the oldest event
/2/dm_events still serves. The gap is every event strictly between them:
messages, joins and leaves, which only the archive still has.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any

import pytest

from tap_x_dm.ids_and_times import min_snowflake_at, snowflake_ms
from tap_x_dm.state import loading as tap_state
from tap_x_dm.sync.api_gaps import (
    MAX_GAPS,
    Gap,
    load_gaps,
    merged,
    record_gap,
)
from tap_x_dm.sync.archive_import import (
    FILES_KEY,
    ArchiveImport,
    ImportedRanges,
    record_api_gap,
)
from tap_x_dm.sync.passes import PassProgress
from tap_x_dm_sandbox import ManualClock
from tap_x_dm_sandbox.jsonfile import from_json, to_json
from tests.archive_sandbox import archive_from_sandbox, assert_one_row_per_event, event_key, table
from tests.conftest import run_tap

DAY_MS = 86_400_000
MISSING = "api_missing_ids"
WORLD = {"seed": 3, "events": 900, "days": 100, "conversations": 30, "users": 16}
REALISTIC = {"created_at_precision": "s", "created_at_skew_seconds": 1.0, "rate_limit": 10_000}


def _edges(events: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Two joins/leaves 35+ days apart with a join and a leave strictly between them."""
    members = sorted((e for e in events if e["event_type"] != "MessageCreate"), key=_ms)
    for low in members:
        for high in members:
            between = {e["event_type"] for e in members if _ms(low) < _ms(e) < _ms(high)}
            if _ms(high) - _ms(low) >= 35 * DAY_MS and len(between) == 2:
                return low, high
    raise AssertionError("the world has no gap with joins and leaves inside")


def _ms(event: dict[str, Any]) -> int:
    return snowflake_ms(event["id"])


class GapWorld:
    """The sandboxes before and after the pause, and the events on each side of the gap."""

    def __init__(self, sandbox_factory: Any, clock: ManualClock) -> None:
        now_ms = int(clock.time() * 1000)
        self.clock = clock
        self.after = sandbox_factory(
            clock=clock, now_ms=now_ms + 100 * DAY_MS, **WORLD, **REALISTIC
        )
        self.everything = self.after.visible_events(window_days=None)
        self.j1, self.j2 = _edges(self.everything)
        data = to_json(self.after.dataset)
        early = [e for e in data["events"] if int(e["id"]) <= int(self.j1["id"])]
        self.before = sandbox_factory(
            clock=clock, dataset=from_json({**data, "events": early}), seed=3, **REALISTIC
        )
        self.gap = [e for e in self.everything if _ms(self.j1) < _ms(e) < _ms(self.j2)]
        self.after_gap = [e for e in self.everything if int(e["id"]) >= int(self.j2["id"])]

    def move_to(self, ms: int) -> None:
        self.clock.advance(ms / 1000 - self.clock.time())

    def first_run(self, tmp_path: Path) -> Any:
        """A run just after J1, with the archive of then: the whole history loaded."""
        self.move_to(_ms(self.j1) + 60_000)
        archive = archive_from_sandbox(self.before).build_zip(tmp_path / "then.zip")
        return run_tap(self.before, clock=self.clock, archive_path=str(archive))

    def pause(self) -> None:
        """40+ days later: /2/dm_events serves from J2 on (its window starts 1 ms before)."""
        self.move_to(_ms(self.j2) - 1 + 30 * DAY_MS)

    def archive_now(self, tmp_path: Path) -> str:
        return str(archive_from_sandbox(self.after).build_zip(tmp_path / "now.zip"))


@pytest.fixture
def world(sandbox_factory: Any, clock: ManualClock) -> GapWorld:
    return GapWorld(sandbox_factory, clock)


def dm_state(run: Any) -> dict[str, Any]:
    return dict(run.final_state["bookmarks"]["dm_events"])


def gaps_of(state: dict[str, Any]) -> list[list[str]]:
    """The gaps recorded in `archive.api_missing_ids` (all but the range below the API's floor)."""
    return [gap.to_state() for gap in load_gaps(state)]


def test_a_40_day_pause_is_recorded_then_filled_from_the_archive_exactly(
    world: GapWorld, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO")
    kinds = {e["event_type"] for e in world.gap}
    assert kinds == {"MessageCreate", "ParticipantsJoin", "ParticipantsLeave"}
    first = world.first_run(tmp_path)
    assert dm_state(first)["replication_key_id"] == world.j1["id"]
    world.pause()

    paused = run_tap(world.after, clock=world.clock, state=first.final_state)

    assert paused.ids() == [e["id"] for e in world.after_gap]  # the API's 30 days, nothing else
    assert gaps_of(dm_state(paused)) == [[world.j1["id"], world.j2["id"]]]
    assert dm_state(paused)["archive"][FILES_KEY] == {}  # the next import reads again
    warning = next(r.getMessage() for r in caplog.records if "lost from the API" in r.getMessage())
    assert "set archive_path to the account's X archive" in warning and "\n" not in warning

    idle = run_tap(world.after, clock=world.clock, state=paused.final_state)

    assert idle.records("dm_events") == []  # a gap but no archive_path: nothing changes
    assert dm_state(idle)["archive"] == dm_state(paused)["archive"]

    path = world.archive_now(tmp_path)
    filled = run_tap(world.after, clock=world.clock, state=idle.final_state, archive_path=path)

    assert sorted(map(event_key, filled.records("dm_events"))) == sorted(map(event_key, world.gap))
    assert {r["source"] for r in filled.records("dm_events")} == {"archive"}
    assert_one_row_per_event(table(first, paused, filled), world.everything)  # J1, J2: once
    assert gaps_of(dm_state(filled)) == []  # an archive made after the gap: filled
    assert "the gap of /2/dm_events between ids" in caplog.text

    again = run_tap(world.after, clock=world.clock, state=filled.final_state, archive_path=path)

    assert again.records("dm_events") == []


def test_the_run_that_meets_the_gap_fills_it_when_archive_path_is_set(
    world: GapWorld, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("WARNING")
    first = world.first_run(tmp_path)
    world.pause()

    run = run_tap(
        world.after,
        clock=world.clock,
        state=first.final_state,
        archive_path=world.archive_now(tmp_path),
    )

    assert run.ids()[: len(world.after_gap)] == [e["id"] for e in world.after_gap]
    archive_rows = [r for r in run.records("dm_events") if r["source"] == "archive"]
    assert sorted(map(event_key, archive_rows)) == sorted(map(event_key, world.gap))
    assert_one_row_per_event(table(first, run), world.everything)
    assert gaps_of(dm_state(run)) == []
    assert "archive_path fills it at the end of this run" in caplog.text


def test_an_archive_made_inside_the_gap_fills_what_it_holds_and_a_newer_one_the_rest(
    world: GapWorld, tmp_path: Path
) -> None:
    first = world.first_run(tmp_path)
    world.pause()
    paused = run_tap(world.after, clock=world.clock, state=first.final_state)
    middle = _ms(world.j1) + (_ms(world.j2) - _ms(world.j1)) // 2
    older = [e for e in world.everything if _ms(e) <= middle]
    early_path = str(archive_from_sandbox(world.after, older).build_zip(tmp_path / "mid.zip"))

    partial = run_tap(
        world.after, clock=world.clock, state=paused.final_state, archive_path=early_path
    )

    held = [e for e in world.gap if _ms(e) <= middle]
    assert sorted(map(event_key, partial.records("dm_events"))) == sorted(map(event_key, held))
    assert gaps_of(dm_state(partial)) == [[world.j1["id"], world.j2["id"]]]  # kept: not all

    rest = run_tap(
        world.after,
        clock=world.clock,
        state=partial.final_state,
        archive_path=world.archive_now(tmp_path),
    )

    assert_one_row_per_event(table(first, paused, partial, rest), world.everything)
    assert len(rest.records("dm_events")) == len(world.gap) - len(held)
    assert gaps_of(dm_state(rest)) == []


# -- the rules, one function at a time ---------------------------------------------------


def test_a_gap_holds_messages_by_id_and_joins_by_time_5_s_inside_each_edge() -> None:
    low, high = (
        min_snowflake_at(1_800_000_000_000),
        min_snowflake_at(1_800_000_000_000 + 40 * DAY_MS),
    )
    gap = Gap(low, high)
    assert not gap.holds_message(low) and gap.holds_message(low + 1)
    assert gap.holds_message(high - 1) and not gap.holds_message(high)
    low_ms, high_ms = snowflake_ms(low), snowflake_ms(high)
    assert not gap.holds_time(low_ms + 5_000) and gap.holds_time(low_ms + 5_001)
    assert gap.holds_time(high_ms - 5_001) and not gap.holds_time(high_ms - 5_000)
    assert gap.time_span() == (low_ms + 5_001, high_ms - 5_001)
    assert not gap.filled_by(high_ms + 5_000) and gap.filled_by(high_ms + 5_001)


def test_the_import_skips_the_gap_edges_and_emits_its_inside() -> None:
    floor = min_snowflake_at(1_700_000_000_000)
    gap = Gap(min_snowflake_at(1_800_000_000_000), min_snowflake_at(1_803_000_000_000))
    archive = ArchiveImport(
        {"archive_path": "unused", "event_types": ["MessageCreate", "ParticipantsJoin"]},
        logging.getLogger("test"),
    )

    def reason(event_id: str, ms: int, kind: str = "ParticipantsJoin") -> str | None:
        row = {"event_type": kind, "id": event_id, "created_at": _text(ms)}
        return archive._skip_reason(row, floor, ImportedRanges(None), set(), [gap])

    derived = "archive-" + "0" * 32
    start = snowflake_ms(gap.from_id)
    assert reason(derived, start + 5_000) is not None  # may be the API's bookmark event
    assert reason(derived, start + 6_000) is None
    assert reason(str(gap.from_id), start, "MessageCreate") == "in the API's range"
    assert reason(str(gap.from_id + 1), start, "MessageCreate") is None
    assert reason(str(gap.to_id), start, "MessageCreate") == "in the API's range"


def _text(ms: int) -> str:
    moment = dt.datetime.fromtimestamp(ms / 1000, tz=dt.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def test_gaps_merge_where_they_overlap_only() -> None:
    assert merged([Gap(5, 9), Gap(1, 6)]) == [Gap(1, 9)]
    assert merged([Gap(1, 5), Gap(5, 9)]) == [Gap(1, 5), Gap(5, 9)]  # id 5 is an API row


def test_only_a_completed_pass_from_before_the_window_records_a_gap(
    caplog: pytest.LogCaptureFixture,
) -> None:
    logger = logging.getLogger("test")
    window_ms = 1_800_000_000_000
    old, recent = min_snowflake_at(window_ms - 10 * DAY_MS), min_snowflake_at(window_ms + DAY_MS)
    lowest = min_snowflake_at(window_ms + 1_000)

    def gaps(progress: PassProgress, read_to: int | None = None) -> Any:
        known = {"files:" + "b" * 64: "sha256:" + "a" * 64}
        state: dict[str, Any] = {"archive": {FILES_KEY: dict(known)}}
        record_api_gap(
            state, progress, read_to_id=read_to, window_ms=window_ms,
            window_start_ms=window_ms, logger=logger,
        )  # fmt: skip
        return state["archive"].get("api_missing_ids"), state["archive"][FILES_KEY] == known

    emitted = {lowest: 0, lowest + 9: 0}
    gap = [[str(old), str(lowest)]]
    assert gaps(PassProgress(since_id=old, frontier=emitted)) == (gap, False)  # forgotten
    window = [[str(old), str(min_snowflake_at(window_ms))]]
    assert gaps(PassProgress(since_id=old)) == (window, False)
    assert gaps(PassProgress(since_id=None, frontier=emitted)) == (None, True)  # a first
    assert gaps(PassProgress(since_id=recent, frontier=emitted)) == (None, True)
    assert gaps(PassProgress(since_id=old, frontier=emitted), read_to=recent) == (None, True)
    catch_up = PassProgress(since_id=old, ceiling_id=recent, frontier=emitted)
    assert gaps(catch_up) == (None, True)


def test_past_max_gaps_the_oldest_is_forgotten_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    floor = ["0", "5"]  # below the API's floor: not a gap, never forgotten
    saved = [[str(10 * i), str(10 * i + 5)] for i in range(1, MAX_GAPS + 1)]
    state: dict[str, Any] = {"archive": {"api_missing_ids": [floor, *saved]}}
    progress = PassProgress(since_id=10_000, frontier={20_000: 0})
    with caplog.at_level("WARNING"):
        record_gap(
            state, progress, read_to_id=None, window_ms=1_800_000_000_000,
            window_start_ms=1_800_000_000_000, logger=logging.getLogger("test"),
        )  # fmt: skip
    kept = state["archive"]["api_missing_ids"]
    assert len(kept) == MAX_GAPS + 1 and kept[0] == floor
    assert kept[1] == ["20", "25"] and kept[-1] == ["10000", "20000"]
    assert "the oldest (ids 10 to 15) is forgotten" in caplog.text


@pytest.mark.parametrize(
    "value",
    [{"a": 1}, [["2", "1"]], [[1, 2]], [["1"]], [["1", "x"]], "1-2", [["1.5", "2"]]],
)
@pytest.mark.parametrize("version", [3, 4])
def test_a_bad_api_missing_ids_value_is_one_line_naming_the_key(value: Any, version: int) -> None:
    if version == 3:  # 0.3's api_gaps, upgraded into archive.api_missing_ids
        state = {"version": 3, "bookmarks": {"dm_events": {"api_gaps": value}}}
    else:
        state = {"version": 4, "bookmarks": {"dm_events": {"archive": {MISSING: value}}}}
    with pytest.raises(tap_state.StateError) as raised:
        tap_state.load(state)
    assert str(raised.value).startswith(f"State key bookmarks.dm_events.archive.{MISSING} ")
    assert "\n" not in str(raised.value)


def test_a_good_api_missing_ids_value_loads_unchanged() -> None:
    missing = [["0", "3"], ["4", "5"], ["7", "9"]]
    state = {"version": 4, "bookmarks": {"dm_events": {"archive": {MISSING: missing}}}}
    assert tap_state.load(state) == state
    old = {
        "version": 3,
        "bookmarks": {"dm_events": {"covered_from_id": "3", "api_gaps": [["4", "5"], ["7", "9"]]}},
    }
    assert tap_state.load(old) == state
