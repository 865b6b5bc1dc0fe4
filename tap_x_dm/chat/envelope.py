"""The plaintext fields of X's XChat event envelope (`encoded_event`), read without keys.

X serves each chat event as a base64 Thrift `MessageEvent` (binary protocol, field ids
of `thrift/event.thrift` in xdevplatform/chat-xdk). Its framing is plaintext: the
sequence id (the number events are ordered by, which `previous_id` points at), and, in
a message or a key change, the conversation key version; a group create says in its
signed, unencrypted detail whether it upgrades a legacy DM group (`is_legacy_group_upgrade`,
which chatxdk 0.5.2's decrypted group change leaves out; trusted only when chatxdk
verified the event's signature, which covers it). Message contents stay ciphertext:
nothing here decrypts, and nothing here reads past the framing.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
from dataclasses import dataclass, field

_STOP, _BOOL, _BYTE, _DOUBLE, _I16, _I32, _I64 = 0, 2, 3, 4, 6, 8, 10
_STRING, _STRUCT, _MAP, _SET, _LIST = 11, 12, 13, 14, 15
_FIXED = {_BOOL: 1, _BYTE: 1, _DOUBLE: 8, _I16: 2, _I32: 4, _I64: 8}

# MessageEvent fields, and the members of its `detail` union that carry a key version.
_SEQUENCE_ID, _DETAIL = 1, 7
_MESSAGE_CREATE, _KEY_CHANGE, _GROUP_CHANGE = 1, 3, 4
_MESSAGE_KEY_VERSION = 101
_KEY_CHANGE_VERSION, _KEY_CHANGE_PARTICIPANTS = 1, 2
# GroupChangeEvent {1: GroupChange {1: GroupCreate {6: is_legacy_group_upgrade}}}.
_GROUP_CREATE_PATH, _IS_LEGACY_GROUP_UPGRADE = (1, 1), 6
# ConversationParticipantKey fields.
_PARTICIPANT_USER, _PARTICIPANT_KEY, _PARTICIPANT_KEY_VERSION = 1, 2, 3


class EnvelopeError(ValueError):
    """`encoded_event` is not a Thrift `MessageEvent` this reader understands."""


@dataclass
class Envelope:
    """What an event's framing says in plaintext."""

    sequence_id: str | None = None
    key_version: str | None = None
    is_key_change: bool = False
    #: A key change's encrypted conversation key per participant: user id -> (key, version).
    participant_keys: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    #: A group create that upgrades a legacy DM group (trust it only once verified).
    is_legacy_group_upgrade: bool = False


def read_envelope(encoded_event: str) -> Envelope:
    """Read the plaintext framing of one `encoded_event`.

    Raises:
        EnvelopeError: not base64, or not a Thrift struct.
    """
    try:
        data = base64.b64decode(encoded_event, validate=True)
        return _Reader(data).envelope()
    except (binascii.Error, IndexError, UnicodeDecodeError) as exc:
        raise EnvelopeError(str(exc) or type(exc).__name__) from None


class _Reader:
    """Thrift's binary protocol, just far enough to read the framing."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def fields(self, pos: int) -> list[tuple[int, int, int]]:
        """The (type, id, value position) of each field of the struct at `pos`."""
        out = []
        while self.data[pos] != _STOP:
            kind = self.data[pos]
            field_id = int.from_bytes(self.data[pos + 1 : pos + 3], "big", signed=True)
            out.append((kind, field_id, pos + 3))
            pos = self.skip(pos + 3, kind)
        return out

    def skip(self, pos: int, kind: int) -> int:
        """The position after one value of type `kind` at `pos`."""
        if kind in _FIXED:
            return pos + _FIXED[kind]
        if kind == _STRING:
            return pos + 4 + self.length(pos)
        if kind == _STRUCT:
            while self.data[pos] != _STOP:
                pos = self.skip(pos + 3, self.data[pos])
            return pos + 1
        if kind in (_LIST, _SET):
            element, size = self.data[pos], self.length(pos + 1)
            pos += 5
            for _ in range(size):
                pos = self.skip(pos, element)
            return pos
        if kind == _MAP:
            key_kind, value_kind, size = self.data[pos], self.data[pos + 1], self.length(pos + 2)
            pos += 6
            for _ in range(size):
                pos = self.skip(self.skip(pos, key_kind), value_kind)
            return pos
        raise EnvelopeError(f"unknown Thrift type {kind}")

    def length(self, pos: int) -> int:
        size = int.from_bytes(self.data[pos : pos + 4], "big", signed=True)
        if size < 0 or pos + 4 + size > len(self.data):
            raise EnvelopeError("a length runs past the end")
        return size

    def text(self, pos: int) -> str:
        return self.data[pos + 4 : pos + 4 + self.length(pos)].decode("utf-8")

    def strings(self, pos: int) -> dict[int, str]:
        """The text fields of the struct at `pos`, by field id (binary ones are left out)."""
        out = {}
        for kind, field_id, at in self.fields(pos):
            if kind == _STRING:
                with contextlib.suppress(UnicodeDecodeError):
                    out[field_id] = self.text(at)
        return out

    def envelope(self) -> Envelope:
        out = Envelope()
        for kind, field_id, at in self.fields(0):
            if field_id == _SEQUENCE_ID and kind == _STRING:
                out.sequence_id = self.text(at)
            elif field_id == _DETAIL and kind == _STRUCT:
                self._detail(at, out)
        return out

    def _detail(self, pos: int, out: Envelope) -> None:
        for kind, member, at in self.fields(pos):
            if kind != _STRUCT:
                continue
            if member == _MESSAGE_CREATE:
                out.key_version = self.strings(at).get(_MESSAGE_KEY_VERSION)
            elif member == _KEY_CHANGE:
                out.is_key_change = True
                self._key_change(at, out)
            elif member == _GROUP_CHANGE:
                out.is_legacy_group_upgrade = self._legacy_group_upgrade(at)

    def _legacy_group_upgrade(self, pos: int) -> bool:
        for field_id in _GROUP_CREATE_PATH:
            found = [at for kind, i, at in self.fields(pos) if i == field_id and kind == _STRUCT]
            if not found:
                return False
            pos = found[-1]
        return any(
            kind == _BOOL and self.data[at] == 1
            for kind, field_id, at in self.fields(pos)
            if field_id == _IS_LEGACY_GROUP_UPGRADE
        )

    def _key_change(self, pos: int, out: Envelope) -> None:
        for kind, field_id, at in self.fields(pos):
            if field_id == _KEY_CHANGE_VERSION and kind == _STRING:
                out.key_version = self.text(at)
            elif (
                field_id == _KEY_CHANGE_PARTICIPANTS and kind == _LIST and self.data[at] == _STRUCT
            ):
                item = at + 5
                for _ in range(self.length(at + 1)):
                    values = self.strings(item)
                    user = values.get(_PARTICIPANT_USER)
                    if user is not None and _PARTICIPANT_KEY in values:
                        out.participant_keys[user] = (
                            values[_PARTICIPANT_KEY],
                            values.get(_PARTICIPANT_KEY_VERSION),
                        )
                    item = self.skip(item, _STRUCT)
