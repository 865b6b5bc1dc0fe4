"""The per-account run lock."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

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
