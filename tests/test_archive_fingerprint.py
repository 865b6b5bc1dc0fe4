"""A scheduled run knows an imported archive by its files' identities, without reading them."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tap_x_dm.archive import XArchive
from tap_x_dm.sync.archive_import import FILES_KEY, TIMES_KEY
from tap_x_dm_sandbox import ManualClock
from tests.archive_builder import ACCOUNT_ID
from tests.archive_support import EXPECTED, standard
from tests.conftest import run_tap

STORED = {"version": 3, "account": {"id": ACCOUNT_ID}}


def _no_reading(self: XArchive) -> str:
    raise AssertionError("the DM files were read again")


@pytest.mark.parametrize("kind", ["zip", "folder"])
def test_a_known_archive_is_skipped_without_reading_its_dm_files(
    sandbox: Any, clock: ManualClock, tmp_path: Path, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = standard()
    path = (
        archive.build_zip(tmp_path / "a.zip")
        if kind == "zip"
        else archive.build_folder(tmp_path / "a")
    )
    settings = {"archive_path": str(path), "archive_only": True}
    first = run_tap(sandbox, clock=clock, state=STORED, **settings)
    assert first.records("dm_events") == EXPECTED
    imports = first.final_state["bookmarks"]["dm_events"]["archive"]
    assert len(imports[FILES_KEY]) == 1 and set(imports) == {TIMES_KEY, FILES_KEY}

    with monkeypatch.context() as patched:
        patched.setattr(XArchive, "checksum", _no_reading)
        again = run_tap(sandbox, clock=clock, state=first.final_state, **settings)
    assert again.records("dm_events") == []
    assert again.final_state["bookmarks"]["dm_events"]["archive"] == imports

    if kind == "folder":  # touched files are read again, and known by their content
        for dm_file in (path / "data").glob("direct-messages*.js"):
            os.utime(dm_file, ns=(1, 1))
        touched = run_tap(sandbox, clock=clock, state=first.final_state, **settings)
        assert touched.records("dm_events") == []
        known = touched.final_state["bookmarks"]["dm_events"]["archive"][FILES_KEY]
        assert len(known) == 2 and set(known.values()) == set(imports[FILES_KEY].values())
