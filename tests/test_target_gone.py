"""The target dying: stdout closed, full, or a broken pipe is one line and an immediate stop."""

from __future__ import annotations

import fcntl
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tap_x_dm.clock import SystemClock
from tap_x_dm.run.target import TargetGoneError
from tap_x_dm.sdk_adapter import LineWriter
from tap_x_dm.tap import TapXDM
from tap_x_dm_sandbox import ManualClock
from tests.conftest import dm_requests, tap_config
from tests.test_bad_input import error_lines

GONE = "The target stopped reading the tap's output ("


def run_with_stdout(sandbox: Any, clock: Any, stdout: Any, **config: Any) -> BaseException | None:
    """Run the tap in-process writing Singer lines to `stdout` through its own LineWriter."""
    state = {"account": {"id": sandbox.account.id}}
    tap = TapXDM(
        config=tap_config(sandbox, **config), state=state, message_writer=LineWriter(), clock=clock
    )
    saved = sys.stdout
    sys.stdout = stdout
    try:
        tap.sync_all()
    except Exception as exc:  # the test inspects what ended the run
        return exc
    finally:
        sys.stdout = saved
    return None


class _DyingBuffer(io.BytesIO):
    """A pipe whose reader exits after `lines` lines."""

    def __init__(self, lines: int) -> None:
        super().__init__()
        self.left = lines

    def write(self, data: Any) -> int:
        if self.left <= 0:
            raise BrokenPipeError(32, "Broken pipe")
        self.left -= 1
        return super().write(data)


class _DyingStdout(io.TextIOWrapper):
    def fileno(self) -> int:
        raise io.UnsupportedOperation("no fd")


def test_a_broken_pipe_mid_page_stops_the_run_with_no_request_after(
    sandbox_factory: Any, clock: ManualClock
) -> None:
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000, events=100, conversations=5)
    buffer = _DyingBuffer(lines=12)  # SCHEMA lines, then a few records of the first page
    error = run_with_stdout(sandbox, clock, _DyingStdout(buffer), page_size=20)
    assert isinstance(error, TargetGoneError)
    assert str(error).startswith(GONE + "stdout: broken pipe, the target exited)")
    assert len(dm_requests(sandbox)) == 1  # the page being written, not one more
    written = [json.loads(line) for line in buffer.getvalue().splitlines()]
    assert len(written) == 12


@pytest.mark.skipif(not hasattr(fcntl, "F_SETPIPE_SZ"), reason="needs Linux pipes")
def test_a_target_that_exits_during_a_rate_limit_wait_is_noticed_within_a_second(
    sandbox_factory: Any,
) -> None:
    """15 minutes to wait on X's window; the reader goes one second in; the tap stops then."""

    class ReaderExitsDuringTheWait(ManualClock):
        wait_started: float | None = None

        def sleep(self, seconds: float, check: Any = None) -> None:
            if seconds > 60 and self.wait_started is None:
                self.wait_started = self.time()
                original = check

                def check_after_the_reader_left() -> None:
                    if self.time() > self.wait_started + 1 and read_end[0] >= 0:
                        os.close(read_end[0])
                        read_end[0] = -1
                    assert original is not None
                    original()

                check = check_after_the_reader_left
            super().sleep(seconds, check)

    clock = ReaderExitsDuringTheWait()
    sandbox = sandbox_factory(clock=clock, rate_limit=1, events=60, conversations=3)
    read_fd, write_fd = os.pipe()
    fcntl.fcntl(write_fd, fcntl.F_SETPIPE_SZ, 1 << 20)  # the first page fits; nobody drains
    read_end = [read_fd]
    stdout = os.fdopen(write_fd, "w")
    try:
        error = run_with_stdout(sandbox, clock, stdout, page_size=20)
    finally:
        if read_end[0] >= 0:
            os.close(read_end[0])
        stdout.close()
    assert isinstance(error, TargetGoneError), error
    assert str(error).startswith(GONE + "stdout: the target exited)")
    assert clock.wait_started is not None
    assert clock.time() - clock.wait_started <= 3  # not the 900 s the window needed
    assert len(dm_requests(sandbox)) == 1  # the page before the wait; none after it


@pytest.mark.parametrize(
    ("redirect", "reason"),
    [
        (">&-", "stdout is closed"),
        (">/dev/full", "stdout: No space left on device"),
        ("| head -n 1 >/dev/null", "stdout: broken pipe, the target exited"),
    ],
)
@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full and a shell")
def test_stdout_closed_full_or_broken_is_one_line_no_traceback(
    sandbox_factory: Any, tmp_path: Path, redirect: str, reason: str
) -> None:
    sandbox = sandbox_factory(
        clock=ManualClock(start=SystemClock().time()), rate_limit=10_000, events=400,
        conversations=10,
    )  # fmt: skip
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps(
            {
                "api_url": sandbox.base_url,
                "access_token": sandbox.access_token(),
                "run_lock_dir": str(tmp_path / "locks"),
                "page_size": 20,
            }
        )
    )
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"account": {"id": sandbox.account.id}}))
    command = f"{sys.executable} -m tap_x_dm --config {config} --state {state}"
    done = subprocess.run(
        ["bash", "-c", f"{command} {redirect}; exit ${{PIPESTATUS[0]}}"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    for noise in ("Traceback", "Exception ignored", "An unhandled error occurred"):
        assert noise not in done.stderr
    lines = error_lines(done)
    assert len(lines) == 1, done.stderr
    assert GONE + reason + ")" in lines[0]
    if redirect != "| head -n 1 >/dev/null":  # the first line written fails: before any request
        assert sandbox.request_log == []
