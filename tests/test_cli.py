"""The `tap-x-dm` command as users run it: one clear line per problem, no traceback, no secret."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tap_x_dm.clock import SystemClock

SECRET = "SECRET-token-value-0123456789"


def tap(
    *args: str, config: dict[str, Any] | None = None, tmp_path: Path, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "tap_x_dm", *args]
    if config is not None:
        config_file = tmp_path / "config.json"
        config_file.write_text(json.dumps(config))
        command += ["--config", str(config_file)]
    return subprocess.run(
        command, capture_output=True, text=True, timeout=120, input=stdin, check=False
    )


@pytest.fixture
def live_sandbox(sandbox_factory: Any) -> Any:
    return sandbox_factory(clock=SystemClock(), rate_limit=10_000, events=800)


def test_discover_makes_no_request(live_sandbox: Any, tmp_path: Path) -> None:
    result = tap("--discover", config={"api_url": live_sandbox.base_url}, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    catalog = json.loads(result.stdout)
    assert sorted(s["tap_stream_id"] for s in catalog["streams"]) == [
        "conversation_events", "dm_events", "media", "tweets", "users",
    ]  # fmt: skip
    assert live_sandbox.request_log == []


@pytest.mark.parametrize(
    ("setting", "value", "expected"),
    [
        ("page_size", 500, "page_size must be an integer from 1 to 100 (got 500)."),
        ("event_types", ["MessageCreate", "Typing"], "event_types must be a non-empty subset"),
        ("participant_ids", ["12.5"], "participant_ids holds '12.5', which is not an X id"),
        ("api_url", "http://example.com", "api_url must use https"),
        ("start_date", "last tuesday", "start_date must be an ISO 8601 date"),
        ("user_fields", ["id", "shoe_size"], "user_fields has values X does not know: shoe_size."),
    ],
)
def test_bad_config_fails_before_any_request_with_one_line(
    live_sandbox: Any, tmp_path: Path, setting: str, value: Any, expected: str
) -> None:
    config = {"api_url": live_sandbox.base_url, "access_token": SECRET, setting: value}
    result = tap(config=config, tmp_path=tmp_path)
    assert result.returncode == 1
    assert expected in result.stderr
    assert "Traceback" not in result.stderr
    assert SECRET not in result.stderr + result.stdout
    if setting != "api_url":
        assert live_sandbox.request_log == []


def test_missing_token_names_the_setting(tmp_path: Path) -> None:
    result = tap(config={}, tmp_path=tmp_path)
    assert result.returncode == 1
    assert "access_token is missing" in result.stderr
    assert "Traceback" not in result.stderr


def test_rejected_token_is_one_line_naming_endpoint_status_and_detail(
    live_sandbox: Any, tmp_path: Path
) -> None:
    config = {"api_url": live_sandbox.base_url, "access_token": SECRET}
    result = tap(config=config, tmp_path=tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert SECRET not in result.stderr + result.stdout
    lines = [line for line in result.stderr.splitlines() if "answered 401" in line]
    assert lines, result.stderr
    assert "GET /2/dm_events answered 401: Unauthorized: Unauthorized" in lines[-1]
    assert "access token is invalid or expired" in lines[-1]


def test_connection_test_reports_app_only_token(live_sandbox: Any, tmp_path: Path) -> None:
    config = {
        "api_url": live_sandbox.base_url,
        "access_token": live_sandbox.auth.app_only_bearer_token,
    }
    result = tap("--test", config=config, tmp_path=tmp_path)
    assert result.returncode == 1
    assert "answered 403" in result.stderr
    assert "app-only bearer token" in result.stderr
    assert "Traceback" not in result.stderr


def test_sync_writes_singer_messages_any_target_reads(live_sandbox: Any, tmp_path: Path) -> None:
    config = {"api_url": live_sandbox.base_url, "access_token": live_sandbox.access_token()}
    result = tap(config=config, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    messages = [json.loads(line) for line in result.stdout.splitlines()]
    records = [m for m in messages if m["type"] == "RECORD" and m["stream"] == "dm_events"]
    assert [r["record"]["id"] for r in records] == [
        e["id"] for e in live_sandbox.visible_events(window_days=30)
    ]
    assert messages[-1]["type"] == "STATE"
    assert live_sandbox.access_token() not in result.stderr
