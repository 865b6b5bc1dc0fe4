"""XChat, X's end-to-end encrypted chats: their metadata (and ciphertext) from the Chat API.

`chat_streams` builds the streams for the Tap's `discover_streams`; `warn_if_unselected`
runs at the end of a run that loads no chat stream. See `docs/architecture.md`
("XChat") and the README ("XChat: what is read").
"""

from __future__ import annotations

import datetime as dt
import typing as t

from singer_sdk import Stream

from tap_x_dm.chat.conversations import CHECKED_KEY, ChatConversationsStream
from tap_x_dm.chat.events import ChatEventsStream
from tap_x_dm.chat.keys import ChatConversationKeysStream
from tap_x_dm.chat.messages_stream import ChatMessagesStream
from tap_x_dm.chat.run import ChatPage, ChatRun
from tap_x_dm.errors import StopRunError, XAPIError

if t.TYPE_CHECKING:
    from collections.abc import Mapping, MutableMapping
    from typing import Any

    from singer_sdk import Tap

    from tap_x_dm.services import RunServices

__all__ = ["ChatPage", "ChatRun", "chat_streams", "warn_if_unselected"]
CHAT_STREAM_NAMES = ("chat_conversations", "chat_events", "chat_conversation_keys")


def chat_streams(tap: Tap, services: RunServices) -> list[Stream]:
    """The chat streams of a run (the key stream with `xchat_ciphertext` only)."""
    chat = ChatRun(tap.logger, services.clock)
    streams: list[Stream] = [
        ChatConversationsStream(tap, services, chat),
        ChatEventsStream(tap, services, chat),
    ]
    # Decrypted, from the same pages (issue 24). First: it may stop the run before anything
    # of a page is written; and without its key, the chat streams read nothing.
    messages = ChatMessagesStream(tap, services, chat)
    chat.add_page_consumer(messages.take_page)
    chat.add_precondition(messages.why_not_decrypting)
    if tap.config.get("xchat_ciphertext"):
        keys = ChatConversationKeysStream(tap, services)
        chat.add_page_consumer(keys.take_page)
        streams.append(keys)
    return [*streams, messages]


def warn_if_unselected(
    streams: Mapping[str, Stream], state: MutableMapping[str, Any], services: RunServices
) -> None:
    """Once a UTC day, when no chat stream is selected: warn if the account has XChat.

    The day of the last check is kept in the state
    (`bookmarks.chat_conversations.xchat_checked_on`).
    """
    chat = [streams[name] for name in CHAT_STREAM_NAMES if name in streams]
    conversations = streams.get("chat_conversations")
    if any(s.selected for s in chat) or not isinstance(conversations, ChatConversationsStream):
        return
    if services.stop.stopped or not conversations.config.get("xchat_check", True):
        return
    today = dt.datetime.fromtimestamp(services.clock.time(), tz=dt.timezone.utc).date().isoformat()
    bookmark = state.setdefault("bookmarks", {}).setdefault("chat_conversations", {})
    if bookmark.get(CHECKED_KEY) == today:
        return
    try:
        found = conversations.has_any()
    except StopRunError:
        return  # not worth a wait; tomorrow's run asks
    except XAPIError as exc:
        services.logger.info("XChat: could not check for XChat conversations (%s).", exc)
        found = False
    bookmark[CHECKED_KEY] = today
    if found:
        services.logger.warning(
            "XChat: this account has XChat conversations (X's encrypted chats, where most new "
            "DMs now go) and no chat stream is selected, so they are not loaded: select "
            "chat_conversations and chat_events (README: 'XChat'). Checked again tomorrow."
        )
    services.checkpoint()
