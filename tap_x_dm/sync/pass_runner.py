"""The pass runner: every newest-first pass over a DM event list, one page at a time.

A pass is told what it is for (`tap_x_dm.sync.pass_inputs.PassInput`): its kind,
the state it keeps its place in, its progress (new, or resumed from that state),
the size of its first request, and the `Feed` of the partitions it feeds. It asks its
stream for one page per `request_records` call (`OnePage`) and decides, page by
page and in plain control flow, whether the pass goes on, reads again from the
top, or is complete. The five kinds of pass reach it so:

* a stream's or partition's own pass from its bookmark: `sync`, a `MAIN` pass;
* event types added since the bookmark: `sync`, a `CATCH_UP` pass first;
* routed partitions: the `Feed` of `dm_events`' main pass (`sync`'s `feed_for`);
* `conversation_events` over `/2/dm_events` while `dm_events` is deselected: a
  `ROUTING` pass (`tap_x_dm.sync.routing.ConversationRouter.routing_input`);
* single events of `dm_event_ids`: `look_up`, one request each, no pass.
"""

from __future__ import annotations

import typing as t
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from singer_sdk.pagination import SinglePagePaginator
from typing_extensions import override

from tap_x_dm.api.ratelimit import endpoint_of
from tap_x_dm.errors import StopRunError, XAPIError, XNotFoundError
from tap_x_dm.ids_and_times import clock_ms, epoch_ms
from tap_x_dm.sync.forecast import first_sync_forecast
from tap_x_dm.sync.page_sizes import first_page_size, fit_page_size, remember_arrivals
from tap_x_dm.sync.pass_inputs import Feed, PassInput, PassKind
from tap_x_dm.sync.passes import (
    IN_FLIGHT_KEY,
    NewestFirstPass,
    PassProgress,
    bookmark_id,
    complete,
    covered_id,
    resumable,
    store_event_types,
    stored_event_types,
    top_id_at,
)

if t.TYPE_CHECKING:
    import requests
    from singer_sdk.helpers.types import Context

    from tap_x_dm.sync.event_stream import DmEventStreamBase


class OnePage(SinglePagePaginator):
    """One request per `request_records` call: the runner pages itself, STATE between pages.

    The cursor reaches the request through the runner (`PassRunner.cursor`), not
    through a paginator. An empty page the pass goes on from ends the call
    silently (the runner makes the next request); only one that ends the pass gets
    the SDK's "Pagination stopped" line.
    """

    def __init__(self, goes_on: Callable[[], bool]) -> None:
        super().__init__()
        self._goes_on = goes_on

    @override
    def continue_if_empty(self, response: requests.Response) -> bool:
        return self._goes_on()


@dataclass
class PageInFlight:
    """The request in flight and what its answer said about the list."""

    #: `max_results` asked, and when the request was prepared (epoch ms).
    asked: int = 0
    asked_at_ms: int = 0
    #: X's `Date` of the answer (its clock, not ours: `top_id` takes the earlier).
    date_ms: int = 0
    next_token: str | None = None


