"""The DM event streams over X's newest-first event lists: their SDK hooks, and `dm_events`.

The passes themselves (paging, reading again from the top, resuming, completing)
are the pass runner's (`tap_x_dm.sync.pass_runner`): these hooks build each request
from what it says and tell it what each answer said. `dm_events` lives here with
the base its pages run through; `conversation_events` has its own module.
"""

from __future__ import annotations

import datetime as dt
import typing as t
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import urlsplit

from typing_extensions import override

from tap_x_dm import sdk_adapter
from tap_x_dm.api.answers import page_shape_problem
from tap_x_dm.api.client import XStream
from tap_x_dm.api.ratelimit import endpoint_of
from tap_x_dm.errors import XAPIError
from tap_x_dm.ids_and_times import (
    DM_EVENTS_WINDOW_DAYS,
    DM_EVENTS_WINDOW_MS,
    epoch_ms,
    header_time_ms,
    snowflake_ms,
)
from tap_x_dm.objects.includes import IncludesWriter, PageIncludes
from tap_x_dm.schemas import parameter_values
from tap_x_dm.sync.archive_import import ArchiveImport, record_api_gap, record_coverage
from tap_x_dm.sync.pass_inputs import PassInput
from tap_x_dm.sync.pass_runner import PassRunner
from tap_x_dm.sync.passes import REPLICATION_KEY, covered_id

if t.TYPE_CHECKING:
    import requests
    from singer_sdk import Tap
    from singer_sdk.helpers.types import Context
    from singer_sdk.pagination import SinglePagePaginator

    from tap_x_dm.services import RunServices


#: Every field X's spec allows (REFERENCE.md §1.2), requested explicitly because the
#: defaults differ between X's doc generations. Fields are not billed; expanded objects are.
DM_EVENT_FIELDS = parameter_values("DmEventFieldsParameter")


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
        self.includes = includes
        self._page = PageIncludes()
        self.runner = PassRunner(self)

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
        expansions = self.includes.expansions(single=self.runner.lookup_id is not None)
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
        if self.runner.lookup_id is not None:  # one event: its fields, nothing else
            return self.lookup_params()
        size = self.runner.request_size()
        cap = self.config.get("max_cost_usd")
        if cap is not None:  # stops the run before a page that could pass the cap
            kinds, queued = self.includes.billed_kinds(), self.includes.pending_usd()
            self.services.costs.check_next_page(size, float(cap), kinds, committed_usd=queued)
        self.runner.asked(size)
        params: dict[str, Any] = {
            "max_results": size,
            "event_types": ",".join(self.runner.event_types() or self.config["event_types"]),
            **self.lookup_params(),
        }
        cursor = self.runner.cursor()  # the runner pages: the SDK's `next_page_token` is None
        if cursor:
            params["pagination_token"] = cursor
        return params

    def affordable_page_size(self) -> int:
        """`page_size`, or the largest page `max_cost_usd` can ever afford."""
        size, cap = int(self.config["page_size"]), self.config.get("max_cost_usd")
        kinds = self.includes.billed_kinds()
        return size if cap is None else self.services.costs.page_size_under(float(cap), kinds, size)

    @override
    def get_new_paginator(self) -> SinglePagePaginator:
        """One page per `request_records` call: the runner pages; a lookup is one page too."""
        return self.runner.paginator()

    # -- response -----------------------------------------------------------------------

    @override
    def parse_response(self, response: requests.Response) -> list[dict[str, Any]]:
        """The page's events; its includes are indexed for them, its end told to the runner.

        A page is checked whole before any of its events is emitted: a body of the
        wrong shape, or a page of another account than the state's, fails the run
        with the state as it was.
        """
        payload = self.payload(response)
        endpoint = endpoint_of(urlsplit(response.url).path)
        problem = page_shape_problem(payload, single=self.runner.lookup_id is not None)
        if problem:
            msg = (
                f"GET {endpoint} answered 200 with a body tap-x-dm cannot read ({problem}); the "
                "state is kept as it was: run again later, and report it if it persists."
            )
            raise XAPIError(msg, status=response.status_code)
        self._page = PageIncludes(payload.get("includes"), payload.get("errors"))
        records = list(super().parse_response(response))
        account = self.services.account
        if not account.confirmed:  # once a run: no call per page after that
            account.confirm_page(
                (str(e["dm_conversation_id"]) for e in records if e.get("dm_conversation_id")),
                endpoint,
            )
        meta = payload.get("meta")  # a dict on list pages (checked above), absent on lookups
        token = meta.get("next_token") if isinstance(meta, dict) else None
        date_ms = header_time_ms(response, default=self.runner.page.asked_at_ms)
        self.runner.answered(str(token) if token else None, date_ms)
        return records

    @override
    def post_process(self, row: dict[str, Any], context: Context | None = None) -> dict[str, Any]:
        """Tag the row, and write the users, tweets and media it refers to, before it."""
        row = self.as_record(row)
        if conversation := row.get("dm_conversation_id"):
            self.services.tally.conversations["legacy"].add(conversation)
        if row["source"] == "api":  # an archive row (archive_import) has no page behind it
            self.includes.write_referenced(row, self._page)
        return row

    def as_record(self, row: dict[str, Any]) -> dict[str, Any]:
        """The record of one event, without writing what it refers to."""
        row = super().post_process(row, None)
        if row.get("source") != "archive":
            row["source"] = "api"
        return row

    # -- what the runner tells the stream ----------------------------------------------

    def page_read(
        self, pass_input: PassInput, *, next_token: str | None, reached_floor: bool
    ) -> None:
        """Hook: a page of `pass_input` was read, before its STATE (see `conversation_events`)."""

    def pass_completed(self, pass_input: PassInput) -> None:
        """Hook: a pass of this stream or partition completed (see `dm_events`)."""

    def warn_if_gap(self, state: dict[str, Any]) -> None:
        """Hook for streams whose endpoint forgets history (see `dm_events`)."""


