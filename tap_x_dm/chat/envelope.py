"""What a served `encoded_event` says in plaintext: X's Thrift `MessageEvent` envelope.

Every event, even one the owner's keys cannot open, names its sequence id (what
`previous_id`, replies, reactions, edits and deletes point at) in the envelope,
and a group create carries `is_legacy_group_upgrade` in its signed, unencrypted
detail (chatxdk 0.5.2's decrypted group change leaves it out). Field ids from
`thrift/event.thrift` of xdevplatform/chat-xdk; Thrift's binary protocol.
"""

from __future__ import annotations

import base64
import binascii
import struct
from dataclasses import dataclass

_BOOL, _STRING, _STRUCT, _MAP, _SET, _LIST = 2, 11, 12, 13, 14, 15
_FIXED = {_BOOL: 1, 3: 1, 4: 8, 6: 2, 8: 4, 10: 8}
#: MessageEvent fields.
_SEQUENCE_ID, _DETAIL = 1, 7
#: detail union {4: GroupChangeEvent {1: GroupChange {1: GroupCreate {6: bool}}}}.
_GROUP_CREATE_PATH = (4, 1, 1)
_IS_LEGACY_GROUP_UPGRADE = 6


class EnvelopeError(ValueError):
    """The bytes are not a Thrift struct as X frames events."""


def _skip(data: bytes, pos: int, kind: int) -> int:
    if kind in _FIXED:
        return pos + _FIXED[kind]
    if kind == _STRING:
        return pos + 4 + int(struct.unpack_from(">i", data, pos)[0])
    if kind == _STRUCT:
        while data[pos] != 0:
            pos = _skip(data, pos + 3, data[pos])
        return pos + 1
    if kind in (_LIST, _SET):
        elem, size = data[pos], struct.unpack_from(">i", data, pos + 1)[0]
        pos += 5
        for _ in range(size):
            pos = _skip(data, pos, elem)
        return pos
    if kind == _MAP:
        key, value, size = data[pos], data[pos + 1], struct.unpack_from(">i", data, pos + 2)[0]
        pos += 6
        for _ in range(size):
            pos = _skip(data, _skip(data, pos, key), value)
        return pos
    msg = f"unsupported Thrift type {kind}"
    raise EnvelopeError(msg)


def _fields(data: bytes, pos: int) -> dict[int, tuple[int, int]]:
    """Field id -> (type, start of value) of the struct starting at `pos`."""
    out: dict[int, tuple[int, int]] = {}
    while data[pos] != 0:
        kind, field_id = data[pos], struct.unpack_from(">h", data, pos + 1)[0]
        out[field_id] = (kind, pos + 3)
        pos = _skip(data, pos + 3, kind)
    return out


@dataclass(frozen=True)
class Envelope:
    """The plaintext an event's envelope carries that the JSON around it does not."""

    sequence_id: str | None
    legacy_group_upgrade: bool


def read_envelope(encoded_event: str) -> Envelope:
    """Read the sequence id and the legacy-group-upgrade flag of a served event."""
    try:
        data = base64.b64decode(encoded_event)
        top = _fields(data, 0)
        sequence_id = None
        if top.get(_SEQUENCE_ID, (0, 0))[0] == _STRING:
            start = top[_SEQUENCE_ID][1]
            size = struct.unpack_from(">i", data, start)[0]
            sequence_id = data[start + 4 : start + 4 + size].decode("utf-8")
        upgrade = False
        node = top.get(_DETAIL)
        for field_id in _GROUP_CREATE_PATH:
            if node is None or node[0] != _STRUCT:
                node = None
                break
            node = _fields(data, node[1]).get(field_id)
        if node is not None and node[0] == _STRUCT:
            flag = _fields(data, node[1]).get(_IS_LEGACY_GROUP_UPGRADE)
            upgrade = flag is not None and flag[0] == _BOOL and data[flag[1]] == 1
    except (binascii.Error, IndexError, struct.error, UnicodeDecodeError) as exc:
        msg = "encoded_event is not a Thrift MessageEvent"
        raise EnvelopeError(msg) from exc
    return Envelope(sequence_id, upgrade)