class PassRunner:
    """Runs the passes of one stream; the stream's request hooks ask it what to send."""

    def __init__(self, stream: DmEventStreamBase) -> None:
        self._stream = stream
        self._services = stream.services
        #: The pass in flight, and what decides its events.
        self.in_flight: PassInput | None = None
        self._pass: NewestFirstPass | None = None
        self._first_page: int | None = None
        self.page = PageInFlight()
        #: The event `look_up` fetches (`GET /2/dm_events/{id}`), while it does.
        self.lookup_id: str | None = None

    # -- what the stream's request hooks ask ---------------------------------------------

    def serves(self, kind: PassKind) -> bool:
        """Whether the request in flight is one of a pass of this kind."""
        return self.in_flight is not None and self.in_flight.kind is kind

    def page_size(self) -> int:
        """The pass's page size, fixed when it starts (`page_sizes.fit_page_size`)."""
        saved = self.in_flight.progress.page_size if self.in_flight is not None else None
        return saved or self._stream.affordable_page_size()

    def request_size(self) -> int:
        """`max_results` of the next request: the page size, or a smaller first page."""
        size = self.page_size()
        return size if self._first_page is None else min(size, self._first_page)

    def event_types(self) -> list[str] | None:
        """The event types the pass in flight reads (None: the configured ones)."""
        return self.in_flight.progress.event_types if self.in_flight is not None else None

    def cursor(self) -> str | None:
        """The `pagination_token` of the next request: the pass's cursor (None: its top)."""
        return self.in_flight.progress.cursor if self.in_flight is not None else None

    def paginator(self) -> OnePage:
        """One page of the pass in flight (or one looked-up event)."""
        return OnePage(self._goes_on)

    def _goes_on(self) -> bool:
        """Whether the page just answered leaves the pass more to read."""
        newest_first = self._pass
        reached = newest_first is not None and newest_first.reached_floor
        return self.page.next_token is not None and not reached

    def asked(self, size: int) -> None:
        """A request for `size` events is being prepared."""
        self.page = PageInFlight(asked=size, asked_at_ms=clock_ms(self._services.clock))

    def answered(self, next_token: str | None, date_ms: int) -> None:
        """Its answer: the list's next cursor, and X's `Date`."""
        self.page.next_token, self.page.date_ms = next_token, date_ms

    # -- a stream's or partition's passes ------------------------------------------------

    def sync(
        self,
        context: Context | None,
        state: dict[str, Any],
        label: str,
        *,
        feed_for: Callable[[PassProgress], Feed | None] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Run (or continue) this stream's or partition's passes; the bookmark moves at the end.

        When `event_types` gained a type since the bookmark was written, a catch-up
        pass first reads that type's events up to the bookmark, once: otherwise
        they would lie below the bookmark forever. `feed_for` gives the main pass
        the partitions it feeds.
        """
        stream = self._stream
        if self._services.stop.stopped:
            return
        bookmark = bookmark_id(state)
        configured = sorted(stream.config["event_types"])
        added = [kind for kind in configured if kind not in stored_event_types(state)]
        if bookmark is not None and added:
            catch_up = resumable(state, event_types=added, catch_up=True) or PassProgress(
                since_id=None, ceiling_id=bookmark, event_types=added
            )
            stream.logger.info(
                "%s: event_types now include %s; reading their events up to id %s once.",
                label,
                ", ".join(added),
                bookmark,
            )
            if not (
                yield from self.run(context, PassInput(PassKind.CATCH_UP, label, state, catch_up))
            ):
                return
            store_event_types(state, configured)
        main = resumable(state, event_types=configured) or PassProgress(
            since_id=bookmark, event_types=configured
        )
        main.routed_by = None  # on its own endpoint now, whoever fed it before
        if main.read_a_page:
            stream.logger.info(
                "%s: continuing the pass of the last run after %d event(s).", label, main.emitted
            )
        elif bookmark is not None:
            stream.logger.info("%s: reading events newer than id %s.", label, bookmark)
            stream.warn_if_gap(state)
        feed = None if feed_for is None else feed_for(main)
        first_page = None
        if not main.read_a_page:  # sized for what the pass reads: down to the feed's floor too
            floor = None if feed is None else feed.floor_id
            first_page = first_page_size(
                state,
                now_ms=clock_ms(self._services.clock),
                page_size=int(stream.config["page_size"]),
                since_id=None if floor is None or bookmark is None else min(bookmark, floor),
            )
        pass_input = PassInput(PassKind.MAIN, label, state, main, first_page, feed)
        if not (yield from self.run(context, pass_input)):
            return
        store_event_types(state, configured)
        stream.logger.info(
            "%s: pass complete: %d new event(s) in %d page(s)%s; bookmark id %s.",
            label,
            main.emitted,
            main.pages,
            f", {main.repeats} repeat(s) dropped" if main.repeats else "",
            bookmark_id(state) or "not set",
        )

    def run(
        self, context: Context | None, pass_input: PassInput
    ) -> Generator[dict[str, Any], None, bool]:
        """Page through one pass, saving its progress after every page, then complete it.

        Returns False when the run must stop (a too-long rate-limit wait): the
        progress saved so far lets the next run continue from the same page.
        """
        stream, progress, feed = self._stream, pass_input.progress, pass_input.feed
        start = self._services.start_date
        self._pass = NewestFirstPass(
            progress,
            start_ms=None if start is None else epoch_ms(start),
            floor_id=None if feed is None else feed.floor_id,
            read_below_id=covered_id(pass_input.state),
        )
        self.in_flight, self._first_page = pass_input, pass_input.first_page
        fit_page_size(progress, stream.affordable_page_size(), stream.logger, pass_input.label)
        pass_input.state[IN_FLIGHT_KEY] = progress.to_state()
        try:
            try:
                yield from self._pages(context, pass_input, self._pass)
            except StopRunError as exc:
                self._services.stop.stop(exc)  # the bookmark stays; the pass resumes next run
                return False
            finally:
                self.in_flight, self._pass = None, None
            complete(pass_input.state, progress, bookmark=pass_input.kind is not PassKind.ROUTING)
            stream.pass_completed(pass_input)
            if feed is not None:
                feed.completed()
        finally:
            if feed is not None:
                feed.end()
        if pass_input.kind is not PassKind.CATCH_UP:  # a catch-up pass saw old events only
            remember_arrivals(pass_input.state, progress, clock_ms(self._services.clock))
        return True

    def _pages(
        self, context: Context | None, pass_input: PassInput, newest_first: NewestFirstPass
    ) -> Iterator[dict[str, Any]]:
        """Every page of the pass, down to its floor or the list's end.

        A cursor X refuses (one saved by a run days ago) sends the pass back to the top,
        once: a second refusal is X's problem, said in one line, not a loop of re-reads.
        """
        progress, feed = pass_input.progress, pass_input.feed
        restarted = False
        while True:
            cursor = progress.cursor
            try:
                for event in self._stream.request_records(context):  # one page (`OnePage`)
                    taken = feed is not None and feed.offer(event)  # before `admit` moves the pass
                    new = newest_first.admit(event)
                    if taken if pass_input.kind is PassKind.ROUTING else new:
                        yield event
            except XAPIError as exc:
                if cursor is None or restarted or "pagination_token" not in exc.parameters:
                    raise
                restarted = True
                self._stream.logger.warning(
                    "%s: X no longer accepts the saved cursor (%s); the pass starts again "
                    "from the newest event and skips the %d event(s) it already emitted "
                    "(reading them again is billed again).",
                    pass_input.label,
                    exc,
                    progress.emitted,
                )
                progress.cursor = None
                continue
            if not self._end_page(pass_input, newest_first):
                return
            if cursor is not None and progress.cursor == cursor:  # as the SDK's paginator does
                msg = (
                    f"GET {self._stream.path} answered the cursor {cursor} with the same cursor; "
                    "the state is kept as it was: run again later, and report it if it persists."
                )
                raise XAPIError(msg)

    def _end_page(self, pass_input: PassInput, newest_first: NewestFirstPass) -> bool:
        """The page's records (and their objects) are written: save the pass, emit STATE.

        Returns whether the pass reads another page. The small first page of
        `page_sizes.first_page_size`, when it did not reach the bookmark, is not
        followed with its cursor: X's tokens may count pages rather than events,
        and a larger next page would then skip events. The pass reads again from
        the top at its page size instead, skipping what it emitted. (For the same
        reason every other page of a pass has one size, even under `max_cost_usd`,
        which stops a run before a page rather than cutting it; only a lowered cap
        shrinks it, between runs: `page_sizes.fit_page_size`.)
        """
        stream, progress, page = self._stream, pass_input.progress, self.page
        stream.includes.end_page()  # objects looked up by id, before the state covers the page
        reached = newest_first.reached_floor
        too_small = bool(page.asked < self.page_size() and page.next_token and not reached)
        self._first_page = None
        first = not progress.read_a_page
        if first:  # a pass's first page only
            progress.top_id = top_id_at(min(page.asked_at_ms, page.date_ms))
        progress.cursor = None if too_small else page.next_token
        progress.pages += 1
        stream.page_read(pass_input, next_token=page.next_token, reached_floor=reached)
        pass_input.state[IN_FLIGHT_KEY] = progress.to_state()
        if pass_input.feed is not None:
            pass_input.feed.save()
        self._services.checkpoint()
        if first and pass_input.kind is PassKind.MAIN and progress.since_id is None:
            self._forecast_first_sync(progress)
        if too_small:
            stream.logger.info(
                "%s: more new events than a page of %d holds; reading again from the newest "
                "event, %d a page (the %d already emitted are skipped; X bills a same-day "
                "re-read once).",
                pass_input.label,
                page.asked,
                stream.config["page_size"],
                progress.emitted,
            )
            return True
        return page.next_token is not None and not reached

    def _forecast_first_sync(self, progress: PassProgress) -> None:
        """After a first sync's first page, say how long and how costly the rest will be."""
        stream = self._stream
        path = urlsplit(stream.get_url(None)).path if stream.history_days else ""
        window = self._services.budget.window(endpoint_of(path)) if path else None
        if window is None or not self.page.next_token:
            return
        line = first_sync_forecast(
            stream.name,
            progress,
            history_days=stream.history_days,
            page_size=self.page_size(),
            window=window,
            now_s=self._services.clock.time(),
            costs=self._services.costs,
        )
        if line:
            stream.logger.info("%s", line)

    # -- single events by id -----------------------------------------------------------

    def look_up(self, event_id: str) -> Iterator[dict[str, Any]]:
        """Fetch one event by id (`GET /2/dm_events/{id}`): one request, no pass, no bookmark."""
        if self._services.stop.stopped:
            return
        self.lookup_id = event_id
        try:
            events = list(self._stream.request_records(None))
        except StopRunError as exc:
            self._services.stop.stop(exc)
            return
        except XNotFoundError as exc:
            self._stream.logger.warning("dm_event_ids: %s; it is skipped and not asked again.", exc)
            return
        finally:
            self.lookup_id = None
        for event in events:
            self._stream.logger.info("dm_event_ids: fetched event %s.", event_id)
            yield event
