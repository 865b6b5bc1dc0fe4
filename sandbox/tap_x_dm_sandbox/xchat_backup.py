"""A stand-in for X's key backup (Juicebox), for the owner's one-time key export.

X keeps each user's XChat private keys in Juicebox, split across realms and
released only for the user's PIN; a client recovers them with
`Chat(juicebox_config).unlock(PIN)` and can then `export_keys()` a blob. After 20
wrong PINs the backup is deleted for good. No test can reach Juicebox, so the
sandbox keeps the blob itself and releases it for the PIN: the same guess budget,
the same deletion, the same "Invalid PIN: guesses_remaining=N" wording as
chatxdk's error (so `chat_xdk.guesses_remaining` reads it). What it returns is
what `export_keys()` returns after a real unlock: the 64-byte blob of the key
version the backup holds (version 1; the account's version 2 was never backed up).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable

#: Juicebox's guess budget as X configures it (`max_guess_count`).
MAX_GUESSES = 20
BACKED_UP_VERSION = "1"


class WrongPinError(Exception):
    """A wrong PIN; `remaining` guesses are left (0: the backup is now deleted)."""

    def __init__(self, remaining: int) -> None:
        super().__init__(f"Invalid PIN: guesses_remaining={remaining}")
        self.remaining = remaining


class BackupDeletedError(Exception):
    """The backup is gone (20 wrong PINs): nothing can recover these keys from it."""

    def __init__(self, user_id: str) -> None:
        message = f"no key backup for user {user_id}: deleted after {MAX_GUESSES} wrong PINs"
        super().__init__(message)


def sandbox_pin(seed: int, user_id: str) -> str:
    """Return a user's 4-digit PIN: derived from the seed, so tests and demos know it."""
    digest = hashlib.sha256(f"tap-x-dm-sandbox/xchat-pin/{seed}/{user_id}".encode()).digest()
    return f"{int.from_bytes(digest[:4], 'big') % 10_000:04d}"


class KeyBackup:
    """PIN-protected blobs with Juicebox's guess counter, per user."""

    def __init__(self, seed: int, blob_of: Callable[[str, str], bytes]) -> None:
        self._seed = seed
        self._blob_of = blob_of
        self._lock = threading.Lock()
        self._wrong: dict[str, int] = {}

    def pin(self, user_id: str) -> str:
        """The user's PIN (the sandbox knows it; X never does)."""
        return sandbox_pin(self._seed, user_id)

    def guesses_remaining(self, user_id: str) -> int:
        """Wrong PINs the user may still enter before the backup is deleted."""
        with self._lock:
            return MAX_GUESSES - self._wrong.get(user_id, 0)

    def recover(self, user_id: str, pin: str) -> tuple[str, bytes]:
        """Return (key version, blob) for the right PIN; a right PIN resets the count.

        Raises `WrongPinError` (counting the guess) or `BackupDeletedError`.
        """
        with self._lock:
            wrong = self._wrong.get(user_id, 0)
            if wrong >= MAX_GUESSES:
                raise BackupDeletedError(user_id)
            if pin != sandbox_pin(self._seed, user_id):
                self._wrong[user_id] = wrong + 1
                raise WrongPinError(MAX_GUESSES - wrong - 1)
            self._wrong.pop(user_id, None)
        return BACKED_UP_VERSION, self._blob_of(user_id, BACKED_UP_VERSION)

    def reset(self) -> None:
        """Restore every backup and forget wrong guesses."""
        with self._lock:
            self._wrong.clear()
