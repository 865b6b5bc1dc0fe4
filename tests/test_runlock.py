"""The per-account run lock."""

from __future__ import annotations

import json
import multiprocessing
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tap_x_dm.clock import SystemClock
from tap_x_dm.run.lock import RunLockedError, account_run_lock, default_lock_dir, lock_name
from tap_x_dm_sandbox import ManualClock
from tests.conftest import run_tap


def hold(
    identity: str,
    lock_dir: str,
    ready: multiprocessing.synchronize.Event,
    release: multiprocessing.synchronize.Event,
) -> None:
    with account_run_lock(identity, Path(lock_dir)):
        ready.set()
        release.wait(30)


def test_second_run_of_one_account_is_refused_until_the_first_ends(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    ready, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=hold, args=("account-a", str(tmp_path), ready, release))
    holder.start()
    try:
        assert ready.wait(30)
        with (
            pytest.raises(
                RunLockedError, match="Another tap-x-dm run for this account is in progress"
            ),
            account_run_lock("account-a", tmp_path),
        ):
            pass
        with account_run_lock("account-b", tmp_path):  # another account runs in parallel
            pass
    finally:
        release.set()
        holder.join(30)
    with account_run_lock("account-a", tmp_path):
        pass


def test_lock_file_name_holds_no_credential() -> None:
    name = lock_name("secret-access-token-value")
    assert "secret" not in name and name.startswith("account-") and name.endswith(".lock")


def test_an_overlapping_cli_run_of_the_same_account_exits_with_one_line(
    sandbox_factory: Any, tmp_path: Path
) -> None:
    sandbox = sandbox_factory(
        clock=SystemClock(), rate_limit=10_000, events=600, conversations=40,
        slow_every=1, slow_seconds=0.3,
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
    command = [sys.executable, "-m", "tap_x_dm", "--config", str(config)]
    first = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not sandbox.request_log and time.monotonic() < deadline:
            time.sleep(0.05)
        second = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    finally:
        _, first_err = first.communicate(timeout=120)

    assert second.returncode == 1
    assert "Another tap-x-dm run for this account is in progress" in second.stderr
    assert "Traceback" not in second.stderr
    assert second.stdout == ""
    assert first.returncode == 0, first_err[-2000:]


def test_the_default_lock_folder_is_the_users_state_folder_never_tmpdir(tmp_path: Path) -> None:
    state_home = str(tmp_path / "state")
    env = {"XDG_STATE_HOME": state_home, "TMPDIR": str(tmp_path / "tmp")}
    assert default_lock_dir(env) == tmp_path / "state" / "tap-x-dm" / "locks"
    assert default_lock_dir({**env, "TMPDIR": "/elsewhere"}) == default_lock_dir(env)
    home = Path.home() / ".local" / "state" / "tap-x-dm" / "locks"
    assert default_lock_dir({"TMPDIR": str(tmp_path)}) == home
    assert default_lock_dir({"XDG_STATE_HOME": "relative/state"}) == home  # as XDG asks


@pytest.mark.parametrize("stored", [True, False])
def test_a_second_credential_of_a_locked_account_is_refused_before_any_dm_request(
    sandbox_factory: Any, tmp_path: Path, stored: bool
) -> None:
    """The lock is the account's, not the token's: another token of it waits its turn."""
    sandbox = sandbox_factory(rate_limit=10_000, events=40, conversations=8)
    account_id = sandbox.account.id
    state = {"account": {"id": account_id}} if stored else {}
    with account_run_lock(account_id, tmp_path):  # a run with another token of the account
        locks = str(tmp_path)
        run = run_tap(
            sandbox, clock=ManualClock(), state=state, raise_errors=False, run_lock_dir=locks
        )
    assert isinstance(run.error, RunLockedError)
    assert f"in progress (lock {tmp_path / f'account-{account_id}.lock'})" in str(run.error)
    assert [entry["path"] for entry in sandbox.request_log] == ([] if stored else ["/2/users/me"])
    assert run.records("dm_events") == []


def test_without_run_lock_dir_the_lock_is_in_xdg_state_home(
    sandbox_factory: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox = sandbox_factory(rate_limit=10_000, events=5, conversations=2)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    lock = tmp_path / "state" / "tap-x-dm" / "locks" / f"account-{sandbox.account.id}.lock"
    with account_run_lock(sandbox.account.id, lock.parent):
        run = run_tap(sandbox, clock=ManualClock(), raise_errors=False, run_lock_dir=None)
    assert isinstance(run.error, RunLockedError)
    assert f"(lock {lock})" in str(run.error)
    assert not (tmp_path / "tmp").exists()


def _lock_dir_cases(tmp_path: Path, account_id: str) -> dict[str, tuple[Path, str]]:
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder")
    folder_lock = tmp_path / "locks"
    (folder_lock / f"account-{account_id}.lock").mkdir(parents=True)
    return {
        "a file": (a_file, f"run_lock_dir {a_file}: is a file, not a folder;"),
        "under a file": (a_file / "locks", f"run_lock_dir {a_file / 'locks'}: lies under a file"),
        "lock is a folder": (
            folder_lock,
            f"run_lock_dir {folder_lock}: its lock account-{account_id}.lock is a folder",
        ),
    }


@pytest.mark.parametrize("case", ["a file", "under a file", "lock is a folder"])
def test_a_run_lock_dir_that_cannot_hold_the_lock_is_one_line_before_any_request(
    sandbox_factory: Any, tmp_path: Path, case: str
) -> None:
    sandbox = sandbox_factory(rate_limit=10_000, events=5, conversations=2)
    lock_dir, expected = _lock_dir_cases(tmp_path, sandbox.account.id)[case]
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps(
            {
                "api_url": sandbox.base_url,
                "access_token": sandbox.access_token(),
                "run_lock_dir": str(lock_dir),
            }
        )
    )
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"account": {"id": sandbox.account.id}}))
    command = [sys.executable, "-m", "tap_x_dm", "--config", str(config), "--state", str(state)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if "ERROR" in line or "error" in line]
    assert len(errors) == 1, done.stderr
    assert expected in errors[0]
    assert done.stdout == ""
    assert sandbox.request_log == []


