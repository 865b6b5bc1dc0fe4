"""A path setting whose `~user` names no user of this machine: one line, before any request."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tap_x_dm.settings.checks import cross_setting_problems
from tests.test_bad_input import SECRET, assert_one_line, tap

NOBODY = "~tap-x-dm-no-such-user"


@pytest.mark.parametrize(
    ("setting", "line"),
    [
        (
            "run_summary_path",
            f"run_summary_path {NOBODY}/summary.json: tap-x-dm-no-such-user is not a user of "
            f"this machine, so {NOBODY} cannot be expanded; write the path in full.",
        ),
        (
            "run_lock_dir",
            f"run_lock_dir {NOBODY}/summary.json: tap-x-dm-no-such-user is not a user of this "
            f"machine, so {NOBODY} cannot be expanded; write the path in full.",
        ),
        (
            "xchat_key_blob",
            f"xchat_key_blob (a path starting with {NOBODY}): tap-x-dm-no-such-user is not a "
            f"user of this machine, so {NOBODY} cannot be expanded; write the path in full.",
        ),
    ],
)
def test_a_path_under_an_unknown_users_home_is_one_line_before_any_request(
    sandbox_factory: Any, tmp_path: Path, setting: str, line: str
) -> None:
    sandbox = sandbox_factory(rate_limit=10_000, events=5, conversations=2)
    config = tmp_path / "config.json"
    settings = {"api_url": sandbox.base_url, "access_token": SECRET}
    settings["run_lock_dir"] = str(tmp_path / "locks")
    settings[setting] = f"{NOBODY}/summary.json"
    config.write_text(json.dumps(settings))

    result = tap("--config", str(config))

    assert result.returncode == 1
    assert_one_line(result, line)
    assert result.stderr.rstrip().endswith(line)
    assert sandbox.request_log == []


def test_every_path_setting_is_checked_and_a_secret_one_is_not_echoed() -> None:
    config = {
        "access_token": "token",
        "token_store_path": f"{NOBODY}/tokens.json",
        "archive_path": f"{NOBODY}/archive.zip",
        "xchat_key_blob": f"{NOBODY}/private-name-of-the-key-file",
    }
    problems = cross_setting_problems(config)
    assert [problem.split(" ", 1)[0] for problem in problems] == [
        "token_store_path",
        "archive_path",
        "xchat_key_blob",
    ]
    assert "private-name-of-the-key-file" not in " ".join(problems)
