"""X's identifiers, timestamps and event types: the rules every part of the sandbox shares.

Snowflake ids encode their creation time in milliseconds since X's epoch; the one-to-one
conversation id is the two user ids, smaller first. Defined once here.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone

TWEPOCH_MS = 1288834974657
DAY_MS = 86_400_000
#: /2/dm_events serves the last 30 days (the conversation endpoints: all history).
DM_EVENTS_WINDOW_DAYS = 30

MESSAGE_CREATE = "MessageCreate"
PARTICIPANTS_JOIN = "ParticipantsJoin"
PARTICIPANTS_LEAVE = "ParticipantsLeave"
EVENT_TYPES: tuple[str, ...] = (MESSAGE_CREATE, PARTICIPANTS_JOIN, PARTICIPANTS_LEAVE)
ALL_EVENT_TYPES = frozenset(EVENT_TYPES)


def snowflake(ms: int, seq: int) -> int:
    """Return the X Snowflake id of (epoch milliseconds, sequence) so ids sort by time."""
    if not 0 <= seq < 4096:
        raise ValueError(f"snowflake sequence {seq} not in 0..4095")
    return ((ms - TWEPOCH_MS) << 22) | seq


def snowflake_ms(id_: int) -> int:
    """Return the epoch milliseconds encoded in a Snowflake id."""
    return (id_ >> 22) + TWEPOCH_MS


def iso_ms(ms: int) -> str:
    """Format epoch milliseconds the way X does: ``2022-10-19T20:58:00.000Z``."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"


def parse_iso_ms(value: str) -> int:
    """Parse an ISO-8601 timestamp (``Z`` or offset; naive means UTC) to epoch milliseconds."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return round(parsed.timestamp() * 1000)


def one_to_one_conversation_id(user_a: str, user_b: str) -> str:
    """Return X's one-to-one conversation id: the smaller user id (as an integer) first."""
    low, high = sorted((user_a, user_b), key=int)
    return f"{low}-{high}"
