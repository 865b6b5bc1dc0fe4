"""Quota routing: configured conversations read from the `/2/dm_events` pages a run reads anyway.

X allows 15 requests per 15 minutes on each DM endpoint, and `/2/dm_events`
carries every conversation of the last 30 days. A conversation partition read
up to about where an account-wide pass stops needs no request of its own: the
pass meets all its new events. So an incremental run costs the
same requests however many conversations are configured.

Two account-wide passes can feed the partitions:

* `dm_events`' own pass, when `dm_events` is selected: `conversation_events`
  leaves the routed partitions to it, in whichever order the two sync (the
  plan is made before either, in the Tap's run scope); the `dm_events` pass
  then writes their rows (as `conversation_events` records) and moves their
  bookmarks when it completes.
* a *routing pass* of `conversation_events` over `/2/dm_events` when
  `dm_events` is not selected and that is cheaper than one request per
  conversation; it writes only the routed conversations' events and keeps its
  place in `bookmarks.conversation_events.via_dm_events`, never in
  `dm_events`' state (which would claim events were written there).

A partition is reached when everything of it below an id close to that
pass's bookmark has been read (`read_below_id`: its last pass read X's list
down from then): the pass then reads down to that id, a few events more than
its own bookmark needs, and routes what lies between to the partition.

Each routed partition goes through the same `NewestFirstPass` as its own pass
would, so it ends with the same records and state. Its progress is saved in
its own `pass` after every page, marked `routed_by` the feeding pass and how
far it had read (`feed_mark`): a run that stops continues with that pass's
cursor, and a partition is routed again only by that same pass at that same
page (a partition left out of a run of it would miss that run's pages) or,
when it is not, goes on with its own endpoint from the progress saved (its
repeats recognised as usual). A partition completes with the feeding pass only
if the pass read below everything the partition had not read, or the rest is
still inside what `/2/dm_events` serves.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from tap_x_dm.ids_and_times import (
    DAY_MS,
    DM_EVENTS_WINDOW_MS,
    canonical_conversation_id,
    snowflake_ms,
)
from tap_x_dm.sync.page_sizes import (
    ARRIVALS_KEY,
    FIRST_PAGE_SLACK,
    expected_arrivals,
    first_page_size,
    remember_arrivals,
)
from tap_x_dm.sync.pass_inputs import Feed, PassInput, PassKind
from tap_x_dm.sync.passes import (
    IN_FLIGHT_KEY,
    SKEW_MS,
    NewestFirstPass,
    PassProgress,
    bookmark_id,
    complete,
    covered_id,
    created_ms,
    resumable,
    store_event_types,
    stored_event_types,
)

#: Stream-level key of `conversation_events`' state that holds its routing pass.
ROUTING_STATE_KEY = "via_dm_events"
#: How far inside what `/2/dm_events` serves a partition must be to be routed.
HORIZON_MS = DM_EVENTS_WINDOW_MS - DAY_MS
#: Requests a routing pass is assumed to need while the account's arrival rate is unknown.
UNKNOWN_RATE_REQUESTS = 2
#: How far below `dm_events`' bookmark its pass reads to reach a partition: within one run,
#: `conversation_events` reads a little earlier than `dm_events` (rate-limit waits included).
REACH_MS = 3_600_000


@dataclass
class RoutedPartition:
    """One conversation partition fed by an account-wide pass."""

    state: dict[str, Any]
    newest_first: NewestFirstPass
    write: Callable[[Mapping[str, Any]], None] | None
    #: Every event of the partition below this id has been read (`passes.covered_id`).
    covered: int


def feed_mark(name: str, progress: PassProgress) -> str:
    """`routed_by`: the feeding pass (its first read, `top_id`) and how far it read (its cursor).

    Every page a pass reads moves its cursor, so a partition is fed again only by the
    pass that saved it, at the page where it stopped.
    """
    return f"{name}:{progress.top_id}:{progress.cursor or ''}"


def _stored_types_match(state: Mapping[str, Any], event_types: list[str]) -> bool:
    """No event type was added since the bookmark (an added one needs a catch-up pass)."""
    stored = stored_event_types(state)
    return all(kind in stored for kind in event_types)


class ConversationRouter:
    """Decides which partitions an account-wide pass feeds, and feeds them (a run service)."""

    def __init__(
        self,
        *,
        dm_events_state: Callable[[], Mapping[str, Any]],
        dm_events_selected: Callable[[], bool],
        now_ms: Callable[[], int],
        start_ms: int | None,
        logger: logging.Logger,
    ) -> None:
        self._dm_events_state = dm_events_state
        self._dm_events_selected = dm_events_selected
        self._now_ms = now_ms
        self._start_ms = start_ms
        self._logger = logger
        self._routed: dict[str, RoutedPartition] = {}
        #: `dm_events` or `via_dm_events`: the pass that feeds the routed partitions.
        self.pass_id: str | None = None
        #: The routing pass `conversation_events` runs itself (dm_events not selected), and
        #: the state it keeps its place in (`ROUTING_STATE_KEY`, written when it runs).
        self.routing_pass: PassProgress | None = None
        self._routing_state: dict[str, Any] = {}
        self._feeding = False
        self._feeding_pass: PassProgress | None = None
        self._completed = False
        #: The feeding pass's name and, when it resumes, its progress (None: a new pass).
        self._feeder = ""
        self._resumed: PassProgress | None = None
        #: Nothing the feeding pass has yet to read is newer than this (`NewestFirstPass`).
        self._read_down_to_ms: int | None = None

    def routes(self, conversation_id: str) -> bool:
        """Whether an account-wide pass reads this conversation in this run."""
        return conversation_id in self._routed

    # -- the plan, made once in the Tap's run scope ----------------------------------------

    def plan(
        self,
        partitions: Mapping[str, dict[str, Any]],
        *,
        event_types: list[str],
        page_size: int,
        own_state: dict[str, Any],
        write: Callable[[Mapping[str, Any]], None],
    ) -> None:
        """Choose the routed partitions of `partitions` (conversation id → partition state)."""
        if self._dm_events_selected():
            self._plan_from_dm_events(partitions, event_types, write)
        else:
            self._plan_routing_pass(partitions, event_types, page_size, own_state)

    def _plan_from_dm_events(
        self,
        partitions: Mapping[str, dict[str, Any]],
        event_types: list[str],
        write: Callable[[Mapping[str, Any]], None],
    ) -> None:
        dm_state = self._dm_events_state()
        floor = bookmark_id(dm_state)
        if floor is None or not _stored_types_match(dm_state, event_types):
            return
        resumed = resumable(dm_state, event_types=event_types)
        self._feeder = self.pass_id = "dm_events"  # noqa: S105  # a pass, not a password
        self._resumed = resumed if resumed is not None and resumed.read_a_page else None
        reach = floor - (REACH_MS << 22)
        self._route(partitions, event_types, floor=reach, write=write)
        if self._routed:
            self._logger.info(
                "conversation_events: %d of %d conversation(s) are read from the /2/dm_events "
                "pages of the dm_events pass (what they have read reaches within an hour of its "
                "bookmark, id %s); the others use their own endpoint.",
                len(self._routed),
                len(partitions),
                floor,
            )

    def _plan_routing_pass(
        self,
        partitions: Mapping[str, dict[str, Any]],
        event_types: list[str],
        page_size: int,
        own_state: dict[str, Any],
    ) -> None:
        via = own_state.get(ROUTING_STATE_KEY) or {}
        saved = _saved_routing_pass(via, event_types)
        self._feeder = self.pass_id = ROUTING_STATE_KEY
        self._resumed = saved if saved is not None and saved.read_a_page else None
        floor = None if self._resumed is None else self._resumed.since_id
        self._route(partitions, event_types, floor=floor, write=None)
        if self._resumed is not None and not self._routed:
            # It fed no partition configured now: a new pass rather than none for ever.
            self._resumed, floor = None, None
            self._route(partitions, event_types, floor=None, write=None)
        if not self._routed:
            return
        resuming = self._resumed is not None
        since = floor or self.floor_id() or 0
        requests = self._routing_pass_requests(via, since, page_size)
        if not resuming and requests >= len(self._routed):
            self._logger.info(
                "conversation_events: %d conversation(s) use their own endpoint (%d request(s)): "
                "fewer than reading the /2/dm_events pages since id %s would need (about %d).",
                len(self._routed),
                len(self._routed),
                since,
                requests,
            )
            self._routed.clear()
            return
        self._routing_state = via  # where the routing pass keeps its place (`routing_input`)
        self.routing_pass = self._resumed
        if self.routing_pass is None:
            self.routing_pass = PassProgress(since_id=since, event_types=event_types)
        self._logger.info(
            "conversation_events: dm_events is not selected; %s the /2/dm_events pages since id "
            "%s (about %d request(s)) for %d conversation(s) instead of one request each, "
            "writing only their events; the pass keeps its place in "
            "bookmarks.conversation_events.%s.",
            "continuing to read" if resuming else "reading",
            since,
            requests,
            len(self._routed),
            ROUTING_STATE_KEY,
        )

    def _routing_pass_requests(self, via: Mapping[str, Any], since: int, page_size: int) -> int:
        """Requests a routing pass down to `since` is expected to need."""
        rate = via.get(ARRIVALS_KEY)
        if not isinstance(rate, int):
            return UNKNOWN_RATE_REQUESTS
        expected = expected_arrivals(rate, since, self._now_ms())
        return max(1, math.ceil((expected + FIRST_PAGE_SLACK) / page_size))

    def _route(
        self,
        partitions: Mapping[str, dict[str, Any]],
        event_types: list[str],
        *,
        floor: int | None,
        write: Callable[[Mapping[str, Any]], None] | None,
    ) -> None:
        horizon = self._now_ms() - HORIZON_MS
        for conversation_id, state in partitions.items():
            bookmark, covered = bookmark_id(state), covered_id(state)
            if bookmark is None or covered is None or snowflake_ms(covered) < horizon:
                continue  # a first run, or history /2/dm_events no longer serves
            if (floor is not None and covered < floor) or not _stored_types_match(
                state, event_types
            ):
                continue
            progress = resumable(state, event_types=event_types)
            resumed = self._resumed
            fed_before = (
                progress is not None
                and resumed is not None
                and progress.routed_by == feed_mark(self._feeder, resumed)
            )
            under_way = progress is not None and (progress.read_a_page or progress.emitted > 0)
            if under_way and not fed_before:
                continue  # its own pass is under way: it continues on its own endpoint
            if resumed is not None and not fed_before:
                continue  # the pass's pages read already held its events
            if progress is None or not fed_before:
                progress = PassProgress(since_id=bookmark, event_types=event_types)
            newest_first = NewestFirstPass(progress, start_ms=self._start_ms)
            self._routed[conversation_id] = RoutedPartition(state, newest_first, write, covered)

    def routing_input(
        self, own_state: dict[str, Any], label: str, page_size: int
    ) -> PassInput | None:
        """The routing pass planned for this run, for the pass runner; given once.

        None when no routing pass is planned (`dm_events` feeds the partitions, or
        none is routed), or once it was given.
        """
        progress, self.routing_pass = self.routing_pass, None
        if progress is None or self.pass_id is None:
            return None
        via = own_state.setdefault(ROUTING_STATE_KEY, self._routing_state)
        first_page = None
        if not progress.read_a_page:  # a resumed pass goes on with its cursor, at its size
            first_page = first_page_size(
                via, now_ms=self._now_ms(), page_size=page_size, since_id=progress.since_id
            )
        feed = self.begin(self.pass_id, progress)
        return PassInput(PassKind.ROUTING, label, via, progress, first_page, feed)

    def floor_id(self) -> int | None:
        """The lowest id the feeding pass must read down to for its partitions."""
        return min((p.covered for p in self._routed.values()), default=None)

    # -- feeding, by the account-wide pass --------------------------------------------------

    def begin(self, pass_id: str, progress: PassProgress) -> Feed | None:
        """An account-wide pass starts: it feeds the partitions if it is the planned one.

        None when it feeds none: the runner then makes no call per event or page for it.
        """
        self._feeding = bool(self._routed) and pass_id == self.pass_id and not self._completed
        if not self._feeding:
            return None
        self._feeding_pass = progress
        return Feed(self.floor_id(), self.offer, self.save, self.complete, self.end)

    def offer(self, row: Mapping[str, Any]) -> bool:
        """Give one event of the pass to its partition; True when that partition takes it.

        Fed by `dm_events`, the partition's record is written here, from the
        `dm_events` row (same schema); fed by the routing pass, the caller
        yields it as `conversation_events`' own record.
        """
        if not self._feeding:
            return False
        read_ms = max(snowflake_ms(row["id"]), created_ms(row) + SKEW_MS)
        if self._read_down_to_ms is None or read_ms < self._read_down_to_ms:
            self._read_down_to_ms = read_ms
        conversation = row.get("dm_conversation_id")
        partition = self._routed.get(canonical_conversation_id(str(conversation or "")))
        if partition is None or not partition.newest_first.admit(row):
            return False
        if partition.write is not None:
            partition.write(row)
        return True

    def save(self) -> None:
        """After a page: every fed partition's progress goes into its state (STATE follows)."""
        if not self._feeding or self._feeding_pass is None:
            return
        mark = feed_mark(self._feeder, self._feeding_pass)
        for partition in self._routed.values():
            partition.newest_first.progress.routed_by = mark
            partition.state[IN_FLIGHT_KEY] = partition.newest_first.progress.to_state()

    def complete(self) -> None:
        """The feeding pass completed: every routed partition's pass completes with it."""
        if not self._feeding:
            return
        now = self._now_ms()
        events, left = 0, 0
        top = None if self._feeding_pass is None else self._feeding_pass.top_id
        for partition in self._routed.values():
            covered_ms = snowflake_ms(partition.covered)
            read_below = self._read_down_to_ms is not None and self._read_down_to_ms < covered_ms
            if not read_below and covered_ms < now - DM_EVENTS_WINDOW_MS + REACH_MS:
                left += 1  # the list ended above what it had not read: its own endpoint has it
                continue
            progress = partition.newest_first.progress
            progress.top_id = top
            complete(partition.state, progress)
            remember_arrivals(partition.state, progress, now)
            if progress.event_types is not None:
                store_event_types(partition.state, progress.event_types)
            events += progress.emitted
        self._logger.info(
            "conversation_events: %d conversation(s) updated from the %s pass: %d new event(s)%s.",
            len(self._routed) - left,
            self._feeder,
            events,
            f"; {left} go on with their own endpoint (the pass ended above what they had read)"
            if left
            else "",
        )
        self._feeding = False
        self._completed = True  # the partitions stay routed: they are done for this run

    def end(self) -> None:
        """The feeding pass stopped early or failed: what was saved stays for the next run."""
        self._feeding = False


def _saved_routing_pass(via: Mapping[str, Any], event_types: list[str]) -> PassProgress | None:
    """The routing pass in flight, if it reads these event types.

    Its floor (`since_id`) is the lowest bookmark of the partitions it fed,
    which do not move until it completes; a partition it did not feed is not
    routed while it resumes (and with none left to feed, a new pass starts).
    """
    saved = via.get(IN_FLIGHT_KEY)
    if not isinstance(saved, Mapping):
        return None
    progress = PassProgress.from_state(saved)
    return progress if progress.event_types == event_types else None
