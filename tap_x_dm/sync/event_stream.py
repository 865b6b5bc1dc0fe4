"""The base of the DM event streams: X's newest-first event lists, read in resumable passes."""

from __future__ import annotations

import contextlib
import typing as t
from collections.abc import Generator, Iterable
from typing import Any
from urllib.parse import urlsplit

from typing_extensions import override

from tap_x_dm import sdk_adapter
from tap_x_dm.api.client import XStream
from tap_x_dm.api.page_shape import page_shape_problem
from tap_x_dm.api.pagination import NewestFirstPaginator
from tap_x_dm.api.ratelimit import endpoint_of
from tap_x_dm.errors import StopRunError, XAPIError
from tap_x_dm.objects.includes import IncludesWriter, PageIncludes
from tap_x_dm.schemas import parameter_values
from tap_x_dm.sync.forecast import first_sync_forecast
from tap_x_dm.sync.passes import (
    BOOKMARK_ID_KEY,
    IN_FLIGHT_KEY,
    REPLICATION_KEY,
    NewestFirstPass,
    PassProgress,
    bookmark_id,
    complete,
    covered_id,
    first_page_size,
    fit_page_size,
    remember_arrivals,
    resumable,
    store_event_types,
    stored_event_types,
    top_id_at,
)
from tap_x_dm.sync.routing import Feed
from tap_x_dm.times import header_time_ms

if t.TYPE_CHECKING:
    import requests
    from singer_sdk import Tap
    from singer_sdk.helpers.types import Context

    from tap_x_dm.services import RunServices
#: Every field X's spec allows (REFERENCE.md §1.2), requested explicitly because the
#: defaults differ between X's doc generations. Fields are not billed; expanded objects are.
DM_EVENT_FIELDS = parameter_values("DmEventFieldsParameter")


class _ReadAgainFromTop(Exception):  # noqa: N818  # a signal, not an error
    """A page smaller than `page_size` did not reach the bookmark: read again at `page_size`."""


