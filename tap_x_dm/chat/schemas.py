"""The JSON Schemas of the XChat streams: the Chat API's plaintext metadata, for a warehouse.

Written out here rather than taken from X's OpenAPI document: X renamed the fields
between 2.166 and 2.167 (`created_at_msec`, `sequence_id`, `message_ttl_msec`), and a
warehouse needs one set of columns whichever X serves (`tap_x_dm.chat.records`).
"""

from __future__ import annotations

import copy
from typing import Any

from tap_x_dm.schemas import ACCOUNT_ID_SCHEMA

_TEXT = {"type": ["string", "null"]}
_TIME = {"type": ["string", "null"], "format": "date-time"}
_FLAG = {"type": ["boolean", "null"]}
_IDS = {"type": ["array", "null"], "items": {"type": "string"}}


def _prop(base: dict[str, Any], description: str) -> dict[str, Any]:
    return {**copy.deepcopy(base), "description": description}


def _schema(properties: dict[str, dict[str, Any]], required: list[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"account_id": dict(ACCOUNT_ID_SCHEMA), **properties},
        "required": ["account_id", *required],
    }


_DM_CONVERSATION_ID = _prop(
    _TEXT,
    "The legacy /2/dm_* id of a one-to-one pair (`A-B`, smaller user id first), to join "
    "legacy DMs; null for groups.",
)

CHAT_CONVERSATIONS = _schema(
    {
        "id": _prop({"type": "string"}, "X's conversation id as served (`A-B` or `g...`)."),
        "dm_conversation_id": _DM_CONVERSATION_ID,
        "type": _prop(_TEXT, "direct or group."),
        "created_at": _prop(_TIME, "When the conversation was created."),
        "updated_at": _prop(_TIME, "Its last activity (the tap reads events only when it moved)."),
        "is_muted": _prop(_FLAG, "Whether the account muted it."),
        "message_ttl_ms": _prop({"type": ["integer", "null"]}, "Disappearing-message time."),
        "screen_capture_blocking_enabled": _prop(_FLAG, "Screen capture blocking."),
        "screen_capture_detection_enabled": _prop(_FLAG, "Screen capture detection."),
        "group_name": _prop(_TEXT, "A group's name: ciphertext under its latest key."),
        "group_avatar_url": _prop(_TEXT, "A group's avatar."),
        "admin_ids": _prop(_IDS, "Group admins (when X serves them as fields: 2.166)."),
        "member_ids": _prop(_IDS, "Group members (when X serves them as fields: 2.166)."),
        "participant_ids": _prop(_IDS, "Participants (when X serves them as fields: 2.166)."),
    },
    ["id"],
)

_SIGNATURE = {
    "type": ["object", "null"],
    "description": "The sender's signature of the event (ECDSA P-256), for verification.",
    "properties": {
        "signature": {"type": ["string", "null"]},
        "public_key_version": {"type": ["string", "null"]},
        "signature_version": {"type": ["string", "null"]},
        "signing_public_key": {"type": ["string", "null"]},
        "message_signing_key_info_list": {
            "type": ["array", "null"],
            "items": {"type": "object", "additionalProperties": True},
        },
    },
}

_CHAT_EVENT_PROPERTIES = {
    "id": _prop({"type": "string"}, "The message id (a UUID; never ordered)."),
    "conversation_id": _prop(
        {"type": "string"}, "The conversation as events write it (`A:B` or `g...`)."
    ),
    "dm_conversation_id": _DM_CONVERSATION_ID,
    "sender_id": _prop(_TEXT, "Who sent it."),
    "created_at": _prop(_TIME, "When it was sent (RFC 3339, milliseconds)."),
    "sequence_id": _prop(
        _TEXT, "Its place in the conversation (numeric; compare as integers): what orders events."
    ),
    "previous_id": _prop(_TEXT, "The sequence id of the event before it."),
    "key_version": _prop(
        _TEXT, "The conversation key version it is encrypted under (null for group changes)."
    ),
    "is_trusted": _prop(_FLAG, "X's is_trusted flag."),
}


def chat_events_schema(*, ciphertext: bool) -> dict[str, Any]:
    """`chat_events`; with `xchat_ciphertext`, the encrypted event and its signature too."""
    properties = copy.deepcopy(_CHAT_EVENT_PROPERTIES)
    if ciphertext:
        properties["encoded_event"] = _prop(
            _TEXT, "The event as X serves it: a base64 Thrift envelope, contents encrypted."
        )
        properties["message_event_signature"] = copy.deepcopy(_SIGNATURE)
    return _schema(properties, ["id", "conversation_id"])


CHAT_CONVERSATION_KEYS = _schema(
    {
        "conversation_id": _prop(
            {"type": "string"}, "The conversation as events write it (`A:B` or `g...`)."
        ),
        "dm_conversation_id": _DM_CONVERSATION_ID,
        "key_version": _prop({"type": "string"}, "The conversation key version."),
        "public_key_version": _prop(
            _TEXT, "The account's identity key version the key is encrypted to."
        ),
        "encrypted_key": _prop(
            _TEXT,
            "The conversation key, encrypted to the account's identity key (ECIES): only the "
            "account's own private key opens it.",
        ),
        "sequence_id": _prop(_TEXT, "The key-change event's sequence id."),
        "encoded_event": _prop(
            _TEXT, "The whole key-change event as X serves it (what X's Chat XDK decrypts)."
        ),
    },
    ["conversation_id", "key_version"],
)
