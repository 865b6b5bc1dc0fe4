"""The `tap-x-dm-sandbox` command: run as a real subprocess, as scripts and CI use it."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tap_x_dm_sandbox import SandboxConfig
from tap_x_dm_sandbox.cli import STDOUT_KEYS, build_parser, config_from_args, main

SMALL = ["--users", "10", "--conversations", "20", "--events", "300"]


def command() -> list[str]:
    """The installed console script if there is one, else `python -m tap_x_dm_sandbox`."""
    script = Path(sys.executable).with_name("tap-x-dm-sandbox")
    if script.exists():
        return [str(script)]
    found = shutil.which("tap-x-dm-sandbox")
    return [found] if found else [sys.executable, "-m", "tap_x_dm_sandbox"]


class Running:
    """A sandbox subprocess and what it printed before serving."""

    def __init__(self, *args: str, module: bool = False) -> None:
        argv = [sys.executable, "-m", "tap_x_dm_sandbox"] if module else command()
        self.proc = subprocess.Popen(
            [*argv, "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        self.base_url = self.proc.stdout.readline().strip()
        self.values: dict[str, str] = {}
        while "events" not in self.values:
            line = self.proc.stdout.readline()
            assert line, "the sandbox exited before printing its credentials"
            key, _, value = line.strip().partition("=")
            self.values[key] = value

    def stop(self, sig: int = signal.SIGTERM) -> tuple[int, str]:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        _, err = self.proc.communicate(timeout=10)
        return self.proc.returncode, err


@pytest.fixture
def running() -> Iterator[Running]:
    sandbox = Running(*SMALL)
    yield sandbox
    if sandbox.proc.poll() is None:
        sandbox.proc.kill()
        sandbox.proc.communicate(timeout=10)


def test_first_line_is_the_base_url_then_credentials(running: Running) -> None:
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", running.base_url)
    assert running.base_url.rsplit(":", 1)[1] != "0"
    assert {"account_id", "access_token", "empty_user_id", "oauth1_consumer_key"} <= set(
        running.values
    )
    response = requests.get(
        running.base_url + "/2/dm_events",
        params={"max_results": 5},
        headers={"Authorization": f"Bearer {running.values['access_token']}"},
        timeout=5,
    )
    assert response.status_code == 200
    assert response.json()["meta"]["result_count"] == 5
    me = requests.get(
        running.base_url + "/2/users/me",
        headers={"Authorization": f"Bearer {running.values['access_token']}"},
        timeout=5,
    )
    assert me.json()["data"]["id"] == running.values["account_id"]
    code, err = running.stop(signal.SIGTERM)
    assert code == 0
    log_lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert [line["path"] for line in log_lines] == ["/2/dm_events", "/2/users/me"]
    assert running.values["access_token"] not in err


def test_sigint_stops_it_cleanly() -> None:
    sandbox = Running(*SMALL, "--quiet", module=True)
    try:
        assert requests.get(sandbox.base_url + "/2/users/me", timeout=5).status_code == 401
    finally:
        code, err = sandbox.stop(signal.SIGINT)
    assert code == 0
    assert "Traceback" not in err
    assert "{" not in err  # --quiet: no request log on stderr


def test_flags_reach_the_server(tmp_path: Path) -> None:
    log_path = tmp_path / "requests.jsonl"
    sandbox = Running(
        *SMALL, "--rate-limit", "1", "--usage-capped", "--request-log", str(log_path), "--quiet"
    )
    try:
        headers = {"Authorization": f"Bearer {sandbox.values['access_token']}"}
        response = requests.get(sandbox.base_url + "/2/dm_events", headers=headers, timeout=5)
        assert response.status_code == 429
        assert response.json()["type"].endswith("/usage-capped")
        assert response.headers["x-rate-limit-limit"] == "1"
    finally:
        code, _ = sandbox.stop()
    assert code == 0
    entries = [json.loads(line) for line in log_path.read_text().splitlines()]
    assert [e["status"] for e in entries] == [429]


def test_every_config_field_has_a_flag() -> None:
    args = build_parser().parse_args(
        [
            "--host", "127.0.0.2", "--port", "8080", "--seed", "3", "--users", "5",
            "--conversations", "6", "--days", "7", "--events", "8", "--now-ms", "1700000000000",
            "--events-file", "data.json", "--rate-limit", "9", "--rate-window", "10.5",
            "--lookup-rate-limit", "12",
            "--shared-budget", "--token-ttl", "60", "--meta-only-last-page",
            "--offset-pagination", "--page-number-pagination",
            "--pagination-token-ttl", "30", "--unknown-conversation-404",
            "--created-at-precision", "ms", "--created-at-skew-seconds", "1.5",
            "--order-by", "created_at",
            "--conversation-history-days", "11", "--nested-entities",
            "--user-fields-default", "id,name,username,verified", "--usage-capped",
            "--credits-depleted", "--client-not-enrolled",
            "--fail-every", "2", "--fail-status", "500",
            "--drop-every", "3", "--slow-every", "4", "--slow-seconds", "0.5",
            "--truncate-every", "5", "--non-json-every", "6", "--html-502-every", "7",
            "--rate-limit-no-headers-every", "8", "--request-log", "log.jsonl",
            "--vocabulary", "2.167", "--unknown-conversation", "empty", "--plan", "basic",
            "--media-price-usd", "0.005", "--suspended-user-ids", "1,2",
            "--protected-user-ids", "3", "--client-not-enrolled",
        ]
    )  # fmt: skip
    config = config_from_args(args)
    defaults = SandboxConfig()
    for field in dataclasses.fields(SandboxConfig):
        assert getattr(config, field.name) != getattr(defaults, field.name), field.name
    assert config.user_fields_default == ("id", "name", "username", "verified")
    assert config_from_args(build_parser().parse_args([])) == defaults


def test_help_lists_the_flags() -> None:
    help_text = build_parser().format_help()
    for flag in ("--port", "--seed", "--fail-every", "--request-log", "--shared-budget"):
        assert flag in help_text


def test_every_flag_has_help_and_its_default_once() -> None:
    parser = build_parser()
    for action in parser._actions:
        if action.dest == "help":
            continue
        assert action.help, action.option_strings
        assert action.help.count("(default:") <= 1, action.option_strings
    help_text = parser.format_help()
    assert "(default: 0)" in help_text and "(default: 7)" in help_text
    assert "(default: False)" not in help_text  # switches are off unless given
    assert "%(default)" not in help_text


def test_help_says_what_stdout_carries_and_where_the_docs_are() -> None:
    result = subprocess.run([*command(), "--help"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    assert "line 1 the base URL" in text
    for key in STDOUT_KEYS:
        assert key in text, key
    assert "docs/sandbox.md" in text


def test_stdout_lines_are_the_documented_keys_in_order(running: Running) -> None:
    assert list(running.values) == list(STDOUT_KEYS)
    assert running.values["events"] == "300"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--port", "abc"], "argument --port: expected an integer, got 'abc'"),
        (["--port", "70000"], "argument --port: must be from 0 to 65535, got 70000"),
        (["--rate-window", "-5"], "argument --rate-window: must be > 0 seconds, got -5"),
        (["--rate-window", "inf"], "argument --rate-window: expected a finite number"),
        (["--token-ttl", "0"], "argument --token-ttl: must be > 0 seconds, got 0"),
        (["--slow-seconds", "-1"], "argument --slow-seconds: must be >= 0 seconds, got -1"),
        (["--conversation-history-days", "-1"], "must be >= 0, got -1"),
        (["--fail-every", "-2"], "argument --fail-every: must be >= 0, got -2"),
        (["--fail-status", "404"], "argument --fail-status: must be from 500 to 599, got 404"),
        (["--rate-limit", "0"], "argument --rate-limit: must be >= 1, got 0"),
        (["--users", "3"], "argument --users: must be >= 4, got 3"),
        (["--user-fields-default", "id,nope"], "unknown user field(s) nope"),
        (["--events", "5"], "events must be >= conversations"),
        (["--no-such-flag"], "unrecognized arguments: --no-such-flag"),
        (["--vocabulary", "2.168"], "argument --vocabulary: invalid choice: '2.168'"),
        (["--plan", "pro"], "argument --plan: invalid choice: 'pro'"),
        (["--media-price-usd", "2"], "argument --media-price-usd: must be 0-1 dollars, got 2"),
        (["--suspended-user-ids", "1,x"], "not numeric user id(s): x"),
    ],
)
def test_a_bad_value_is_one_line_and_exit_2(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as raised:
        main(["--port", "0", "--quiet", *args])
    assert raised.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1, captured.err
    assert captured.err.startswith("tap-x-dm-sandbox: error: ")
    assert message in captured.err


@pytest.mark.parametrize("content", [None, "{not json", '{"users": []}'])
def test_a_bad_events_file_is_one_line_and_exit_2(tmp_path: Path, content: str | None) -> None:
    path = tmp_path / "events.json"
    if content is not None:
        path.write_text(content)
    result = subprocess.run(
        [*command(), "--port", "0", "--events-file", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(f"tap-x-dm-sandbox: error: --events-file {path}: ")
    assert "Traceback" not in result.stderr


def test_a_taken_port_is_one_line_and_exit_2(running: Running) -> None:
    port = running.base_url.rsplit(":", 1)[1]
    result = subprocess.run(
        [*command(), "--port", port, *SMALL], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2
    assert result.stderr.startswith(f"tap-x-dm-sandbox: error: cannot start on 127.0.0.1:{port}")
    assert result.stderr.count("\n") == 1
