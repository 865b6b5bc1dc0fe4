"""Ids for archive items that X gave none: joins, leaves, the account's own join.

The formula (stable across runs, archives and accounts)::

    key = "|".join([dm_conversation_id, event_type, created_at, sender_id or "",
                    ",".join(participant_ids, sorted as integers)])
    key += f"|{n}"            # only for the n-th repeat (n >= 1) of the same key in one archive
    id  = "archive-" + sha256(key as UTF-8).hexdigest()[:32]

`dm_conversation_id` is canonical (`{smaller}-{larger}` for one-to-one),
`created_at` is X's `YYYY-MM-DDTHH:MM:SS.mmmZ`, `event_type` is the API's
(`ParticipantsJoin`, `ParticipantsLeave`). The account's own join
(`joinConversation`) is keyed like any join, with the account as participant,
so the same event seen in two members' archives gets the same id.

The `archive-` prefix keeps these ids apart from X's (1-19 digits): they can
never collide, they are plain strings for the warehouse, and `is_derived_id`
tells the tap not to compare them as integers (bookmarks, tie-breaks).
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Sequence

DERIVED_ID_PREFIX = "archive-"
_DERIVED = re.compile(r"archive-[0-9a-f]{32}")


def is_derived_id(value: object) -> bool:
    """Whether `value` is an id this package derived (never an X snowflake)."""
    return isinstance(value, str) and _DERIVED.fullmatch(value) is not None


def derived_key(
    conversation_id: str,
    event_type: str,
    created_at: str,
    sender_id: str | None,
    participant_ids: Sequence[str],
) -> str:
    """The text the derived id hashes, before any repeat number."""
    users = ",".join(sorted(participant_ids, key=int))
    return "|".join([conversation_id, event_type, created_at, sender_id or "", users])


def derived_id(key: str, repeat: int = 0) -> str:
    """`archive-` and 32 hex digits of the key's sha256 (the repeat number appended)."""
    text = key if repeat == 0 else f"{key}|{repeat}"
    return DERIVED_ID_PREFIX + hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


class DerivedIds:
    """Hands out derived ids, numbering repeats of one key so each item keeps its own."""

    def __init__(self) -> None:
        self._seen: Counter[str] = Counter()

    def next(
        self,
        conversation_id: str,
        event_type: str,
        created_at: str,
        sender_id: str | None,
        participant_ids: Sequence[str],
    ) -> str:
        """The id of the next item with these fields."""
        key = derived_key(conversation_id, event_type, created_at, sender_id, participant_ids)
        repeat = self._seen[key]
        self._seen[key] += 1
        return derived_id(key, repeat)
