"""The sandbox's DM world: users, conversations and events, stored in compact columns.

A generated dataset can hold a million events, so events are never kept as dicts.
Parallel `array` columns (id, conversation, sender, type, flags and, for loaded files
only, created_at milliseconds) hold what paging needs; the content of a generated
message is derived again from ``(seed, event id)`` on each read (`content`). Events
from a JSON file (`jsonfile`) and live additions are few and are stored as dicts.
The generator lives in `generate`.

Visibility rule (kept simple on purpose): a user sees every event of every
conversation they were ever a member of. ``conversation_members`` is therefore
everyone who ever belonged to the conversation.
"""

from __future__ import annotations

import itertools
import threading
from array import array
from bisect import bisect_left
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tap_x_dm_sandbox import additions, content
from tap_x_dm_sandbox.codes import MC, TYPE_CODE
from tap_x_dm_sandbox.model import (
    ALL_EVENT_TYPES,
    DAY_MS,
    EVENT_TYPES,
    MESSAGE_CREATE,
    PARTICIPANTS_JOIN,
    PARTICIPANTS_LEAVE,
    TWEPOCH_MS,
    CreatedAtRule,
    iso_ms,
    one_to_one_conversation_id,
    parse_iso_ms,
    snowflake,
    snowflake_ms,
)
from tap_x_dm_sandbox.users import SandboxUser

# The dataset's public names, importable from here as before the split.
__all__ = [
    "ALL_EVENT_TYPES",
    "DAY_MS",
    "EVENT_TYPES",
    "MESSAGE_CREATE",
    "PARTICIPANTS_JOIN",
    "PARTICIPANTS_LEAVE",
    "TWEPOCH_MS",
    "Dataset",
    "SandboxUser",
    "iso_ms",
    "one_to_one_conversation_id",
    "parse_iso_ms",
    "snowflake",
    "snowflake_ms",
]


