"""States written by released tap-x-dm versions: upgraded, the next run is what it was.

Each fixture in `tests/state_fixtures/` holds states a release saved (made by
`make_fixture.py` from that release's commit, against its own sandbox): at rest, and
with a pass in flight (0.2 on). With them, what the release did next (its rows), and
what the tap before state version 4 did next (rows and requests, `next_by_main`). The
sandbox of today replays the same world; the tap reading the upgraded state must load
the same rows as both, and make the same requests as the tap before version 4.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from tap_x_dm.state import loading as tap_state
from tap_x_dm_sandbox import ManualClock
from tests.archive_sandbox import archive_from_sandbox
from tests.conftest import run_tap

FIXTURES = Path(__file__).parent / "state_fixtures"
CASES = [
    pytest.param(path.name, index, id=f"{path.stem}-{case['name'].replace(' ', '_')}")
    for path in sorted(FIXTURES.glob("v*.json"))
    for index, case in enumerate(json.loads(path.read_text())["cases"])
]
#: Keys of earlier versions that version 4 no longer writes.
OLD_KEYS = {
    "passes_completed",
    "covered_to_id",
    "covered_from_id",
    "api_gaps",
    "archive_imports",
    "looked_up_event_ids",
    "not_found_event_ids",
    "number",
    "pages",
    "newest_created_at",
}


def fixture(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return loaded


def keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in keys(v)}
    return set()


def replay(sandbox_factory: Any, made: dict[str, Any], case: dict[str, Any], tmp_path: Path) -> Any:
    """Today's sandbox with the fixture's world and steps, and the run from its state."""
    clock = ManualClock(made["clock_start"])
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000, **made["world"])
    config = dict(made["config"])
    if config.pop("archive", False):
        archive = archive_from_sandbox(sandbox).build_zip(tmp_path / "twitter-archive.zip")
        config["archive_path"] = str(archive)
    for step in case["steps"]:
        if "advance" in step:
            clock.advance(step["advance"])
        else:
            sandbox.add_events(step["add_events"], conversation_id=step.get("conversation_id"))
    sandbox.clear_log()
    run = run_tap(sandbox, clock=clock, state=copy.deepcopy(case["state"]), **config)
    return sandbox, run


def requests_of(sandbox: Any) -> list[list[Any]]:
    """As `make_fixture.py` records them: path and the parameters that choose what X returns."""
    wanted = ("max_results", "ids", "event_types", "pagination_token")
    return [
        [e["path"], {k: v for k, v in e["query"].items() if k in wanted}]
        for e in sandbox.request_log
        if e["path"].startswith("/2/")
    ]


@pytest.mark.parametrize(("name", "index"), CASES)
def test_a_released_state_upgrades_and_the_next_run_is_what_it_was(
    sandbox_factory: Any, tmp_path: Path, name: str, index: int
) -> None:
    made = fixture(name)
    case = made["cases"][index]
    upgraded = tap_state.load(copy.deepcopy(case["state"]))
    assert upgraded["version"] == tap_state.STATE_VERSION
    assert not keys(upgraded["bookmarks"]) & OLD_KEYS

    sandbox, run = replay(sandbox_factory, made, case, tmp_path)

    rows = {stream: run.ids(stream) for stream in ("dm_events", "conversation_events")}
    before_v4 = case["next_by_main"]
    assert rows == before_v4["rows"]  # the same rows, in the same order
    released = case["next_by_release"]["rows"]
    assert {k: sorted(v) for k, v in rows.items()} == {k: sorted(v) for k, v in released.items()}
    assert requests_of(sandbox) == before_v4["requests"]
    final = run.final_state
    assert final["version"] == 4 and not keys(final["bookmarks"]) & OLD_KEYS
    assert tap_state.load(final) == final  # what version 4 writes, it reads unchanged


def test_the_fixtures_hold_a_pass_in_flight_of_each_release_that_had_one() -> None:
    in_flight = {
        name: [c["name"] for c in fixture(name)["cases"] if _has_pass(c["state"])]
        for name in (p.name for p in sorted(FIXTURES.glob("v*.json")))
    }
    assert in_flight == {
        "v1_0.1.0.json": [],  # 0.1 kept no pass in flight
        "v2_0.2.0.json": ["a pass in flight"],
        "v3_0.3.0.json": ["a pass in flight"],
        "v3_main_4cda5f8.json": ["a pass in flight"],
    }


def _has_pass(state: dict[str, Any]) -> bool:
    entries = [
        entry
        for stream in state["bookmarks"].values()
        for entry in [stream, *stream.get("partitions", [])]
    ]
    return any(isinstance(entry.get("pass"), dict) for entry in entries)


def test_version_3_facts_land_in_version_4_keys() -> None:
    case = fixture("v3_main_4cda5f8.json")["cases"][1]
    old = case["state"]["bookmarks"]
    new = tap_state.load(copy.deepcopy(case["state"]))["bookmarks"]
    dm_old, dm_new = old["dm_events"], new["dm_events"]
    assert dm_new["read_below_id"] == dm_old["covered_to_id"]
    assert dm_new["archive"]["api_missing_ids"] == [["0", dm_old["covered_from_id"]]]
    assert dm_new["dm_event_ids"] == {
        **dict.fromkeys(dm_old["looked_up_event_ids"], "fetched"),
        **dict.fromkeys(dm_old["not_found_event_ids"], "not_found"),
    }
    imports = dm_old["archive_imports"]
    ((span, kinds),) = dm_new["archive"]["imported_times"].items()
    assert span == "/".join(imports["ranges"]["MessageCreate"][0])
    assert kinds == sorted(imports["ranges"])
    assert dm_new["archive"]["imported_files"] == imports["fingerprints"]
    assert "event_types" not in dm_new  # all three: the default
    in_flight = dm_old["pass"]
    assert dm_new["pass"] == {
        key: in_flight[key]
        for key in (
            "since_id",
            "event_types",
            "newest_id",
            "frontier_ids",
            "emitted",
            "page_size",
            "top_id",
        )
    }
    assert new["tweets"] == {"loaded_by_day": old["tweets"]["loaded_by_day"]}


def test_a_0_3_0_archive_without_fingerprints_is_still_known_by_its_checksum() -> None:
    state = fixture("v3_0.3.0.json")["cases"][0]["state"]
    checksums = state["bookmarks"]["dm_events"]["archive_imports"]["checksums"]
    files = tap_state.load(state)["bookmarks"]["dm_events"]["archive"]["imported_files"]
    assert list(files.values()) == checksums
    assert list(files) == ["files:" + c.removeprefix("sha256:") for c in checksums]


def test_a_pass_version_3_would_not_have_resumed_is_dropped() -> None:
    stale = {"number": 5, "since_id": "7", "event_types": ["MessageCreate"], "pages": 2}
    state = {
        "version": 3,
        "bookmarks": {
            "dm_events": {"replication_key_id": "7", "passes_completed": 1, "pass": stale}
        },
    }
    assert "pass" not in tap_state.load(state)["bookmarks"]["dm_events"]
    state["bookmarks"]["dm_events"]["passes_completed"] = 4
    resumed = tap_state.load(state)["bookmarks"]["dm_events"]["pass"]
    assert resumed == {"since_id": "7", "event_types": ["MessageCreate"], "top_id": "7"}


def test_issue_23s_first_chat_keys_are_upgraded_to_version_4_names() -> None:
    """Builds of issue 23 wrote its XChat keys under version 3: the same facts, renamed."""
    partition = {"context": {"conversation_id": "g1"}, "updated_at": "2026-11-23T17:48:34.000Z"}
    saved = {
        "version": 3,
        "bookmarks": {
            "chat_events": {
                "partitions": [
                    {**partition, "sequence_id": "9", "cursor": None},
                    {**partition, "sequence_id": "5", "cursor": "t2", "pass_top_id": "12"},
                    {**partition, "sequence_id": "6", "cursor": "t1"},  # oldest first
                ]
            },
            "chat_conversations": {"xchat_checked_on": "2026-11-23"},
        },
    }
    loaded = tap_state.load(copy.deepcopy(saved))
    assert loaded["bookmarks"]["chat_events"]["partitions"] == [
        {**partition, "replication_key_id": "9"},
        {**partition, "replication_key_id": "5", "pass": {"top_id": "12", "cursor": "t2"}},
        {**partition, "replication_key_id": "6", "cursor": "t1"},
    ]
    assert loaded["bookmarks"]["chat_conversations"] == {"xchat_checked_on": "2026-11-23"}
