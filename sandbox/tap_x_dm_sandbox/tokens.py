"""Opaque pagination tokens that carry a cursor (an event id), not an offset.

A cursor ("events strictly below id N") keeps pages stable while new DMs
arrive between two requests; an offset would shift and duplicate them. Tokens
are MAC-ed and bound to (endpoint, path id, user), so a forged, garbled or
transplanted token gets X's 400 instead of silently wrong data. They look like
X's: 24 characters of base32hex.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import struct
from dataclasses import dataclass
from enum import IntEnum

_VERSION = 1
_MAC_BYTES = 5
_PAYLOAD = struct.Struct(">BBQ")  # version, direction, cursor id


class Direction(IntEnum):
    """Which way a token walks: `NEXT` toward older events, `PREVIOUS` toward newer ones."""

    NEXT = 0
    PREVIOUS = 1


@dataclass(frozen=True)
class Cursor:
    """A decoded token: NEXT = events strictly below `id`; PREVIOUS = strictly above."""

    direction: Direction
    id: int


class TokenCodec:
    """Encode and verify tokens with a secret derived from the sandbox seed.

    Deterministic per seed, so a CLI sandbox restarted with the same seed still
    accepts the tokens it gave out before.
    """

    def __init__(self, seed: int) -> None:
        self._key = hashlib.sha256(f"tap-x-dm-sandbox/pagination/{seed}".encode()).digest()

    def _mac(self, scope: str, payload: bytes) -> bytes:
        msg = scope.encode() + b"\0" + payload
        return hmac.new(self._key, msg, hashlib.sha256).digest()[:_MAC_BYTES]

    def encode(self, cursor: Cursor, *, scope: str) -> str:
        """Return the token for `cursor` within `scope`."""
        payload = _PAYLOAD.pack(_VERSION, cursor.direction, cursor.id)
        return base64.b32hexencode(payload + self._mac(scope, payload)).decode()

    def decode(self, token: str, *, scope: str) -> Cursor | None:
        """Return the cursor, or None when the token was not issued for this scope."""
        try:
            raw = base64.b32hexdecode(token.encode("ascii"))
        except (binascii.Error, UnicodeEncodeError, ValueError):
            return None
        if len(raw) != _PAYLOAD.size + _MAC_BYTES:
            return None
        payload, mac = raw[: _PAYLOAD.size], raw[_PAYLOAD.size :]
        if not hmac.compare_digest(mac, self._mac(scope, payload)):
            return None
        version, direction, cursor_id = _PAYLOAD.unpack(payload)
        if version != _VERSION or direction not in (Direction.NEXT, Direction.PREVIOUS):
            return None
        return Cursor(Direction(direction), cursor_id)