class Dataset:
    """One X DM world: users, conversations, events, Tweets and media, with fast cursor paging."""

    def __init__(self, *, seed: int, users: Sequence[SandboxUser]) -> None:
        """Start an empty dataset; use `generate` or `from_json_file`."""
        if not users:
            raise ValueError("a dataset needs at least one user (users[0] is the account)")
        self._seed = seed
        self._users: tuple[SandboxUser, ...] = tuple(users)
        self._user_index: dict[str, int] = {}
        for position, user in enumerate(self._users):
            if user.id in self._user_index:
                raise ValueError(f"duplicate user id {user.id}")
            self._user_index[user.id] = position
        # Conversations.
        self._conv_ids: list[str] = []
        self._conv_index: dict[str, int] = {}
        self._conv_members: list[frozenset[str]] = []
        self._conv_pos: list[array[int]] = []  # ascending global positions per conversation
        self._user_convs: dict[str, list[int]] = {}
        # Event columns, ascending by id.
        self._ids: array[int] = array("q")
        self._conv: array[int] = array("i")
        self._sender: array[int] = array("i")  # user position, -1 = none/unknown
        self._type: array[int] = array("b")
        self._flags: array[int] = array("B")
        self._ms: array[int] | None = None  # created_at column (loaded files); None = from id
        self._ms_monotone = True
        self._struct_pos: array[int] = array("i")  # positions of Join/Leave events
        self._struct_participants: dict[int, tuple[int, ...]] = {}  # generated Join/Leave
        self._stored: dict[int, dict[str, Any]] = {}
        self._viewer_cache: dict[str, array[int]] = {}
        # Tweets and media.
        self._tweet_ids: array[int] = array("q")
        self._tweet_author: array[int] = array("i")
        self._tweet_deleted = bytearray()
        self._json_tweets: dict[str, dict[str, Any]] = {}
        self._json_media: dict[str, dict[str, Any]] = {}
        self._empty_user_id = ""
        self._lock = threading.RLock()
        #: created_at of generated and added events (loaded events keep theirs).
        self.created_at_rule = CreatedAtRule(seed=seed)

    # -- construction -------------------------------------------------------

    @classmethod
    def generate(
        cls,
        *,
        seed: int = 7,
        now_ms: int,
        users: int = 50,
        conversations: int = 200,
        days: int = 90,
        events: int = 6000,
    ) -> Dataset:
        """Generate a realistic brand support inbox, identical for identical arguments."""
        from tap_x_dm_sandbox.generate import Generator  # imports this module

        return Generator(
            seed=seed,
            now_ms=now_ms,
            n_users=users,
            n_convs=conversations,
            days=days,
            n_events=events,
        ).build()

    @classmethod
    def from_json_file(cls, path: str | Path) -> Dataset:
        """Load a dataset from an `--events-file` JSON file (format: `jsonfile`)."""
        from tap_x_dm_sandbox.jsonfile import load_json_file  # imports this module

        return load_json_file(path)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Dataset:
        """Build a dataset from the parsed JSON document `from_json_file` reads."""
        from tap_x_dm_sandbox.jsonfile import from_json  # imports this module

        return from_json(data)

    def to_json(self) -> dict[str, Any]:
        """Return the whole dataset in the `from_json_file` shape (for fixtures and round trips)."""
        from tap_x_dm_sandbox.jsonfile import to_json  # imports this module

        return to_json(self)

    def _add_conversation(self, conv_id: str, members: frozenset[str]) -> int:
        position = len(self._conv_ids)
        self._conv_ids.append(conv_id)
        self._conv_index[conv_id] = position
        self._conv_members.append(members)
        self._conv_pos.append(array("i"))
        for member in members:
            self._user_convs.setdefault(member, []).append(position)
        return position

    def _append(
        self, event_id: int, conv: int, sender: int, type_code: int, flags: int, ms: int | None
    ) -> int:
        position = len(self._ids)
        self._ids.append(event_id)
        self._conv.append(conv)
        self._sender.append(sender)
        self._type.append(type_code)
        self._flags.append(flags)
        if self._ms is not None:
            stamp = snowflake_ms(event_id) if ms is None else ms
            if self._ms and stamp < self._ms[-1]:
                self._ms_monotone = False
            self._ms.append(stamp)
        self._conv_pos[conv].append(position)
        if type_code != MC:
            self._struct_pos.append(position)
        return position

    def _find_empty_user(self) -> str:
        for user in self._users:
            if not self._user_convs.get(user.id):
                return user.id
        # Every known user has a DM: invent an id nobody uses.
        candidate = 1
        while str(candidate) in self._user_index or str(candidate) in self._user_convs:
            candidate += 1
        return str(candidate)

    # -- users and conversations ------------------------------------------

    @property
    def users(self) -> Sequence[SandboxUser]:
        """All users; ``users[0]`` is the account the sandbox is about."""
        return self._users

    @property
    def seed(self) -> int:
        """The seed the dataset derives its content from."""
        return self._seed

    def user(self, user_id: str) -> SandboxUser | None:
        """Return the user with this id, or None."""
        position = self._user_index.get(user_id)
        return None if position is None else self._users[position]

    def empty_user_id(self) -> str:
        """Return a user id that has no conversation (a known user when one exists)."""
        return self._empty_user_id

    def conversations_of(self, user_id: str) -> list[str]:
        """Return the ids of the conversations the user ever belonged to, oldest first."""
        return [self._conv_ids[c] for c in self._user_convs.get(user_id, ())]

    def conversation_ids(self) -> list[str]:
        """Return every conversation id, oldest first."""
        return list(self._conv_ids)

    def conversation_members(self, conversation_id: str) -> frozenset[str] | None:
        """Return everyone who was ever a member, or None for an unknown conversation."""
        position = self._conv_index.get(conversation_id)
        return None if position is None else self._conv_members[position]

    # -- events ------------------------------------------------------------

    def __len__(self) -> int:
        """Return the number of events."""
        return len(self._ids)

    def max_id(self) -> int:
        """Return the largest event id (0 when there are no events)."""
        with self._lock:
            return self._ids[-1] if self._ids else 0

    def _position(self, event_id: int) -> int | None:
        ids = self._ids
        position = bisect_left(ids, event_id)
        if position < len(ids) and ids[position] == event_id:
            return position
        return None

    def event(self, event_id: int) -> dict[str, Any] | None:
        """Return the full DmEvent object (a fresh dict), or None if there is no such event."""
        with self._lock:
            position = self._position(event_id)
            return None if position is None else content.event_at(self, position)

    def created_ms(self, event_id: int) -> int:
        """Return an event's created_at in epoch ms (loaded events: as the file said)."""
        with self._lock:
            position = self._position(event_id)
            if self._ms is not None and position is not None:
                return self._ms[position]
            return self.created_at_rule.ms(event_id)

    def can_see(self, viewer_id: str, event_id: int) -> bool:
        """Tell whether the viewer belongs to the event's conversation."""
        with self._lock:
            position = self._position(event_id)
            if position is None:
                return False
            return viewer_id in self._conv_members[self._conv[position]]

    def _viewer_positions(self, viewer_id: str) -> array[int]:
        """Ascending positions of every event the viewer sees (built once, kept up to date)."""
        cached = self._viewer_cache.get(viewer_id)
        if cached is not None:
            return cached
        convs = self._user_convs.get(viewer_id, [])
        if not convs:
            return array("i")
        if len(convs) == 1:
            merged = self._conv_pos[convs[0]]  # shared: additions land in it once
        else:
            merged = array(
                "i", sorted(itertools.chain.from_iterable(self._conv_pos[c] for c in convs))
            )
        self._viewer_cache[viewer_id] = merged
        return merged

    def _lower_bound(self, min_ms: int | None) -> tuple[int, bool]:
        """First position created at/after min_ms, and whether each event must be checked."""
        if min_ms is None:
            return 0, False
        if self._ms is None:
            return bisect_left(self._ids, snowflake(min_ms, 0)), False
        if self._ms_monotone:
            return bisect_left(self._ms, min_ms), False
        return 0, True

    def page(
        self,
        *,
        viewer_id: str,
        conversation_id: str | None,
        below_id: int | None,
        limit: int,
        min_ms: int | None,
        event_types: frozenset[str],
    ) -> tuple[list[int], bool]:
        """Return up to `limit` visible event ids, newest first, and whether more follow.

        Only events strictly below `below_id`, created at/after `min_ms`, of the given
        types, in `conversation_id` when given (which the viewer must belong to).
        """
        if limit < 0:
            raise ValueError("limit must be >= 0")
        codes = frozenset(TYPE_CODE[t] for t in event_types if t in TYPE_CODE)
        if not codes:
            return [], False
        with self._lock:
            conv_filter: frozenset[int] | None = None
            if conversation_id is not None:
                conv = self._conv_index.get(conversation_id)
                if conv is None or viewer_id not in self._conv_members[conv]:
                    return [], False
                positions = self._conv_pos[conv]
                conv_filter = frozenset((conv,))
            else:
                positions = self._viewer_positions(viewer_id)
            ids = self._ids
            hi_global = len(ids) if below_id is None else bisect_left(ids, below_id)
            lo_global, check_ms = self._lower_bound(min_ms)
            if len(codes) == len(EVENT_TYPES) and not check_ms:
                hi = bisect_left(positions, hi_global)
                lo = bisect_left(positions, lo_global)
                start = max(lo, hi - limit)
                return [ids[positions[j]] for j in range(hi - 1, start - 1, -1)], start > lo
            if MC not in codes:
                # Join/Leave only: walk the short list of membership events instead.
                if conv_filter is None:
                    conv_filter = frozenset(self._user_convs.get(viewer_id, ()))
                positions = self._struct_pos
            else:
                conv_filter = None
            hi = bisect_left(positions, hi_global)
            lo = bisect_left(positions, lo_global)
            types, convs, ms_column = self._type, self._conv, self._ms
            found: list[int] = []
            for j in range(hi - 1, lo - 1, -1):
                position = positions[j]
                if types[position] not in codes:
                    continue
                if conv_filter is not None and convs[position] not in conv_filter:
                    continue
                if check_ms and ms_column is not None and ms_column[position] < (min_ms or 0):
                    continue
                found.append(ids[position])
                if len(found) > limit:
                    break
            return found[:limit], len(found) > limit

    # -- Tweets and media (their content: `content`) ---------------------------

    def tweet(self, tweet_id: str) -> dict[str, Any] | None:
        """Return the Tweet object, or None when it is unknown or deleted."""
        return content.tweet(self, tweet_id)

    def is_deleted_tweet(self, tweet_id: str) -> bool:
        """Tell whether a generated Tweet exists but was deleted (for tests)."""
        return content.is_deleted_tweet(self, tweet_id)

    def media(self, media_key: str) -> dict[str, Any] | None:
        """Return the Media object for a media key, or None if no message carries it."""
        return content.media(self, media_key)

    # -- live additions (`additions`) ----------------------------------------

    def add_events(
        self,
        count: int,
        *,
        now_ms: int,
        conversation_id: str | None = None,
        sender_id: str | None = None,
        text: str | None = None,
    ) -> list[dict[str, Any]]:
        """`additions.add_events` under the dataset's lock (it says what is added)."""
        with self._lock:
            return additions.add_events(
                self,
                count,
                now_ms=now_ms,
                conversation_id=conversation_id,
                sender_id=sender_id,
                text=text,
            )
