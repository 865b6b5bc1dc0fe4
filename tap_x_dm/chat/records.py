"""From the Chat API's JSON to the chat streams' records, under either of X's vocabularies.

X's OpenAPI 2.166 and 2.167 name some Chat fields differently (`created_at_msec` for
`created_at`, `message_ttl_msec` for `message_ttl_ms`, `previous_sequence_id` for
`previous_id`, a `sequence_id` 2.167 does not serve); each takes only its own names in
`*.fields`. The tap asks in 2.167's names and, if X refuses them, in 2.166's
(`ChatRun.vocabulary`), and writes one set of columns whichever answered.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tap_x_dm.api.vocabulary import V2166, V2167
from tap_x_dm.chat.envelope import Envelope
from tap_x_dm.ids_and_times import canonical_conversation_id, x_time_text

_COMMON_CONVERSATION_FIELDS = (
    "created_at",
    "group_avatar_url",
    "group_name",
    "id",
    "is_muted",
    "screen_capture_blocking_enabled",
    "screen_capture_detection_enabled",
    "type",
    "updated_at",
)
#: Per vocabulary. 2.167 serves the member id lists only as (billed) user expansions, which
#: the tap does not ask for; 2.166 serves them as plain fields.
CONVERSATION_FIELDS = {
    V2167: (*_COMMON_CONVERSATION_FIELDS, "message_ttl_ms"),
    V2166: (
        *_COMMON_CONVERSATION_FIELDS,
        "message_ttl_msec",
        "admin_ids",
        "member_ids",
        "participant_ids",
    ),
}
_COMMON_EVENT_FIELDS = (
    "conversation_id",
    "encoded_event",
    "id",
    "is_trusted",
    "message_event_signature",
    "previous_id",
    "sender_id",
)
#: `encoded_event` is always asked for: its plaintext framing holds the sequence id and key
#: version (`tap_x_dm.chat.envelope`); it is written out only with `xchat_ciphertext`.
EVENT_FIELDS = {
    V2167: (*_COMMON_EVENT_FIELDS, "created_at"),
    V2166: (*_COMMON_EVENT_FIELDS, "created_at_msec"),
}
#: The parameters whose names differ: `tap_x_dm.api.vocabulary.AskedVocabulary` switches on them
#: (`ChatRun.vocabulary`: 2.167's names first, 2.166's once X refuses them, for the run).
FIELDS_PARAMETERS = frozenset({"chat_conversation.fields", "chat_message_event.fields"})


class ServedValueError(ValueError):
    """A field of X's answer is not what X's spec says (the message names the field)."""


def msec_time_text(value: object, field: str) -> str:
    """An epoch-ms string (2.166's `created_at_msec`) as X writes `created_at`.

    Raises:
        ServedValueError: not a string of digits, as X's spec has it.
    """
    text = str(value)
    if isinstance(value, bool) or not text.isdigit():
        msg = f"{field} is not a number of milliseconds ({text[:30]!r})"
        raise ServedValueError(msg)
    return x_time_text(int(text))


def dm_conversation_id(conversation_id: str) -> str | None:
    """The legacy `A-B` id of a one-to-one conversation (`A:B`, `B-A`...); None for a group."""
    if conversation_id.startswith("g"):
        return None
    pair = conversation_id.replace(":", "-")
    return canonical_conversation_id(pair) if pair.count("-") == 1 else None


def conversation_record(row: Mapping[str, Any], account_id: str) -> dict[str, Any]:
    """A `chat_conversations` record."""
    ttl = row.get("message_ttl_ms", row.get("message_ttl_msec"))
    record = {
        name: row.get(name)
        for name in (*_COMMON_CONVERSATION_FIELDS, "admin_ids", "member_ids", "participant_ids")
    }
    record["message_ttl_ms"] = int(ttl) if ttl is not None and str(ttl).isdigit() else None
    record["dm_conversation_id"] = dm_conversation_id(str(row["id"]))
    record["account_id"] = account_id
    return record


def sequence_of(row: Mapping[str, Any], envelope: Envelope) -> str | None:
    """An event's sequence id: 2.166's field, else the envelope's framing."""
    value = row.get("sequence_id") or envelope.sequence_id
    return str(value) if value is not None and str(value).isdigit() else None


def event_record(
    row: Mapping[str, Any], envelope: Envelope, account_id: str, *, ciphertext: bool
) -> dict[str, Any]:
    """A `chat_events` record (with `encoded_event` and the signature under `ciphertext`).

    Raises:
        ServedValueError: a field is not what X's spec says.
    """
    created = row.get("created_at")
    if created is None and row.get("created_at_msec") is not None:
        created = msec_time_text(row["created_at_msec"], "created_at_msec")
    conversation_id = str(row.get("conversation_id") or "")
    record: dict[str, Any] = {
        "account_id": account_id,
        "id": str(row["id"]),
        "conversation_id": conversation_id,
        "dm_conversation_id": dm_conversation_id(conversation_id) if conversation_id else None,
        "sender_id": row.get("sender_id"),
        "created_at": created,
        "sequence_id": sequence_of(row, envelope),
        "previous_id": row.get("previous_id", row.get("previous_sequence_id")),
        "key_version": envelope.key_version,
        "is_trusted": row.get("is_trusted"),
    }
    if ciphertext:
        record["encoded_event"] = row.get("encoded_event")
        record["message_event_signature"] = row.get("message_event_signature")
    return record


def key_record(
    envelope: Envelope, encoded_event: str, conversation_id: str, account_id: str
) -> dict[str, Any] | None:
    """A `chat_conversation_keys` record: the account's copy of one conversation key."""
    mine = envelope.participant_keys.get(account_id)
    if envelope.key_version is None:
        return None
    return {
        "account_id": account_id,
        "conversation_id": conversation_id,
        "dm_conversation_id": dm_conversation_id(conversation_id),
        "key_version": envelope.key_version,
        "public_key_version": mine[1] if mine else None,
        "encrypted_key": mine[0] if mine else None,
        "sequence_id": envelope.sequence_id,
        "encoded_event": encoded_event,
    }
