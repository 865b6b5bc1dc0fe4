"""Datasets as JSON: the `--events-file` format, loaded and written back.

Loaded events are kept as the dicts given (any order, fields may be missing); the store
indexes them by id, conversation, sender, type and created_at.
"""

from __future__ import annotations

import itertools
import json
from array import array
from pathlib import Path
from typing import Any

from tap_x_dm_sandbox.codes import F_STORED, MC, TYPE_CODE
from tap_x_dm_sandbox.content import event_at
from tap_x_dm_sandbox.data import Dataset
from tap_x_dm_sandbox.model import MESSAGE_CREATE, parse_iso_ms, snowflake_ms
from tap_x_dm_sandbox.users import USER_FIELDS, SandboxUser


def load_json_file(path: str | Path) -> Dataset:
    """Load ``{"users", "conversations", "events", "tweets", "media"}`` from a JSON file.

    Events are kept exactly as given (any order, fields may be missing) but need
    ``id`` and ``dm_conversation_id``; ``event_type`` defaults to MessageCreate for
    filtering. Conversation members are the listed ``participant_ids`` plus every
    user an event names (sender, participants, the two ids of a one-to-one id).
    """
    with Path(path).open(encoding="utf-8") as handle:
        data = json.load(handle)
    return from_json(data)


def from_json(data: dict[str, Any]) -> Dataset:
    """Build a dataset from the parsed JSON document `from_json_file` reads."""
    users = [SandboxUser.from_json(u) for u in data.get("users", [])]
    dataset = Dataset(seed=int(data.get("seed", 7)), users=users)
    raw_events = list(data.get("events", []))
    keyed: list[tuple[int, dict[str, Any]]] = []
    for event in raw_events:
        if "id" not in event or "dm_conversation_id" not in event:
            raise ValueError(f"event without id or dm_conversation_id: {event!r}")
        keyed.append((int(event["id"]), event))
    keyed.sort(key=lambda pair: pair[0])
    for (first, _), (second, _) in itertools.pairwise(keyed):
        if first == second:
            raise ValueError(f"duplicate event id {first}")
    # Conversations: declared ones, then those named by events.
    members: dict[str, set[str]] = {}
    for conv in data.get("conversations", []):
        members.setdefault(str(conv["id"]), set()).update(
            str(p) for p in conv.get("participant_ids", [])
        )
    for _, event in keyed:
        conv_id = str(event["dm_conversation_id"])
        found = members.setdefault(conv_id, set())
        if "-" in conv_id:
            found.update(conv_id.split("-", 1))
        if event.get("sender_id") is not None:
            found.add(str(event["sender_id"]))
        found.update(str(p) for p in event.get("participant_ids", []))
    first_seen = {conv_id: position for position, conv_id in enumerate(members)}
    for conv_id in sorted(members, key=first_seen.__getitem__):
        dataset._add_conversation(conv_id, frozenset(members[conv_id]))
    ms_column: array[int] = array("q")
    dataset._ms = ms_column
    for event_id, event in keyed:
        created = event.get("created_at")
        ms = parse_iso_ms(created) if isinstance(created, str) else snowflake_ms(event_id)
        sender = event.get("sender_id")
        dataset._append(
            event_id,
            dataset._conv_index[str(event["dm_conversation_id"])],
            dataset._user_index.get(str(sender), -1) if sender is not None else -1,
            TYPE_CODE.get(str(event.get("event_type", MESSAGE_CREATE)), MC),
            F_STORED,
            ms,
        )
        dataset._stored[event_id] = event
    dataset._json_tweets = {str(t["id"]): t for t in data.get("tweets", [])}
    dataset._json_media = {str(m["media_key"]): m for m in data.get("media", [])}
    dataset._empty_user_id = dataset._find_empty_user()
    return dataset


def to_json(dataset: Dataset) -> dict[str, Any]:
    """Return the whole dataset in the `from_json_file` shape (for fixtures and round trips)."""
    with dataset._lock:
        events = [event_at(dataset, pos) for pos in range(len(dataset._ids))]
        tweets: dict[str, dict[str, Any]] = {}
        media: dict[str, dict[str, Any]] = {}
        for event in events:
            for ref in event.get("referenced_tweets", []):
                tweet = dataset.tweet(ref["id"])
                if tweet is not None:
                    tweets[ref["id"]] = tweet
            for key in event.get("attachments", {}).get("media_keys", []):
                found = dataset.media(key)
                if found is not None:
                    media[key] = found
        return {
            "seed": dataset._seed,
            "users": [
                {**u.as_json(USER_FIELDS), **({"suspended": True} if u.suspended else {})}
                for u in dataset._users
            ],
            "conversations": [
                {"id": conv_id, "participant_ids": sorted(members, key=int)}
                for conv_id, members in zip(dataset._conv_ids, dataset._conv_members, strict=True)
            ],
            "events": events,
            "tweets": list(tweets.values()),
            "media": list(media.values()),
        }
