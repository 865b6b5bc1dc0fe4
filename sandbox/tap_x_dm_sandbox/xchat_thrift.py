"""X's Thrift `MessageEvent` envelope, which the Chat API serves as `encoded_event`.

chatxdk builds the signed *parts* of an event (a send payload's `MessageCreateEvent`
and `MessageEventSignature`, an action's encoded `MessageEventDetail`), but the
envelope around them is X's server's job, so the sandbox writes it here: Thrift's
binary protocol, field ids from `thrift/event.thrift` of xdevplatform/chat-xdk. The
envelope's ids and times are plaintext, outside every signature, so one signed part
can be framed again with the clock's times at each start.
"""

from __future__ import annotations

import base64
import struct

_STOP = b"\x00"
_BOOL, _STRING, _STRUCT, _LIST = 2, 11, 12, 15

# MessageEventDetail union members.
DETAIL_MESSAGE_CREATE = 1
DETAIL_GROUP_CHANGE = 4
# GroupChange union members.
GROUP_CREATE = 1
# GroupCreate fields.
GROUP_CREATE_IS_LEGACY_GROUP_UPGRADE = 6


def _header(kind: int, field_id: int) -> bytes:
    return struct.pack(">bh", kind, field_id)


def string_field(field_id: int, value: str | bytes) -> bytes:
    """Encode a `string`/`binary` field."""
    raw = value.encode("utf-8") if isinstance(value, str) else value
    return _header(_STRING, field_id) + struct.pack(">i", len(raw)) + raw


def struct_field(field_id: int, body: bytes) -> bytes:
    """Encode a struct (or union) field whose `body` already ends with STOP."""
    return _header(_STRUCT, field_id) + body


def bool_field(field_id: int, value: bool) -> bytes:
    """Encode a `bool` field."""
    return _header(_BOOL, field_id) + (b"\x01" if value else b"\x00")


def string_list_field(field_id: int, values: list[str]) -> bytes:
    """Encode a `list<string>` field."""
    out = _header(_LIST, field_id) + struct.pack(">bi", _STRING, len(values))
    for value in values:
        raw = value.encode("utf-8")
        out += struct.pack(">i", len(raw)) + raw
    return out


def message_create_detail(message_create_event: bytes) -> bytes:
    """Wrap a bare `MessageCreateEvent` (a send payload's content) in the detail union."""
    return struct_field(DETAIL_MESSAGE_CREATE, message_create_event) + _STOP


def signature_struct(signature: str, public_key_version: str, signature_version: str) -> bytes:
    """Encode a `MessageEventSignature` from an action signature's three values."""
    return (
        string_field(1, signature)
        + string_field(2, public_key_version)
        + string_field(3, signature_version)
        + _STOP
    )


def envelope(
    *,
    sequence_id: str,
    message_id: str,
    sender_id: str,
    conversation_id: str,
    created_at_msec: int,
    detail: bytes,
    signature: bytes | None,
    previous_sequence_id: str | None,
    is_trusted: bool = True,
) -> str:
    """Return the base64 `MessageEvent` X serves as `encoded_event`."""
    out = (
        string_field(1, sequence_id)
        + string_field(2, message_id)
        + string_field(3, sender_id)
        + string_field(4, conversation_id)
        + string_field(6, str(created_at_msec))
        + struct_field(7, detail)
    )
    if signature is not None:
        out += struct_field(9, signature)
    if previous_sequence_id is not None:
        out += string_field(10, previous_sequence_id)
    out += bool_field(11, is_trusted)
    return base64.b64encode(out + _STOP).decode("ascii")


_FIXED = {2: 1, 3: 1, 4: 8, 6: 2, 8: 4, 10: 8}


def _skip(data: bytes, pos: int, kind: int) -> int:
    """Return the position after one value of Thrift type `kind` starting at `pos`."""
    if kind in _FIXED:
        return pos + _FIXED[kind]
    if kind == _STRING:
        return pos + 4 + int.from_bytes(data[pos : pos + 4], "big", signed=True)
    if kind == _STRUCT:
        while data[pos] != 0:
            pos = _skip(data, pos + 3, data[pos])
        return pos + 1
    if kind in (_LIST, 14):  # list, set
        elem, size = data[pos], int.from_bytes(data[pos + 1 : pos + 5], "big", signed=True)
        pos += 5
        for _ in range(size):
            pos = _skip(data, pos, elem)
        return pos
    msg = f"unsupported Thrift type {kind}"
    raise ValueError(msg)


def mark_legacy_group_upgrade(detail: bytes) -> bytes:
    """Set `is_legacy_group_upgrade` on a group-create detail (outside its signature).

    Layout: detail union {4: GroupChangeEvent {1: GroupChange {1: GroupCreate {...}}}};
    the GroupCreate body starts after three struct headers (9 bytes).
    """
    if detail[:9] != bytes.fromhex("0c00040c00010c0001"):
        raise ValueError("not a group-create detail")
    end = _skip(detail, 9, _STRUCT) - 1  # GroupCreate's STOP
    flag = bool_field(GROUP_CREATE_IS_LEGACY_GROUP_UPGRADE, True)
    return detail[:end] + flag + detail[end:]


def read_signature(signature: bytes) -> dict[str, str]:
    """Decode a `MessageEventSignature`'s string fields into the JSON X serves."""
    names = {
        1: "signature",
        2: "public_key_version",
        3: "signature_version",
        4: "signing_public_key",
    }
    out: dict[str, str] = {}
    pos = 0
    while signature[pos] != 0:
        kind = signature[pos]
        field_id = int.from_bytes(signature[pos + 1 : pos + 3], "big", signed=True)
        start = pos + 3
        pos = _skip(signature, start, kind)
        if kind == _STRING and field_id in names:
            out[names[field_id]] = signature[start + 4 : pos].decode("utf-8")
    return out


def tamper(signature: bytes) -> bytes:
    """Return a `MessageEventSignature` whose base64 signature has one character changed."""
    # Field 1 is first: type byte, id (2 bytes), length (4 bytes), then the text.
    at = 7 + 10
    flipped = b"B" if signature[at : at + 1] == b"A" else b"A"
    return signature[:at] + flipped + signature[at + 1 :]
