"""Opaque pagination tokens that carry a cursor (an event id), not an offset.

A cursor ("events strictly below id N") keeps pages stable while new DMs
arrive between two requests; an offset would shift and duplicate them. Tokens
are MAC-ed and bound to (endpoint, path id, user), so a forged, garbled or
transplanted token gets X's 400 instead of silently wrong data. They look like
X's: 24 characters of base32hex (40 when they carry their issue time, for
`pagination_token_ttl`). `expire_all` bumps a generation mixed into the MAC, so
every token issued so far stops verifying while new ones work.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import struct
import threading
from dataclasses import dataclass
from enum import IntEnum

_VERSION = 1
_MAC_BYTES = 5
_PAYLOAD = struct.Struct(">BBQ")  # version, direction, cursor id
#: With an issue time (only when tokens expire): 18 + 7 bytes, 40 base32 characters.
_TIMED_VERSION = 2
_TIMED_MAC_BYTES = 7
_TIMED_PAYLOAD = struct.Struct(">BBQQ")  # version, direction, cursor id, issued (epoch ms)


class Direction(IntEnum):
    """Which way a token walks: `NEXT` toward older events, `PREVIOUS` toward newer ones."""

    NEXT = 0
    PREVIOUS = 1
    #: `order_by="created_at"` only: events at or above the anchor's place (an empty page's
    #: way back, where the id order would use "above id N - 1").
    PREVIOUS_INCLUSIVE = 2


@dataclass(frozen=True)
class Cursor:
    """A decoded token: NEXT = events strictly below `id`; PREVIOUS = strictly above."""

    direction: Direction
    id: int
    #: When the token was issued (epoch ms), if it says so (timed tokens only).
    issued_ms: int | None = None


class TokenCodec:
    """Encode and verify tokens with a secret derived from the sandbox seed.

    Deterministic per seed, so a CLI sandbox restarted with the same seed still
    accepts the tokens it gave out before.
    """

    def __init__(self, seed: int) -> None:
        self._key = hashlib.sha256(f"tap-x-dm-sandbox/pagination/{seed}".encode()).digest()
        self._generation = 0
        self._lock = threading.Lock()

    def expire_all(self) -> None:
        """Make every token issued so far invalid; tokens issued from now on verify."""
        with self._lock:
            self._generation += 1

    def _mac(self, scope: str, payload: bytes, size: int) -> bytes:
        with self._lock:
            generation = self._generation
        # Generation 0 leaves the MAC as it always was, so old tokens survive a restart.
        salt = b"" if generation == 0 else b"\0g" + str(generation).encode()
        msg = scope.encode() + salt + b"\0" + payload
        return hmac.new(self._key, msg, hashlib.sha256).digest()[:size]

    def encode(self, cursor: Cursor, *, scope: str) -> str:
        """Return the token for `cursor` within `scope` (timed when it has `issued_ms`)."""
        if cursor.issued_ms is None:
            payload = _PAYLOAD.pack(_VERSION, cursor.direction, cursor.id)
            size = _MAC_BYTES
        else:
            payload = _TIMED_PAYLOAD.pack(
                _TIMED_VERSION, cursor.direction, cursor.id, cursor.issued_ms
            )
            size = _TIMED_MAC_BYTES
        return base64.b32hexencode(payload + self._mac(scope, payload, size)).decode()

    def decode(self, token: str, *, scope: str) -> Cursor | None:
        """Return the cursor, or None when the token was not issued for this scope."""
        try:
            raw = base64.b32hexdecode(token.encode("ascii"))
        except (binascii.Error, UnicodeEncodeError, ValueError):
            return None
        if len(raw) == _PAYLOAD.size + _MAC_BYTES:
            layout, size, expected_version = _PAYLOAD, _MAC_BYTES, _VERSION
        elif len(raw) == _TIMED_PAYLOAD.size + _TIMED_MAC_BYTES:
            layout, size, expected_version = _TIMED_PAYLOAD, _TIMED_MAC_BYTES, _TIMED_VERSION
        else:
            return None
        payload, mac = raw[: layout.size], raw[layout.size :]
        if not hmac.compare_digest(mac, self._mac(scope, payload, size)):
            return None
        version, direction, cursor_id, *issued = layout.unpack(payload)
        if version != expected_version or direction not in iter(Direction):
            return None
        return Cursor(Direction(direction), cursor_id, issued[0] if issued else None)
