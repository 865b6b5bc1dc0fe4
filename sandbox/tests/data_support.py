"""Shared constants, fixtures and helpers of the dataset tests."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tap_x_dm_sandbox.data import (
    ALL_EVENT_TYPES,
    Dataset,
    parse_iso_ms,
)

NOW_MS = 1_790_000_000_000  # 2026-09-21T12:53:20Z
ISO_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
CONV_RE = re.compile(r"^([0-9]{1,19}-[0-9]{1,19}|[0-9]{15,19})$")
MEDIA_RE = re.compile(r"^(3|7|16)_([0-9]+)$")
TWEET_URL_RE = re.compile(r"^https://x\.com/([A-Za-z0-9_]+)/status/(\d+)$")
USERNAME_RE = re.compile(r"^[A-Za-z0-9_]{1,15}$")


@pytest.fixture(scope="module")
def ds() -> Dataset:
    return Dataset.generate(seed=7, now_ms=NOW_MS)


@pytest.fixture(scope="module")
def all_events(ds: Dataset) -> list[dict[str, Any]]:
    return every_event(ds)


def every_event(ds: Dataset) -> list[dict[str, Any]]:
    """Every event, oldest first (ids from the column, dicts from `event`)."""
    out = []
    for position in range(len(ds)):
        event = ds.event(ds._ids[position])
        assert event is not None
        out.append(event)
    return out


def page_all(
    ds: Dataset,
    viewer: str,
    *,
    conversation_id: str | None = None,
    limit: int = 100,
    min_ms: int | None = None,
    types: frozenset[str] = ALL_EVENT_TYPES,
) -> list[int]:
    """Walk every page like the server does; check the `more` flag on the way."""
    out: list[int] = []
    below: int | None = None
    while True:
        ids, more = ds.page(
            viewer_id=viewer,
            conversation_id=conversation_id,
            below_id=below,
            limit=limit,
            min_ms=min_ms,
            event_types=types,
        )
        assert len(ids) <= limit
        out.extend(ids)
        if not more:
            return out
        assert len(ids) == limit, "a page that is not full must be the last"
        below = ids[-1]


def brute_force(
    ds: Dataset,
    events: list[dict[str, Any]],
    viewer: str,
    *,
    conversation_id: str | None = None,
    min_ms: int | None = None,
    types: frozenset[str] = ALL_EVENT_TYPES,
) -> list[int]:
    """The visible ids computed the slow, obvious way, newest first."""
    out = []
    for event in events:
        members = ds.conversation_members(event["dm_conversation_id"])
        assert members is not None
        if viewer not in members:
            continue
        if conversation_id is not None and event["dm_conversation_id"] != conversation_id:
            continue
        if min_ms is not None and parse_iso_ms(event["created_at"]) < min_ms:
            continue
        if event["event_type"] not in types:
            continue
        out.append(int(event["id"]))
    return sorted(out, reverse=True)
