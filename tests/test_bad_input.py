"""Bad state, bad config, bad answers: each is one clear line before any request, no traceback."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests

from tap_x_dm.auth.tokenstore import StoredTokens, TokenStore, TokenStoreError
from tap_x_dm.clock import SystemClock
from tap_x_dm.errors import problem_summary
from tap_x_dm.ids_and_times import TWEPOCH_MS
from tap_x_dm.state.loading import StateError
from tap_x_dm_sandbox import ManualClock
from tests.conftest import dm_requests, run_tap

SECRET = "SECRET-token-value-0123456789"


def tap(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tap_x_dm", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, **(env or {})},
    )


def error_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in result.stderr.splitlines() if "| ERROR " in line or "[error" in line]


def assert_one_line(result: subprocess.CompletedProcess[str], expected: str) -> None:
    assert result.returncode != 0, result.stderr
    assert "Traceback" not in result.stderr
    lines = error_lines(result)
    assert len(lines) == 1, result.stderr
    assert expected in lines[0], lines[0]
    assert SECRET not in result.stderr + result.stdout


@pytest.fixture
def live(sandbox_factory: Any) -> Any:
    return sandbox_factory(
        clock=ManualClock(start=SystemClock().time()), rate_limit=10_000, events=300
    )


@pytest.fixture
def config_file(live: Any, tmp_path: Path) -> Path:
    path = tmp_path / "config.json"
    path.write_text(
        json.dumps(
            {
                "api_url": live.base_url,
                "access_token": live.access_token(),
                "run_lock_dir": str(tmp_path / "locks"),
            }
        )
    )
    return path


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("{not json", "The state file STATE is not valid JSON (line 1, column 2)"),
        ("", "The state file STATE is empty"),
        ('{"bookmarks": []}', "State key bookmarks must be an object of stream names"),
        (
            '{"bookmarks": {"dm_events": {"replication_key_id": "abc"}}}',
            "State key bookmarks.dm_events.replication_key_id is not an X id ('abc')",
        ),
        ('{"version": 7}', "The state was written by a newer tap-x-dm (state version 7;"),
    ],
)
def test_a_bad_state_file_is_one_line_before_any_request(
    live: Any, config_file: Path, tmp_path: Path, content: str, expected: str
) -> None:
    state = tmp_path / "state.json"
    state.write_text(content)

    result = tap("--config", str(config_file), "--state", str(state))

    assert_one_line(result, expected.replace("STATE", str(state)))
    assert live.request_log == []


def test_a_bookmark_in_the_future_is_an_error_not_a_run_that_loads_nothing(
    live: Any, config_file: Path, tmp_path: Path
) -> None:
    in_a_week_ms = int((SystemClock().time() + 7 * 86400) * 1000)
    minted = str((in_a_week_ms - TWEPOCH_MS) << 22)
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"bookmarks": {"dm_events": {"replication_key_id": minted}}}))

    result = tap("--config", str(config_file), "--state", str(state))

    assert_one_line(result, "State key bookmarks.dm_events.replication_key_id is in the future")
    assert live.request_log == []


def test_a_singer_state_message_is_read_as_its_value(
    sandbox_factory: Any, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000)
    first = run_tap(sandbox, clock=clock)
    sandbox.clear_log()

    with caplog.at_level("INFO"):
        second = run_tap(sandbox, clock=clock, state={"type": "STATE", "value": first.final_state})

    assert second.ids() == []
    assert len(dm_requests(sandbox)) == 1
    assert any("a Singer STATE message" in r.getMessage() for r in caplog.records)


def test_a_state_of_another_account_is_refused_on_the_first_page_with_a_plain_token(
    sandbox_factory: Any, clock: ManualClock
) -> None:
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000)
    other = sandbox.users[1]
    first = run_tap(sandbox, clock=clock, access_token=sandbox.access_token(other.id))
    assert first.final_state["account"]["id"] == other.id
    sandbox.clear_log()

    run = run_tap(sandbox, clock=clock, state=first.final_state, raise_errors=False)

    assert isinstance(run.error, StateError)
    assert str(run.error).startswith(f"The state belongs to X account {other.id}, but ")
    assert run.records("dm_events") == []
    assert run.records("users") == []
    assert len(dm_requests(sandbox)) == 1  # the first page tells, at no extra request


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("{nope", "The config file CONFIG is not valid JSON (line 1, column 2)"),
        (None, "The config file CONFIG does not exist"),
    ],
)
def test_a_bad_config_file_is_one_line(tmp_path: Path, content: str | None, expected: str) -> None:
    config = tmp_path / "config.json"
    if content is not None:
        config.write_text(content)

    result = tap("--config", str(config))

    assert_one_line(result, expected.replace("CONFIG", str(config)))


def test_a_non_ascii_user_agent_is_refused_in_one_line(live: Any, tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps(
            {"api_url": live.base_url, "access_token": SECRET, "user_agent": "acme-support/Ü"}
        )
    )

    result = tap("--config", str(config))

    assert_one_line(result, "in config['user_agent']")
    assert live.request_log == []


@pytest.mark.parametrize("secret", ["access_token", "client_secret", "consumer_secret"])
def test_a_secret_of_the_wrong_type_is_refused_without_echoing_it(
    live: Any, tmp_path: Path, secret: str
) -> None:
    config = tmp_path / "config.json"
    number = 90817263544536271
    config.write_text(
        json.dumps({"api_url": live.base_url, "access_token": SECRET, secret: number})
    )

    result = tap("--config", str(config))

    assert_one_line(result, f"{secret} must be a string (the value is not shown")
    assert str(number) not in result.stderr + result.stdout


def test_an_unknown_setting_is_named_with_the_closest_known_one(
    sandbox_factory: Any, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000, events=200)
    with caplog.at_level("WARNING"):
        run_tap(sandbox, clock=clock, acces_token=SECRET)
    lines = [r.getMessage() for r in caplog.records if "acces_token" in r.getMessage()]
    assert lines == [
        "Setting acces_token is not a tap-x-dm setting (did you mean access_token?); it is ignored."
    ]
    assert not any(SECRET in r.getMessage() for r in caplog.records)


def test_a_failure_is_one_error_line_and_a_good_test_run_none(
    live: Any, config_file: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**json.loads(config_file.read_text()), "access_token": SECRET}))
    assert_one_line(tap("--config", str(bad)), "answered 401")

    good = tap("--config", str(config_file), "--test")
    assert good.returncode == 0, good.stderr
    assert error_lines(good) == []


def test_a_400_names_the_parameter_and_value_x_rejected() -> None:
    response = requests.Response()
    response.status_code = 400
    response._content = json.dumps(
        {
            "errors": [
                {
                    "parameters": {"pagination_token": ["2fx0mrl"]},
                    "message": (
                        "The `pagination_token` query parameter value [2fx0mrl] is not valid"
                    ),
                }
            ],
            "title": "Invalid Request",
            "detail": "One or more parameters to your request was invalid.",
            "type": "https://api.twitter.com/2/problems/invalid-request",
        }
    ).encode()
    assert problem_summary(response) == (
        "Invalid Request: One or more parameters to your request was invalid. "
        "(pagination_token=2fx0mrl: The `pagination_token` query parameter value [2fx0mrl] "
        "is not valid)"
    )


def test_a_token_store_others_can_read_is_refused_with_the_fix(tmp_path: Path) -> None:
    store = TokenStore(tmp_path / "tokens.json")
    store.write(StoredTokens(access_token=SECRET, refresh_token=SECRET))
    store.path.chmod(0o644)

    with pytest.raises(TokenStoreError) as raised:
        store.read()

    assert f"chmod 600 {store.path}" in str(raised.value)
    assert SECRET not in str(raised.value)
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o644  # left for the user to fix


@pytest.mark.parametrize(
    ("body", "what"),
    [
        ({"data": [{"id": "1", "event_type": "MessageCreate"}]}, "no meta"),
        ({"data": {"id": "1"}, "meta": {"result_count": 1}}, "data is not a list"),
        ({"data": [{"event_type": "MessageCreate"}], "meta": {}}, "an event without id"),
        ({"data": [{"id": 12, "event_type": "MessageCreate"}], "meta": {}}, "a string of digits"),
        (
            {"data": [{"id": "12a", "event_type": "MessageCreate"}], "meta": {}},
            "a string of digits",
        ),
    ],
)
def test_a_200_of_the_wrong_shape_fails_naming_the_endpoint_and_keeps_the_state(
    sandbox_factory: Any, clock: ManualClock, body: dict[str, Any], what: str
) -> None:
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000)
    first = run_tap(sandbox, clock=clock)
    clock.advance(60)
    sandbox.add_events(3)
    sandbox.faults.inject("malformed_200", count=1, path_prefix="/2/dm_events", body=body)

    run = run_tap(sandbox, clock=clock, state=first.final_state, raise_errors=False)

    assert str(run.error).startswith("GET /2/dm_events answered 200 with a body tap-x-dm cannot")
    assert what in str(run.error)
    assert run.records("dm_events") == []
    kept = run.final_state["bookmarks"]["dm_events"]
    kept.pop("starting_replication_value", None)  # the SDK's own, dropped when a stream ends
    assert kept == first.final_state["bookmarks"]["dm_events"]


def test_a_retry_after_a_reset_mid_body_names_the_endpoint(
    sandbox_factory: Any, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("WARNING")
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000, events=300)
    sandbox.faults.inject("truncated_json", count=1, path_prefix="/2/dm_events", short_read=True)

    run = run_tap(sandbox, clock=clock)

    assert run.ids() == [e["id"] for e in sandbox.visible_events(window_days=30)]
    retries = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Retrying")]
    assert len(retries) == 1
    assert retries[0].startswith("Retrying /2/dm_events in ")


def test_tls_verification_stays_on_and_no_setting_turns_it_off(
    sandbox_factory: Any, clock: ManualClock
) -> None:
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000, events=300)
    run = run_tap(sandbox, clock=clock)
    assert run.tap is not None
    for name in ("dm_events", "conversation_events"):
        assert run.tap.streams[name].requests_session.verify is True
    schema = run.tap.config_jsonschema["properties"]
    assert not [name for name in schema if "verify" in name or "ssl" in name or "tls" in name]
