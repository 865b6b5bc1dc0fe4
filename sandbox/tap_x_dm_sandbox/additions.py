"""Live additions: new messages "now", the way X's inbox grows between two requests.

Called by `Dataset.add_events` under the dataset's lock; added events are stored as
dicts (few) and appended to the columns and to every cached viewer index.
"""

from __future__ import annotations

import copy
import random
from typing import TYPE_CHECKING, Any

from tap_x_dm_sandbox.codes import F_STORED, MC, S_ADDED, stream_seed
from tap_x_dm_sandbox.model import MESSAGE_CREATE, snowflake, snowflake_ms
from tap_x_dm_sandbox.text import chatter

if TYPE_CHECKING:
    from tap_x_dm_sandbox.data import Dataset


def add_events(
    dataset: Dataset,
    count: int,
    *,
    now_ms: int,
    conversation_id: str | None = None,
    sender_id: str | None = None,
    text: str | None = None,
) -> list[dict[str, Any]]:
    """Append `count` new MessageCreate events at `now_ms`, above every existing id.

    If `now_ms` is not later than the newest event, the new events share the newest
    event's millisecond with the next sequence numbers. Default conversation: the one
    with the account's (users[0]) latest event; default sender: a member other than
    the account (a customer writing in); default text: generated chatter.
    """
    if count < 0:
        raise ValueError("count must be >= 0")
    conv = _pick_conversation(dataset, conversation_id)
    members = dataset._conv_members[conv]
    if sender_id is not None and sender_id not in members:
        raise ValueError(f"{sender_id} is not a member of {dataset._conv_ids[conv]}")
    added: list[dict[str, Any]] = []
    brand_id = dataset._users[0].id
    for _ in range(count):
        last = dataset._ids[-1] if dataset._ids else 0
        candidate = snowflake(now_ms, 0)
        if candidate > last:
            event_id, created_ms = candidate, now_ms
        else:
            event_id = last + 1
            created_ms = snowflake_ms(event_id)
        rng = random.Random(stream_seed(dataset._seed, S_ADDED, event_id))
        sender = sender_id
        if sender is None:
            others = sorted((m for m in members if m != brand_id), key=int)
            sender = rng.choice(others) if others else brand_id
        body = text
        if body is None:
            other = next((m for m in sorted(members, key=int) if m != sender), sender)
            other_user = dataset.user(other)
            kind = 1 if sender == brand_id else (0 if brand_id in members else 2)
            body = chatter(rng, kind=kind, other_name=other_user.name if other_user else "")
        event = {
            "id": str(event_id),
            "event_type": MESSAGE_CREATE,
            "text": body,
            "sender_id": sender,
            "dm_conversation_id": dataset._conv_ids[conv],
            "created_at": dataset.created_at_rule.iso(event_id),
        }
        dataset._stored[event_id] = event
        position = dataset._append(
            event_id, conv, dataset._user_index.get(sender, -1), MC, F_STORED, created_ms
        )
        conv_positions = dataset._conv_pos[conv]
        for member in members:
            cached = dataset._viewer_cache.get(member)
            if cached is not None and cached is not conv_positions:
                cached.append(position)
        added.append(copy.deepcopy(event))
    return added


def _pick_conversation(dataset: Dataset, conversation_id: str | None) -> int:
    if conversation_id is not None:
        conv = dataset._conv_index.get(conversation_id)
        if conv is None:
            raise ValueError(f"unknown conversation {conversation_id}")
        return conv
    account = dataset._users[0].id
    mine = dataset._user_convs.get(account, [])
    if not mine:
        if not dataset._conv_ids:
            raise ValueError("the dataset has no conversation to add events to")
        return 0
    return max(mine, key=lambda c: dataset._conv_pos[c][-1] if dataset._conv_pos[c] else -1)
