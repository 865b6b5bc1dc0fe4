"""An X archive of the sandbox's account, and the checks of "one row per event", for tests.

`archive_from_sandbox` writes what X's "Download your data" would hold for the
sandbox account: every event it can see, whole history, joins and leaves
without ids (the account's own join as `joinConversation`). `table` merges the
RECORD messages of runs by primary key as a target does; `event_keys` names
each event whatever its id (X's or derived), so a doubled event shows.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from tap_x_dm.archive import is_derived_id
from tests.archive_builder import (
    ArchiveBuilder,
    Conversation,
    join_conversation,
    message,
    participants_join,
    participants_leave,
)
from tests.conftest import TapRun

#: An old join of the account itself, only in the archive (X's API no longer serves it).
OWN_JOIN_AT = "2026-01-05T09:00:00.000Z"


def _item(event: dict[str, Any], account: str) -> dict[str, Any]:
    kind = event["event_type"]
    conversation = event["dm_conversation_id"]
    if kind == "MessageCreate":
        members = conversation.split("-")
        other = next((m for m in members if m != event["sender_id"]), None)
        recipient = other if "-" in conversation else None
        text = event.get("text") or ""
        return message(
            event["id"], event["sender_id"], event["created_at"], text, recipient=recipient
        )
    users = list(event.get("participant_ids") or [])
    if kind == "ParticipantsLeave":
        return participants_leave(users, event["created_at"])
    if users == [account]:
        return join_conversation(event.get("sender_id") or account, [account], event["created_at"])
    return participants_join(event.get("sender_id") or account, users, event["created_at"])


def archive_events(sandbox: Any) -> list[dict[str, Any]]:
    """Every event the account sees, whole history, newest first."""
    return list(sandbox.visible_events(window_days=None))


def archive_from_sandbox(
    sandbox: Any, events: list[dict[str, Any]] | None = None, *, own_join_group: str | None = None
) -> ArchiveBuilder:
    """The archive X would send for the sandbox account (optionally of `events` only)."""
    account = sandbox.account.id
    by_conversation: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in archive_events(sandbox) if events is None else events:
        by_conversation[event["dm_conversation_id"]].append(_item(event, account))
    if own_join_group is not None:
        by_conversation[own_join_group].append(
            join_conversation(account, [account], OWN_JOIN_AT)  # oldest: last in the list
        )
    one_to_one = [Conversation(c, items) for c, items in by_conversation.items() if "-" in c]
    groups = [Conversation(c, items) for c, items in by_conversation.items() if "-" not in c]
    return ArchiveBuilder(
        account_id=account,
        username=sandbox.account.username,
        one_to_one=one_to_one,
        groups=groups,
        parts={"direct-messages": 2},
    )


def event_key(row: dict[str, Any]) -> tuple[Any, ...]:
    """What identifies an event in either source: X's id for messages, the fields for the rest."""
    if row["event_type"] == "MessageCreate":
        return ("MessageCreate", row["id"])
    users = tuple(sorted(row.get("participant_ids") or [], key=int))
    return (row["event_type"], row["dm_conversation_id"], row["created_at"], users)


def table(*runs: TapRun) -> dict[tuple[str, str], dict[str, Any]]:
    """`dm_events` as a target holds it after these runs: one row per primary key, last wins."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for run in runs:
        for record in run.records("dm_events"):
            rows[(record["account_id"], record["id"])] = record
    return rows


def assert_one_row_per_event(
    rows: dict[tuple[str, str], dict[str, Any]], expected: list[dict[str, Any]]
) -> None:
    """Every expected event is in the table exactly once, and nothing else is."""
    counts = Counter(event_key(row) for row in rows.values())
    doubled = {key: n for key, n in counts.items() if n > 1}
    assert doubled == {}
    assert set(counts) == {event_key(event) for event in expected}
    assert len(rows) == len(expected)


def derived_rows(rows: dict[tuple[str, str], dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows whose id the archive derived (joins and leaves it gave no id)."""
    return [row for row in rows.values() if is_derived_id(row["id"])]
