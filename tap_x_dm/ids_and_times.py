"""X's ids and times: what a snowflake encodes, conversation ids, `created_at`, and log text.

Ids are strings of up to 19 digits and are compared as integers, never as
strings (lengths differ) or floats (digits are lost). Times are epoch
milliseconds inside the tap (ids, state, the clock) and X's text at its edges.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import math
import typing as t

if t.TYPE_CHECKING:
    import requests

    from tap_x_dm.clock import Clock


def parse_timestamp(value: str) -> dt.datetime:
    """Parse X's `2026-01-02T03:04:05.000Z` (or a date) into an aware UTC datetime."""
    parsed = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.timezone.utc)
    return parsed.astimezone(dt.timezone.utc)


#: `/2/dm_events` serves this many days of history (X's docs; the conversation endpoints may
#: serve less, see `sync.history_gaps`).
DM_EVENTS_WINDOW_DAYS = 30
DAY_MS = 86_400_000
DM_EVENTS_WINDOW_MS = DM_EVENTS_WINDOW_DAYS * DAY_MS
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
_ONE_MS = dt.timedelta(milliseconds=1)


def epoch_ms(moment: dt.datetime) -> int:
    """An aware datetime in epoch milliseconds: the unit of the tap's ids, state and clock.

    Integer arithmetic: `timestamp() * 1000` in floats can land a millisecond early. A
    naive datetime (an HTTP date in `-0000`) is taken as UTC.
    """
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return (moment - _EPOCH) // _ONE_MS


def clock_ms(clock: Clock) -> int:
    """The clock's time in epoch ms (the unit of ids and state)."""
    return int(clock.time() * 1000)


def timestamp_ms(value: str) -> int:
    """X's `created_at` (or a date) in epoch milliseconds."""
    return epoch_ms(parse_timestamp(value))


def x_time_text(ms: int) -> str:
    """Epoch ms as X writes `created_at`: `2026-11-23T17:48:34.885Z`."""
    moment = dt.datetime.fromtimestamp(ms // 1000, tz=dt.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def utc_day(epoch: float) -> str:
    """The UTC date of epoch seconds (`2026-12-01`): X's billing day."""
    return dt.datetime.fromtimestamp(epoch, tz=dt.timezone.utc).date().isoformat()


def iso_utc(epoch: float, *, round_up: bool = False) -> str:
    """Epoch seconds as `2026-12-06T10:15:00Z` (whole seconds; `round_up`: never early)."""
    whole = math.ceil(epoch) if round_up else math.floor(epoch)
    return dt.datetime.fromtimestamp(whole, tz=dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def utc_text(epoch: float) -> str:
    """Epoch seconds as `2026-11-23 18:05:01 UTC`, for lines that say until when."""
    return dt.datetime.fromtimestamp(epoch, tz=dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def header_time_ms(response: requests.Response, *, default: int) -> int:
    """The server's `Date` of `response` in epoch ms (whole seconds), or `default`."""
    value = response.headers.get("date")
    if not value:
        return default
    try:
        return epoch_ms(email.utils.parsedate_to_datetime(value))
    except (TypeError, ValueError):
        return default


#: X's snowflake epoch: an id's top bits are milliseconds since then.
TWEPOCH_MS = 1288834974657
#: An id's low bits (worker and sequence) below its millisecond.
_LOW_BITS = 22


def snowflake_ms(event_id: str | int) -> int:
    """Epoch milliseconds at which X minted `event_id`."""
    return (int(event_id) >> _LOW_BITS) + TWEPOCH_MS


def min_snowflake_at(ms: int) -> int:
    """The lowest snowflake X could mint in the millisecond `ms` (0 before X's epoch)."""
    return max(0, ms - TWEPOCH_MS) << _LOW_BITS


def max_snowflake_at(ms: int) -> int:
    """The highest snowflake X could mint in the millisecond `ms`."""
    return min_snowflake_at(ms) | ((1 << _LOW_BITS) - 1)


def one_to_one_conversation_id(user_a: str | int, user_b: str | int) -> str:
    """The id of the one-to-one conversation of two users: `{smaller}-{larger}`."""
    low, high = sorted((int(user_a), int(user_b)))
    return f"{low}-{high}"


def is_one_to_one(conversation_id: str) -> bool:
    """One-to-one ids join two user ids with `-`; a group's id is one number."""
    return "-" in conversation_id


def canonical_conversation_id(conversation_id: str) -> str:
    """Accept a one-to-one id in either order; a group id is returned as is."""
    if not is_one_to_one(conversation_id):
        return conversation_id
    user_a, user_b = conversation_id.split("-", 1)
    return one_to_one_conversation_id(user_a, user_b)
