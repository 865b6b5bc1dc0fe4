"""What `/2/dm_events` does not have, for the X archive to fill (`archive.api_missing_ids`).

The API has every event from the lowest id of `dm_events`' first full pass on
(`["0", that id]` is the first range: all before it is the archive's), but for
the gaps this module records.

Runs stopped for more than 30 days leave events the API can no longer serve:
a pass from bookmark B reads only the last 30 days. When such a pass
completes, its lowest emitted id L (none emitted: the window's start) bounds
what it read, and every API row of `dm_events` is at or below B (earlier
passes) or at or above L (this pass and later ones, which start from a
bookmark >= L). So nothing the API emitted lies strictly between them, and
the archive may supply exactly that range:

* a **message** (an X id) when `B < id < L`;
* a **join or leave** (a derived id, compared by time) when its `created_at`
  is more than `SKEW_MS` after B's time and more than `SKEW_MS` before L's:
  its id, whatever it is, is then strictly between B and L. Within those 5 s
  of an edge it may be the API's own row (B's side or L's), so it is left out,
  as at the API's floor: a doubled event is never undone, and the edges are
  the API's busiest seconds only by chance.

A gap is `[from_id, to_id]` (exclusive bounds, ids as strings), kept sorted and
merged where gaps overlap (a pass that emitted nothing leaves its bookmark, so
the next one reports the same gap, longer). Gaps touching at an id are not
merged: that id is an API row. At most `MAX_GAPS` are kept; past it the oldest
is dropped with a warning. A gap is dropped once an archive read whole holds an
event more than `SKEW_MS` after its end (the archive was made after the gap, so
it held all of it); until then each archive fills what it has, and
`archive.imported_times` keeps that from being emitted twice.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

from tap_x_dm.ids_and_times import iso_utc, min_snowflake_at, snowflake_ms, timestamp_ms
from tap_x_dm.sync.passes import SKEW_MS, PassProgress, bookmark_id

#: State key (in `bookmarks.dm_events`) of everything the archive import keeps.
ARCHIVE_KEY = "archive"
#: Key (in `archive`): `[["0", floor_id], [from_id, to_id], ...]`, exclusive, oldest first.
MISSING_KEY = "api_missing_ids"
#: Gaps kept: each needs runs stopped for 30 days, and a filled one is dropped.
MAX_GAPS = 20
#: The `created_at` `api_covered_from` must be, in the words of a query on the loaded table.
FIRST_RUN_SQL = "select min(created_at) from dm_events where coalesce(source, 'api') = 'api'"


@dataclass(frozen=True, order=True)
class Gap:
    """Ids strictly between `from_id` (an API row or earlier) and `to_id` (API from there)."""

    from_id: int
    to_id: int

    def holds_message(self, event_id: int) -> bool:
        """A message (X id) the API never emitted."""
        return self.from_id < event_id < self.to_id

    def holds_time(self, ms: int) -> bool:
        """A join or leave at `created_at` `ms` whose id is surely inside the gap."""
        return snowflake_ms(self.from_id) + SKEW_MS < ms < snowflake_ms(self.to_id) - SKEW_MS

    def time_span(self) -> tuple[int, int] | None:
        """The `created_at` range (ms, inclusive) whose joins and leaves the gap holds."""
        lo, hi = snowflake_ms(self.from_id) + SKEW_MS + 1, snowflake_ms(self.to_id) - SKEW_MS - 1
        return (lo, hi) if lo <= hi else None

    def filled_by(self, newest_ms: int) -> bool:
        """Whether an archive whose newest event is at `newest_ms` was made after the gap."""
        return newest_ms > snowflake_ms(self.to_id) + SKEW_MS

    def to_state(self) -> list[str]:
        """`[from_id, to_id]` as strings (no floats in state)."""
        return [str(self.from_id), str(self.to_id)]


def _missing(state: Mapping[str, Any]) -> list[Gap]:
    """Every range the API lacks (checked by `tap_x_dm.state.loading` beforehand)."""
    saved = (state.get(ARCHIVE_KEY) or {}).get(MISSING_KEY) or []
    return sorted(Gap(int(lo), int(hi)) for lo, hi in saved)


def api_floor_id(state: Mapping[str, Any]) -> int | None:
    """The lowest id of the API's first full pass (the API has every event from it on)."""
    return next((gap.to_id for gap in _missing(state) if gap.from_id == 0), None)


def load_gaps(state: Mapping[str, Any]) -> list[Gap]:
    """The recorded gaps, oldest first (the range below the API's floor is not one)."""
    return [gap for gap in _missing(state) if gap.from_id != 0]


def save_missing(state: MutableMapping[str, Any], floor: int | None, gaps: list[Gap]) -> None:
    """Write what the API lacks: below `floor`, and `gaps` (a merged state keeps keys)."""
    ranges = ([Gap(0, floor)] if floor is not None else []) + gaps
    archive = state.setdefault(ARCHIVE_KEY, {})
    archive[MISSING_KEY] = [gap.to_state() for gap in ranges]


