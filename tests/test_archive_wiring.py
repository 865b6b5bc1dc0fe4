"""archive_path through the tap: the reader's rows as records, errors in one line, state v3."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from singer_sdk.exceptions import ConfigValidationError

from tap_x_dm.archive import ArchiveAccountError, ArchiveError, ArchiveFormatError, open_archive
from tap_x_dm.errors import ConfigError
from tap_x_dm.ids_and_times import min_snowflake_at, timestamp_ms
from tap_x_dm.state import loading as tap_state
from tap_x_dm.sync.api_gaps import (
    api_floor_id,
)
from tap_x_dm.sync.archive_import import (
    FILES_KEY,
    FIRST_RUN_SQL,
    ArchiveImport,
    ImportedRanges,
    record_coverage,
)
from tap_x_dm.sync.passes import PassProgress
from tap_x_dm.tap import TapXDM
from tap_x_dm_sandbox import ManualClock
from tests.archive_builder import ACCOUNT_ID, ArchiveBuilder, Conversation, message
from tests.archive_sandbox import archive_events, archive_from_sandbox, event_key
from tests.archive_support import EXPECTED, standard
from tests.conftest import run_tap, tap_config

STORED = {"version": 3, "account": {"id": ACCOUNT_ID}}


@pytest.mark.parametrize("kind", ["zip", "folder"])
def test_every_item_kind_reaches_dm_events_as_the_reader_maps_it(
    sandbox: Any, clock: ManualClock, tmp_path: Path, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Both file kinds, a two-part group file, unicode, media, reactions, a name update,
    # the account's own joins; the account is stored, so the run makes no request at all.
    caplog.set_level("INFO")
    archive = standard()
    path = (
        archive.build_zip(tmp_path / "a.zip")
        if kind == "zip"
        else archive.build_folder(tmp_path / "a")
    )
    with open_archive(path) as opened:
        summary_line = opened.scan().line()

    run = run_tap(sandbox, clock=clock, state=STORED, archive_path=str(path), archive_only=True)

    assert run.records("dm_events") == EXPECTED
    assert sandbox.request_log == []
    assert caplog.text.count(summary_line) == 1  # reactions and name updates: counted, one line
    assert "5 reactions, 1 conversation name updates" in summary_line
    assert f"archive_path: {len(EXPECTED)} event(s) written to dm_events" in caplog.text
    known = run.final_state["bookmarks"]["dm_events"]["archive"][FILES_KEY]
    assert list(known.values()) == [summary_line.rsplit("; ", 1)[1]]


def test_another_accounts_archive_fails_before_any_request(
    sandbox: Any, clock: ManualClock, tmp_path: Path
) -> None:
    path = str(standard().build_zip(tmp_path / "a.zip"))
    state = {"version": 3, "account": {"id": "42"}}
    run = run_tap(sandbox, clock=clock, state=state, archive_path=path, raise_errors=False)
    assert isinstance(run.error, ArchiveAccountError)
    assert "is the archive of account 1000000000 (@acme_support), not of account 42" in str(
        run.error
    )
    assert sandbox.request_log == [] and run.records("dm_events") == []


def test_without_a_stored_account_the_check_costs_only_users_me(
    sandbox: Any, clock: ManualClock, tmp_path: Path
) -> None:
    path = str(standard().build_zip(tmp_path / "a.zip"))  # 1000000000's, not the sandbox's
    run = run_tap(sandbox, clock=clock, archive_path=path, raise_errors=False)
    assert isinstance(run.error, ArchiveAccountError)
    assert [entry["path"] for entry in sandbox.request_log] == ["/2/users/me"]


def test_a_missing_dm_file_fails_before_any_request(
    sandbox: Any, clock: ManualClock, tmp_path: Path
) -> None:
    folder = standard().build_folder(tmp_path / "a")
    (folder / "data" / "direct-messages-group-part1.js").unlink()
    run = run_tap(sandbox, clock=clock, state=STORED, archive_path=str(folder), raise_errors=False)
    assert isinstance(run.error, ArchiveError)
    assert "lists data/direct-messages-group-part1.js, which is missing" in str(run.error)
    assert sandbox.request_log == []


def test_a_malformed_item_fails_in_one_line_and_records_nothing(
    sandbox: Any, clock: ManualClock, tmp_path: Path
) -> None:
    items = [message("1582838499983564806", "944480690", "2022-10-19T20:58:00.000Z", "fine")]
    items.append(message("1582838499983564800", "944480690", "yesterday", "bad time"))
    archive = ArchiveBuilder(one_to_one=[Conversation(f"{ACCOUNT_ID}-944480690", items)])
    path = str(archive.build_zip(tmp_path / "a.zip"))
    run = run_tap(
        sandbox, clock=clock, state=STORED, archive_path=path, archive_only=True, raise_errors=False
    )
    assert isinstance(run.error, ArchiveFormatError)
    assert "createdAt 'yesterday' is not a time" in str(run.error)
    assert all(
        "archive" not in s.get("bookmarks", {}).get("dm_events", {}) for s in run.states
    )  # nothing imported, and no API pass


@pytest.mark.parametrize(
    ("settings", "line"),
    [
        (
            {"archive_path": "/nowhere/twitter.zip"},
            "archive_path /nowhere/twitter.zip does not exist",
        ),
        ({"archive_only": True}, "archive_only needs archive_path"),
        (
            {"archive_path": ".", "api_covered_from": "last spring"},
            "api_covered_from must be an ISO 8601",
        ),
    ],
)
def test_bad_archive_settings_fail_before_the_first_request(
    sandbox: Any, settings: dict[str, Any], line: str
) -> None:
    with pytest.raises(ConfigValidationError) as raised:
        TapXDM(config=tap_config(sandbox, **settings))
    assert any(line in error for error in raised.value.errors), raised.value.errors
    assert sandbox.request_log == []


def test_discover_with_an_archive_makes_no_request(sandbox: Any, tmp_path: Path) -> None:
    path = str(standard().build_zip(tmp_path / "a.zip"))
    catalog = TapXDM(config=tap_config(sandbox, archive_path=path)).catalog_dict
    assert "dm_events" in {entry["tap_stream_id"] for entry in catalog["streams"]}
    assert sandbox.request_log == []


def test_a_0_2_bookmark_without_a_floor_is_refused_until_api_covered_from_is_given(
    sandbox_factory: Any, clock: ManualClock, tmp_path: Path
) -> None:
    world = sandbox_factory(
        clock=clock, rate_limit=10_000, seed=1, events=500, days=60, conversations=30, users=16
    )
    window = world.visible_events(window_days=30)
    path = str(archive_from_sandbox(world).build_zip(tmp_path / "a.zip"))
    old = {"version": 2, "account": {"id": world.account.id},
           "bookmarks": {"dm_events": {"replication_key_id": window[0]["id"]}}}  # fmt: skip

    refused = run_tap(world, clock=clock, state=old, archive_path=path, raise_errors=False)

    assert isinstance(refused.error, ConfigError)
    assert "Set api_covered_from" in str(refused.error) and FIRST_RUN_SQL in str(refused.error)
    assert world.request_log == []
    oldest_api = min(window, key=lambda e: int(e["id"]))["created_at"]
    run = run_tap(world, clock=clock, state=old, archive_path=path, api_covered_from=oldest_api)
    floor_ms = timestamp_ms(oldest_api) - 5_000
    expected = [
        e for e in archive_events(world)
        if (e["event_type"] == "MessageCreate" and int(e["id"]) < min_snowflake_at(floor_ms))
        or (e["event_type"] != "MessageCreate" and timestamp_ms(e["created_at"]) + 5_000 < floor_ms)
    ]  # fmt: skip
    assert sorted(map(event_key, run.records("dm_events"))) == sorted(map(event_key, expected))
    assert run.final_state["version"] == 4


def importer(**config: Any) -> ArchiveImport:
    settings = {"archive_path": "unused", "event_types": ["MessageCreate", "ParticipantsJoin"]}
    return ArchiveImport({**settings, **config}, logging.getLogger("test"))


def test_the_edge_of_the_api_range_messages_by_id_joins_by_time_with_5_s_to_spare() -> None:
    floor = min_snowflake_at(timestamp_ms("2026-11-01T12:00:00.000Z"))
    archive = importer()
    nothing = ImportedRanges(None)

    def reason(**row: Any) -> str | None:
        return archive._skip_reason(row, floor, nothing, set())

    join = {"event_type": "ParticipantsJoin", "id": "archive-" + "0" * 32}
    assert reason(**join, created_at="2026-11-01T11:59:54.999Z") is None  # surely older: emitted
    assert reason(**join, created_at="2026-11-01T11:59:55.000Z") is not None  # may be the API's
    assert reason(**join, created_at="2026-11-01T12:00:03.000Z") is not None
    msg = {"event_type": "MessageCreate", "created_at": "2026-11-01T12:00:09.000Z"}
    assert reason(**msg, id=str(floor - 1)) is None
    assert reason(**msg, id=str(floor)) == "in the API's range"
    assert (
        archive._skip_reason({**msg, "id": "5"}, floor, nothing, {"5"}) == "fetched by dm_event_ids"
    )


def test_coverage_is_the_first_full_pass_lowest_id_or_the_window_start() -> None:
    state: dict[str, Any] = {}
    record_coverage(state, PassProgress(since_id=None), window_start_ms=1_700_000_000_000)
    assert api_floor_id(state) == min_snowflake_at(1_700_000_000_000)
    full = PassProgress(since_id=None, frontier={9 << 22: 0, 7 << 22: 0})
    record_coverage(state, full, window_start_ms=0)
    assert state["archive"]["api_missing_ids"] == [["0", str(7 << 22)]]
    record_coverage(state, PassProgress(since_id=5, frontier={1: 0}), window_start_ms=0)
    assert api_floor_id(state) == 7 << 22  # an incremental pass does not move it


ARCHIVE = "bookmarks.dm_events.archive"
HEX = "a" * 64


@pytest.mark.parametrize(
    ("version", "bookmark", "key"),
    [
        (4, {"archive": []}, ARCHIVE),
        (4, {"archive": {"api_missing_ids": [["0", "12a"]]}}, f"{ARCHIVE}.api_missing_ids"),
        (4, {"archive": {FILES_KEY: {"files:1": "sha256:1"}}}, f"{ARCHIVE}.{FILES_KEY}"),
        (4, {"archive": {FILES_KEY: {f"files:{HEX}": "md5:1"}}}, f"{ARCHIVE}.{FILES_KEY}"),
        (4, {"archive": {"imported_times": []}}, f"{ARCHIVE}.imported_times"),
        (
            4,
            {"archive": {"imported_times": {"2026-02-01T00:00:00Z/2026-01-01T00:00:00Z": []}}},
            f"{ARCHIVE}.imported_times",
        ),
        (
            4,
            {"archive": {"imported_times": {"2026-01-01T00:00:00Z/2026-02-01T00:00:00Z": ["X"]}}},
            f"{ARCHIVE}.imported_times",
        ),
        # Version 3's keys, named where the upgrade put them.
        (3, {"covered_from_id": "12a"}, f"{ARCHIVE}.api_missing_ids"),
        (3, {"archive_imports": []}, f"{ARCHIVE}.imported_times"),
        (3, {"archive_imports": {"checksums": ["md5:1"]}}, f"{ARCHIVE}.{FILES_KEY}"),
        (3, {"archive_imports": {"ranges": []}}, f"{ARCHIVE}.imported_times"),
        (
            3,
            {
                "archive_imports": {
                    "ranges": {"MessageCreate": [["2026-02-01T00:00:00Z", "2026-01-01T00:00:00Z"]]}
                }
            },
            f"{ARCHIVE}.imported_times",
        ),
    ],
)
def test_bad_archive_state_is_one_line_naming_the_key(
    version: int, bookmark: dict[str, Any], key: str
) -> None:
    with pytest.raises(tap_state.StateError) as raised:
        tap_state.load({"version": version, "bookmarks": {"dm_events": bookmark}})
    assert str(raised.value).startswith(f"State key {key} ")
    assert "\n" not in str(raised.value)
