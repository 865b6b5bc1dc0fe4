"""One read of one XChat conversation's events, in whichever order X pages them.

X does not document the order of `GET /2/chat/conversations/{id}/events`. Events
carry a sequence id (numeric, growing with time; `tap_x_dm.chat.envelope`), so the
order is learned from the first page holding two of them, and one rule admits an
event in both orders: its sequence id is above the bookmark (the highest one a
completed read saw) and it was not emitted yet in this run. What differs is where a
read ends and what it keeps:

* newest first: it stops on the page that reaches the bookmark; the next read starts
  again from the newest page.
* oldest first: it reads to the end, and keeps the token of the last page it read;
  the next read starts there (that page is read again, at most, and its events are
  not emitted twice).

State of a partition (`bookmarks.chat_events.partitions[].`, described in
`tap_x_dm/schemas/state.schema.json`): `replication_key_id` (the bookmark: the highest
sequence id a complete read saw), `cursor` (oldest first only: the last page read, where
the next read starts), `updated_at` (the conversation's `updated_at` when its events were
last read whole; set by `chat_conversations`, see `tap_x_dm.chat.conversations`) and, while
a read is in flight only, `pass` (`cursor`: where the next request starts; `top_id`: the
highest sequence id seen, the bookmark once the read completes). The names are those of
the legacy partitions, so the chat streams add few key paths to the state.
"""

from __future__ import annotations

from collections.abc import MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any

BOOKMARK_KEY = "replication_key_id"
CURSOR_KEY = "cursor"
IN_FLIGHT_KEY = "pass"
TOP_KEY = "top_id"
UPDATED_KEY = "updated_at"
NEWEST_FIRST, OLDEST_FIRST = "newest_first", "oldest_first"


def _number(value: object) -> int | None:
    return int(str(value)) if value is not None and str(value).isdigit() else None


@dataclass
class Gap:
    """Events X no longer serves: between the bookmark and the oldest event it served."""

    after_id: int
    before_id: int


class ConversationRead:
    """The progress of one read of one conversation, kept in its partition's state."""

    def __init__(self, state: MutableMapping[str, Any], order: str | None) -> None:
        self.state = state
        self.order = order
        self.bookmark = _number(state.get(BOOKMARK_KEY))
        in_flight = state.get(IN_FLIGHT_KEY) or {}
        self.cursor: str | None = in_flight.get(CURSOR_KEY) or state.get(CURSOR_KEY)
        self._top_at_start = _number(in_flight.get(TOP_KEY))
        self.top = self._top_at_start
        self.emitted: set[str] = set()
        self.reached_bookmark = False
        #: The lowest sequence id read, and the `previous_id` of that event.
        self._oldest: tuple[int, int | None] | None = None
        self._last_page_first: int | None = None
        self.pages = 0
        self.new_events = 0
        self.complete = False

    def admit(self, page: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """The records of one page (in X's order) that are new, in that order.

        Each record has a numeric `sequence_id` (`tap_x_dm.chat.records`).
        """
        self._learn_order([int(row["sequence_id"]) for row in page])
        admitted = []
        for row in page:
            sequence = int(row["sequence_id"])
            if self.bookmark is not None and sequence <= self.bookmark:
                self.reached_bookmark = True
            if self.top is None or sequence > self.top:
                self.top = sequence
            if self._oldest is None or sequence < self._oldest[0]:
                self._oldest = (sequence, _number(row.get("previous_id")))
            if (self.bookmark is None or sequence > self.bookmark) and row[
                "id"
            ] not in self.emitted:
                self.emitted.add(str(row["id"]))
                admitted.append(row)
        self.new_events += len(admitted)
        return admitted

    def _learn_order(self, sequences: Sequence[int]) -> None:
        if self.order is not None or not sequences:
            return
        if len(set(sequences)) > 1:
            self.order = NEWEST_FIRST if sequences[0] > sequences[-1] else OLDEST_FIRST
        elif self._last_page_first is not None and self._last_page_first != sequences[0]:
            self.order = NEWEST_FIRST if self._last_page_first > sequences[0] else OLDEST_FIRST
        self._last_page_first = sequences[0]

    def stops_here(self) -> bool:
        """Whether the page read last ends the read (newest first, it reached the bookmark)."""
        return self.order == NEWEST_FIRST and self.reached_bookmark

    def end_page(self, token_used: str | None, next_token: str | None) -> bool:
        """Keep the read's progress after a page; True when the read is complete."""
        self.pages += 1
        done = next_token is None or self.stops_here()
        if not done:
            self.cursor = next_token
            in_flight = {CURSOR_KEY: next_token}
            if self.top is not None:
                in_flight[TOP_KEY] = str(self.top)
            self.state[IN_FLIGHT_KEY] = in_flight
            return False
        if self.top is not None and (self.bookmark is None or self.top > self.bookmark):
            self.state[BOOKMARK_KEY] = str(self.top)
        # Oldest first, the next read starts at this last page; newest first, at the top.
        self.cursor = token_used if self.order == OLDEST_FIRST else None
        self._keep_cursor(self.cursor)
        self.state.pop(IN_FLIGHT_KEY, None)
        self.complete = True
        return True

    def _keep_cursor(self, cursor: str | None) -> None:
        if cursor is None:
            self.state.pop(CURSOR_KEY, None)  # absent rather than null: one key path fewer
        else:
            self.state[CURSOR_KEY] = cursor

    def restart(self) -> None:
        """X refused the saved cursor: read again from the first page (nothing emitted twice)."""
        self.cursor = None
        self._keep_cursor(None)
        in_flight = self.state.get(IN_FLIGHT_KEY)
        if isinstance(in_flight, dict):
            in_flight.pop(CURSOR_KEY, None)

    def gap(self) -> Gap | None:
        """After a complete read: the events X no longer serves above the bookmark, if any."""
        if self.bookmark is None or self.reached_bookmark or self._oldest is None:
            return None
        previous = self._oldest[1]
        known = {self.bookmark, self._top_at_start}
        if previous is None or previous <= self.bookmark or previous in known:
            return None
        return Gap(after_id=self.bookmark, before_id=self._oldest[0])
