"""`chat_conversations`: the account's XChat inbox, the parent of `chat_events`.

The inbox (`GET /2/chat/conversations`, 100 a page, not billed) is read whole each run:
X orders it by activity, so a conversation updated during the walk moves and no
stopping point is safe. A conversation is emitted, and its events read, only when its
`updated_at` moved since its events were last read whole (kept in its `chat_events`
partition, set once its row is written: a kill in between reads it again).
"""

from __future__ import annotations

import typing as t
from collections.abc import Iterable
from http import HTTPStatus
from typing import Any

from typing_extensions import override

from tap_x_dm.api.client import XStream
from tap_x_dm.api.pagination import NewestFirstPaginator
from tap_x_dm.chat.reading import UPDATED_KEY
from tap_x_dm.chat.records import CONVERSATION_FIELDS, conversation_record
from tap_x_dm.chat.schemas import CHAT_CONVERSATIONS
from tap_x_dm.errors import StopRunError, XAPIError
from tap_x_dm.sdk_adapter import (
    MarkerlessStateManager,
    OptInStream,
    PassStateManager,
    new_state_manager,
)

if t.TYPE_CHECKING:
    from collections.abc import Mapping

    from singer_sdk import Tap
    from singer_sdk.helpers.types import Context

    from tap_x_dm.chat.run import ChatRun
    from tap_x_dm.services import RunServices

#: The partition key `chat_events` states are kept under.
PARTITION_KEY = "conversation_id"
#: State key (`bookmarks.chat_conversations.`) of the last day the account was checked for
#: XChat conversations that no selected stream loads.
CHECKED_KEY = "xchat_checked_on"


def no_access_line(exc: XAPIError) -> str:
    """The one warning of an app without Chat API access."""
    return (
        f"XChat: {exc} The X app has no access to the Chat API, so the XChat conversations "
        "(X's encrypted chats, where most new DMs now go) are not loaded: the chat streams "
        "are skipped and the legacy DM streams run. Ask X for Chat API access for the app in "
        "the developer portal, or deselect chat_conversations and chat_events."
    )


def is_no_access(exc: XAPIError) -> bool:
    """403 or 404 on the Chat API: the app is not allowed to use it."""
    return exc.status in (HTTPStatus.FORBIDDEN, HTTPStatus.NOT_FOUND)


class ChatStream(OptInStream, XStream):
    """What the chat streams share: opt-in, bookmarks moved only by the tap.

    Opt-in (`sdk_adapter.OptInStream`): storing DMs needs the users' consent (X's developer
    policy), and chat events are billed.
    """

    _chat_state_manager: PassStateManager | None = None

    def __init__(self, tap: Tap, services: RunServices, chat: ChatRun) -> None:
        self.chat = chat
        super().__init__(tap, services)

    @property
    @override
    def state_manager(self) -> PassStateManager:
        """No per-record bookmarks (see `sdk_adapter.PassStateManager`)."""
        if self._chat_state_manager is None:
            self._chat_state_manager = new_state_manager(self, MarkerlessStateManager)
        return self._chat_state_manager

    @override
    def get_replication_key_signpost(self, context: Context | None = None) -> None:
        """No signpost: the bookmark is a sequence id, not a time."""

    @property
    def skipping(self) -> bool:
        """Whether this run reads no more from the Chat API (asked before its first request)."""
        return self.chat.denied or self.services.stop.stopped or self.chat.held()


class ChatConversationsStream(ChatStream):
    """`GET /2/chat/conversations`: conversations whose `updated_at` moved."""

    name = "chat_conversations"
    path = "/2/chat/conversations"
    primary_keys: t.ClassVar[list[str]] = ["account_id", "id"]
    replication_key = "updated_at"
    data_kind = "chat_conversations"  # not billed

    def __init__(self, tap: Tap, services: RunServices, chat: ChatRun) -> None:
        super().__init__(tap, services, chat)
        self._probe = False

    @override
    def record_schema(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """`tap_x_dm.chat.schemas.CHAT_CONVERSATIONS`."""
        return dict(CHAT_CONVERSATIONS)

    @override
    def get_new_paginator(self) -> NewestFirstPaginator:
        """The whole inbox (a probe: its first page)."""
        return NewestFirstPaginator(lambda: self._probe, payload=self.payload)

    @override
    def get_url_params(
        self, context: Context | None, next_page_token: str | None
    ) -> dict[str, Any]:
        """100 a page, every field in the vocabulary X takes, no (billed) user expansions."""
        params: dict[str, Any] = {
            "max_results": 1 if self._probe else 100,
            "chat_conversation.fields": ",".join(CONVERSATION_FIELDS[self.chat.vocabulary.version]),
        }
        if next_page_token:
            params["pagination_token"] = next_page_token
        return params

    def _rows(self) -> Iterable[dict[str, Any]]:
        """The inbox, asked again in 2.166's names if X refuses 2.167's on the first page."""
        started = False
        try:
            for row in self.request_records(None):
                started = True
                yield row
        except XAPIError as exc:
            if started or not self.chat.vocabulary.switch_after(exc.status, exc.parameters):
                raise
            yield from self.request_records(None)

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """The conversations that moved; each one's events are read (the SDK) as it is written."""
        if self.skipping:
            return
        seen = moved = 0
        try:
            for row in self._rows():
                seen += 1
                if not isinstance(row.get("id"), str):
                    continue
                conversation_id = row["id"]
                read_at = self._events_state(conversation_id).get(UPDATED_KEY)
                if read_at is not None and read_at == row.get("updated_at"):
                    continue
                moved += 1
                yield row
                # The row (and its events) are written: remember what was read whole.
                if conversation_id in self.chat.read_whole or not self._events_selected():
                    self._events_state(conversation_id)[UPDATED_KEY] = row.get("updated_at")
                if self.skipping:
                    return
        except XAPIError as exc:
            if not is_no_access(exc):
                raise
            self.chat.deny(no_access_line(exc))
            return
        except StopRunError as exc:
            self.services.stop.stop(exc)
            return
        self.chat.conversations_seen = seen
        self.logger.info(
            "chat_conversations: %d XChat conversation(s), %d with activity since their events "
            "were last read.",
            seen,
            moved,
        )

    def _events_selected(self) -> bool:
        return any(child.selected for child in self.child_streams)

    def _events_state(self, conversation_id: str) -> dict[str, Any]:
        """The `chat_events` partition of a conversation (where its `updated_at` is kept)."""
        for child in self.child_streams:
            return t.cast(
                "dict[str, Any]", child.get_context_state({PARTITION_KEY: conversation_id})
            )
        return {}

    @override
    def post_process(self, row: dict[str, Any], context: Context | None = None) -> dict[str, Any]:
        """One set of columns whichever vocabulary X answered in."""
        return conversation_record(row, self.services.account.id)

    @override
    def get_child_context(self, record: dict[str, Any], context: Context | None) -> dict[str, Any]:
        """`chat_events` reads this conversation, under its own partition."""
        return {PARTITION_KEY: record["id"]}

    def has_any(self) -> bool:
        """Whether the account has an XChat conversation (one request, one row at most)."""
        self._probe = True
        try:
            return any(True for _ in self._rows())
        finally:
            self._probe = False
