"""The `tap-x-dm` command as users run it: one clear line per problem, no traceback, no secret."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tap_x_dm.auth.tokenstore import TokenStore
from tap_x_dm.clock import SystemClock

SECRET = "SECRET-token-value-0123456789"


def tap(
    *args: str,
    config: dict[str, Any] | None = None,
    tmp_path: Path,
    stdin: str = "",
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "tap_x_dm", *args]
    if config is not None:
        config_file = tmp_path / "config.json"
        # A lock folder of the test's own: another run of the suite uses the same demo token.
        config_file.write_text(json.dumps({"run_lock_dir": str(tmp_path / "locks"), **config}))
        command += ["--config", str(config_file)]
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=120,
        input=stdin,
        check=False,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture
def live_sandbox(sandbox_factory: Any) -> Any:
    return sandbox_factory(clock=SystemClock(), rate_limit=10_000, events=800)


def test_discover_makes_no_request(live_sandbox: Any, tmp_path: Path) -> None:
    result = tap("--discover", config={"api_url": live_sandbox.base_url}, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    catalog = json.loads(result.stdout)
    assert sorted(s["tap_stream_id"] for s in catalog["streams"]) == [
        "chat_conversations", "chat_events", "chat_messages", "conversation_events",
        "dm_events", "media", "tweets", "users",
    ]  # fmt: skip
    assert live_sandbox.request_log == []


@pytest.mark.parametrize(
    ("setting", "value", "expected"),
    [
        ("page_size", 500, "500 is greater than the maximum of 100 in config['page_size']"),
        (
            "event_types",
            ["MessageCreate", "Typing"],
            "'Typing' is not one of ['MessageCreate', 'ParticipantsJoin', 'ParticipantsLeave'] "
            "in config['event_types'][1]",
        ),
        (
            "participant_ids",
            ["12.5"],
            "'12.5' does not match '^[0-9]{1,19}$' in config['participant_ids'][0]",
        ),
        ("api_url", "http://example.com", "api_url must use https"),
        ("start_date", "last tuesday", "start_date must be an ISO 8601 date"),
        ("user_fields", ["id", "shoe_size"], "'shoe_size' is not one of ['affiliation', "),
        ("media_fields", [], "[] should be non-empty in config['media_fields']"),
        (
            "tweet_fields",
            ["id", "id"],
            "['id', 'id'] has non-unique elements in config['tweet_fields']",
        ),
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
    assert result.returncode == 3  # stopped_account: this account's credential
    assert "Traceback" not in result.stderr
    assert SECRET not in result.stderr + result.stdout
    lines = [line for line in result.stderr.splitlines() if "answered 401" in line]
    assert lines, result.stderr
    assert "GET /2/users/me answered 401: Unauthorized: Unauthorized" in lines[-1]
    assert "access token is invalid or expired" in lines[-1]


def test_connection_test_reports_app_only_token(live_sandbox: Any, tmp_path: Path) -> None:
    config = {
        "api_url": live_sandbox.base_url,
        "access_token": live_sandbox.auth.app_only_bearer_token,
    }
    result = tap("--test", config=config, tmp_path=tmp_path)
    assert result.returncode == 3  # stopped_account: this account's credential
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


def test_refreshing_run_at_debug_level_prints_no_secret(live_sandbox: Any, tmp_path: Path) -> None:
    auth = live_sandbox.auth
    tokens = auth.issue_tokens(live_sandbox.account.id, client_id=auth.confidential_client_id)
    auth.expire_access_tokens()  # the first request gets a 401, then the tap refreshes
    store = tmp_path / "tokens.json"
    config = {
        "api_url": live_sandbox.base_url,
        "access_token": tokens["access_token"],
        "refresh_token": tokens["refresh_token"],
        "client_id": auth.confidential_client_id,
        "client_secret": auth.confidential_client_secret,
        "token_store_path": str(store),
    }

    result = tap(config=config, tmp_path=tmp_path, env={"TAP_X_DM_LOGLEVEL": "DEBUG"})

    assert result.returncode == 0, result.stderr[-2000:]
    assert "OAuth 2.0: access token refreshed" in result.stderr
    stored = TokenStore(store).read()
    assert stored is not None
    secrets = [
        tokens["access_token"],
        tokens["refresh_token"],
        auth.confidential_client_secret,
        stored.access_token,
        stored.refresh_token,
    ]
    for secret in secrets:
        assert str(secret) not in result.stderr
        assert str(secret) not in result.stdout


def test_connection_test_names_a_missing_scope_from_the_store(
    live_sandbox: Any, tmp_path: Path
) -> None:
    auth = live_sandbox.auth
    tokens = auth.issue_tokens(live_sandbox.account.id, scopes=("users.read", "offline.access"))
    config = {
        "api_url": live_sandbox.base_url,
        "refresh_token": tokens["refresh_token"],
        "client_id": auth.public_client_id,
        "token_store_path": str(tmp_path / "tokens.json"),
    }

    result = tap("--test", config=config, tmp_path=tmp_path)

    assert result.returncode == 3  # stopped_account: this account's credential
    assert "Traceback" not in result.stderr
    assert (
        "answered 403: Forbidden: Forbidden. The token's scope (users.read offline.access) "
        "lacks dm.read tweet.read: run `tap-x-dm-auth`"
    ) in result.stderr


def test_incomplete_oauth1_settings_fail_with_one_line(tmp_path: Path) -> None:
    config = {"consumer_key": "ck", "consumer_secret": SECRET, "access_token": "1-token"}
    result = tap(config=config, tmp_path=tmp_path)
    assert result.returncode == 1
    assert (
        "consumer_key selects OAuth 1.0a, which also needs access_token_secret "
        "(set TAP_X_DM_ACCESS_TOKEN_SECRET)."
    ) in result.stderr
    assert SECRET not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr
