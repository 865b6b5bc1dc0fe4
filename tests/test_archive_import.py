"""The X archive in dm_events (archive_path): one row per event with the API, in either order.

Every test runs the tap over HTTP against the sandbox; the archive is what X would
send for the sandbox account (`tests/archive_sandbox.py`), as a zip or a folder.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from tap_x_dm.archive import is_derived_id
from tap_x_dm.sync.api_gaps import api_floor_id
from tap_x_dm.sync.archive_import import FILES_KEY, TIMES_KEY
from tap_x_dm_sandbox import ManualClock
from tests.archive_sandbox import (
    OWN_JOIN_AT,
    archive_events,
    archive_from_sandbox,
    assert_one_row_per_event,
    derived_rows,
    event_key,
    table,
)
from tests.conftest import Killed, dm_requests, run_tap

DM_EVENTS = "/2/dm_events"
SMALL = {"seed": 1, "events": 500, "days": 60, "conversations": 30, "users": 16}
REALISTIC = {"created_at_precision": "s", "created_at_skew_seconds": 1.0}


@pytest.fixture
def world(sandbox_factory: Any, clock: ManualClock) -> Any:
    """A sandbox of 60 days (about 400 events the account sees), X's whole-second times."""
    return sandbox_factory(clock=clock, rate_limit=10_000, **SMALL, **REALISTIC)


def group_of(sandbox: Any) -> str:
    return next(
        e["dm_conversation_id"]
        for e in archive_events(sandbox)
        if "-" not in e["dm_conversation_id"]
    )


def build(sandbox: Any, tmp_path: Path, kind: str, **options: Any) -> str:
    archive = archive_from_sandbox(sandbox, own_join_group=group_of(sandbox), **options)
    if kind == "zip":
        return str(archive.build_zip(tmp_path / "twitter-2026-12-01-acme.zip"))
    return str(archive.build_folder(tmp_path / "twitter-2026-12-01-acme"))


def own_join(sandbox: Any) -> dict[str, Any]:
    return {
        "event_type": "ParticipantsJoin",
        "dm_conversation_id": group_of(sandbox),
        "created_at": OWN_JOIN_AT,
        "participant_ids": [sandbox.account.id],
    }


def list_requests(sandbox: Any) -> list[dict[str, Any]]:
    return [entry for entry in sandbox.request_log if entry["path"] == DM_EVENTS]


def archive_records(run: Any) -> list[dict[str, Any]]:
    return [r for r in run.records("dm_events") if r["source"] == "archive"]


@pytest.mark.parametrize("kind", ["zip", "folder"])
def test_api_first_then_archive_one_row_per_event_across_30_days(
    world: Any, clock: ManualClock, tmp_path: Path, kind: str
) -> None:
    window = world.visible_events(window_days=30)
    everything = [*archive_events(world), own_join(world)]
    older = [e for e in everything if e not in window]
    kinds = {e["event_type"] for e in older} & {e["event_type"] for e in window}
    assert kinds == {"MessageCreate", "ParticipantsJoin", "ParticipantsLeave"}  # both sides
    path = build(world, tmp_path, kind)

    run = run_tap(world, clock=clock, archive_path=path)

    api = [r for r in run.records("dm_events") if r["source"] == "api"]
    assert [r["id"] for r in api] == [e["id"] for e in window]  # the API's pass, unchanged
    assert sorted(map(event_key, archive_records(run))) == sorted(map(event_key, older))
    assert run.ids()[: len(window)] == [e["id"] for e in window]  # archive rows come after
    rows = table(run)
    assert_one_row_per_event(rows, everything)
    derived = derived_rows(rows)
    assert {r["event_type"] for r in derived} == {"ParticipantsJoin", "ParticipantsLeave"}
    assert all(r["source"] == "archive" for r in derived)
    assert not any(is_derived_id(e["id"]) for e in window)
    # No request beyond the run's own: users/me once, the 30 days' pages (and the lookups of
    # the users and posts those pages' events refer to, `object_lookups`).
    assert len(list_requests(world)) == math.ceil(len(window) / 100)
    own = [e for e in dm_requests(world, "/2/") if e["path"] not in ("/2/users", "/2/tweets")]
    assert len(own) == len(list_requests(world)) + 1
    bookmark = run.final_state["bookmarks"]["dm_events"]
    assert api_floor_id(bookmark) == int(min((e["id"] for e in window), key=int))
    assert bookmark["replication_key_id"] == window[0]["id"]  # the archive moved no bookmark
    imports = bookmark["archive"]
    assert len(imports[FILES_KEY]) == 1
    ((span, kinds),) = imports[TIMES_KEY].items()  # one range, for every event type
    assert kinds == ["MessageCreate", "ParticipantsJoin", "ParticipantsLeave"]
    assert span.startswith(OWN_JOIN_AT + "/")

    again = run_tap(world, clock=clock, state=run.final_state, archive_path=path)

    assert again.records("dm_events") == []  # a scheduled run: nothing new, nothing re-emitted
    assert again.final_state["bookmarks"]["dm_events"]["archive"] == imports


