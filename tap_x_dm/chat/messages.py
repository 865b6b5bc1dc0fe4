"""One `chat_messages` row per served chat event: what it says, and whether it can be trusted.

chatxdk tells the kinds apart only after decryption (a message, a reply, a
reaction, an edit, a delete, a key or group change). Every event gets a row,
whatever happened: `decrypted` and `verified` say how far it got, and `status`
why it stopped (`ok`, `unknown_key_version`: keyed to a key version the blob
does not hold; `departed_signer`: X no longer serves the sender's signing key,
as for a member who left; `bad_signature`: the signature does not match, as
when tampered with; `signing_keys_unavailable`: the event names no sender whose keys
could be asked for (when X refuses the lookup, the run stops before the page instead:
`signing_keys`); `undecryptable`: anything else chatxdk refused).

The content of an event whose signature did not verify is withheld (null): its
sender cannot be told from anyone else holding the conversation key, so its
words must not enter the warehouse as theirs. Edits and deletes are rows of
their kind pointing at their targets; the warehouse models apply them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tap_x_dm.chat.crypto import Opened
from tap_x_dm.chat.records import ServedValueError, msec_time_text

STATUSES = (
    "ok",
    "unknown_key_version",
    "departed_signer",
    "bad_signature",
    "signing_keys_unavailable",
    "undecryptable",
)
KINDS = (
    "message",
    "reply",
    "reaction",
    "reaction_removed",
    "edit",
    "delete",
    "key_change",
    "group_change",
    "other",
    "unknown",
)
_EVENT_KINDS = {
    "KeyChange": "key_change",
    "GroupChange": "group_change",
    "MessageDeleted": "delete",
}
_CONTENT_KINDS = {"Reaction": "reaction", "RemoveReaction": "reaction_removed", "Edit": "edit"}

_S = {"type": ["string", "null"]}
_B = {"type": ["boolean", "null"]}
_STRINGS = {"type": ["array", "null"], "items": {"type": "string"}}
_OBJECTS = {"type": ["array", "null"], "items": {"type": "object"}}

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {"type": "string", "description": "The chat event's id (X's message id)."},
        "account_id": {"type": "string", "description": "The X account whose chats these are."},
        "conversation_id": {"type": "string", "description": "As X serves it: A:B or g…."},
        "dm_conversation_id": {**_S, "description": "The legacy A-B form of a one-to-one pair."},
        "sequence_id": {**_S, "description": "X's sequence id (targets point at it)."},
        "sender_id": _S,
        "created_at": {**_S, "format": "date-time"},
        "kind": {"type": "string", "enum": list(KINDS)},
        "decrypted": {"type": "boolean"},
        "verified": {"type": "boolean"},
        "status": {"type": "string", "enum": list(STATUSES)},
        "key_version": {**_S, "description": "The conversation key version that opened it."},
        "text": {**_S, "description": "A message's or reply's text; an edit's new text."},
        "entities": _OBJECTS,
        "attachments": {**_OBJECTS, "description": "Attachment metadata (media bytes stay at X)."},
        "reply_to_sequence_id": _S,
        "reply_to_sender_id": _S,
        "target_sequence_id": {**_S, "description": "What a reaction or edit points at."},
        "emoji": _S,
        "deleted_sequence_ids": _STRINGS,
        "delete_for_all": _B,
        "group_change_type": _S,
        "group_member_ids": _STRINGS,
        "group_admin_ids": _STRINGS,
        "group_title": _S,
        "legacy_group_upgrade": {
            **_B,
            "description": "A verified group create that upgrades a legacy DM group.",
        },
    },
    "required": ["id", "account_id", "conversation_id", "kind", "decrypted", "verified", "status"],
}


def _created_at(event: Mapping[str, Any], opened: Mapping[str, Any] | None) -> str | None:
    if event.get("created_at"):
        return str(event["created_at"])
    msec = event.get("created_at_msec") or (opened or {}).get("created_at_msec")
    if msec is None:
        return None
    try:  # `chat_events` refused the served one already: this is chatxdk's, from the envelope
        return msec_time_text(msec, "created_at_msec")
    except ServedValueError:
        return None


def _kind(opened: Mapping[str, Any]) -> str:
    kind = opened.get("type")
    if kind == "Message":
        content = opened.get("content") or {}
        content_type = content.get("content_type")
        if content_type == "Text":
            return "reply" if content.get("replying_to_preview") else "message"
        return _CONTENT_KINDS.get(str(content_type), "other")
    return {
        "KeyChange": "key_change",
        "GroupChange": "group_change",
        "MessageDeleted": "delete",
    }.get(str(kind), "other")


def _entities(content: Mapping[str, Any]) -> list[dict[str, Any]] | None:
    raw = content.get("entities")
    if not isinstance(raw, list):
        return None
    out = []
    for item in raw:
        if isinstance(item, dict):
            out.append(dict(item))
        elif isinstance(item, (list, tuple)) and len(item) == 3:  # chatxdk's (start, end, type)
            out.append({"start": item[0], "end": item[1], "type": item[2]})
    return out


def _attachments(content: Mapping[str, Any]) -> list[dict[str, Any]] | None:
    raw = content.get("attachments")
    if not isinstance(raw, list):
        return None
    return [dict(item) for item in raw if isinstance(item, dict)]


def _content_columns(kind: str, opened: Mapping[str, Any]) -> dict[str, Any]:
    content = opened.get("content") or {}
    row: dict[str, Any] = {}
    if kind in ("message", "reply"):
        row["text"] = content.get("text")
        row["entities"] = _entities(content)
        row["attachments"] = _attachments(content)
        preview = content.get("replying_to_preview") or {}
        row["reply_to_sequence_id"] = preview.get("replying_to_message_sequence_id")
        row["reply_to_sender_id"] = preview.get("sender_id")
    elif kind in ("reaction", "reaction_removed"):
        row["emoji"] = content.get("emoji")
        row["target_sequence_id"] = content.get("target_message_id")
    elif kind == "edit":
        row["text"] = content.get("new_text")
        row["entities"] = _entities(content)
        row["target_sequence_id"] = content.get("target_message_id")
    elif kind == "delete":
        row["deleted_sequence_ids"] = [str(i) for i in opened.get("message_ids") or []]
        row["delete_for_all"] = opened.get("delete_for_all")
    elif kind == "group_change":
        change = opened.get("change") or {}
        row["group_change_type"] = change.get("change_type")
        row["group_member_ids"] = change.get("member_ids")
        row["group_admin_ids"] = change.get("admin_ids") or change.get("current_admin_ids")
        row["group_title"] = change.get("title")
    return row


def _holds_key_for(opened: Mapping[str, Any], account_id: str, key_version: str) -> bool:
    """Whether a key change sends the conversation key to the owner's key version."""
    return any(
        str(p.get("user_id")) == account_id and str(p.get("public_key_version")) == key_version
        for p in opened.get("participant_keys") or []
        if isinstance(p, dict)
    )


