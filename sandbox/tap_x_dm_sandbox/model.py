"""X's identifiers, timestamps and event types: the rules every part of the sandbox shares.

Snowflake ids encode their creation time in milliseconds since X's epoch; the one-to-one
conversation id is the two user ids, smaller first. Defined once here.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Literal

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


CreatedAtPrecision = Literal["ms", "s"]
OrderBy = Literal["id", "created_at"]
_MASK64 = (1 << 64) - 1


def _unit_hash(seed: int, value: int) -> float:
    """A deterministic number in [0, 1) for (seed, value): splitmix64, cheap per event."""
    z = (seed * 0x9E3779B97F4A7C15 + value) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return ((z ^ (z >> 31)) >> 11) / float(1 << 53)


@dataclass(frozen=True)
class CreatedAtRule:
    """How a generated event's `created_at` follows from its id.

    X's `created_at` comes from a clock that is not the id's: whole seconds (`.000Z`), up
    to about a second off the id's time, so events less than a second apart can carry
    inverted `created_at` (REFERENCE.md 2.6). The default, milliseconds of the id with
    no skew, is the sandbox's historical behaviour.
    """

    precision: CreatedAtPrecision = "ms"
    skew_seconds: float = 0.0
    seed: int = 7

    def __post_init__(self) -> None:
        if self.precision not in ("ms", "s"):
            raise ValueError(f"created_at_precision must be 'ms' or 's', got {self.precision!r}")
        if not 0 <= self.skew_seconds <= 3600:
            raise ValueError(f"created_at_skew_seconds must be 0-3600, got {self.skew_seconds}")

    def ms(self, event_id: int) -> int:
        """Return the event's `created_at` in epoch milliseconds."""
        stamp = snowflake_ms(event_id)
        if self.skew_seconds:
            offset = (2.0 * _unit_hash(self.seed, event_id) - 1.0) * self.skew_seconds
            stamp += round(offset * 1000)
        if self.precision == "s":
            stamp = (stamp + 500) // 1000 * 1000
        return stamp

    def iso(self, event_id: int) -> str:
        """Return the event's `created_at` as X formats it."""
        return iso_ms(self.ms(event_id))


def created_at_order_key(created_ms: int, event_id: int, seed: int) -> tuple[int, float, int]:
    """Sort key of `order_by="created_at"`: created_at, then a shuffle fixed by (seed, id).

    X's order within one created_at second is unknown; a deterministic shuffle makes a
    client that assumes id order there notice. The id makes the key unique.
    """
    return created_ms, _unit_hash(seed ^ 0x0DE5, event_id), event_id
