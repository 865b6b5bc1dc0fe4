"""How large a pass's requests are: a first page sized by the arrival rate, then one size.

X bills every event a page returns, also those at and below the bookmark, and
requests are the scarcer resource (15 per 15 minutes): a pass's first request asks
for about what the rate earlier passes saw foretells, and every other page of the
pass has one size (`fit_page_size`). The pass runner (`tap_x_dm.sync.pass_runner`)
asks these; `tap_x_dm.sync.routing` prices a routing pass with `expected_arrivals`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, MutableMapping
from typing import Any

from tap_x_dm.ids_and_times import DAY_MS, snowflake_ms
from tap_x_dm.sync.passes import PassProgress, bookmark_id, stops_at_bookmark

#: State key of the account's arrival rate, in events per week (a whole number: a target such
#: as target-postgres re-emits STATE through a JSON encoder that refuses the Decimal a float
#: is read as), for a first page that fits.
ARRIVALS_KEY = "arrivals_per_week"
WEEK_MS = 7 * DAY_MS
#: A small first page asks for twice the events expected since the bookmark, plus this many.
FIRST_PAGE_SLACK = 10


def first_page_size(
    state: Mapping[str, Any], *, now_ms: int, page_size: int, since_id: int | None = None
) -> int | None:
    """`max_results` for a pass's first request: the events expected since the bookmark.

    X bills every event a page returns, also those at and below the bookmark: a
    daily run with three new events should not pay for a hundred. The
    expectation comes from the arrival rate earlier passes saw. A page that
    falls short costs one request more (see `pass_runner.PassRunner._end_page`), never an
    event, and requests are the scarcer resource (15 per 15 minutes), so the
    margin is generous: twice the expectation plus `FIRST_PAGE_SLACK`, which
    also holds the bookmark's own event and the older ones that prove the pass
    reached it. Three new events expected: 16 billed, not 100. (`since_id`: where a
    pass without a bookmark of its own stops, see `tap_x_dm.sync.routing`.) A full page
    while the seconds below the bookmark are still to be read (`stops_at_bookmark`):
    the rate does not foretell how many events a burst put there.
    """
    bookmark = since_id if since_id is not None else bookmark_id(state)
    rate = state.get(ARRIVALS_KEY)
    if bookmark is None or not isinstance(rate, (int, float)):
        return None
    if bookmark_id(state) is not None and not stops_at_bookmark(state):
        return None
    size = int(2 * expected_arrivals(float(rate), bookmark, now_ms)) + FIRST_PAGE_SLACK
    return size if size < page_size else None


def expected_arrivals(rate: float, since_id: int, now_ms: int) -> float:
    """Events expected between `since_id` and now at `rate` events a week (`ARRIVALS_KEY`)."""
    return rate * max(0, now_ms - snowflake_ms(since_id)) / WEEK_MS


def fit_page_size(
    progress: PassProgress, affordable: int, logger: logging.Logger, label: str
) -> None:
    """Fix the pass's page size; a saved one that `max_cost_usd` no longer affords shrinks.

    Every page of a pass has one size because X's tokens may count pages of the
    request's size: a larger page after a token could skip events. A smaller one
    cannot: a cursor or an offset does not depend on the size, and a page number
    times a smaller size points higher in the list than where the pass stopped, so
    the pass reads some events again and drops them as its own repeats
    (`NewestFirstPass`): each event is still emitted once. Without this, a cap
    lowered below the saved page's worst case would stop every run before its first
    page, for ever.
    """
    if progress.page_size is None:
        progress.page_size = affordable
    elif 0 < affordable < progress.page_size:
        logger.info(
            "%s: max_cost_usd affords pages of at most %d event(s); the pass continues at "
            "that size instead of %d (events read again are skipped).",
            label,
            affordable,
            progress.page_size,
        )
        progress.page_size = affordable


def remember_arrivals(state: MutableMapping[str, Any], progress: PassProgress, now_ms: int) -> None:
    """Keep the arrival rate a completed pass saw (smoothed), for the next first page."""
    if progress.since_id is not None:
        span = now_ms - snowflake_ms(progress.since_id)
    elif progress.newest_id is not None and progress.oldest_ms is not None:
        span = snowflake_ms(progress.newest_id) - progress.oldest_ms
    else:
        return
    if span <= 0:
        return
    seen = progress.emitted * WEEK_MS / span
    previous = state.get(ARRIVALS_KEY)
    rate = seen if not isinstance(previous, (int, float)) else (previous + seen) / 2
    state[ARRIVALS_KEY] = math.ceil(rate)
