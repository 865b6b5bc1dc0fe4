"""meltano.yml is in the form Meltano writes: `meltano config set` changes only its own lines.

A file Meltano rewrites on the first `config set` (other quoting, key order, dropped
comments) makes every later diff of the project noisy. The SDK's settings are declared
(`kind: object` for the maps), so a map is stored as a mapping, not as a string.
"""

from __future__ import annotations

import difflib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.e2e.conftest import REPO, _meltano_bin, _unavailable

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def meltano(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    binary = _meltano_bin()
    if binary is None:  # skipped outside CI, as the other end-to-end tests
        _unavailable("meltano not found: run `bash scripts/bootstrap.sh`")
    assert binary is not None
    return subprocess.run(
        [str(binary), *args],
        cwd=project,
        env={**os.environ, "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def changed_lines(before: str, after: str) -> tuple[list[str], list[str]]:
    diff = list(difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0))
    removed = [line[1:] for line in diff[2:] if line.startswith("-")]
    added = [line[1:] for line in diff[2:] if line.startswith("+")]
    return removed, added


@pytest.mark.parametrize(
    ("setting", "value", "expected_lines", "stored"),
    [
        ("page_size", "50", ["    config:", "      page_size: 50"], 50),
        (
            "stream_maps",
            '{"dm_events": {"text": "__NULL__"}}',
            ["    config:", "      stream_maps:", "        dm_events:", "          text: __NULL__"],
            {"dm_events": {"text": "__NULL__"}},
        ),
    ],
)
def test_config_set_changes_only_that_settings_lines(
    tmp_path: Path, setting: str, value: str, expected_lines: list[str], stored: object
) -> None:
    shutil.copy(REPO / "meltano.yml", tmp_path / "meltano.yml")
    before = (tmp_path / "meltano.yml").read_text()

    result = meltano(tmp_path, "config", "set", "tap-x-dm", setting, value)
    assert result.returncode == 0, result.stderr[-3000:]

    after = (tmp_path / "meltano.yml").read_text()
    assert changed_lines(before, after) == ([], expected_lines)
    project = yaml.safe_load(after)
    (extractor,) = (e for e in project["plugins"]["extractors"] if e["name"] == "tap-x-dm")
    assert extractor["config"] == {setting: stored}
    listed = meltano(tmp_path, "config", "print", "tap-x-dm", "--format=json")
    assert listed.returncode == 0, listed.stderr[-3000:]
    assert json.loads(listed.stdout)[setting] == stored

    result = meltano(tmp_path, "config", "unset", "tap-x-dm", setting)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "meltano.yml").read_text() == before
