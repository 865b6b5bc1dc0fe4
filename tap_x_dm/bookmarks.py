"""Incremental passes over a newest-first list with only a cursor.

X returns DM events newest first and offers no `since_id`. A *pass* pages down
from the newest event and stops at the first event at or below the bookmark
(or older than `start_date`). The bookmark is the newest `(created_at, id)` of
the last pass that **completed**; a pass that dies halfway leaves it alone, so
the next run re-reads from the top and loses nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

from tap_x_dm.ids import snowflake_iso
from tap_x_dm.times import parse_timestamp

REPLICATION_KEY = "created_at"
#: State key holding the bookmark's event id, the tie-break for events that
#: share a `created_at` millisecond.
TIE_BREAK_KEY = "replication_key_id"


@dataclass(frozen=True, order=True)
class Position:
    """Where an event sits in X's order: `created_at`, then the id as an integer."""

    created_at: dt.datetime
    id: int

    @classmethod
    def of(cls, event: Mapping[str, Any]) -> Position:
        """Return the position of an event (ids compared as integers, never strings)."""
        return cls(parse_timestamp(created_at_of(event)), int(event["id"]))


def created_at_of(event: Mapping[str, Any]) -> str:
    """The event's `created_at`, or the time its snowflake id encodes if X left it out."""
    value = event.get(REPLICATION_KEY)
    return str(value) if value else snowflake_iso(event["id"])


def read_bookmark(state: Mapping[str, Any]) -> tuple[Position | None, str | None]:
    """Return the stored bookmark and its raw `created_at` string.

    A bookmark written without a tie-break id (by hand, or by `meltano state
    set`) counts every event of that millisecond as already seen.
    """
    value = state.get("replication_key_value")
    if state.get("replication_key") != REPLICATION_KEY or not value:
        return None, None
    tie_break = state.get(TIE_BREAK_KEY)
    event_id = int(tie_break) if tie_break is not None else 2**63
    return Position(parse_timestamp(str(value)), event_id), str(value)


def write_bookmark(state: MutableMapping[str, Any], created_at: str, event_id: int) -> None:
    """Store a completed pass's newest event as the bookmark."""
    state["replication_key"] = REPLICATION_KEY
    state["replication_key_value"] = created_at
    state[TIE_BREAK_KEY] = str(event_id)


class NewestFirstPass:
    """Decides, event by event, what one pass emits and when it may stop.

    Memory stays constant: since X's order is newest first, an event whose id is
    not below the lowest id already emitted is a repeat (pages shifted by new
    arrivals) and is dropped.
    """

    def __init__(
        self,
        *,
        bookmark: Position | None,
        start_date: dt.datetime | None,
        ceiling: Position | None = None,
    ) -> None:
        self.bookmark = bookmark
        self.start_date = start_date
        #: A catch-up pass (for newly configured event types) reads only what the last
        #: completed pass already covered; newer events belong to the regular pass.
        self.ceiling = ceiling
        self.reached_floor = False
        self.newest: Position | None = None
        self.newest_created_at: str | None = None
        self.emitted = 0
        self.repeats = 0
        self.pages = 0
        self._lowest_id: int | None = None

    def admit(self, event: Mapping[str, Any]) -> bool:
        """Return True when `event` is new to this pass and above its floor."""
        position = Position.of(event)
        if self.ceiling is not None and position > self.ceiling:
            return False
        if self._lowest_id is not None and position.id >= self._lowest_id:
            self.repeats += 1
            return False
        if self.bookmark is not None and position <= self.bookmark:
            self.reached_floor = True
            return False
        if self.start_date is not None and position.created_at < self.start_date:
            self.reached_floor = True
            return False
        if self.newest is None or position > self.newest:
            self.newest = position
            self.newest_created_at = created_at_of(event)
        self._lowest_id = position.id
        self.emitted += 1
        return True

    def complete(self, state: MutableMapping[str, Any]) -> None:
        """Move the bookmark to the newest event seen; call only after the last page."""
        if self.newest is not None and self.newest_created_at is not None:
            write_bookmark(state, self.newest_created_at, self.newest.id)