def status_of(
    event: Mapping[str, Any],
    result: Opened,
    *,
    account_id: str,
    key_version: str,
    signer_served: bool | None,
) -> str:
    """Why an event did or did not open and verify (one of `STATUSES`)."""
    opened = result.event
    if opened is None:
        return "unknown_key_version" if result.failure == "missing_key" else "undecryptable"
    if opened.get("type") == "KeyChange" and not _holds_key_for(opened, account_id, key_version):
        return "unknown_key_version"
    if opened.get("verified") is not True:
        if signer_served is None:
            return "signing_keys_unavailable"
        return "bad_signature" if signer_served else "departed_signer"
    return "ok"


def chat_message_row(
    event: Mapping[str, Any],
    result: Opened,
    *,
    sequence_id: str | None,
    legacy_group_upgrade: bool,
    account_id: str,
    key_version: str,
    signer_served: bool | None,
) -> dict[str, Any]:
    """The `chat_messages` row of one served event and what chatxdk made of it."""
    opened = result.event
    status = status_of(
        event, result, account_id=account_id, key_version=key_version, signer_served=signer_served
    )
    conversation_id = str(event.get("conversation_id") or (opened or {}).get("conversation_id"))
    pair = conversation_id.replace(":", "-") if ":" in conversation_id else None
    decrypted = opened is not None and status != "unknown_key_version"
    row: dict[str, Any] = dict.fromkeys(SCHEMA["properties"])  # every column on every row
    row |= {
        "id": str(event["id"]),
        "account_id": account_id,
        "conversation_id": conversation_id,
        "dm_conversation_id": pair,
        "sequence_id": sequence_id or (opened or {}).get("sequence_id"),
        "sender_id": event.get("sender_id") or (opened or {}).get("sender_id"),
        "created_at": _created_at(event, opened),
        # A key change opened with no key for this blob still says what it is.
        "kind": _kind(opened) if opened is not None else "unknown",
        "decrypted": decrypted,
        "verified": status == "ok",
        "status": status,
        "key_version": (opened or {}).get("key_version") if decrypted else None,
    }
    if status == "ok" and opened is not None:
        row.update(_content_columns(row["kind"], opened))
        if row["kind"] == "group_change":
            row["legacy_group_upgrade"] = legacy_group_upgrade
    return row
