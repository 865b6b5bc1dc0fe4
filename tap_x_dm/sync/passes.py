"""Resumable passes over a newest-first list that has only a cursor.

X returns DM events newest first and offers no `since_id`. A *pass* pages down
from the newest event until it is past the bookmark (or `start_date`). The
bookmark is the highest event id of the last pass that completed: ids are
snowflakes, unique and minted in time order, while `created_at` comes in whole
seconds from another clock (X's own examples label an id minted at `.885` with
the next second). So the tap never orders by `created_at`:

* an event is new when its id is above the bookmark;
* a pass may stop after an event E only when nothing later in the list can be
  new, whether X orders the list by id or by `created_at` (ids unordered
  within a second): everything after E was minted no later than
  `max(id_time(E), created_at(E) + SKEW)`. Nothing below `read_below_id` is
  new (a completed pass read it all), so once a pass read X's list more than
  about 10 s after the bookmark's event, the next stops at that event: the
  seconds below a burst are read once, not by every idle run;
* an event already emitted by this pass (pages shift when events arrive,
  a resumed or restarted pass meets its own events) is recognised from the
  pass's newest id, the time of its oldest emitted event and the few ids
  emitted within `FRONTIER` of it, so memory and state stay small.

After every page the pass's progress (cursor, newest and oldest events,
frontier) goes into the stream's state; a run that dies continues from there
and re-reads at most the page it was on.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from tap_x_dm.ids_and_times import min_snowflake_at, snowflake_ms, timestamp_ms, x_time_text
from tap_x_dm.state.upgrades import ALL_EVENT_TYPES

REPLICATION_KEY = "created_at"
#: State key of the bookmark proper: the highest id of the last completed pass.
BOOKMARK_ID_KEY = "replication_key_id"
#: State key of the pass in flight (absent when none).
IN_FLIGHT_KEY = "pass"
#: State key: every event of the stream or partition with a lower id has been read (a
#: quiet conversation's bookmark lags far behind this; see `tap_x_dm.sync.routing`).
COVERED_KEY = "read_below_id"
#: State key of the event types the bookmark covers (absent: all of them).
EVENT_TYPES_KEY = "event_types"
#: How far `created_at` may stray from the id's time: X shows up to ~1 s plus rounding
#: to the second; 5 s leaves room for a worse clock at the cost of reading 5 s further.
SKEW_MS = 5_000
#: Events emitted within this much of the oldest one are remembered by id.
FRONTIER_MS = 2 * SKEW_MS


def created_ms(event: Mapping[str, Any]) -> int:
    """The event's `created_at` in epoch ms, or its id's time if X left it out."""
    value = event.get(REPLICATION_KEY)
    if value:
        return timestamp_ms(str(value))
    return snowflake_ms(event["id"])


def _int_or_none(value: object) -> int | None:
    return None if value is None else int(str(value))


@dataclass
class PassProgress:
    """What one pass has emitted so far; saved in state after every page.

    `pages` and `newest_created_at` are this run's only: a pass has read a page once
    it has a `top_id`, and a resumed pass's newest event's time comes from its id.
    """

    since_id: int | None
    #: A catch-up pass (for newly configured event types) reads only up to the old bookmark.
    ceiling_id: int | None = None
    event_types: list[str] | None = None
    cursor: str | None = None
    newest_id: int | None = None
    newest_created_at: str | None = None
    oldest_ms: int | None = None
    frontier: dict[int, int] = field(default_factory=dict)
    emitted: int = 0
    pages: int = 0
    repeats: int = 0
    #: `max_results` of every page of this pass but a small first one: X's tokens may count
    #: pages of the request's size, so a pass never changes it (None: `page_size`).
    page_size: int | None = None
    #: The account-wide pass that feeds this partition's pass (`tap_x_dm.sync.routing`), if any.
    routed_by: str | None = None
    #: An id minted `SKEW_MS` before the pass read its first page: every event with a lower
    #: id was in X's list by then, so the pass, once complete, has read them all.
    top_id: int | None = None

    @property
    def read_a_page(self) -> bool:
        """Whether the pass has read a page of its own (in this run or an earlier one)."""
        return self.top_id is not None

    def to_state(self) -> dict[str, Any]:
        """The JSON kept in state (ids as strings, like X's); unset fields are left out."""
        saved = {
            "since_id": self.since_id,
            "ceiling_id": self.ceiling_id,
            "event_types": self.event_types,
            "cursor": self.cursor,
            "newest_id": self.newest_id,
            "frontier_ids": [str(event_id) for event_id in sorted(self.frontier)],
            "emitted": self.emitted,
            "page_size": self.page_size,
            "top_id": self.top_id,
            "routed_by": self.routed_by,
        }
        return {
            key: str(value) if key.endswith("_id") else value
            for key, value in saved.items()
            if value not in (None, [], 0)
        }

    @classmethod
    def from_state(cls, saved: Mapping[str, Any]) -> PassProgress:
        """Rebuild from `to_state` output (checked by `tap_x_dm.state.loading` beforehand)."""
        frontier = {int(i): snowflake_ms(i) for i in saved.get("frontier_ids") or []}
        return cls(
            since_id=_int_or_none(saved.get("since_id")),
            ceiling_id=_int_or_none(saved.get("ceiling_id")),
            event_types=saved.get("event_types"),
            cursor=saved.get("cursor"),
            newest_id=_int_or_none(saved.get("newest_id")),
            frontier=frontier,
            # The oldest emitted event is always in the frontier: its time need not be saved.
            oldest_ms=min(frontier.values()) if frontier else None,
            emitted=int(saved.get("emitted") or 0),
            page_size=_int_or_none(saved.get("page_size")),
            routed_by=saved.get("routed_by"),
            top_id=_int_or_none(saved.get("top_id")),
        )


class NewestFirstPass:
    """Decides, event by event, what one pass emits and when it may stop."""

    def __init__(
        self,
        progress: PassProgress,
        *,
        start_ms: int | None,
        floor_id: int | None = None,
        read_below_id: int | None = None,
    ) -> None:
        self.progress = progress
        self.start_ms = start_ms
        self.reached_floor = False
        #: Every event below `read_below_id` was read by an earlier pass (`COVERED_KEY`), so
        #: the pass need not prove anything below it: once the 5 s below a burst's last
        #: event were read after they had passed, no later pass reads them again.
        floor = progress.since_id
        if floor is not None and read_below_id is not None:
            floor = max(floor, read_below_id)
        #: The pass reads down to `floor_id` when lower than that (routed partitions).
        if floor is not None and floor_id is not None:
            floor = min(floor, floor_id)
        self._since_ms = None if floor is None else snowflake_ms(floor)

    def admit(self, event: Mapping[str, Any]) -> bool:
        """Return True when `event` is new to this pass and above its floor."""
        progress = self.progress
        event_id = int(event["id"])
        id_ms = snowflake_ms(event_id)
        at_ms = created_ms(event)
        latest_after = max(id_ms, at_ms + SKEW_MS)  # nothing after this event is newer
        if self._since_ms is not None and latest_after < self._since_ms:
            self.reached_floor = True
        if self.start_ms is not None and latest_after + SKEW_MS < self.start_ms:
            self.reached_floor = True
        if progress.ceiling_id is not None and event_id > progress.ceiling_id:
            return False
        if progress.since_id is not None and event_id <= progress.since_id:
            return False
        if self.start_ms is not None and at_ms < self.start_ms:
            return False
        if self._already_emitted(event_id, id_ms):
            progress.repeats += 1
            return False
        self._remember(event_id, id_ms, event)
        return True

    def _already_emitted(self, event_id: int, id_ms: int) -> bool:
        progress = self.progress
        if event_id in progress.frontier:
            return True
        if progress.oldest_ms is None or progress.newest_id is None:
            return False
        return event_id <= progress.newest_id and id_ms > progress.oldest_ms + FRONTIER_MS

    def _remember(self, event_id: int, id_ms: int, event: Mapping[str, Any]) -> None:
        progress = self.progress
        progress.emitted += 1
        if progress.newest_id is None or event_id > progress.newest_id:
            progress.newest_id = event_id
            progress.newest_created_at = str(event.get(REPLICATION_KEY) or "") or None
        if progress.oldest_ms is None or id_ms < progress.oldest_ms:
            progress.oldest_ms = id_ms
            horizon = id_ms + FRONTIER_MS
            progress.frontier = {i: ms for i, ms in progress.frontier.items() if ms <= horizon}
        if id_ms <= progress.oldest_ms + FRONTIER_MS:
            progress.frontier[event_id] = id_ms


def covered_id(state: Mapping[str, Any]) -> int | None:
    """Below which id every event of the stream or partition has been read (else its bookmark)."""
    value = state.get(COVERED_KEY)
    return bookmark_id(state) if value in (None, "") else int(str(value))


def stops_at_bookmark(state: Mapping[str, Any]) -> bool:
    """Whether a pass from this state can stop at the bookmark's own event, read nothing below.

    It can once `read_below_id` lies beyond what the bookmark's event leaves open
    (`NewestFirstPass.admit`): the last pass read X's list more than about 10 s after that
    event. Until then the pass reads down through the seconds below the bookmark, as many
    events as a burst put there, which the arrival rate does not foretell.
    """
    bookmark = bookmark_id(state)
    covered = covered_id(state)
    if bookmark is None or covered is None:
        return False
    newest = {"id": bookmark, REPLICATION_KEY: state.get("replication_key_value")}
    return max(snowflake_ms(bookmark), created_ms(newest) + SKEW_MS) < snowflake_ms(covered)


def top_id_at(now_ms: int) -> int:
    """The lowest id X could mint `SKEW_MS` before `now_ms` (see `PassProgress.top_id`)."""
    return min_snowflake_at(now_ms - SKEW_MS)


def bookmark_id(state: Mapping[str, Any]) -> int | None:
    """The highest id of the last completed pass, or None before the first one."""
    value = state.get(BOOKMARK_ID_KEY)
    return None if value in (None, "") else int(str(value))


def complete(
    state: MutableMapping[str, Any], progress: PassProgress, *, bookmark: bool = True
) -> None:
    """Move the bookmark up to the pass's newest event and clear the pass in flight.

    A routing pass (`bookmark=False`) keeps no bookmark: its partitions do.
    """
    state.pop(IN_FLIGHT_KEY, None)
    if not bookmark:
        return
    current = bookmark_id(state)
    if progress.newest_id is not None and (current is None or progress.newest_id > current):
        state["replication_key"] = REPLICATION_KEY
        state["replication_key_value"] = progress.newest_created_at or x_time_text(
            snowflake_ms(progress.newest_id)
        )
        state[BOOKMARK_ID_KEY] = str(progress.newest_id)
    if progress.ceiling_id is not None:
        # A catch-up pass read its new types up to the bookmark only: above it, what was read
        # holds the old types alone, so the next pass reads down to the bookmark again. Set,
        # not removed: Meltano merges a failed run's state onto the last good one, which
        # would bring the old value back.
        if bookmark_id(state) is not None:
            state[COVERED_KEY] = str(bookmark_id(state))
        return
    covered = [i for i in (progress.top_id, bookmark_id(state)) if i is not None]
    if state.get(COVERED_KEY) is not None:
        covered.append(int(str(state[COVERED_KEY])))
    if covered:
        state[COVERED_KEY] = str(max(covered))


def resumable(
    state: Mapping[str, Any], *, event_types: list[str], catch_up: bool = False
) -> PassProgress | None:
    """The pass in flight, if it continues from this bookmark with these event types.

    A pass is tied to the bookmark it started from (`since_id`, or a catch-up
    pass's `ceiling_id`) and to its event types: a stale one (brought back by a
    state merge) is ignored, and a new pass starts from the top. (A stale pass
    from the same bookmark emitted nothing, so resuming it loses nothing.)

    A completed pass removes its `pass`, so Meltano's merge of an older failed run's
    state (or `--merge-state`) can bring it back onto the state that pass completed in,
    its bookmark unmoved when it found nothing new. `read_below_id` tells: a pass whose
    first page (`top_id`) is at or below it was covered by a pass that completed later.
    Resumed, it would read its old pages again run after run while new events wait. Only
    a pass that emitted nothing can be such a pass (one that emitted moved the bookmark
    when it completed), so a killed pass that emitted events is resumed whatever its
    `top_id` (a new pass in the same second as the last one's has the same): its events
    are never emitted twice.
    """
    saved = state.get(IN_FLIGHT_KEY)
    if not isinstance(saved, Mapping):
        return None
    progress = PassProgress.from_state(saved)
    if (progress.ceiling_id is not None) != catch_up:
        return None
    tied_to = progress.ceiling_id if catch_up else progress.since_id
    if tied_to != bookmark_id(state) or progress.event_types != event_types:
        return None
    covered = state.get(COVERED_KEY)
    stale = bool(covered) and progress.top_id is not None and progress.top_id <= int(str(covered))
    if stale and not progress.emitted:
        return None
    return progress


def stored_event_types(state: Mapping[str, Any]) -> list[str]:
    """The event types the bookmark covers (all of them when the state does not say)."""
    return list(state.get(EVENT_TYPES_KEY) or ALL_EVENT_TYPES)


def store_event_types(state: MutableMapping[str, Any], event_types: list[str]) -> None:
    """Record the event types the bookmark now covers; all of them need no key."""
    if sorted(event_types) == sorted(ALL_EVENT_TYPES) and EVENT_TYPES_KEY not in state:
        return
    state[EVENT_TYPES_KEY] = sorted(event_types)
