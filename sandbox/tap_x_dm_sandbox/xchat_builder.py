"""The mechanics of making XChat history: a user's clients, events, media, sequence ids.

`xchat_world` writes the scenario with it. Each event is signed (and encrypted) by the
sender's chatxdk client and framed as X's server frames it (`xchat_thrift`); the stored
record keeps the signed parts and an offset before "now", so `xchat_store` can frame it
again for any clock. A conversation remembers its latest key, so `xchat_store` can add
messages at run time.
"""

from __future__ import annotations

import base64
import hashlib
import random
from dataclasses import dataclass, field
from typing import Any

from tap_x_dm_sandbox import xchat_thrift
from tap_x_dm_sandbox.model import one_to_one_conversation_id
from tap_x_dm_sandbox.xchat_crypto import Client, Identity, KeyChange, Signed, new_identity

#: The cache document's format: bump it whenever the scenario or the document changes.
FORMAT = 3
MINUTE_MS = 60_000
DAY_MS = 86_400_000
#: Sequence ids grow with time: (horizon - offset) ms * 1000 + a counter, above this base.
SEQUENCE_BASE = 1_900_000_000_000_000_000
HORIZON_MS = 400 * DAY_MS
#: Creation time inside ciphertext (reply previews embed their target event).
GENERATION_ANCHOR_MS = 1_790_000_000_000
#: A 16x8 PNG header: chatxdk reads its type and dimensions like a real image's.
PNG_16X8 = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR"
    + (16).to_bytes(4, "big")
    + (8).to_bytes(4, "big")
    + b"\x08\x06\x00\x00\x00"
)


def event_conversation_id(conversation_id: str) -> str:
    """The form events carry: `A:B` for a one-to-one pair, `g…` unchanged."""
    return conversation_id.replace("-", ":")


@dataclass
class Conversation:
    """One conversation being written: metadata, event records, its latest key."""

    id: str
    type: str
    member_ids: list[str]
    admin_ids: list[str] = field(default_factory=list)
    group_name: str | None = None
    legacy_id: str | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    #: The key of new messages, and the key version each member's key is sent to.
    latest_key: KeyChange | None = None
    member_versions: dict[str, str] = field(default_factory=dict)
    raw: dict[str, str] = field(default_factory=dict)  # message id -> framed event


def direct(user_a: str, user_b: str) -> Conversation:
    """A one-to-one conversation (`A-B`)."""
    pair = one_to_one_conversation_id(user_a, user_b)
    return Conversation(pair, "direct", pair.split("-"))


class Builder:
    """Clients by (user, key version), and the events, media and departures written."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(f"xchat/{seed}")
        self.identities: dict[tuple[str, str], Identity] = {}
        self.clients: dict[tuple[str, str], Client] = {}
        self.conversations: list[Conversation] = []
        self.media: dict[str, dict[str, str]] = {}
        self.departed: list[str] = []
        self._counter = 0

    # -- identities ---------------------------------------------------------------------

    def identity(self, user_id: str, version: str = "1") -> Identity:
        """The user's registered keys of one version (generated on first use)."""
        key = (user_id, version)
        if key not in self.identities:
            self.identities[key] = new_identity(user_id, version)
        return self.identities[key]

    def client(self, user_id: str, version: str = "1") -> Client:
        """The user's chatxdk client holding that key version."""
        key = (user_id, version)
        if key not in self.clients:
            self.clients[key] = Client(self.identity(user_id, version))
        return self.clients[key]

    # -- events ---------------------------------------------------------------------------

    def _sequence_id(self, offset_ms: int) -> str:
        self._counter += 1
        return str(SEQUENCE_BASE + (HORIZON_MS - offset_ms) * 1000 + self._counter % 1000)

    def add(
        self,
        conv: Conversation,
        signed: Signed,
        sender: str,
        offset_ms: int,
        expect: dict[str, Any],
        *,
        key_version: str | None,
        tamper: bool = False,
    ) -> dict[str, Any]:
        """Frame a signed action as the conversation's next event; return its record."""
        previous = conv.events[-1]["sequence_id"] if conv.events else None
        sequence_id = self._sequence_id(offset_ms)
        signature = base64.b64decode(signed.signature_b64)
        if tamper:
            signature = xchat_thrift.tamper(signature)
        event = {
            "sequence_id": sequence_id,
            "previous_sequence_id": previous,
            "message_id": signed.message_id,
            "sender_id": sender,
            "offset_ms": offset_ms,
            "detail_b64": signed.detail_b64,
            "signature_b64": base64.b64encode(signature).decode("ascii"),
            "key_version": key_version,
            "is_key_event": expect["kind"] == "key_change",
            "expect": {"outcome": "ok", **expect},
        }
        conv.events.append(event)
        conv.raw[signed.message_id] = xchat_thrift.envelope(
            sequence_id=sequence_id,
            message_id=signed.message_id,
            sender_id=sender,
            conversation_id=event_conversation_id(conv.id),
            created_at_msec=GENERATION_ANCHOR_MS - offset_ms,
            detail=base64.b64decode(signed.detail_b64),
            signature=signature,
            previous_sequence_id=previous,
        )
        return event

    def keyed(
        self, conv: Conversation, change: KeyChange, sender: str, offset_ms: int, kind: str
    ) -> None:
        """Add a key change's events: the key change, then a group action if any."""
        conv.latest_key = change
        kinds = ["key_change", kind] if kind != "key_change" else ["key_change"]
        for position, (signed, what) in enumerate(zip(change.events, kinds, strict=True)):
            expect = {"kind": what}
            self.add(conv, signed, sender, offset_ms - position, expect, key_version=change.version)

    def text(
        self,
        conv: Conversation,
        sender: str,
        text: str,
        key: KeyChange,
        offset_ms: int,
        *,
        version: str = "1",
        attachments: list[dict[str, Any]] | None = None,
        **expect: Any,
    ) -> dict[str, Any]:
        """A text message (with attachments) from `sender` under `key`."""
        signed = self.client(sender, version).message(
            event_conversation_id(conv.id), text, key, attachments or []
        )
        tamper = expect.pop("tamper", False)
        what = {"kind": "message", "text": text, **expect}
        version_of_key = key.version
        return self.add(
            conv, signed, sender, offset_ms, what, key_version=version_of_key, tamper=tamper
        )

    def raw(self, conv: Conversation, event: dict[str, Any]) -> str:
        """An event as framed at generation (replies, reactions, edits embed it)."""
        return conv.raw[event["message_id"]]

    def attachment(self, conv: Conversation, sender: str, key: KeyChange) -> dict[str, Any]:
        """Encrypt a PNG as media of the conversation; return its attachment descriptor."""
        encrypted = self.client(sender).encrypt_media(PNG_16X8 + bytes(64), key)
        hash_key = hashlib.sha256(encrypted).hexdigest()[:32]
        self.media[hash_key] = {
            "conversation": conv.id,
            "data_b64": base64.b64encode(encrypted).decode("ascii"),
        }
        return {
            "attachment_type": "media",
            "media_hash_key": hash_key,
            "filesize_bytes": len(PNG_16X8) + 64,
            "filename": "receipt.png",
            "width": 16,
            "height": 8,
        }
