"""`dm_events`: every DM event of the account (the last 30 days), then the X archive's."""

from __future__ import annotations

import datetime as dt
import typing as t
from collections.abc import Iterable, Iterator
from typing import Any

from typing_extensions import override

from tap_x_dm.ids import snowflake_ms
from tap_x_dm.sync.archive_import import ArchiveImport, record_api_gap, record_coverage
from tap_x_dm.sync.event_stream import DmEventStreamBase
from tap_x_dm.sync.passes import covered_id
from tap_x_dm.times import DM_EVENTS_WINDOW_DAYS, DM_EVENTS_WINDOW_MS, epoch_ms

if t.TYPE_CHECKING:
    from singer_sdk import Tap
    from singer_sdk.helpers.types import Context

    from tap_x_dm.objects.includes import IncludesWriter
    from tap_x_dm.services import RunServices
    from tap_x_dm.sync.pass_inputs import PassInput

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
    def pass_completed(self, one: PassInput) -> None:
        """Tell the archive import where the API's range starts, and what the API lost."""
        window_ms = self.services.now_ms() - DM_EVENTS_WINDOW_MS
        start = self.services.start_date
        window_start_ms = max(window_ms, 0 if start is None else epoch_ms(start))
        record_coverage(one.state, one.progress, window_start_ms=window_start_ms)
        record_api_gap(
            one.state,
            one.progress,
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
