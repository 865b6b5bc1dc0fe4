"""The DM event streams: `dm_events` (the whole account) and `conversation_events`."""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import typing as t
from collections.abc import Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

from typing_extensions import override

from tap_x_dm.api.pagination import NewestFirstPaginator
from tap_x_dm.api.ratelimit import endpoint_of
from tap_x_dm.errors import StopRunError, XNotFoundError
from tap_x_dm.ids import canonical_conversation_id, one_to_one_conversation_id, snowflake_ms
from tap_x_dm.sdk_adapter import OutOfBandRecordsStream
from tap_x_dm.sync.archive_import import ArchiveImport, record_api_gap, record_coverage
from tap_x_dm.sync.event_stream import DmEventStreamBase
from tap_x_dm.sync.forecast import first_runs_line
from tap_x_dm.sync.history_gaps import HistoryWatch
from tap_x_dm.sync.missing import MissingResources, not_found_error
from tap_x_dm.sync.passes import (
    PassProgress,
    bookmark_id,
    covered_id,
    first_page_size,
    remember_arrivals,
)
from tap_x_dm.sync.routing import ROUTING_STATE_KEY, Feed

if t.TYPE_CHECKING:
    import requests
    from singer_sdk import Tap
    from singer_sdk.helpers.types import Context

    from tap_x_dm.objects.includes import IncludesWriter
    from tap_x_dm.services import RunServices

#: State key of `dm_event_ids` asked for: `{event id: "fetched" | "not_found"}` (X said 404;
#: an archive import may still bring those).
DM_EVENT_IDS_KEY = "dm_event_ids"
#: `/2/dm_events` serves only this many days of history.
DM_EVENTS_WINDOW_DAYS = 30


class DmEventsStream(DmEventStreamBase):
    """`GET /2/dm_events`: every DM event of the account, last 30 days only."""

    name = "dm_events"
    path = "/2/dm_events"
    history_days = 30

    def __init__(self, tap: Tap, services: RunServices, includes: IncludesWriter) -> None:
        super().__init__(tap, services, includes)
        self._lookup: str | None = None
        #: Below this id every event was read before this run's pass (for the API's gaps).
        self._read_to_id: int | None = None

    @override
    def get_url(self, context: Context | None) -> str:
        """`/2/dm_events/{id}` while fetching one of `dm_event_ids`."""
        if self._lookup is not None:
            return f"{self.url_base}/2/dm_events/{self._lookup}"
        return super().get_url(context)

    @override
    def get_url_params(
        self, context: Context | None, next_page_token: str | None
    ) -> dict[str, Any]:
        """A lookup asks for the same fields and expansions as a page, and nothing else."""
        if self._lookup is not None:
            return self.lookup_params()
        return super().get_url_params(context, next_page_token)

    @override
    def get_new_paginator(self) -> NewestFirstPaginator | None:
        """A lookup is one page."""
        return None if self._lookup is not None else super().get_new_paginator()

    @override
    def _is_lookup(self) -> bool:
        return self._lookup is not None

    @contextlib.contextmanager
    def _looking_up(self, event_id: str) -> Iterator[None]:
        self._lookup = event_id
        try:
            yield
        finally:
            self._lookup = None

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

    @override
    def pass_completed(self, state: dict[str, Any], progress: PassProgress) -> None:
        """Tell the archive import where the API's range starts, and what the API lost."""
        window_ms = self._now_ms() - DM_EVENTS_WINDOW_DAYS * 86_400_000
        start = self.services.start_date
        start_ms = 0 if start is None else int(start.timestamp() * 1000)
        record_coverage(state, progress, window_start_ms=max(window_ms, start_ms))
        record_api_gap(
            state, progress, read_to_id=self._read_to_id, window_ms=window_ms,
            window_start_ms=max(window_ms, start_ms), logger=self.logger,
        )  # fmt: skip

    def _api_records(
        self, context: Context | None, state: dict[str, Any]
    ) -> Iterable[dict[str, Any]]:
        """One incremental pass, then the events asked for by id in `dm_event_ids`."""
        # Each asked once, ever: "fetched", or "not_found" (X said 404; the archive may have it).
        asked: dict[str, str] = dict(state.get(DM_EVENT_IDS_KEY) or {})
        configured = dict.fromkeys(self.config.get("dm_event_ids") or [])  # repeats ignored
        pending = [e for e in configured if e not in asked]
        seen_in_pass: set[str] = set()
        for event in self.read_pass(context, self.name):
            if event["id"] in configured:
                seen_in_pass.add(event["id"])
            yield event
        for event_id in pending:
            found = event_id in seen_in_pass
            if not found:
                for event in self.look_up(event_id):
                    found = True
                    yield event
                if self.services.stop.stopped:
                    return
            asked[event_id] = "fetched" if found else "not_found"
            state[DM_EVENT_IDS_KEY] = dict(sorted(asked.items(), key=lambda kv: int(kv[0])))

    def look_up(self, event_id: str) -> Iterable[dict[str, Any]]:
        """Fetch one event by id (`GET /2/dm_events/{id}`); the bookmark does not move."""
        if self.services.stop.stopped:
            return
        try:
            with self._looking_up(event_id):
                events = list(self.request_records(None))
        except StopRunError as exc:
            self.services.stop.stop(exc)
            return
        except XNotFoundError as exc:
            self.logger.warning("dm_event_ids: %s; it is skipped and not asked again.", exc)
            return
        for event in events:
            self.logger.info("dm_event_ids: fetched event %s.", event_id)
            yield event

    @contextlib.contextmanager
    @override
    def feeding_partitions(self, progress: PassProgress) -> Iterator[Feed]:
        """The main pass feeds the conversation partitions routed to it (`sync.routing`)."""
        routing = self.services.routing
        try:
            yield routing.begin(self.name, progress)
        finally:
            routing.end()

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


