"""The owner's XChat key blob and its key version, from two secret settings.

`xchat_key_blob` is a path to the file `tap-x-dm-auth xchat-export` wrote, or the
blob itself (base64, as a secret manager holds it); `xchat_key_version` is its
key version. Neither is ever logged, echoed in an error or written to state:
problems name the setting, never the value.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tap_x_dm.chat import crypto
from tap_x_dm.errors import ConfigError

BLOB_SETTING = "xchat_key_blob"
VERSION_SETTING = "xchat_key_version"
#: chatxdk's `export_keys()`: identity and signing private keys, 32 bytes each.
BLOB_BYTES = 64


class KeySettingError(ConfigError):
    """A key setting is unusable (the message names the setting, never its value)."""


def _decode(text: str) -> bytes | None:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == BLOB_BYTES else None


def read_blob(value: str) -> bytes:
    """The 64-byte blob from a file path (raw or base64 inside) or a base64 value."""
    candidate = Path(value).expanduser() if len(value) < 4096 and "\n" not in value else None
    if candidate is not None and candidate.is_file():
        try:
            data = candidate.read_bytes()
        except OSError as exc:
            msg = f"{BLOB_SETTING}: the key file cannot be read ({type(exc).__name__})."
            raise KeySettingError(msg) from None
        if len(data) == BLOB_BYTES:
            return data
        blob = _decode(data.decode("ascii", errors="replace"))
        if blob is None:
            msg = (
                f"{BLOB_SETTING}: the key file is not a key blob (64 bytes, or their base64) "
                "as tap-x-dm-auth xchat-export writes it."
            )
            raise KeySettingError(msg)
        return blob
    blob = _decode(value)
    if blob is None:
        msg = (
            f"{BLOB_SETTING} is neither a readable file nor a base64 key blob of {BLOB_BYTES} "
            "bytes (the value is not shown: it is a secret)."
        )
        raise KeySettingError(msg)
    return blob


def configured(config: Mapping[str, Any]) -> bool:
    """Whether a key blob is configured at all."""
    return bool(str(config.get(BLOB_SETTING) or "").strip())


def key_problems(config: Mapping[str, Any]) -> list[str]:
    """Problems with the key settings, before the first request (no value is quoted)."""
    if not configured(config):
        return []
    if not str(config.get(VERSION_SETTING) or "").strip():
        return [f"{BLOB_SETTING} is set but {VERSION_SETTING} is not: set the blob's key version."]
    try:
        blob = read_blob(str(config[BLOB_SETTING]))
    except KeySettingError as exc:
        return [str(exc)]
    if crypto.chatxdk_installed():  # without the extra, chat_messages only warns
        try:
            crypto.Decryptor(blob, str(config[VERSION_SETTING]))
        except crypto.KeyBlobError as exc:
            return [f"{BLOB_SETTING}: chatxdk refused the key blob ({exc})."]
    return []
