"""The XChat world at run time: built once per seed, cached on disk, framed for "now".

Real cryptography takes a fraction of a second but chatxdk's keys are random, so
the world is generated once per (seed, chatxdk version, cast) and kept in a cache
folder; every later sandbox with that seed serves the same keys and ciphertext.
Nothing is built at start-up: the first Chat API request (or Python call) loads it.
The cache folder is `xchat_cache_dir`, else `$TAP_X_DM_SANDBOX_CACHE`, else
`$XDG_CACHE_HOME/tap-x-dm-sandbox` (`~/.cache/tap-x-dm-sandbox`).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tap_x_dm_sandbox import xchat_builder, xchat_thrift, xchat_world
from tap_x_dm_sandbox.data import Dataset
from tap_x_dm_sandbox.model import iso_ms
from tap_x_dm_sandbox.xchat_crypto import (
    INSTALL_HINT,
    Client,
    Identity,
    KeyChange,
    XChatUnavailableError,
    chatxdk_version,
)

CACHE_ENV = "TAP_X_DM_SANDBOX_CACHE"


def cache_dir(configured: str | None) -> Path:
    """Return the cache folder (see the module docstring)."""
    if configured:
        return Path(configured)
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "tap-x-dm-sandbox"


def cache_path(folder: Path, seed: int, dataset: Dataset) -> Path:
    """Name the cache file of a seed, the installed chatxdk and the world's cast."""
    version = chatxdk_version()
    if version is None:
        raise XChatUnavailableError(INSTALL_HINT)
    cast = {k: v for k, v in (xchat_world.pick_cast(dataset) or {}).items() if k != "legacy_group"}
    cast_json = json.dumps(cast, sort_keys=True)
    digest = hashlib.sha256(f"{xchat_builder.FORMAT}/{cast_json}".encode()).hexdigest()[:12]
    return folder / f"xchat-seed{seed}-chatxdk{version}-{digest}.json"


def load_or_build(folder: Path, seed: int, dataset: Dataset) -> dict[str, Any]:
    """Return the world document from the cache, building and caching it when absent."""
    path = cache_path(folder, seed, dataset)
    try:
        doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        if doc.get("format") == xchat_builder.FORMAT:
            return doc
    except (OSError, ValueError):
        pass
    doc = xchat_world.build(dataset, seed)
    folder.mkdir(parents=True, exist_ok=True)
    # Atomic: concurrent sandboxes may build at once; each keeps its own copy in memory.
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".xchat-", suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(doc, out)
    Path(tmp).replace(path)
    return doc


@dataclass(frozen=True)
class ChatEvent:
    """One served event: plaintext metadata and X's envelope."""

    id: str  # the message id (a UUID)
    sequence_id: str
    previous_sequence_id: str | None
    conversation_id: str  # as events write it: `A:B` or `g…`
    sender_id: str
    created_ms: int
    encoded_event: str
    signature: dict[str, str]
    key_version: str | None
    is_key_event: bool
    expect: dict[str, Any]


@dataclass
class ChatConversation:
    """One conversation: metadata, its events oldest first, key-change events by version."""

    id: str  # as paths and the conversation list write it: `A-B` or `g…`
    type: str
    member_ids: list[str]
    admin_ids: list[str]
    group_name: str | None
    legacy_id: str | None
    events: list[ChatEvent]
    key_events: dict[str, str]
    #: The key new messages use (raw key, version), and members keyed to another version.
    latest_key: tuple[bytes, str] | None = None
    member_versions: dict[str, str] = field(default_factory=dict)

    @property
    def created_ms(self) -> int:
        """When its first event was sent."""
        return self.events[0].created_ms

    @property
    def updated_ms(self) -> int:
        """When its last event was sent."""
        return self.events[-1].created_ms

    def as_json(self, ttl_field: str) -> dict[str, Any]:
        """Every field of X's ChatConversation (the endpoint selects from these)."""
        out: dict[str, Any] = {
            "id": self.id,
            "type": self.type,
            "created_at": iso_ms(self.created_ms),
            "updated_at": iso_ms(self.updated_ms),
            "is_muted": False,
            "screen_capture_blocking_enabled": False,
            "screen_capture_detection_enabled": False,
            "participant_ids": list(self.member_ids),
            ttl_field: "0" if ttl_field == "message_ttl_msec" else 0,
        }
        if self.type == "group":
            out["member_ids"] = list(self.member_ids)
            out["admin_ids"] = list(self.admin_ids)
            if self.group_name is not None:
                out["group_name"] = self.group_name
        return out


