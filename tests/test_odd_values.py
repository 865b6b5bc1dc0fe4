"""One line for every odd value: numbers that are not finite, or past what a date can hold,
and a lookup endpoint whose rate-limit reset is too far away."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests

from tap_x_dm.clock import SystemClock
from tap_x_dm.objects.lookups import PENDING_KEY
from tap_x_dm_sandbox import ManualClock
from tests.conftest import run_tap
from tests.test_bad_input import assert_one_line, error_lines, tap


@pytest.mark.parametrize(
    ("setting", "literal", "expected"),
    [
        ("max_cost_usd", "NaN", "max_cost_usd must be a finite number (got NaN)."),
        ("max_cost_usd", "Infinity", "max_cost_usd must be a finite number (got Infinity)."),
        ("max_cost_usd", "-Infinity", "max_cost_usd must be a finite number (got -Infinity)."),
        ("max_cost_usd", "1e999", "max_cost_usd must be a finite number (got 1e999)."),
        (
            "object_lookups_refresh_days",
            "1000000000",
            "1000000000 is greater than the maximum of 36500 in "
            "config['object_lookups_refresh_days']",
        ),
    ],
)
def test_an_odd_number_is_one_config_line_naming_the_setting_before_any_request(
    sandbox_factory: Any, tmp_path: Path, setting: str, literal: str, expected: str
) -> None:
    sandbox = sandbox_factory(rate_limit=10_000, events=5, conversations=2)
    config = tmp_path / "config.json"
    settings = {"api_url": sandbox.base_url, "access_token": sandbox.access_token()}
    config.write_text(json.dumps(settings)[:-1] + f', "{setting}": {literal}}}')
    result = tap("--config", str(config))
    assert result.returncode == 1
    assert_one_line(result, expected)
    assert result.stdout == ""
    assert sandbox.request_log == []


def test_a_cost_cap_below_one_events_worst_case_is_one_line_before_any_request(
    sandbox_factory: Any,
) -> None:
    sandbox = sandbox_factory(rate_limit=10_000, events=5, conversations=2)
    run = run_tap(sandbox, clock=ManualClock(), raise_errors=False, max_cost_usd=0.01)
    assert str(run.error) == (
        "max_cost_usd 0.01 is below what one event can cost with the users, post and media it "
        "may bring ($0.035 at these prices): every run would stop before its first page. Raise "
        "it, or remove it for no cap."
    )
    assert sandbox.request_log == []


def test_an_infinite_number_given_in_process_is_refused_too(sandbox_factory: Any) -> None:
    sandbox = sandbox_factory(rate_limit=10_000, events=5, conversations=2)
    run = run_tap(
        sandbox, clock=ManualClock(), raise_errors=False, prices_usd={"users": float("nan")}
    )
    assert "prices_usd.users must be a finite number (got nan)." in str(run.error)
    assert sandbox.request_log == []


def test_a_429_on_a_lookup_with_a_far_reset_is_the_clean_stop_and_keeps_the_queue(
    sandbox_factory: Any, tmp_path: Path
) -> None:
    """GET /2/users answers 429 until a reset past max_rate_limit_wait_seconds."""
    sandbox = sandbox_factory(
        clock=ManualClock(start=SystemClock().time()),
        rate_limit=10_000, lookup_rate_limit=1, events=30, conversations=3,
    )  # fmt: skip
    token = sandbox.access_token()
    spent = requests.get(
        f"{sandbox.base_url}/2/users",
        params={"ids": sandbox.account.id},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert spent.status_code == 200  # the window's one request, spent before the run
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps(
            {
                "api_url": sandbox.base_url,
                "access_token": token,
                "run_lock_dir": str(tmp_path / "locks"),
                "max_rate_limit_wait_seconds": 60,
            }
        )
    )
    done = subprocess.run(
        [sys.executable, "-m", "tap_x_dm", "--config", str(config)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    assert "An unhandled error occurred" not in done.stderr
    assert "Traceback" not in done.stderr
    assert error_lines(done) == []
    stops = [line for line in done.stderr.splitlines() if "Stopping: /2/users would need" in line]
    assert len(stops) == 1, done.stderr
    assert "longer than max_rate_limit_wait_seconds=60" in stops[0]
    users_requests = [e for e in sandbox.request_log if e["path"] == "/2/users"]
    assert [e["status"] for e in users_requests] == [200, 429]  # ours, then the run's one
    states = [json.loads(line) for line in done.stdout.splitlines() if '"STATE"' in line]
    queued = states[-1]["value"]["bookmarks"]["users"][PENDING_KEY]
    referenced = {
        user
        for line in done.stdout.splitlines()
        if '"RECORD"' in line and '"dm_events"' in line
        for user in [json.loads(line)["record"].get("sender_id")]
        if user
    }
    assert referenced and referenced <= set(queued)
