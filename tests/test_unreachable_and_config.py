"""Issue 21's bad inputs: a future start_date, a malformed or unreachable api_url, a typo."""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path
from typing import Any

import pytest
import requests

from tap_x_dm.api.network import cause_of, failure_line
from tap_x_dm.clock import SystemClock
from tap_x_dm_sandbox import ManualClock
from tests.conftest import run_tap
from tests.test_bad_input import assert_one_line, error_lines, tap


@pytest.fixture
def live(sandbox_factory: Any) -> Any:
    return sandbox_factory(clock=ManualClock(start=SystemClock().time()), events=300)


@pytest.fixture
def config_file(live: Any, tmp_path: Path) -> Path:
    path = tmp_path / "config.json"
    settings = {"api_url": live.base_url, "access_token": live.access_token()}
    path.write_text(json.dumps({**settings, "run_lock_dir": str(tmp_path / "locks")}))
    return path


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_future_start_date_is_one_error_before_any_request(
    live: Any, config_file: Path, tmp_path: Path
) -> None:
    config = tmp_path / "future.json"
    config.write_text(
        json.dumps({**json.loads(config_file.read_text()), "start_date": "2099-01-01"})
    )

    result = tap("--config", str(config))

    assert result.returncode == 1
    assert_one_line(result, "start_date 2099-01-01 is in the future (now is ")
    assert live.request_log == []


def test_a_malformed_api_url_is_one_line_at_config_validation(
    config_file: Path, tmp_path: Path
) -> None:
    config = tmp_path / "port.json"
    settings = {**json.loads(config_file.read_text()), "api_url": "https://api.x.com:abc"}
    config.write_text(json.dumps(settings))

    result = tap("--config", str(config))

    assert result.returncode == 1
    assert_one_line(
        result,
        "api_url has a port that is not a number from 0 to 65535 (got 'https://api.x.com:abc')",
    )


def test_did_you_mean_comes_before_the_credential_check(tmp_path: Path) -> None:
    config = tmp_path / "typo.json"
    config.write_text(json.dumps({"acces_token": "x", "run_lock_dir": str(tmp_path)}))

    result = tap("--config", str(config))

    lines = result.stderr.splitlines()
    hint = next(i for i, line in enumerate(lines) if "did you mean access_token?" in line)
    missing = next(i for i, line in enumerate(lines) if "access_token is missing" in line)
    assert hint < missing
    assert len(error_lines(result)) == 1


def _retry_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [m for m in caplog.messages if m.startswith("Retrying")]


def test_a_refused_connection_is_tried_twice_within_seconds_and_named_in_one_line(
    sandbox: Any, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO")
    api_url = f"http://127.0.0.1:{_free_port()}"
    started = clock.time()

    run = run_tap(sandbox, clock=clock, api_url=api_url, raise_errors=False)

    assert str(run.error) == (
        f"GET /2/users/me failed: connection refused at 127.0.0.1:{api_url.rsplit(':', 1)[1]} "
        f"(api_url {api_url}; gave up after 2 tries): check api_url and that this machine can "
        "reach it."
    )
    assert len(_retry_lines(caplog)) == 1
    assert clock.time() - started <= 10


def test_an_unresolved_name_is_tried_twice_and_named(
    sandbox: Any,
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level("INFO")
    real = socket.getaddrinfo

    def no_such_host(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "api.x.invalid":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", no_such_host)

    run = run_tap(sandbox, clock=clock, api_url="https://api.x.invalid", raise_errors=False)

    assert str(run.error).startswith(
        "GET /2/users/me failed: host name not resolved at api.x.invalid:443 (api_url "
        "https://api.x.invalid; gave up after 2 tries)"
    )
    assert len(_retry_lines(caplog)) == 1


def test_reset_connections_keep_the_bounded_retries_and_are_named(
    sandbox: Any, clock: ManualClock
) -> None:
    sandbox.faults.inject("drop_connection", count=10, path_prefix="/2/users/me")

    run = run_tap(sandbox, clock=clock, max_retries=3, raise_errors=False)

    assert re.fullmatch(
        r"GET /2/users/me failed: connection reset at 127\.0\.0\.1:\d+ \(api_url "
        r"http://127\.0\.0\.1:\d+; gave up after 4 tries\): X or the network is slow or "
        r"dropping connections; the next run goes on\.",
        str(run.error),
    )


def test_timeouts_and_tls_failures_are_named() -> None:
    assert cause_of(requests.exceptions.ReadTimeout()) == "timed out"
    assert cause_of(requests.exceptions.SSLError()) == "TLS handshake failed"
    line = failure_line(
        "GET",
        "/2/dm_events",
        requests.exceptions.ConnectTimeout(),
        url="https://api.x.com/2/dm_events?max_results=100",
        api_url="https://api.x.com",
        tries=7,
    )
    assert line.startswith(
        "GET /2/dm_events failed: timed out at api.x.com:443 (api_url https://api.x.com; gave "
        "up after 7 tries)"
    )
