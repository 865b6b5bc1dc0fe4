"""X's ids: the time a snowflake encodes, and the shape of conversation ids.

Ids are strings of up to 19 digits and are compared as integers, never as
strings (lengths differ) or floats (digits are lost).
"""

from __future__ import annotations

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
