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
from tap_x_dm.runlock import RunLockedError, account_run_lock, lock_name


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