def test_a_run_locked_out_ends_with_its_lock_line_and_leaves_the_summary_file_alone(
    sandbox_factory: Any, tmp_path: Path
) -> None:
    """The running run removed its `run_summary_path` file and writes it when it ends."""
    sandbox = sandbox_factory(rate_limit=10_000, events=5, conversations=2)
    account_id = sandbox.account.id
    summary = tmp_path / "summary.json"
    config, state = tmp_path / "config.json", tmp_path / "state.json"
    config.write_text(
        json.dumps(
            {
                "api_url": sandbox.base_url,
                "access_token": sandbox.access_token(),
                "run_lock_dir": str(tmp_path / "locks"),
                "run_summary_path": str(summary),
            }
        )
    )
    state.write_text(json.dumps({"account": {"id": account_id}}))
    command = [sys.executable, "-m", "tap_x_dm", "--config", str(config), "--state", str(state)]

    with account_run_lock(account_id, tmp_path / "locks") as lock:  # the running run
        locked_out = subprocess.run(command, capture_output=True, text=True, timeout=60)

    lock_line = (
        f"Another tap-x-dm run for this account is in progress (lock {lock}); this run exits "
        "without reading, so the two cannot split the rate budget or race on state."
    )
    assert locked_out.returncode == 1
    assert "Traceback" not in locked_out.stderr
    assert "This run:" not in locked_out.stderr
    last = locked_out.stderr.rstrip().splitlines()[-1]
    assert "| ERROR " in last
    assert last.endswith(lock_line)
    assert not summary.exists()
    assert sandbox.request_log == []