#: State key of `dm_event_ids` asked for: `{event id: "fetched" | "not_found"}` (X said 404;
#: an archive import may still bring those).
DM_EVENT_IDS_KEY = "dm_event_ids"


class DmEventsStream(DmEventStreamBase):
    """`GET /2/dm_events`: every DM event of the account, last 30 days only."""

    name = "dm_events"
    path = "/2/dm_events"
    history_days = DM_EVENTS_WINDOW_DAYS

    def __init__(self, tap: Tap, services: RunServices, includes: IncludesWriter) -> None:
        super().__init__(tap, services, includes)
        #: Below this id every event was read before this run's pass (for the API's gaps).
        self._read_to_id: int | None = None

    @override
    def get_url(self, context: Context | None) -> str:
        """`/2/dm_events/{id}` while the runner looks up one of `dm_event_ids`."""
        if self.runner.lookup_id is not None:
            return f"{self.url_base}/2/dm_events/{self.runner.lookup_id}"
        return super().get_url(context)

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """The API's events, then the X archive's that the API does not have (`archive_path`)."""
        state = self.get_context_state(context)
        archive = ArchiveImport.from_config(self.config, self.logger)
        self._read_to_id = covered_id(state)  # before the pass moves it
        if archive is None or not archive.only:
            api = self._api_records(context, state)
            yield from api if archive is None else archive.api_events(state, api)
        if archive is not None:
            self.services.checkpoint()  # the API's progress is kept whatever the archive holds
            asked = state.get(DM_EVENT_IDS_KEY) or {}
            fetched = {event_id for event_id, found in asked.items() if found == "fetched"}
            yield from archive.rows(state, self.services.account.id, fetched)

    def _api_records(
        self, context: Context | None, state: dict[str, Any]
    ) -> Iterator[dict[str, Any]]:
        """The passes (feeding the routed partitions), then the events asked for by id."""
        # Each asked once, ever: "fetched", or "not_found" (X said 404; the archive may have it).
        asked: dict[str, str] = dict(state.get(DM_EVENT_IDS_KEY) or {})
        configured = dict.fromkeys(self.config.get("dm_event_ids") or [])  # repeats ignored
        pending = [e for e in configured if e not in asked]
        seen_in_pass: set[str] = set()
        routing = self.services.routing
        passes = self.runner.sync(
            context, state, self.name, feed_for=lambda main: routing.begin(self.name, main)
        )
        for event in passes:
            if event["id"] in configured:
                seen_in_pass.add(event["id"])
            yield event
        for event_id in pending:
            found = event_id in seen_in_pass
            if not found:
                for event in self.runner.look_up(event_id):
                    found = True
                    yield event
                if self.services.stop.stopped:
                    return
            asked[event_id] = "fetched" if found else "not_found"
            state[DM_EVENT_IDS_KEY] = dict(sorted(asked.items(), key=lambda kv: int(kv[0])))

    @override
    def pass_completed(self, pass_input: PassInput) -> None:
        """Tell the archive import where the API's range starts, and what the API lost."""
        window_ms = self.services.now_ms() - DM_EVENTS_WINDOW_MS
        start = self.services.start_date
        window_start_ms = max(window_ms, 0 if start is None else epoch_ms(start))
        record_coverage(pass_input.state, pass_input.progress, window_start_ms=window_start_ms)
        record_api_gap(
            pass_input.state,
            pass_input.progress,
            read_to_id=self._read_to_id,
            window_ms=window_ms,
            window_start_ms=window_start_ms,
            logger=self.logger,
        )

    @override
    def warn_if_gap(self, state: dict[str, Any]) -> None:
        """Say what to do when what was read is older than what `/2/dm_events` still serves."""
        read_to = self._read_to_id  # as `pass_completed` records it (a catch-up lowers the state's)
        if read_to is None:
            return
        minted = dt.datetime.fromtimestamp(snowflake_ms(read_to) / 1000, tz=dt.timezone.utc)
        now = dt.datetime.fromtimestamp(self.services.clock.time(), tz=dt.timezone.utc)
        horizon = now - dt.timedelta(days=DM_EVENTS_WINDOW_DAYS)
        if minted < horizon:
            then = (
                "archive_path fills it at the end of this run (all of it if that archive was "
                "requested after %s, else what it holds)"
                if self.config.get("archive_path")
                else "set archive_path to the account's X archive requested after %s, and the "
                "next run fills the gap"
            )
            self.logger.warning(
                "dm_events: the last run read up to %s, older than the %d days /2/dm_events "
                "serves, so the events from %s to %s are lost from the API: once this pass "
                "completes, the state records the gap (archive.api_missing_ids); " + then + ".",
                minted.isoformat(),
                DM_EVENTS_WINDOW_DAYS,
                minted.date().isoformat(),
                horizon.date().isoformat(),
                horizon.date().isoformat(),
            )
