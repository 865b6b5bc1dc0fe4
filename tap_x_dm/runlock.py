"""One run at a time per X account on a machine.

Two overlapping runs of one account would split its 15-requests-per-15-minutes
budget, spend the same single-use refresh token, and race on state. A lock file
named after the account's credential (a hash, never the credential itself)
makes the second run exit at once with a clear line. Runs on different machines
(throwaway containers) need the orchestrator's own concurrency limit as well.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from tap_x_dm.errors import TapXDMError

DEFAULT_LOCK_DIR = Path(tempfile.gettempdir()) / "tap-x-dm-locks"


class RunLockedError(TapXDMError):
    """Another run of the same account holds the lock."""


def lock_name(identity: str) -> str:
    """A file name for an account identity; a hash, so no credential reaches the disk."""
    digest = hashlib.sha256(identity.encode("utf-8")).hexdigest()[:16]
    return f"account-{digest}.lock"


@contextmanager
def account_run_lock(identity: str, lock_dir: Path | None = None) -> Iterator[Path]:
    """Hold the account's run lock for the duration of the block.

    Raises:
        RunLockedError: when another process holds it (no waiting: a scheduler
            will start the next run soon enough, and waiting would stack runs up).
    """
    directory = lock_dir or DEFAULT_LOCK_DIR
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / lock_name(identity)
    lock = FileLock(str(path))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        msg = (
            f"Another tap-x-dm run for this account is in progress (lock {path}); this run "
            "exits without reading, so the two cannot split the rate budget or race on state."
        )
        raise RunLockedError(msg) from None
    try:
        yield path
    finally:
        lock.release()