class XChatWorld:
    """The loaded world: identities, conversations and media, with times from `now_ms`."""

    def __init__(self, doc: dict[str, Any], now_ms: int) -> None:
        self.now_ms = now_ms
        self._lock = threading.Lock()
        self.cast: dict[str, Any] | None = doc["cast"]
        self.identities = [Identity(**i) for i in doc["identities"]]
        self.departed = frozenset(doc["departed"])
        self.media = dict(doc["media"])
        self.conversations: dict[str, ChatConversation] = {}
        for conv in doc["conversations"]:
            events = [self._frame(conv["id"], e, now_ms) for e in conv["events"]]
            key_events = {e.key_version: e.encoded_event for e in events if e.is_key_event}
            self.conversations[conv["id"]] = ChatConversation(
                id=conv["id"],
                type=conv["type"],
                member_ids=conv["member_ids"],
                admin_ids=conv["admin_ids"],
                group_name=conv["group_name"],
                legacy_id=conv["legacy_id"],
                events=events,
                key_events={k: v for k, v in key_events.items() if k is not None},
                latest_key=(
                    (base64.b64decode(conv["latest_key"]["key_b64"]), conv["latest_key"]["version"])
                    if conv["latest_key"]
                    else None
                ),
                member_versions=dict(conv["member_versions"]),
            )

    @staticmethod
    def _frame(conversation: str, raw: dict[str, Any], now_ms: int) -> ChatEvent:
        created_ms = now_ms - int(raw["offset_ms"])
        signature = base64.b64decode(raw["signature_b64"])
        event_conversation = xchat_builder.event_conversation_id(conversation)
        encoded = xchat_thrift.envelope(
            sequence_id=raw["sequence_id"],
            message_id=raw["message_id"],
            sender_id=raw["sender_id"],
            conversation_id=event_conversation,
            created_at_msec=created_ms,
            detail=base64.b64decode(raw["detail_b64"]),
            signature=signature,
            previous_sequence_id=raw["previous_sequence_id"],
        )
        return ChatEvent(
            id=raw["message_id"],
            sequence_id=raw["sequence_id"],
            previous_sequence_id=raw["previous_sequence_id"],
            conversation_id=event_conversation,
            sender_id=raw["sender_id"],
            created_ms=created_ms,
            encoded_event=encoded,
            signature=xchat_thrift.read_signature(signature),
            key_version=raw["key_version"],
            is_key_event=bool(raw["is_key_event"]),
            expect=raw["expect"],
        )

    def add_message(self, conversation_id: str, sender_id: str, text: str, at_ms: int) -> ChatEvent:
        """Encrypt and append a message "now" (chatxdk needed), as the sender's client would."""
        conv = self.conversations[conversation_id]
        if sender_id not in conv.member_ids or conv.latest_key is None:
            raise ValueError(f"user {sender_id} cannot send to XChat conversation {conv.id}")
        version = conv.member_versions.get(sender_id, "1")
        identity = next(
            i for i in self.identities if i.user_id == sender_id and i.version == version
        )
        key = KeyChange(conv.latest_key[0], conv.latest_key[1], [])
        signed = Client(identity).message(conv.events[0].conversation_id, text, key, [])
        account = (self.cast or {}).get("account", "")
        opens = conv.member_versions.get(account, "1") == "1"
        with self._lock:
            last = conv.events[-1]
            created = max(at_ms, last.created_ms + 1)
            raw = {
                "sequence_id": str(int(last.sequence_id) + 1000),
                "previous_sequence_id": last.sequence_id,
                "message_id": signed.message_id,
                "sender_id": sender_id,
                "offset_ms": self.now_ms - created,
                "detail_b64": signed.detail_b64,
                "signature_b64": signed.signature_b64,
                "key_version": key.version,
                "is_key_event": False,
                "expect": {
                    "kind": "message",
                    "text": text,
                    "outcome": "ok" if opens else "unknown_key_version",
                },
            }
            event = self._frame(conv.id, raw, self.now_ms)
            conv.events.append(event)
        return event

    def conversations_of(self, user_id: str) -> list[ChatConversation]:
        """The user's inbox, most recently updated first (a member who left keeps none)."""
        mine = [c for c in self.conversations.values() if user_id in c.member_ids]
        return sorted(mine, key=lambda c: (c.updated_ms, c.id), reverse=True)

    def find(self, user_id: str, path_id: str) -> ChatConversation | None:
        """Resolve a path id (peer id, `A-B` or `g…`) for `user_id`; None if not theirs."""
        if path_id.isdigit():
            low, high = sorted((user_id, path_id), key=int)
            path_id = f"{low}-{high}"
        conv = self.conversations.get(path_id)
        if conv is None or user_id not in conv.member_ids:
            return None
        return conv

    def public_keys(self, user_id: str) -> list[Identity]:
        """The key versions X serves for a user (none for a member who left)."""
        if user_id in self.departed:
            return []
        return [i for i in self.identities if i.user_id == user_id]

    def blob(self, user_id: str, version: str = "1") -> bytes:
        """The user's exported private keys (`export_keys()`) of one key version."""
        for identity in self.identities:
            if identity.user_id == user_id and identity.version == version:
                return base64.b64decode(identity.blob_b64)
        raise KeyError(f"user {user_id} has no XChat key version {version!r}")


def relink_legacy_group(doc: dict[str, Any], dataset: Dataset) -> None:
    """Point the upgraded group at this dataset's legacy group (its id follows the clock)."""
    cast = doc.get("cast")
    if not cast:
        return
    legacy = xchat_world.find_legacy_group(dataset, cast["legacy_group_members"])
    for conv in doc["conversations"]:
        if conv["legacy_id"] is not None:
            conv["legacy_id"] = legacy
    cast["legacy_group"] = legacy


class XChatLoader:
    """Builds or loads the world on first use (thread-safe), never at start-up."""

    def __init__(self, *, folder: Path, seed: int, dataset: Dataset, now_ms: int) -> None:
        self._folder = folder
        self._seed = seed
        self._dataset = dataset
        self._now_ms = now_ms
        self._lock = threading.Lock()
        self._world: XChatWorld | None = None

    def get(self) -> XChatWorld:
        """Return the world, loading or building it the first time."""
        with self._lock:
            if self._world is None:
                doc = load_or_build(self._folder, self._seed, self._dataset)
                relink_legacy_group(doc, self._dataset)
                self._world = XChatWorld(doc, self._now_ms)
            return self._world