def merge_spans(
    spans: Iterable[tuple[int, int]], *, touching: bool = False
) -> list[tuple[int, int]]:
    """Sorted spans, overlapping ones joined; with `touching`, inclusive spans that touch too."""
    result: list[tuple[int, int]] = []
    for lo, hi in sorted(spans):
        if result and (lo <= result[-1][1] + 1 if touching else lo < result[-1][1]):
            result[-1] = (result[-1][0], max(result[-1][1], hi))
        else:
            result.append((lo, hi))
    return result


def merged(gaps: list[Gap]) -> list[Gap]:
    """Sorted, overlapping gaps joined (only overlapping: a shared bound is an API row)."""
    return [Gap(lo, hi) for lo, hi in merge_spans((gap.from_id, gap.to_id) for gap in gaps)]


def save_gaps(state: MutableMapping[str, Any], gaps: list[Gap]) -> None:
    """Write the gaps back, after the range below the API's floor."""
    save_missing(state, api_floor_id(state), gaps)


def record_gap(
    state: MutableMapping[str, Any],
    progress: PassProgress,
    *,
    read_to_id: int | None,
    window_ms: int,
    window_start_ms: int,
    logger: logging.Logger,
) -> Gap | None:
    """A pass completed: record what the API lost if it started before what X serves.

    `read_to_id`: below it every event had been read before this pass (the
    stream's `read_below_id`, else the bookmark); `window_ms`: the start of the
    30 days `/2/dm_events` serves now; `window_start_ms`: the pass's own start
    (that, or `start_date`), the gap's end when the pass emitted nothing.
    Returns the gap recorded, or None when the gaps did not change.
    """
    since = progress.since_id
    if since is None or progress.ceiling_id is not None:
        return None  # a first pass (see `api_floor_id`) or a catch-up pass
    read_to = max(since, read_to_id or since)
    if snowflake_ms(read_to) >= window_ms + SKEW_MS:
        return None  # X still served everything above what was read
    to_id = min(progress.frontier) if progress.frontier else min_snowflake_at(window_start_ms)
    if to_id <= since + 1:
        return None
    before = load_gaps(state)
    gaps = merged([*before, Gap(since, to_id)])
    if len(gaps) > MAX_GAPS:
        for dropped in gaps[:-MAX_GAPS]:
            logger.warning(
                "dm_events: more than %d gaps of /2/dm_events recorded; the oldest (ids %s to "
                "%s) is forgotten and no archive will fill it.",
                MAX_GAPS,
                dropped.from_id,
                dropped.to_id,
            )
        gaps = gaps[-MAX_GAPS:]
    if gaps == before:
        return None
    save_gaps(state, gaps)
    gap = Gap(since, to_id)
    logger.info(
        "dm_events: /2/dm_events no longer serves the events between ids %s and %s (exclusive); "
        "recorded in the state (%s.%s) for archive_path to fill.",
        gap.from_id,
        gap.to_id,
        ARCHIVE_KEY,
        MISSING_KEY,
    )
    return gap


def gaps_left(gaps: list[Gap]) -> str:
    """`; N gap(s) ... left` for the known-archive line, or nothing."""
    if not gaps:
        return ""
    return (
        f"; {len(gaps)} gap(s) of /2/dm_events are left (the oldest from id {gaps[0].from_id}): "
        "set archive_path to an archive requested after it"
    )


def api_covered_from_problem(
    given: str, state: Mapping[str, Any], archive: tuple[str, str | None] | None = None
) -> str | None:
    """Why `api_covered_from` cannot be the `created_at` of the oldest API row, or None.

    Checked against what the state and the archive prove, `SKEW_MS` allowed either
    side (`created_at` and ids come from two clocks): no API row is newer than the
    dm_events bookmark (the newest event the API loaded; without one, there is no API
    row to date), nor older than the archive's oldest event (`archive`: its label and
    oldest `created_at`; the archive holds the whole history). Too early, the import
    would skip the archive's events for good; too late, archive rows would replace
    the API's and double its joins and leaves.
    """
    fix = f"set it to the created_at of the oldest API row in dm_events ({FIRST_RUN_SQL})"
    given_ms = timestamp_ms(given)
    bookmark = bookmark_id(state)
    if bookmark is None:
        return (
            f"api_covered_from ({given}) is only for a state of tap-x-dm 0.2 with a dm_events "
            "bookmark, and this state has none, so no API row to date: remove it (the API's "
            "first full pass records how far back it read)."
        )
    newest_ms = snowflake_ms(bookmark)
    if given_ms > newest_ms + SKEW_MS:
        return (
            f"api_covered_from ({given}) is after the newest event the API loaded (the "
            f"dm_events bookmark, id {bookmark} of {iso_utc(newest_ms / 1000)}): {fix}."
        )
    if archive is not None and archive[1] and given_ms + SKEW_MS < timestamp_ms(archive[1]):
        return (
            f"api_covered_from ({given}) is before the oldest event of X archive {archive[0]} "
            f"({archive[1]}), and no API row can be older: {fix}."
        )
    return None
