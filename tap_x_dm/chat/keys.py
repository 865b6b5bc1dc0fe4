"""`chat_conversation_keys`: the account's encrypted copy of each conversation key.

With `xchat_ciphertext`, so that a warehouse can decrypt `chat_events` later, offline,
with the account's own keys (X's Chat XDK: the key-change event, then the events).
The keys arrive with the events (`meta.conversation_key_events` of each page: the key
changes that page's events use); there is no endpoint for them, so this stream makes
no request: it takes each page `chat_events` reads (a `ChatRun` page consumer).
"""

from __future__ import annotations

import typing as t
from collections.abc import Iterable
from typing import Any

from singer_sdk.helpers.conform import TypeConformanceLevel
from typing_extensions import override

from tap_x_dm.chat.envelope import EnvelopeError, read_envelope
from tap_x_dm.chat.records import key_record
from tap_x_dm.chat.run import ChatPage
from tap_x_dm.chat.schemas import CHAT_CONVERSATION_KEYS
from tap_x_dm.sdk_adapter import OptInStream, OutOfBandRecordsStream

if t.TYPE_CHECKING:
    from singer_sdk import Tap
    from singer_sdk.helpers.types import Context

    from tap_x_dm.services import RunServices


class ChatConversationKeysStream(OptInStream, OutOfBandRecordsStream):
    """Key-change events of the pages `chat_events` reads, one row per key version."""

    name = "chat_conversation_keys"
    primary_keys: t.ClassVar[list[str]] = ["account_id", "conversation_id", "key_version"]
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE

    def __init__(self, tap: Tap, services: RunServices) -> None:
        super().__init__(tap=tap, schema=dict(CHAT_CONVERSATION_KEYS))
        self._services = services
        #: (conversation, key version) written in this run: each page repeats its keys.
        self._written: set[tuple[str, str]] = set()

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """Nothing at its own turn: its records are written as `chat_events` reads pages."""
        return iter(())

    def take_page(self, page: ChatPage) -> None:
        """Write the account's copy of each key a page's events use (once per run)."""
        if not self.selected:
            return
        meta = page.payload.get("meta")
        encoded_keys = meta.get("conversation_key_events") if isinstance(meta, dict) else None
        if not isinstance(encoded_keys, list):
            return
        conversation_id = next(
            (str(r["conversation_id"]) for r in page.records if r.get("conversation_id")),
            page.conversation_id,
        )
        account = self._services.account.id
        for encoded in encoded_keys:
            if not isinstance(encoded, str):
                continue
            try:
                envelope = read_envelope(encoded)
            except EnvelopeError as exc:
                self.logger.warning(
                    "chat_conversation_keys[%s]: a key-change event could not be read (%s); "
                    "it is skipped.",
                    page.conversation_id,
                    exc,
                )
                continue
            record = key_record(envelope, encoded, conversation_id, account)
            if record is None or (conversation_id, record["key_version"]) in self._written:
                continue
            self._written.add((conversation_id, record["key_version"]))
            self.write_out_of_band(record)
