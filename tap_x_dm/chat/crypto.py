"""Every use of X's Chat XDK (`chatxdk`, imported as `chat_xdk`) in the tap.

chatxdk is alpha (its API changed between 0.3 and 0.5), so it is an extra pinned
exactly (`pip install 'tap-x-dm[xchat]'`) and only this module imports it: a new
release means reading its stubs (`chat_xdk/__init__.pyi`) again and changing this
file alone. Nothing here logs, and no exception raised here carries chatxdk's
text, a key or a plaintext: callers get categories, never content.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

#: The version this module was written against (pyproject.toml's `xchat` extra pins it).
CHATXDK_PINNED = "0.5.2"
INSTALL_HINT = "pip install 'tap-x-dm[xchat]'"


class KeyBlobError(ValueError):
    """chatxdk refused the key blob (its text is not repeated: it could quote the blob)."""


def chatxdk_installed() -> bool:
    """Whether the `xchat` extra is installed (without importing it)."""
    return importlib.util.find_spec("chat_xdk") is not None


def _new_chat() -> Any:
    from chat_xdk import Chat  # type: ignore[import-untyped]

    return Chat()


@dataclass(frozen=True)
class Opened:
    """chatxdk's answer for one event: the decrypted event, or that it failed and how."""

    #: chatxdk's decrypted event (`type`, `verified`, `content`...), or None.
    event: dict[str, Any] | None
    #: Why it failed, as a category: `missing_key` (no conversation key for it) or `error`.
    failure: str | None = None


def _failure_of(reason: object) -> str:
    """Reduce chatxdk's error text to a category (the text is never kept)."""
    text = str(reason)
    return "missing_key" if "no matching key" in text else "error"


class Decryptor:
    """The owner's keys, loaded once a run, opening one page of events at a time."""

    def __init__(self, blob: bytes, key_version: str) -> None:
        chat = _new_chat()
        try:
            chat.import_keys(blob, key_version)
        except Exception as exc:  # chatxdk raises its own types; its text is not shown
            raise KeyBlobError(type(exc).__name__) from None
        # Unverified events are decrypted too, so a row can say why it did not verify;
        # `chat_messages` withholds their content (see `tap_x_dm.chat.messages`).
        chat.set_reject_unverified(False)
        self._chat = chat

    def open_page(
        self,
        key_events: Sequence[str],
        events: Sequence[str],
        signing_keys: Sequence[dict[str, str]],
    ) -> list[Opened]:
        """Decrypt one page: its key-change events first, then its events (oldest first).

        Returns one `Opened` per item of `events`, in order. chatxdk collects a failure
        per event instead of raising, and answers in input order without the failures.
        """
        extra = [k for k in key_events if k not in set(events)]
        inputs = [*extra, *events]
        result = self._chat.decrypt_events(inputs, list(signing_keys))
        errors = {int(i): why for i, why in (result.get("errors") or {}).items()}
        opened = iter(result.get("messages") or [])
        out: list[Opened] = []
        for index in range(len(inputs)):
            if index in errors:
                item = Opened(None, _failure_of(errors[index]))
            else:
                message = next(opened, None)
                event = message.get("event") if isinstance(message, dict) else None
                item = Opened(event) if isinstance(event, dict) else Opened(None, "error")
            if index >= len(extra):
                out.append(item)
        return out


class WrongPinError(Exception):
    """X's key backup refused the PIN; `remaining` guesses are left (None: unknown)."""

    def __init__(self, remaining: int | None) -> None:
        super().__init__("wrong PIN")
        self.remaining = remaining


def unlock_and_export(juicebox_config_json: str, pin: str) -> bytes:
    """Recover the owner's keys from X's key backup (Juicebox) with the PIN, then export them.

    One `unlock` (one PIN guess) and `export_keys()`: the blob `import_keys` takes.
    """
    import chat_xdk

    chat = chat_xdk.Chat(juicebox_config_json)
    try:
        chat.unlock(pin)
    except Exception as exc:  # chatxdk's own error types; only the guess count is kept
        remaining = chat_xdk.guesses_remaining(exc)
        if remaining is not None:
            raise WrongPinError(int(remaining)) from None
        raise KeyBlobError(type(exc).__name__) from None
    blob = chat.export_keys()
    if blob is None:
        raise KeyBlobError("no keys after unlock")
    return bytes(blob)