def test_archive_first_then_api_one_row_per_event(
    world: Any, clock: ManualClock, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO")
    window = world.visible_events(window_days=30)
    everything = [*archive_events(world), own_join(world)]
    path = build(world, tmp_path, "folder")

    first = run_tap(world, clock=clock, archive_path=path, archive_only=True)

    assert len(archive_records(first)) == len(everything) == len(first.records("dm_events"))
    assert list_requests(world) == []  # archive_only: no /2/dm_events request
    assert [e["path"] for e in world.request_log] == ["/2/users/me"]  # the account, once
    bookmark = first.final_state["bookmarks"]["dm_events"]
    assert "replication_key_id" not in bookmark and api_floor_id(bookmark) is None

    second = run_tap(world, clock=clock, state=first.final_state, archive_path=path)

    window_messages = [e for e in window if e["event_type"] == "MessageCreate"]
    assert second.ids() == [e["id"] for e in window_messages]  # its joins/leaves: loaded already
    dropped = len(window) - len(window_messages)
    assert f"dm_events: {dropped} join/leave event(s) were already loaded" in caplog.text
    rows = table(first, second)
    assert_one_row_per_event(rows, everything)
    assert all(
        rows[(r["account_id"], r["id"])]["source"] == "api" for r in second.records("dm_events")
    )
    state = second.final_state["bookmarks"]["dm_events"]
    assert api_floor_id(state) == int(min((e["id"] for e in window), key=int))

    third = run_tap(world, clock=clock, state=second.final_state, archive_path=path)
    assert third.records("dm_events") == []


def test_a_newer_archive_emits_only_what_the_older_did_not_cover(
    world: Any, clock: ManualClock, tmp_path: Path
) -> None:
    everything = archive_events(world)
    cut = len(everything) // 2
    older_archive = archive_from_sandbox(world, everything[cut:])  # the older half only
    old_path = str(older_archive.build_zip(tmp_path / "old.zip"))
    new_path = str(archive_from_sandbox(world).build_zip(tmp_path / "new.zip"))

    first = run_tap(world, clock=clock, archive_path=old_path, archive_only=True)
    second = run_tap(
        world, clock=clock, state=first.final_state, archive_path=new_path, archive_only=True
    )

    assert sorted(map(event_key, first.records("dm_events"))) == sorted(
        map(event_key, everything[cut:])
    )
    assert sorted(map(event_key, second.records("dm_events"))) == sorted(
        map(event_key, everything[:cut])
    )
    imports = second.final_state["bookmarks"]["dm_events"]["archive"]
    assert len(imports[FILES_KEY]) == 2
    assert len(imports[TIMES_KEY]) == 1  # merged


def test_a_kill_mid_import_re_emits_the_same_rows_and_loses_none(
    world: Any, clock: ManualClock, tmp_path: Path
) -> None:
    path = build(world, tmp_path, "zip")
    written: list[dict[str, Any]] = []

    def die_after_50_archive_rows(message: dict[str, Any]) -> None:
        record = message.get("record") or {}
        if message["type"] == "RECORD" and record.get("source") == "archive":
            written.append(message["record"])
            if len(written) == 50:
                raise Killed

    killed = run_tap(
        world,
        clock=clock,
        archive_path=path,
        raise_errors=False,
        on_message=die_after_50_archive_rows,
    )
    assert isinstance(killed.error, Killed)
    saved = killed.final_state
    assert set(saved["bookmarks"]["dm_events"]["archive"]) == {"api_missing_ids"}  # the API's
    # pass is kept, nothing of the import half-recorded

    resumed = run_tap(world, clock=clock, state=saved, archive_path=path)

    assert resumed.records("dm_events") == archive_records(resumed)  # the API is not re-read
    assert {r["id"] for r in written} <= set(resumed.ids())  # the same rows, same keys
    assert_one_row_per_event(table(killed, resumed), [*archive_events(world), own_join(world)])


def test_the_import_waits_for_the_api_first_pass(
    sandbox_factory: Any, clock: ManualClock, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO")
    sandbox = sandbox_factory(clock=clock, rate_limit=2, rate_window=3600.0, **SMALL)
    path = build(sandbox, tmp_path, "zip")

    stopped = run_tap(
        sandbox, clock=clock, archive_path=path, max_rate_limit_wait_seconds=60, page_size=50
    )

    assert stopped.tap is not None and stopped.tap.services.stop.reason is not None
    assert archive_records(stopped) == []
    assert "archive_path: the first pass of /2/dm_events has not finished" in caplog.text
    assert "archive" not in stopped.final_state["bookmarks"]["dm_events"]


def test_archive_rows_write_no_users_and_keep_source_archive(
    world: Any, clock: ManualClock, tmp_path: Path
) -> None:
    path = build(world, tmp_path, "zip")
    run = run_tap(world, clock=clock, archive_path=path, archive_only=True)
    assert {r["source"] for r in run.records("dm_events")} == {"archive"}
    assert run.records("users") == [] and run.records("media") == []
    assert {r["account_id"] for r in run.records("dm_events")} == {world.account.id}


def test_start_date_and_event_types_apply_to_the_archive(
    world: Any, clock: ManualClock, tmp_path: Path
) -> None:
    path = build(world, tmp_path, "zip")
    everything = [*archive_events(world), own_join(world)]
    start = "2026-11-01T00:00:00Z"
    run = run_tap(
        world, clock=clock, archive_path=path, archive_only=True,
        start_date=start, event_types=["ParticipantsJoin"],
    )  # fmt: skip
    expected = [
        e for e in everything if e["event_type"] == "ParticipantsJoin" and e["created_at"] >= start
    ]
    assert expected
    assert sorted(map(event_key, run.records("dm_events"))) == sorted(map(event_key, expected))
    ranges = run.final_state["bookmarks"]["dm_events"]["archive"][TIMES_KEY]
    ((span, kinds),) = ranges.items()
    assert kinds == ["ParticipantsJoin"] and span.startswith("2026-11-01T00:00:00.000Z/")