class ConversationEventsStream(DmEventStreamBase, OutOfBandRecordsStream):
    """The configured conversations' full history, one state partition each.

    A participant id is read through `/with/:participant_id/` but partitioned by
    its one-to-one conversation id, so the same conversation configured both
    ways is read once and keeps one bookmark. A partition whose bookmark an
    account-wide pass reaches is read from that pass's pages (`tap_x_dm.sync.routing`).
    """

    name = "conversation_events"
    path = "/2/dm_conversations/{dm_conversation_id}/dm_events"

    def __init__(self, tap: Tap, services: RunServices, includes: IncludesWriter) -> None:
        super().__init__(tap, services, includes)
        #: One-to-one conversations configured by participant, read through `/with/`.
        self._participant_of: dict[str, str] = {}
        self._forecast_done = False
        self._routing_planned = False
        #: Whether the request in flight is the routing pass's (`/2/dm_events`).
        self._via_dm_events = False
        self._via_dm_events_done = False
        self._said_unconfigured = False
        #: Configured ids X says do not exist, warned about once the last partition is done.
        self._missing = MissingResources(self.name)
        self._partitions_left = 0
        #: What the partition's own pass read, for a history its endpoint no longer serves.
        self._history = HistoryWatch()
        self._current = ""

    @property  # type: ignore[explicit-override]  # mypy misses @override with a setter
    @override
    def selected(self) -> bool:
        """Selected and given a conversation: else no SCHEMA, so no target makes an empty table."""
        if not super().selected:
            return False
        if self.config.get("dm_conversation_ids") or self.config.get("participant_ids"):
            return True
        if not self._said_unconfigured:
            self._said_unconfigured = True
            self.logger.info(
                "conversation_events: no dm_conversation_ids or participant_ids set; "
                "skipped (no SCHEMA, no table)."
            )
        return False

    @selected.setter
    @override
    def selected(self, value: bool | None) -> None:
        OutOfBandRecordsStream.selected.fset(self, value)  # type: ignore[attr-defined]

    @property
    @override
    def partitions(self) -> list[dict[str, Any]] | None:
        """One context per configured conversation (asked at sync time only)."""
        contexts: dict[str, dict[str, Any]] = {}
        for configured_id in self.config.get("dm_conversation_ids") or []:
            conversation_id = canonical_conversation_id(configured_id)
            contexts.setdefault(conversation_id, {"dm_conversation_id": conversation_id})
        participants = self.config.get("participant_ids") or []
        if participants and not self.services.stop.stopped:
            try:
                account = self.services.account.id
            except StopRunError as exc:  # users/me would need a too-long rate-limit wait
                self.services.stop.stop(exc)
                return list(contexts.values()) or None
            for participant_id in participants:
                if int(participant_id) == int(account):
                    self.logger.warning(
                        "participant_ids: %s is the account itself; skipped.", participant_id
                    )
                    continue
                conversation_id = one_to_one_conversation_id(account, participant_id)
                self._participant_of[conversation_id] = participant_id
                contexts.setdefault(conversation_id, {"dm_conversation_id": conversation_id})
        self._forecast_first_runs(list(contexts.values()))
        self._plan_routing(list(contexts.values()))
        self._partitions_left = len(contexts)
        return list(contexts.values()) or None

    def _plan_routing(self, contexts: list[dict[str, Any]]) -> None:
        """Once a run, leave the partitions an account-wide pass reaches to that pass."""
        if self._routing_planned or not self.selected or not self.config["conversation_routing"]:
            return
        self._routing_planned = True
        self.services.routing.plan(
            {c["dm_conversation_id"]: self.get_context_state(c) for c in contexts},
            event_types=sorted(self.config["event_types"]),
            page_size=int(self.config["page_size"]),
            own_state=self.get_context_state(None),
            write=self.write_routed,
        )

    def write_routed(self, event: Mapping[str, Any]) -> None:
        """Write an event the `dm_events` pass read as this stream's record, now.

        Its users, tweets and media are that pass's to write, from its page.
        """
        self.write_out_of_band(self.as_record(copy.deepcopy(dict(event))))

    def _forecast_first_runs(self, contexts: list[dict[str, Any]]) -> None:
        """Once a run, say how long the conversations read for the first time will take."""
        if self._forecast_done:
            return
        self._forecast_done = True
        first = [c for c in contexts if bookmark_id(self.get_context_state(c)) is None]
        line = first_runs_line(self.name, len(first))
        if line:
            self.logger.info("%s", line)

    @override
    def get_url(self, context: Context | None) -> str:
        """Use `/with/:participant_id/` for conversations configured by participant."""
        if self._via_dm_events:
            return f"{self.url_base}/2/dm_events"
        conversation_id = (context or {}).get("dm_conversation_id", "")
        participant_id = self._participant_of.get(conversation_id)
        if participant_id is not None:
            return f"{self.url_base}/2/dm_conversations/with/{participant_id}/dm_events"
        return super().get_url(context)

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """One pass per conversation; one X says does not exist is skipped, its bookmark kept."""
        if not context:
            return
        try:
            yield from self._conversation_records(context)
        finally:
            self._partitions_left -= 1
            if self._partitions_left <= 0:
                self._missing.report(self.logger)

    def _conversation_records(self, context: Context) -> Iterable[dict[str, Any]]:
        routing = self.services.routing
        if routing.routes(context["dm_conversation_id"]):
            if routing.routing_pass is not None and not self._via_dm_events_done:
                self._via_dm_events_done = True
                yield from self._read_via_dm_events(context)
            return
        label = f"conversation_events[{context['dm_conversation_id']}]"
        self._current = context["dm_conversation_id"]
        self._history.reset()
        try:
            yield from self.read_pass(context, label)
        except XNotFoundError:
            participant = self._participant_of.get(context["dm_conversation_id"])
            if participant is not None:
                self._missing.note("participant_ids", participant)
            else:
                self._missing.note("dm_conversation_ids", context["dm_conversation_id"])

    @override
    def parse_response(self, response: requests.Response) -> list[dict[str, Any]]:
        """X's 200 with only `resource-not-found` errors: the conversation does not exist."""
        missing = not_found_error(self.payload(response), urlsplit(response.url).path)
        if missing is not None:
            raise missing
        records = super().parse_response(response)
        if not self._via_dm_events:
            self._history.saw(records)
        return records

    @override
    def _end_page(self) -> None:
        """Note whether X's list goes on, before the page's STATE."""
        if self._pass is not None and not self._via_dm_events:
            floor = self._pass.reached_floor
            self._history.page_ended(next_token=self._page_next, reached_floor=floor)
        super()._end_page()

    @override
    def pass_completed(self, state: dict[str, Any], progress: PassProgress) -> None:
        """Record what the conversation endpoint no longer serves (`tap_x_dm.sync.history_gaps`)."""
        if self._via_dm_events:
            return
        start = self.services.start_date
        url = self.get_url({"dm_conversation_id": self._current})
        self._history.record(
            state,
            progress,
            label=f"{self.name}[{self._current}]",
            endpoint=endpoint_of(urlsplit(url).path),
            start_ms=None if start is None else int(start.timestamp() * 1000),
            now_ms=self._now_ms(),
            logger=self.logger,
        )

    def _read_via_dm_events(self, context: Context) -> Iterable[dict[str, Any]]:
        """The routing pass: `/2/dm_events` pages, writing the routed conversations' events."""
        routing = self.services.routing
        progress = routing.routing_pass
        if progress is None or routing.pass_id is None or self.services.stop.stopped:
            return
        via = self.get_context_state(None)[ROUTING_STATE_KEY]
        first_page = None
        if not progress.pages:
            first_page = first_page_size(
                via,
                now_ms=self._now_ms(),
                page_size=int(self.config["page_size"]),
                since_id=progress.since_id,
            )
        self._via_dm_events = True
        feed = routing.begin(routing.pass_id, progress)
        try:
            label = f"{self.name} via /2/dm_events"
            reading = self.run_pass(
                context, via, progress, label, first_page=first_page, feed=feed, only_routed=True
            )
            if (yield from reading):
                feed.completed()
                remember_arrivals(via, progress, self._now_ms())
        finally:
            self._via_dm_events = False
            routing.end()
