"""The OAuth 2.0 token store: where rotated tokens outlive the run that got them.

X's refresh tokens work once: each refresh returns a new one and spends the
old. A tap that loses the new token (crash, throwaway config file) is locked
out until a human re-authorises. So the tokens live in a JSON file that:

* is written atomically (temp file in the same directory, fsync, rename,
  fsync of the directory) with mode 0600, before the new access token is used;
* is read and rewritten under a file lock held across read-refresh-write, so
  two runs never spend the same refresh token;
* wins over the config once it exists (Meltano rewrites its config file on
  every run, so the config's tokens can only seed the store).

Token values never appear in a log line, an exception or a `repr`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import stat
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import filelock
from typing_extensions import override

from tap_x_dm.errors import TapXDMError

#: Format version written to the file; readers refuse newer major versions.
STORE_VERSION = 1


class TokenStoreError(TapXDMError):
    """The token store cannot be read, written or locked; the message says how to fix it."""


def fingerprint(secret: str | None) -> str | None:
    """A short, non-reversible tag of a token, to recognise it without storing it twice."""
    if not secret:
        return None
    return "sha256:" + hashlib.sha256(secret.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class StoredTokens:
    """One OAuth 2.0 grant as the store keeps it.

    Attributes:
        access_token: The bearer token to send (may be expired).
        refresh_token: The single-use token that gets the next pair.
        expires_at: When the access token expires (epoch seconds), if known.
        scope: Space-separated scopes X granted, if known (tells a 403's cause).
        client_id: The X app the grant belongs to.
        seed_fingerprint: `fingerprint()` of the config's refresh token that
            seeded this store, to tell a stale config token from a new one.
        refresh_outcome_unknown_since: Set when a refresh POST was sent but its
            answer was lost, so X may have spent `refresh_token` (epoch seconds).
        user_id: The X user the grant is for (tap-x-dm-auth asks `users/me`), so a
            state written for another account is caught before it is misapplied.
    """

    access_token: str | None = field(default=None, repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    expires_at: float | None = None
    scope: str | None = None
    client_id: str | None = None
    seed_fingerprint: str | None = None
    refresh_outcome_unknown_since: float | None = None
    user_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The file's content."""
        return {"version": STORE_VERSION, **asdict(self)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StoredTokens:
        """Build from the file's content, ignoring keys this version does not know."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


class TokenStore:
    """A JSON file holding one OAuth 2.0 grant, plus its lock file beside it.

    Args:
        path: The store file (`~` is expanded; parent directories are created 0700).
        lock_timeout: Seconds to wait for another run holding the lock.
        logger: Where to warn about a store readable by other users.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        lock_timeout: float = 120.0,
        logger: logging.Logger | None = None,
    ) -> None:
        self.path = Path(path).expanduser()
        self._logger = logger or logging.getLogger("tap-x-dm")
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self._lock_timeout = lock_timeout

    @override
    def __repr__(self) -> str:
        return f"TokenStore({str(self.path)!r})"

    def exists(self) -> bool:
        """Whether the store file is there (it then wins over the config's tokens)."""
        return self.path.is_file()

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the store's file lock (blocking other runs' read-refresh-write)."""
        self._make_parent()
        lock = filelock.FileLock(str(self.lock_path), timeout=self._lock_timeout, mode=0o600)
        try:
            lock.acquire()
        except filelock.Timeout:
            msg = (
                f"Another tap-x-dm run has held the token store lock {self.lock_path} for "
                f"{self._lock_timeout:.0f} s; if no other run is active, delete that lock file "
                "and run again."
            )
            raise TokenStoreError(msg) from None
        try:
            yield
        finally:
            lock.release()

    def read(self) -> StoredTokens | None:
        """Return the stored grant, or None when the file does not exist."""
        try:
            text = self.path.read_text(encoding="utf-8")
            mode = stat.S_IMODE(self.path.stat().st_mode)
        except FileNotFoundError:
            return None
        except OSError as exc:
            msg = f"Cannot read the token store {self.path}: {exc.strerror or exc}."
            raise TokenStoreError(msg) from None
        if mode & 0o077:
            msg = (
                f"The token store {self.path} can be read by other users (mode {mode:o}): run "
                f"`chmod 600 {self.path}`, then run again (it holds the account's refresh token)."
            )
            raise TokenStoreError(msg)
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            msg = (
                f"The token store {self.path} is not a JSON object (damaged?): restore it, or "
                "delete it and run `tap-x-dm-auth` to re-authorise."
            )
            raise TokenStoreError(msg)
        version = data.get("version", STORE_VERSION)
        if not isinstance(version, int) or version > STORE_VERSION:
            msg = (
                f"The token store {self.path} was written by a newer tap-x-dm (format "
                f"{version!r}); upgrade tap-x-dm."
            )
            raise TokenStoreError(msg)
        return StoredTokens.from_json(data)

    def write(self, tokens: StoredTokens) -> None:
        """Replace the store atomically: temp file, fsync, rename, fsync of the directory.

        A crash at any point leaves either the old file or the new one, never
        a torn one; once this returns, the new refresh token survives a power cut.
        """
        self._make_parent()
        payload = json.dumps(tokens.to_json(), indent=2, sort_keys=True) + "\n"
        tmp: Path | None = None
        try:
            fd, tmp_name = tempfile.mkstemp(
                dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp"
            )
            tmp = Path(tmp_name)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:  # mkstemp made it 0600
                handle.write(payload)
                handle.flush()
                os.fsync(handle.fileno())
            tmp.replace(self.path)
            tmp = None
        except OSError as exc:
            msg = f"Cannot write the token store {self.path}: {exc.strerror or exc}."
            raise TokenStoreError(msg) from None
        finally:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    tmp.unlink()
        self._fsync_dir()

    def _fsync_dir(self) -> None:
        with contextlib.suppress(OSError):  # not every filesystem allows it
            dir_fd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)

    def _make_parent(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            msg = (
                f"Cannot create the token store's directory {self.path.parent}: "
                f"{exc.strerror or exc}."
            )
            raise TokenStoreError(msg) from None
