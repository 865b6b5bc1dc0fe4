"""One line before a run that is bound to be slow or costly: how long, and roughly what cost.

At X's 15 requests per 15 minutes, a first sync of a busy account takes hours and
is billed per event: the user should learn it from the first page, not the bill.
"""

from __future__ import annotations

import math
import typing as t

from tap_x_dm.ids_and_times import DAY_MS, snowflake_ms

if t.TYPE_CHECKING:
    from tap_x_dm.api.costs import CostLedger
    from tap_x_dm.api.ratelimit import Window
    from tap_x_dm.sync.passes import PassProgress

#: X's current DM limit, used only where no response has told the tap its window yet.
DOCUMENTED_LIMIT, DOCUMENTED_WINDOW_S = 15, 900.0


def duration_text(seconds: float) -> str:
    """`2 h 15 min`, `40 min`, `under a minute`."""
    minutes = math.ceil(seconds / 60)
    if minutes < 1:
        return "under a minute"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"


def wait_for(requests: int, limit: int, window_s: float) -> float:
    """The least time `requests` take at `limit` requests a window (the first window is free)."""
    return max(0, math.ceil(requests / max(1, limit)) - 1) * window_s


def first_sync_line(
    label: str,
    *,
    page_events: int,
    span_ms: int,
    history_days: int,
    page_size: int,
    limit: int,
    window_s: float,
    usd_per_event: float,
) -> str | None:
    """What a first sync will take, from its first page; None when it is not a long one."""
    if page_events <= 0 or span_ms <= 0:
        return None
    events = int(page_events * history_days * DAY_MS / span_ms)
    requests = math.ceil(events / page_size)
    if requests <= limit:
        return None
    return (
        f"{label}: a first sync. Its first page spans {duration_text(span_ms / 1000)} of DMs, "
        f"so the last {history_days} days hold about {events:,} events: about {requests:,} "
        f"requests, at least {duration_text(wait_for(requests, limit, window_s))} at {limit} "
        f"requests per {duration_text(window_s)}, and about ${events * usd_per_event:,.2f} "
        "(an estimate). Each page is kept as it comes, so stopping early loses nothing."
    )


def first_sync_forecast(
    label: str,
    progress: PassProgress,
    *,
    history_days: int,
    page_size: int,
    window: Window,
    now_s: float,
    costs: CostLedger,
) -> str | None:
    """`first_sync_line` from a first sync's first page and the window its answer told."""
    if progress.newest_id is None or progress.oldest_ms is None:
        return None
    spent = costs.totals(label)
    return first_sync_line(
        label,
        page_events=progress.emitted,
        span_ms=snowflake_ms(progress.newest_id) - progress.oldest_ms,
        history_days=history_days,
        page_size=page_size,
        limit=window.limit,
        # A window's length, as the first response of one tells it (X: 15 min).
        window_s=max(60.0, round((window.reset - now_s) / 60) * 60),
        usd_per_event=costs.usd(spent) / max(1, spent["dm_events"]),
    )


def first_runs_line(label: str, conversations: int) -> str | None:
    """What reading `conversations` conversations for the first time will take at least."""
    if conversations <= DOCUMENTED_LIMIT:
        return None
    waited = wait_for(conversations, DOCUMENTED_LIMIT, DOCUMENTED_WINDOW_S)
    return (
        f"{label}: {conversations:,} conversations on their first run: at least "
        f"{conversations:,} requests (one each, more for long histories), at least "
        f"{duration_text(waited)} at {DOCUMENTED_LIMIT} requests per "
        f"{duration_text(DOCUMENTED_WINDOW_S)} (X's current DM limit)."
    )
