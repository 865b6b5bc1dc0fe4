"""One run at a time per X account on a machine.

Two overlapping runs of one account would split its 15-requests-per-15-minutes
budget, spend the same single-use refresh token, and race on state. A lock file
named after the account's X user id makes the second run exit at once with a
clear line, whichever credential or temp folder each run has: the id, not a
credential, is what X counts requests by. The locks live in the user's state
folder (`$XDG_STATE_HOME`, else `~/.local/state`), never the temp folder, which
differs between sessions and services of one user. Runs on different machines
(throwaway containers) need the orchestrator's own concurrency limit as well.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from tap_x_dm.errors import ConfigError, TapXDMError

_X_USER_ID = re.compile(r"^[0-9]{1,20}$")


class RunLockedError(TapXDMError):
    """Another run of the same account holds the lock."""


def default_lock_dir(environ: Mapping[str, str] | None = None) -> Path:
    """`$XDG_STATE_HOME/tap-x-dm/locks`, else `~/.local/state/tap-x-dm/locks`.

    A relative `XDG_STATE_HOME` is ignored, as the XDG spec asks.
    """
    env = os.environ if environ is None else environ
    state_home = Path(env.get("XDG_STATE_HOME") or ".")
    base = state_home if state_home.is_absolute() else Path.home() / ".local" / "state"
    return base / "tap-x-dm" / "locks"


def lock_name(account_id: str) -> str:
    """The lock file of an account: its X user id, or a hash of anything else."""
    if _X_USER_ID.match(account_id):
        return f"account-{account_id}.lock"
    digest = hashlib.sha256(account_id.encode("utf-8")).hexdigest()[:16]
    return f"account-{digest}.lock"


def _setting_problem(lock_dir: Path, configured: bool, what: str) -> ConfigError:
    where = "run_lock_dir" if configured else "The default run lock folder"
    return ConfigError(
        f"{where} {lock_dir}: {what}; set run_lock_dir to a folder this user can write."
    )


def prepare_lock_dir(lock_dir: Path | None) -> Path:
    """Create the lock folder (checked before the first request); return it.

    Raises:
        ConfigError: it is a file, lies under a file, or cannot be created.
    """
    directory = lock_dir or default_lock_dir()
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise _setting_problem(directory, lock_dir is not None, "is a file, not a folder") from None
    except NotADirectoryError:
        what = "lies under a file, not a folder"
        raise _setting_problem(directory, lock_dir is not None, what) from None
    except OSError as exc:
        what = f"cannot be created ({exc.strerror or type(exc).__name__})"
        raise _setting_problem(directory, lock_dir is not None, what) from None
    return directory


@contextmanager
def account_run_lock(account_id: str, lock_dir: Path | None = None) -> Iterator[Path]:
    """Hold the account's run lock for the duration of the block.

    Raises:
        RunLockedError: when another process holds it (no waiting: a scheduler
            will start the next run soon enough, and waiting would stack runs up).
        ConfigError: the lock folder or the lock file cannot be used.
    """
    directory = prepare_lock_dir(lock_dir)
    path = directory / lock_name(account_id)
    lock = FileLock(str(path))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        msg = (
            f"Another tap-x-dm run for this account is in progress (lock {path}); this run "
            "exits without reading, so the two cannot split the rate budget or race on state."
        )
        raise RunLockedError(msg) from None
    except IsADirectoryError:
        what = f"its lock {path.name} is a folder, not a file: remove it"
        raise _setting_problem(directory, lock_dir is not None, what) from None
    except OSError as exc:
        what = f"the lock {path.name} cannot be opened ({exc.strerror or type(exc).__name__})"
        raise _setting_problem(directory, lock_dir is not None, what) from None
    try:
        yield path
    finally:
        lock.release()
