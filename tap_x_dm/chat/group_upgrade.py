"""Whether a group create upgrades a legacy DM group, read from its `encoded_event`.

A group create carries `is_legacy_group_upgrade` in its signed, unencrypted detail,
which chatxdk 0.5.2's decrypted group change leaves out; it is trusted only when
chatxdk verified the event's signature (which covers it). Field ids from
`thrift/event.thrift` of xdevplatform/chat-xdk; Thrift's binary protocol (the rest
of the framing is `tap_x_dm.chat.envelope`'s).
"""

from __future__ import annotations

import base64
import binascii
import struct

_BOOL, _STRING, _STRUCT, _MAP, _SET, _LIST = 2, 11, 12, 13, 14, 15
_FIXED = {_BOOL: 1, 3: 1, 4: 8, 6: 2, 8: 4, 10: 8}
#: MessageEvent's detail field.
_DETAIL = 7
#: detail union {4: GroupChangeEvent {1: GroupChange {1: GroupCreate {6: bool}}}}.
_GROUP_CREATE_PATH = (4, 1, 1)
_IS_LEGACY_GROUP_UPGRADE = 6


class EnvelopeError(ValueError):
    """The bytes are not a Thrift struct as X frames events."""  # caught here, never raised


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


def is_legacy_group_upgrade(encoded_event: str) -> bool:
    """Whether the event is a group create with `is_legacy_group_upgrade` set."""
    try:
        data = base64.b64decode(encoded_event)
        node = _fields(data, 0).get(_DETAIL)
        for field_id in _GROUP_CREATE_PATH:
            if node is None or node[0] != _STRUCT:
                return False
            node = _fields(data, node[1]).get(field_id)
        if node is None or node[0] != _STRUCT:
            return False
        flag = _fields(data, node[1]).get(_IS_LEGACY_GROUP_UPGRADE)
    except (binascii.Error, IndexError, struct.error, EnvelopeError):
        return False
    return flag is not None and flag[0] == _BOOL and data[flag[1]] == 1
