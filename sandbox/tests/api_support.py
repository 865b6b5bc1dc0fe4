"""Shared constants, fixtures and helpers of the sandbox HTTP API tests."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox_helpers import OpenAPI, pinned_clock
from tap_x_dm_sandbox import Sandbox
from tap_x_dm_sandbox.fixtures import SandboxFactory

ALL_DM_FIELDS = (
    "attachments,created_at,dm_conversation_id,entities,event_type,id,participant_ids,"
    "referenced_tweets,sender_id,text"
)
ALL_EXPANSIONS = "attachments.media_keys,participant_ids,referenced_tweets.id,sender_id"
USER_FIELDS = (
    "created_at,description,id,location,name,profile_image_url,protected,url,username,verified"
)
TWEET_FIELDS = (
    "attachments,author_id,conversation_id,created_at,edit_history_tweet_ids,id,lang,text"
)
MEDIA_FIELDS = "alt_text,duration_ms,height,media_key,preview_image_url,type,url,variants,width"
EVERYTHING = {
    "dm_event.fields": ALL_DM_FIELDS,
    "expansions": ALL_EXPANSIONS,
    "user.fields": USER_FIELDS,
    "tweet.fields": TWEET_FIELDS,
    "media.fields": MEDIA_FIELDS,
}
SPEC_PATHS = {
    "dm_events": "/2/dm_events",
    "conversation": "/2/dm_conversations/{id}/dm_events",
    "participant": "/2/dm_conversations/with/{participant_id}/dm_events",
}
EXAMPLE_PREFIX = {
    "dm_events": "GET_dm_events",
    "conversation": "GET_dm_conversations_dm_conversation_id_dm_events",
    "participant": "GET_dm_conversations_with_participant_id_dm_events",
}
DEFAULT_KEYS = {
    "MessageCreate": {"id", "event_type", "text"},
    "ParticipantsJoin": {"id", "event_type", "participant_ids"},
    "ParticipantsLeave": {"id", "event_type", "participant_ids"},
}


@pytest.fixture
def small(sandbox_factory: SandboxFactory) -> Sandbox:
    """A quick sandbox with a roomy rate limit."""
    return sandbox_factory(
        clock=pinned_clock(), rate_limit=10_000, events=1500, conversations=60, users=20
    )


@pytest.fixture
def live(sandbox_factory: SandboxFactory) -> Sandbox:
    """A sandbox whose clock starts at real time, as OAuth 1.0a timestamps require."""
    return sandbox_factory(rate_limit=10_000, events=300)


def busiest(sb: Sandbox, *, group: bool) -> str:
    """The account's conversation (group or 1:1) with the most events."""
    account = sb.account.id
    convs = [c for c in sb.dataset.conversations_of(account) if ("-" not in c) == group]
    return max(convs, key=lambda c: len(sb.visible_events(conversation_id=c, window_days=None)))


def other_member(sb: Sandbox, one_to_one: str) -> str:
    low, high = one_to_one.split("-")
    return high if low == sb.account.id else low


def endpoint_path(sb: Sandbox, kind: str) -> str:
    if kind == "dm_events":
        return "/2/dm_events"
    if kind == "conversation":
        return f"/2/dm_conversations/{busiest(sb, group=True)}/dm_events"
    one_to_one = busiest(sb, group=False)
    return f"/2/dm_conversations/with/{other_member(sb, one_to_one)}/dm_events"


def response_schema(openapi: OpenAPI, kind: str) -> str:
    return openapi.response_schema(SPEC_PATHS[kind])


def find_event(sb: Sandbox, predicate: Any) -> dict[str, Any]:
    return next(e for e in sb.visible_events(window_days=None) if predicate(e))


def deleted_tweet_event(sb: Sandbox) -> dict[str, Any]:
    return find_event(
        sb,
        lambda e: any(sb.dataset.tweet(r["id"]) is None for r in e.get("referenced_tweets", [])),
    )
