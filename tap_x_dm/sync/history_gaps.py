"""A conversation endpoint that no longer serves what a partition's bookmark needs.

X's docs disagree on how much history the conversation endpoints serve (30 days, or
all of it). The tap does not guess: a pass from a bookmark reads down to the bookmark,
and when X's list ends first (its last page has no `next_token`, and no event at or
below the bookmark came), the events between the bookmark and the oldest event X
served are lost from the API. An empty list says nothing (a quiet conversation, or one
X does not know): no gap. The partition's state records them as `dm_events` does
(`archive.api_missing_ids`, `tap_x_dm.sync.api_gaps`), with the same warning: the X
archive has them.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any

from tap_x_dm.ids_and_times import min_snowflake_at, snowflake_ms
from tap_x_dm.sync.api_gaps import (
    Gap,
    load_gaps,
    merged,
    save_gaps,
)
from tap_x_dm.sync.passes import PassProgress


def _day(event_id: int) -> str:
    return dt.datetime.fromtimestamp(snowflake_ms(event_id) / 1000, tz=dt.timezone.utc).isoformat()


class HistoryWatch:
    """What one pass of a partition read from its own endpoint: enough to see a gap."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """A new pass."""
        self.lowest_id: int | None = None
        self.list_ended = False
        self.reached_floor = False

    def saw(self, events: Iterable[Mapping[str, Any]]) -> None:
        """A page's events (all of them, admitted or not)."""
        for event in events:
            event_id = int(str(event["id"]))
            if self.lowest_id is None or event_id < self.lowest_id:
                self.lowest_id = event_id

    def page_ended(self, *, next_token: str | None, reached_floor: bool) -> None:
        """A page was processed: whether X's list goes on, and whether the floor was reached."""
        self.list_ended = not next_token
        self.reached_floor = self.reached_floor or reached_floor

    def record(
        self,
        state: MutableMapping[str, Any],
        progress: PassProgress,
        *,
        label: str,
        endpoint: str,
        start_ms: int | None,
        now_ms: int,
        logger: logging.Logger,
    ) -> Gap | None:
        """A pass completed: record and warn about what X's list ended before, if anything."""
        since = progress.since_id
        try:
            if since is None or progress.ceiling_id is not None:
                return None  # a first pass reads what X has; a catch-up pass, old types
            if not self.list_ended or self.reached_floor:
                return None
            if self.lowest_id is None or self.lowest_id <= since:
                return None  # X still serves the bookmark's event; or says nothing (no event)
            floor = since if start_ms is None else max(since, min_snowflake_at(start_ms))
            to_id = min(progress.frontier) if progress.frontier else None
            to_id = to_id or self.lowest_id
            if to_id <= floor + 1:
                return None
            gap = Gap(floor, to_id)
            save_gaps(state, merged([*load_gaps(state), gap]))
            logger.warning(
                "%s: the last run read up to %s, but %s now serves this conversation only back "
                "to %s, so the events from %s to %s are lost from the API: the state records "
                "the gap (archive.api_missing_ids); set archive_path to the account's X "
                "archive requested after %s to load them into dm_events.",
                label,
                _day(floor),
                endpoint,
                _day(to_id),
                _day(floor)[:10],
                _day(to_id)[:10],
                _day(to_id)[:10],
            )
            return gap
        finally:
            self.reset()