class DmEventStreamBase(XStream):
    """A newest-first event list read in passes that stop at the bookmark."""

    schema_key = "DmEvent"
    replication_key = REPLICATION_KEY
    #: Keyed by account too: two brand accounts in one warehouse can both see an event.
    primary_keys: t.ClassVar[list[str]] = ["account_id", "id"]
    _pass_state_manager: sdk_adapter.PassStateManager | None = None
    #: Days of history the endpoint serves, for a first sync's forecast (0: unknown).
    history_days: t.ClassVar[int] = 0

    def __init__(self, tap: Tap, services: RunServices, includes: IncludesWriter) -> None:
        super().__init__(tap, services)
        self._includes = includes
        self._page = PageIncludes()
        self._pass: NewestFirstPass | None = None
        self._pass_state: dict[str, Any] = {}
        #: `max_results` of the request in flight, and when it was prepared.
        self._asked, self._asked_at_ms = 0, 0
        #: X's `Date` of the page in flight (its clock, not ours: `top_id` takes the earlier).
        self._page_date_ms = 0
        self._page_left = 0
        self._page_next: str | None = None

    @property
    @override
    def state_manager(self) -> sdk_adapter.PassStateManager:
        """Bookmarks move per completed pass, not per record (see `sdk_adapter`)."""
        if self._pass_state_manager is None:
            self._pass_state_manager = sdk_adapter.new_state_manager(self)
        return self._pass_state_manager

    @override
    def get_replication_key_signpost(self, context: Context | None = None) -> None:
        """No signpost: X assigns `created_at`, and the bookmark is exact to the id."""

    # -- request ------------------------------------------------------------------------

    def lookup_params(self) -> dict[str, str]:
        """Field and expansion parameters shared by list pages and single-event lookups.

        X bills every expanded user, tweet and media it returns, so an expansion is
        asked for only when the stream it fills is selected, and not when that stream
        looks its objects up by id (`object_lookups`, see `lookups`).
        """
        expansions = self._includes.expansions(single=self._is_lookup())
        params = {
            "dm_event.fields": ",".join(DM_EVENT_FIELDS),
            "user.fields": ",".join(self.config["user_fields"]),
            "tweet.fields": ",".join(self.config["tweet_fields"]),
            "media.fields": ",".join(self.config["media_fields"]),
        }
        if expansions:
            params["expansions"] = ",".join(expansions)
        return params

    @override
    def get_url_params(
        self, context: Context | None, next_page_token: str | None
    ) -> dict[str, Any]:
        """Every field and expansion once, so no event needs a second request."""
        size = self._pass_page_size()
        if self._pass is not None and self._pass.first_page:
            size = min(size, self._pass.first_page)
        cap = self.config.get("max_cost_usd")
        if cap is not None:  # stops the run before a page that could pass the cap
            kinds, queued = self._includes.billed_kinds(), self._includes.pending_usd()
            self.services.costs.check_next_page(size, float(cap), kinds, committed_usd=queued)
        self._asked, self._asked_at_ms = size, self._now_ms()
        params: dict[str, Any] = {
            "max_results": size,
            "event_types": ",".join(
                self._pass.progress.event_types or self.config["event_types"]
                if self._pass is not None
                else self.config["event_types"]
            ),
            **self.lookup_params(),
        }
        if next_page_token:
            params["pagination_token"] = next_page_token
        return params

    def _pass_page_size(self) -> int:
        """The pass's page size, fixed when it starts (`passes.fit_page_size`)."""
        saved = self._pass.progress.page_size if self._pass is not None else None
        return saved or self._affordable_page_size()

    def _affordable_page_size(self) -> int:
        """`page_size`, or the largest page `max_cost_usd` can ever afford."""
        size, cap = int(self.config["page_size"]), self.config.get("max_cost_usd")
        kinds = self._includes.billed_kinds()
        return size if cap is None else self.services.costs.page_size_under(float(cap), kinds, size)

    @override
    def get_new_paginator(self) -> NewestFirstPaginator | None:
        """Cursor paging that stops once the current pass reaches its floor."""
        return NewestFirstPaginator(
            lambda: self._pass is not None and self._pass.reached_floor,
            start_value=self._pass.progress.cursor if self._pass is not None else None,
            payload=self.payload,
        )

    # -- response -----------------------------------------------------------------------

    @override
    def parse_response(self, response: requests.Response) -> list[dict[str, Any]]:
        """The page's events; its includes are indexed for them, its end noted for the pass.

        A page is checked whole before any of its events is emitted: a body of the
        wrong shape, or a page of another account than the state's, fails the run
        with the state as it was.
        """
        payload = self.payload(response)
        endpoint = endpoint_of(urlsplit(response.url).path)
        problem = page_shape_problem(payload, single=self._is_lookup())
        if problem:
            msg = (
                f"GET {endpoint} answered 200 with a body tap-x-dm cannot read ({problem}); the "
                "state is kept as it was: run again later, and report it if it persists."
            )
            raise XAPIError(msg, status=response.status_code)
        self._page = PageIncludes(payload.get("includes"), payload.get("errors"))
        records = list(super().parse_response(response))
        self.services.account.confirm_page(
            (str(e["dm_conversation_id"]) for e in records if e.get("dm_conversation_id")),
            endpoint,
        )
        meta = payload.get("meta")  # a dict on list pages (checked above), absent on lookups
        token = meta.get("next_token") if isinstance(meta, dict) else None
        self._page_next = str(token) if token else None
        self._page_date_ms = header_time_ms(response, default=self._asked_at_ms)
        self._page_left = len(records)
        if not records:
            self._end_page()
        return records

    def _is_lookup(self) -> bool:
        """Whether the request in flight fetches one event by id (see `dm_events`)."""
        return False

    @override
    def post_process(self, row: dict[str, Any], context: Context | None = None) -> dict[str, Any]:
        """Tag the row, and write the users, tweets and media it refers to, before it."""
        row = self.as_record(row)
        self.services.tally.conversation("legacy", row.get("dm_conversation_id"))
        if row["source"] == "api":  # an archive row (archive_import) has no page behind it
            self._includes.write_referenced(row, self._page)
        return row

    def as_record(self, row: dict[str, Any]) -> dict[str, Any]:
        """The record of one event, without writing what it refers to."""
        row = super().post_process(row, None)
        if row.get("source") != "archive":
            row["source"] = "api"
        return row

    def read_pass(self, context: Context | None, label: str) -> Iterable[dict[str, Any]]:
        """Run (or continue) this stream's or partition's pass; the bookmark moves at its end.

        When `event_types` gained a type since the bookmark was written, a catch-up
        pass first reads that type's events up to the bookmark, once: otherwise
        they would lie below the bookmark forever.
        """
        if self.services.stop.stopped:
            return
        state = self.get_context_state(context)
        bookmark = bookmark_id(state)
        configured = sorted(self.config["event_types"])
        stored = stored_event_types(state)
        added = [kind for kind in configured if kind not in stored]
        if bookmark is not None and added:
            catch_up = resumable(state, event_types=added, catch_up=True) or PassProgress(
                since_id=None, ceiling_id=bookmark, event_types=added
            )
            self.logger.info(
                "%s: event_types now include %s; reading their events up to id %s once.",
                label,
                ", ".join(added),
                bookmark,
            )
            if not (yield from self.run_pass(context, state, catch_up, label)):
                return
            store_event_types(state, configured)
        main = resumable(state, event_types=configured) or PassProgress(
            since_id=bookmark, event_types=configured
        )
        main.routed_by = None  # on its own endpoint now, whoever fed it before
        if main.read_a_page:
            self.logger.info(
                "%s: continuing the pass of the last run after %d event(s).", label, main.emitted
            )
        elif bookmark is not None:
            self.logger.info("%s: reading events newer than id %s.", label, bookmark)
            self.warn_if_gap(state)
        with self.feeding_partitions(main) as feed:
            first_page = None
            if not main.read_a_page:  # sized for what the pass reads: down to the feed's floor too
                floor = feed.floor_id
                first_page = first_page_size(
                    state,
                    now_ms=self._now_ms(),
                    page_size=int(self.config["page_size"]),
                    since_id=None if floor is None or bookmark is None else min(bookmark, floor),
                )
            reading = self.run_pass(context, state, main, label, first_page=first_page, feed=feed)
            if not (yield from reading):
                return
            feed.completed()
        remember_arrivals(state, main, self._now_ms())
        store_event_types(state, configured)
        self.logger.info(
            "%s: pass complete: %d new event(s) in %d page(s)%s; bookmark id %s.",
            label,
            main.emitted,
            main.pages,
            f", {main.repeats} repeat(s) dropped" if main.repeats else "",
            state.get(BOOKMARK_ID_KEY, "not set"),
        )

    def feeding_partitions(self, progress: PassProgress) -> contextlib.AbstractContextManager[Feed]:
        """Hook: the partitions this main pass feeds (`tap_x_dm.sync.routing`); none by default."""
        return contextlib.nullcontext(Feed())

    def run_pass(
        self,
        context: Context | None,
        state: dict[str, Any],
        progress: PassProgress,
        label: str,
        *,
        first_page: int | None = None,
        feed: Feed | None = None,
        only_routed: bool = False,
    ) -> Generator[dict[str, Any], None, bool]:
        """Page through one pass, saving its progress after every page.

        `feed` is offered every event read, for the partitions the pass feeds;
        with `only_routed` (a routing pass: the whole account read for a few
        conversations) only what a partition takes is yielded.
        Returns False when the run must stop (a too-long rate-limit wait): the
        progress saved so far lets the next run continue from the same page.
        """
        start = self.services.start_date
        offer = feed.offer if feed is not None else None
        one_pass = NewestFirstPass(
            progress,
            start_ms=None if start is None else int(start.timestamp() * 1000),
            first_page=first_page,
            floor_id=feed.floor_id if feed is not None else None,
            read_below_id=covered_id(state),
        )
        self._pass, self._pass_state = one_pass, state
        fit_page_size(progress, self._affordable_page_size(), self.logger, label)
        state[IN_FLIGHT_KEY] = progress.to_state()
        try:
            while True:
                try:
                    for event in self.request_records(context):
                        routed = offer is not None and offer(event)
                        admitted = one_pass.admit(event)
                        if routed if only_routed else admitted:
                            yield event
                        self._page_left -= 1
                        if self._page_left == 0:
                            self._end_page()
                    break
                except _ReadAgainFromTop:
                    self.logger.info(
                        "%s: more new events than a page of %d holds; reading again from the "
                        "newest event, %d a page (the %d already emitted are skipped; X bills a "
                        "same-day re-read once).",
                        label,
                        self._asked,
                        self.config["page_size"],
                        progress.emitted,
                    )
                except XAPIError as exc:
                    if progress.cursor is None or "pagination_token" not in exc.parameters:
                        raise
                    self.logger.warning(
                        "%s: X no longer accepts the saved cursor (%s); the pass starts again "
                        "from the newest event and skips the %d event(s) it already emitted "
                        "(reading them again is billed again).",
                        label,
                        exc,
                        progress.emitted,
                    )
                    progress.cursor = None
        except StopRunError as exc:
            self.services.stop.stop(exc)  # the bookmark stays; the pass resumes next run
            return False
        finally:
            self._pass = None
        complete(state, progress, bookmark=not only_routed)
        self.pass_completed(state, progress)
        return True

    def pass_completed(self, state: dict[str, Any], progress: PassProgress) -> None:
        """Hook: a pass of this stream or partition completed (see `dm_events`)."""

    def _now_ms(self) -> int:
        return int(self.services.clock.time() * 1000)

    def _end_page(self) -> None:
        """The page's records (and their objects) are written: save the pass, emit STATE.

        The small first page of `passes.first_page_size`, when it did not reach the
        bookmark, is not followed with its cursor: X's tokens may count pages rather
        than events, and a larger next page would then skip events. The pass starts
        again from the top at its page size instead, skipping what it emitted. (For
        the same reason every other page of a pass has one size, even under
        `max_cost_usd`, which stops a run before a page rather than cutting it; only a
        lowered cap shrinks it, between runs: `passes.fit_page_size`.)
        """
        if self._pass is None:
            return
        self._includes.end_page()  # objects looked up by id, before the state covers the page
        one_pass, progress = self._pass, self._pass.progress
        too_small = bool(
            self._asked < self._pass_page_size() and self._page_next and not one_pass.reached_floor
        )
        one_pass.first_page = None
        first = not progress.read_a_page
        if first:  # a pass's first page only
            progress.top_id = top_id_at(min(self._asked_at_ms, self._page_date_ms))
        progress.cursor = None if too_small else self._page_next
        progress.pages += 1
        self._pass_state[IN_FLIGHT_KEY] = progress.to_state()
        self.services.routing.save()
        self.services.checkpoint()
        if first and progress.since_id is None and progress.ceiling_id is None:
            self._forecast_first_sync(progress)
        if too_small:
            raise _ReadAgainFromTop

    def _forecast_first_sync(self, progress: PassProgress) -> None:
        """After a first sync's first page, say how long and how costly the rest will be."""
        endpoint = endpoint_of(urlsplit(self.get_url(None)).path) if self.history_days else ""
        window = self.services.budget.window(endpoint) if endpoint else None
        if window is None or not self._page_next:
            return
        line = first_sync_forecast(
            self.name, progress, history_days=self.history_days,
            page_size=self._pass_page_size(), window=window,
            now_s=self.services.clock.time(), costs=self.services.costs,
        )  # fmt: skip
        if line:
            self.logger.info("%s", line)

    def warn_if_gap(self, state: dict[str, Any]) -> None:
        """Hook for streams whose endpoint forgets history (see `dm_events`)."""
