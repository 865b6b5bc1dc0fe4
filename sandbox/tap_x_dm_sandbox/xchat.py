"""`Sandbox.xchat`: the sandbox's XChat (X's encrypted chats), as tests and demos use it.

It wires the lazily built world (`xchat_store`), the Chat API (`xchat_endpoints`)
and the key-backup stand-in (`xchat_backup`), and answers what a test needs to
know: which conversations exist, a user's key blob and PIN, the signing keys X
serves, and what each event should decrypt to. Nothing here runs at start-up.
"""

from __future__ import annotations

from typing import Any

from tap_x_dm_sandbox.billing import BillingLedger
from tap_x_dm_sandbox.clock import Clock
from tap_x_dm_sandbox.config import SandboxConfig
from tap_x_dm_sandbox.data import Dataset
from tap_x_dm_sandbox.tokens import TokenCodec
from tap_x_dm_sandbox.xchat_backup import KeyBackup
from tap_x_dm_sandbox.xchat_builder import event_conversation_id
from tap_x_dm_sandbox.xchat_endpoints import XChatEndpoints
from tap_x_dm_sandbox.xchat_store import ChatConversation, XChatLoader, XChatWorld, cache_dir

#: Endpoint names of the Chat API's own rate-limit budgets.
CHAT_BUDGETS = ("chat_conversations", "chat_conversation", "chat_events", "chat_media")
CHAT_EVENT_KIND = "chat_events"


def price_millidollars(price_usd: float) -> int:
    """Convert a price per chat event to the ledger's unit (a multiple of $0.001)."""
    milli = round(price_usd * 1000)
    if milli < 0 or abs(milli - price_usd * 1000) > 1e-9:
        raise ValueError(f"chat_event_price_usd must be a multiple of 0.001, got {price_usd}")
    return milli


class XChat:
    """The XChat side of one sandbox (see the module docstring)."""

    def __init__(
        self,
        *,
        config: SandboxConfig,
        dataset: Dataset,
        clock: Clock,
        now_ms: int,
        ledger: BillingLedger,
    ) -> None:
        self._clock = clock
        if config.chat_access_denied not in (None, 403, 404):
            msg = f"chat_access_denied must be None, 403 or 404, got {config.chat_access_denied!r}"
            raise ValueError(msg)
        self._ledger = ledger
        ledger.price_list[CHAT_EVENT_KIND] = price_millidollars(config.chat_event_price_usd)
        self.loader = XChatLoader(
            folder=cache_dir(config.xchat_cache_dir),
            seed=dataset.seed,
            dataset=dataset,
            now_ms=now_ms,
        )
        self.key_backup = KeyBackup(dataset.seed, self.blob)
        self.endpoints = XChatEndpoints(
            loader=self.loader,
            backup=self.key_backup,
            tokens=TokenCodec(dataset.seed + 23),
            users={u.id: u for u in dataset.users},
            vocabulary=config.chat_vocabulary,
            oldest_first=config.chat_oldest_first,
        )

    @property
    def world(self) -> XChatWorld:
        """The loaded world (built with chatxdk, or read from the cache, on first use)."""
        return self.loader.get()

    def conversations(self, user_id: str) -> list[ChatConversation]:
        """A user's XChat inbox, most recently updated first."""
        return self.world.conversations_of(user_id)

    def events(self, conversation_id: str) -> list[dict[str, Any]]:
        """Every event of a conversation, oldest first, as 2.167 serves them, plus `expect`.

        `expect` says what decrypting it as the account with its exported blob gives:
        `kind`, `text` for messages, and `outcome` (`ok`, `bad_signature`,
        `departed_signer`, `unknown_key_version`).
        """
        conv = self.world.conversations[conversation_id]
        return [
            {
                "id": e.id,
                "sequence_id": e.sequence_id,
                "previous_id": e.previous_sequence_id,
                "conversation_id": e.conversation_id,
                "sender_id": e.sender_id,
                "created_ms": e.created_ms,
                "encoded_event": e.encoded_event,
                "expect": dict(e.expect),
            }
            for e in conv.events
        ]

    def add_messages(
        self,
        conversation_id: str,
        count: int = 1,
        *,
        sender_id: str | None = None,
        text: str | None = None,
    ) -> list[dict[str, Any]]:
        """Send `count` new messages "now" (by the sandbox clock); return them like `events`.

        The sender (default: the first member other than the account) encrypts and signs
        with chatxdk under the conversation's latest key, so chatxdk must be installed.
        """
        world = self.world
        conv = world.conversations[conversation_id]
        account = (world.cast or {}).get("account")
        sender = sender_id or next(m for m in conv.member_ids if m != account)
        ids = set()
        for _ in range(count):
            at_ms = int(self._clock.time() * 1000)
            body = text if text is not None else f"New XChat message {len(conv.events) + 1}"
            ids.add(world.add_message(conversation_id, sender, body, at_ms).id)
        return [e for e in self.events(conversation_id) if e["id"] in ids]

    def blob(self, user_id: str, version: str = "1") -> bytes:
        """A user's exported private keys (`export_keys()`) for a key version."""
        return self.world.blob(user_id, version)

    def pin(self, user_id: str) -> str:
        """The user's key-backup PIN (see `xchat_backup`)."""
        return self.key_backup.pin(user_id)

    def signing_keys(self, user_ids: list[str] | None = None) -> list[dict[str, str]]:
        """The `signing_keys` for `decrypt_events`, as X's public-keys endpoint serves them.

        Members who left have none (X no longer serves their keys).
        """
        world = self.world
        ids = user_ids or sorted({i.user_id for i in world.identities}, key=int)
        return [i.signing_key_entry() for u in ids for i in world.public_keys(u)]

    @property
    def cast(self) -> dict[str, Any] | None:
        """Who plays which part: account, legacy peers, the upgraded group and its members."""
        return self.world.cast

    @staticmethod
    def event_conversation_id(conversation_id: str) -> str:
        """`A-B` as events write it (`A:B`); group ids unchanged."""
        return event_conversation_id(conversation_id)

    @property
    def oldest_first(self) -> bool:
        """Whether event pages run oldest first (default: newest first); settable."""
        return self.endpoints.oldest_first

    @oldest_first.setter
    def oldest_first(self, value: bool) -> None:
        self.endpoints.oldest_first = value
