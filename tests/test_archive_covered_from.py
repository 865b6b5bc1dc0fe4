"""`api_covered_from` is checked against what the state and the archive prove, never trusted."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from tap_x_dm.errors import ConfigError
from tap_x_dm.ids_and_times import min_snowflake_at, snowflake_ms, timestamp_ms
from tap_x_dm.sync.archive_import import (
    FILES_KEY,
    FIRST_RUN_SQL,
)
from tap_x_dm_sandbox import ManualClock
from tests.archive_sandbox import archive_events, archive_from_sandbox, event_key
from tests.conftest import run_tap

FIX = f"set it to the created_at of the oldest API row in dm_events ({FIRST_RUN_SQL})."


@pytest.fixture
def world(sandbox_factory: Any, clock: ManualClock) -> Any:
    return sandbox_factory(
        clock=clock, rate_limit=10_000, seed=1, events=500, days=60, conversations=30, users=16
    )


def state_0_2(world: Any) -> dict[str, Any]:
    """A state of tap-x-dm 0.2: a bookmark, and no record of how far back the API read."""
    newest = world.visible_events(window_days=30)[0]["id"]
    return {
        "version": 2,
        "account": {"id": world.account.id},
        "bookmarks": {"dm_events": {"replication_key_id": newest}},
    }


def ms_text(ms: int, *, millis: bool = True) -> str:
    """Epoch ms as X's `created_at` (`2026-11-01T12:00:00.000Z`), or to the second."""
    moment = dt.datetime.fromtimestamp(ms // 1000, tz=dt.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + (f".{ms % 1000:03d}Z" if millis else "Z")


@pytest.mark.parametrize("when", ["1970-01-01", "2099-01-01", "just after the bookmark"])
def test_an_api_covered_from_the_state_or_archive_disproves_is_one_line_before_any_request(
    world: Any, clock: ManualClock, tmp_path: Path, when: str
) -> None:
    path = str(archive_from_sandbox(world).build_zip(tmp_path / "a.zip"))
    state = state_0_2(world)
    bookmark = state["bookmarks"]["dm_events"]["replication_key_id"]
    oldest = min(archive_events(world), key=lambda e: timestamp_ms(e["created_at"]))["created_at"]
    given = when
    if when == "just after the bookmark":  # 6 s: more than created_at and the id can differ
        given = ms_text(snowflake_ms(int(bookmark)) + 6_000)

    run = run_tap(
        world,
        clock=clock,
        state=state,
        archive_path=path,
        api_covered_from=given,
        raise_errors=False,
    )

    assert isinstance(run.error, ConfigError)
    if when == "1970-01-01":
        expected = (
            f"api_covered_from (1970-01-01) is before the oldest event of X archive {path} "
            f"({oldest}), and no API row can be older: {FIX}"
        )
    else:
        newest = ms_text(snowflake_ms(int(bookmark)), millis=False)
        expected = (
            f"api_covered_from ({given}) is after the newest event the API loaded (the "
            f"dm_events bookmark, id {bookmark} of {newest}): {FIX}"
        )
    assert str(run.error) == expected
    assert world.request_log == []
    assert run.messages == []


def test_api_covered_from_without_a_bookmark_is_refused(
    world: Any, clock: ManualClock, tmp_path: Path
) -> None:
    path = str(archive_from_sandbox(world).build_zip(tmp_path / "a.zip"))
    state = {"version": 3, "account": {"id": world.account.id}}

    run = run_tap(
        world,
        clock=clock,
        state=state,
        archive_path=path,
        api_covered_from="2026-01-01",
        raise_errors=False,
    )

    assert str(run.error).startswith(
        "api_covered_from (2026-01-01) is only for a state of tap-x-dm 0.2 with a dm_events "
        "bookmark, and this state has none"
    )
    assert world.request_log == []


def test_an_import_that_api_covered_from_left_empty_is_not_recorded_so_a_fix_still_imports(
    world: Any, clock: ManualClock, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO")
    path = str(archive_from_sandbox(world).build_zip(tmp_path / "a.zip"))
    old = state_0_2(world)
    oldest = min(archive_events(world), key=lambda e: timestamp_ms(e["created_at"]))["created_at"]

    # The archive's oldest event: allowed, but every archive event is then the API's.
    empty = run_tap(world, clock=clock, state=old, archive_path=path, api_covered_from=oldest)

    assert [r for r in empty.records("dm_events") if r["source"] == "archive"] == []
    assert "archive" not in empty.final_state["bookmarks"]["dm_events"]
    assert (
        f"archive_path: api_covered_from ({oldest}) leaves every archive event to the API: the "
        "import is not recorded, so a corrected api_covered_from still imports them."
    ) in caplog.messages

    window = world.visible_events(window_days=30)
    oldest_api = min(window, key=lambda e: int(e["id"]))["created_at"]
    fixed = run_tap(
        world,
        clock=clock,
        state=empty.final_state,
        archive_path=path,
        api_covered_from=oldest_api,
    )

    floor_ms = timestamp_ms(oldest_api) - 5_000
    expected = [
        e
        for e in archive_events(world)
        if (e["event_type"] == "MessageCreate" and int(e["id"]) < min_snowflake_at(floor_ms))
        or (e["event_type"] != "MessageCreate" and timestamp_ms(e["created_at"]) + 5_000 < floor_ms)
    ]
    archived = [r for r in fixed.records("dm_events") if r["source"] == "archive"]
    assert expected and sorted(map(event_key, archived)) == sorted(map(event_key, expected))
    assert fixed.final_state["bookmarks"]["dm_events"]["archive"][FILES_KEY]
