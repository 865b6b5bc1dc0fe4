"""What the chat streams of one run share: access, vocabulary, page order, page consumers.

Built once by `tap_x_dm.chat.chat_streams` and handed to the three streams (as the Tap
hands `RunServices` to every stream), so that one stream's finding (no Chat access,
X's field names, the page order) holds for the others, and so that more than one
consumer can take each page of events (`ChatPage`: the key stream here; decryption
later) without reading it twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tap_x_dm.api.vocabulary import V2167, AskedVocabulary
from tap_x_dm.chat.records import FIELDS_PARAMETERS
from tap_x_dm.clock import Clock


@dataclass
class ChatPage:
    """One page of `GET /2/chat/conversations/{id}/events`, as its consumers see it.

    Given to the consumers before the page's new `chat_events` records and the STATE
    that covers the page are written: a consumer writes its own records here (or stops
    the run, and nothing of the page is written), and a kill re-reads the page for it too.
    """

    #: The conversation as the path names it (`A-B` or `g...`).
    conversation_id: str
    #: The answer's JSON (`data`, `meta.conversation_key_events`...), as X sent it.
    payload: Mapping[str, Any]
    #: The page's new events, as written to `chat_events` (without ciphertext columns
    #: unless `xchat_ciphertext`); `raw_events` the same events as X served them.
    records: list[dict[str, Any]] = field(default_factory=list)
    raw_events: list[dict[str, Any]] = field(default_factory=list)


PageConsumer = Callable[[ChatPage], None]
#: Why the chat streams must read nothing this run (a line), or None when they may read.
Precondition = Callable[[], str | None]


class ChatRun:
    """Per-run findings of the Chat API streams."""

    def __init__(self, logger: logging.Logger, clock: Clock) -> None:
        self._logger = logger
        #: The Chat field names X takes: 2.167's, or 2.166's once X refused them (this run).
        self.vocabulary = AskedVocabulary(
            {}, clock, logger, parameters=FIELDS_PARAMETERS, first=V2167, kept=False
        )
        #: Set when X refused the Chat API to this app (403/404): every chat stream skips.
        self.denied = False
        #: The events' page order, once a page showed it (`tap_x_dm.chat.reading`).
        self.order: str | None = None
        self.page_consumers: list[PageConsumer] = []
        self._preconditions: list[Precondition] = []
        self._held: bool | None = None
        #: Conversations whose events were read whole in this run.
        self.read_whole: set[str] = set()
        #: XChat conversations seen and chat events emitted (for the run summary).
        self.conversations_seen = 0

    def add_page_consumer(self, consumer: PageConsumer) -> None:
        """Have `consumer` called with every page of chat events this run reads."""
        self.page_consumers.append(consumer)

    def add_precondition(self, why_not: Precondition) -> None:
        """Have the chat streams read nothing this run when `why_not()` gives a reason."""
        self._preconditions.append(why_not)

    def held(self) -> bool:
        """Whether a precondition holds the chat streams back (asked once a run; one WARNING).

        A read that could not be completed (say, `chat_messages` selected without its key)
        would move the bookmarks past content the next run could have had: nothing is read.
        """
        if self._held is None:
            reasons = [line for line in (p() for p in self._preconditions) if line]
            for line in reasons:
                self._logger.warning("%s", line)
            self._held = bool(reasons)
        return self._held

    def deny(self, line: str) -> None:
        """X refused the Chat API: one warning, and the chat streams stop."""
        if not self.denied:
            self.denied = True
            self._logger.warning("%s", line)

    def end_page(self, page: ChatPage) -> None:
        """Give one page to every consumer, before any of its records is written.

        A consumer that cannot finish the page raises `StopRunError`: the run stops before
        the page's records and STATE, and the next run reads the page again.
        """
        for consumer in self.page_consumers:
            consumer(page)
