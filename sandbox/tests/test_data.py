"""Tests for the sandbox Dataset: generation, paging, visibility, JSON files, live additions."""

from __future__ import annotations

import itertools
import json
import re
import time
import unicodedata
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from sandbox_helpers import OpenAPI
from tap_x_dm_sandbox.data import (
    ALL_EVENT_TYPES,
    DAY_MS,
    TWEPOCH_MS,
    Dataset,
    SandboxUser,
    iso_ms,
    one_to_one_conversation_id,
    parse_iso_ms,
    snowflake,
    snowflake_ms,
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


# -- snowflakes and helpers ----------------------------------------------------


def test_snowflake_round_trip_and_real_x_ids() -> None:
    assert snowflake(TWEPOCH_MS, 0) == 0
    assert snowflake_ms(snowflake(NOW_MS, 17)) == NOW_MS
    assert snowflake(NOW_MS, 1) == snowflake(NOW_MS, 0) + 1
    assert snowflake(NOW_MS + 1, 0) > snowflake(NOW_MS, 4095)
    with pytest.raises(ValueError):
        snowflake(NOW_MS, 4096)
    # X's own example: event 1582838499983564806 was created 2022-10-19T20:58:00Z.
    assert iso_ms(snowflake_ms(1582838499983564806)).startswith("2022-10-19T20:58:00.")
    assert iso_ms(1666213080123) == "2022-10-19T20:58:00.123Z"
    assert parse_iso_ms("2022-10-19T20:58:00.123Z") == 1666213080123
    assert parse_iso_ms("2022-10-19T22:58:00.123+02:00") == 1666213080123


def test_one_to_one_id_compares_user_ids_as_integers() -> None:
    # The integrate guide's example: 944480690 < 906948460078698496 as numbers.
    assert one_to_one_conversation_id("906948460078698496", "944480690") == (
        "944480690-906948460078698496"
    )
    assert one_to_one_conversation_id("944480690", "906948460078698496") == (
        "944480690-906948460078698496"
    )


# -- shape of the generated world ----------------------------------------------


def test_default_sizes_exact_counts(ds: Dataset, all_events: list[dict[str, Any]]) -> None:
    assert len(ds) == 6000
    assert len(all_events) == 6000
    assert len(ds.users) == 50
    conversations = ds.conversation_ids()
    assert len(conversations) == 200
    assert len(set(conversations)) == 200
    groups = [c for c in conversations if "-" not in c]
    assert len(groups) == 40  # a fifth
    # Every conversation has at least one event.
    assert {e["dm_conversation_id"] for e in all_events} == set(conversations)


def test_conversation_ids_follow_x_formats(ds: Dataset) -> None:
    account = ds.users[0].id
    int_order_differs = False
    for conv_id in ds.conversation_ids():
        assert CONV_RE.match(conv_id), conv_id
        members = ds.conversation_members(conv_id)
        assert members is not None
        if "-" in conv_id:
            low, high = conv_id.split("-")
            assert int(low) < int(high)
            assert members == {low, high}
            assert conv_id == one_to_one_conversation_id(high, low)
            int_order_differs |= low > high  # as strings the order is the other way
        else:
            assert 15 <= len(conv_id) <= 19
            assert len(conv_id) == 19  # a Snowflake from the group's creation time
            assert len(members) >= 3
    assert int_order_differs, "want a 1:1 id whose string order differs from integer order"
    assert ds.conversation_members("1-2") is None
    assert any(account not in (ds.conversation_members(c) or ()) for c in ds.conversation_ids())


def test_account_and_visibility_layout(ds: Dataset) -> None:
    account = ds.users[0]
    assert account.username == "acme_support"
    assert account.name == "Acme Support"
    mine = ds.conversations_of(account.id)
    one_to_one = [c for c in ds.conversation_ids() if "-" in c]
    brand_one = [c for c in one_to_one if account.id in c.split("-")]
    # The account talks 1:1 with every customer (48 = 50 - account - user without DMs).
    assert len(brand_one) == 48
    assert set(brand_one) <= set(mine)
    # Customers also talk among themselves, out of the account's sight.
    assert len(one_to_one) - len(brand_one) == 112
    groups = [c for c in ds.conversation_ids() if "-" not in c]
    with_brand = [c for c in groups if account.id in (ds.conversation_members(c) or ())]
    assert len(with_brand) > len(groups) // 2
    assert set(mine) == set(brand_one) | set(with_brand)


def test_empty_user_has_no_dm(ds: Dataset) -> None:
    empty = ds.empty_user_id()
    user = ds.user(empty)
    assert user is not None
    assert ds.conversations_of(empty) == []
    assert page_all(ds, empty) == []
    for conv_id in ds.conversation_ids():
        assert empty not in (ds.conversation_members(conv_id) or ())


def test_users_are_realistic(ds: Dataset) -> None:
    ids = [u.id for u in ds.users]
    assert len(set(ids)) == len(ids)
    assert len({u.username for u in ds.users}) == len(ids)
    assert all(USERNAME_RE.match(u.username) for u in ds.users)
    assert any(len(i) <= 10 for i in ids)
    assert any(len(i) == 19 for i in ids)
    assert any(any(ord(ch) > 127 for ch in u.name) for u in ds.users)
    assert ds.user(ids[3]) == ds.users[3]
    assert ds.user("0") is None
    user = ds.users[0]
    assert user.as_json(()) == {"id": user.id, "name": "Acme Support", "username": "acme_support"}
    full = user.as_json(("created_at", "verified", "url", "protected", "location"))
    assert full["verified"] is True
    assert full["protected"] is False
    assert ISO_RE.match(full["created_at"])
    assert full["url"].startswith("https://t.co/")
    no_location = next(u for u in ds.users if u.location is None)
    assert "location" not in no_location.as_json(("location",))


def test_ids_strictly_increase_with_time(ds: Dataset, all_events: list[dict[str, Any]]) -> None:
    ids = [int(e["id"]) for e in all_events]
    assert all(a < b for a, b in itertools.pairwise(ids))
    start = NOW_MS - 90 * DAY_MS
    for event in all_events:
        assert ISO_RE.match(event["created_at"])
        ms = parse_iso_ms(event["created_at"])
        assert ms == snowflake_ms(int(event["id"]))
        assert start <= ms < NOW_MS
    assert ds.max_id() == ids[-1]
    # Denser recently: the last 30 days hold more than the first 30.
    recent = sum(1 for i in ids if snowflake_ms(i) >= NOW_MS - 30 * DAY_MS)
    early = sum(1 for i in ids if snowflake_ms(i) < start + 30 * DAY_MS)
    assert recent > early * 1.5


def test_some_events_share_a_millisecond(all_events: list[dict[str, Any]]) -> None:
    ids = [int(e["id"]) for e in all_events]
    shared = sum(1 for a, b in itertools.pairwise(ids) if snowflake_ms(a) == snowflake_ms(b))
    assert 20 <= shared <= 180  # about 1 %
    same_ms = next((a, b) for a, b in itertools.pairwise(ids) if snowflake_ms(a) == snowflake_ms(b))
    assert same_ms[1] == same_ms[0] + 1  # next sequence number


def test_event_type_fields(all_events: list[dict[str, Any]]) -> None:
    counts = dict.fromkeys(ALL_EVENT_TYPES, 0)
    for event in all_events:
        counts[event["event_type"]] += 1
        assert "id" in event
        assert "dm_conversation_id" in event
        if event["event_type"] == "MessageCreate":
            assert "text" in event
            assert "sender_id" in event
            assert "participant_ids" not in event
        else:
            assert "text" not in event
            assert event["participant_ids"]
            assert ("sender_id" in event) == (event["event_type"] == "ParticipantsJoin")
            assert "-" not in event["dm_conversation_id"]
    assert counts["ParticipantsJoin"] >= 40  # at least one per group
    assert counts["ParticipantsLeave"] >= 1
    assert sum(counts.values()) == 6000


def test_group_membership_timeline(ds: Dataset, all_events: list[dict[str, Any]]) -> None:
    by_conv: dict[str, list[dict[str, Any]]] = {}
    for event in all_events:
        by_conv.setdefault(event["dm_conversation_id"], []).append(event)
    later_joins = 0
    for conv_id, events in by_conv.items():
        members = ds.conversation_members(conv_id)
        assert members is not None
        if "-" in conv_id:
            assert all(e["event_type"] == "MessageCreate" for e in events)
            assert all(e["sender_id"] in members for e in events)
            continue
        first = events[0]
        assert first["event_type"] == "ParticipantsJoin"
        assert first["sender_id"] in first["participant_ids"]  # the creator
        assert int(conv_id) < int(first["id"])  # the group existed before its first event
        current = set(first["participant_ids"])
        ever = set(current)
        for event in events[1:]:
            if event["event_type"] == "MessageCreate":
                assert event["sender_id"] in current
            elif event["event_type"] == "ParticipantsJoin":
                later_joins += 1
                assert event["sender_id"] in current  # who added them
                assert not current & set(event["participant_ids"])
                current |= set(event["participant_ids"])
                ever |= set(event["participant_ids"])
            else:
                assert set(event["participant_ids"]) <= current
                current -= set(event["participant_ids"])
        assert members == ever
    assert later_joins >= 1


def test_texts_are_varied(all_events: list[dict[str, Any]]) -> None:
    texts = [e for e in all_events if e["event_type"] == "MessageCreate"]
    assert any(any(ord(ch) > 127 for ch in e["text"]) for e in texts)
    assert any(any("CJK" in unicodedata.name(ch, "") for ch in e["text"]) for e in texts)
    assert any(any(0x0590 <= ord(ch) <= 0x08FF for ch in e["text"]) for e in texts)  # RTL
    assert any(any(ord(ch) > 0xFFFF for ch in e["text"]) for e in texts)  # astral emoji
    empty = [e for e in texts if e["text"] == ""]
    assert empty
    assert all(e.get("attachments", {}).get("media_keys") for e in empty)
    long = [e for e in texts if len(e["text"]) >= 5000]
    assert long
    assert all(len(e["text"]) <= 10_000 for e in texts)
    assert all(e["text"] == e["text"].strip() for e in texts)


def test_entities_match_the_text(ds: Dataset, all_events: list[dict[str, Any]]) -> None:
    seen = {"urls": 0, "hashtags": 0, "mentions": 0, "cashtags": 0}
    for event in all_events:
        text = event.get("text", "")
        for kind in seen:
            if kind in event:
                assert event[kind], "empty entity arrays are omitted"
                seen[kind] += 1
        for url in event.get("urls", []):
            assert text[url["start"] : url["end"]] == url["url"]
            assert re.match(r"^https://t\.co/[A-Za-z0-9]{10}$", url["url"])
            assert urlparse(url["expanded_url"]).scheme == "https"
            assert url["display_url"]
        for tag in event.get("hashtags", []):
            assert text[tag["start"] : tag["end"]] == "#" + tag["tag"]
        for tag in event.get("cashtags", []):
            assert text[tag["start"] : tag["end"]] == "$" + tag["tag"]
        for mention in event.get("mentions", []):
            assert text[mention["start"] : mention["end"]] == "@" + mention["username"]
            user = ds.user(mention["id"])
            assert user is not None
            assert user.username == mention["username"]
    assert all(seen.values()), seen
    # Indices count code points: some entity follows an astral character.
    assert any(
        any(ord(ch) > 0xFFFF for ch in e["text"][: e["urls"][0]["start"]])
        for e in all_events
        if "urls" in e
    )


def test_referenced_tweets_and_deleted_ones(ds: Dataset, all_events: list[dict[str, Any]]) -> None:
    referencing = [e for e in all_events if "referenced_tweets" in e]
    assert len(referencing) >= 100
    deleted = 0
    for event in referencing:
        (ref,) = event["referenced_tweets"]
        tweet_urls = [u for u in event["urls"] if "/status/" in u["expanded_url"]]
        assert len(tweet_urls) == 1
        match = TWEET_URL_RE.match(tweet_urls[0]["expanded_url"])
        assert match
        assert match.group(2) == ref["id"]
        assert int(ref["id"]) < int(event["id"])  # the Tweet is older than the DM
        tweet = ds.tweet(ref["id"])
        if tweet is None:
            assert ds.is_deleted_tweet(ref["id"])
            deleted += 1
            continue
        author = ds.user(tweet["author_id"])
        assert author is not None
        assert author.username == match.group(1)
        assert tweet["edit_history_tweet_ids"] == [tweet["id"]]
        assert tweet["conversation_id"] == tweet["id"]
        assert tweet["lang"]
        assert ISO_RE.match(tweet["created_at"])
    assert 1 <= deleted < len(referencing) * 0.25
    assert ds.tweet("1") is None
    assert ds.tweet("not-a-number") is None


def test_media_attachments(ds: Dataset, all_events: list[dict[str, Any]]) -> None:
    kinds: dict[str, int] = {}
    alt_texts = 0
    for event in all_events:
        keys = event.get("attachments", {}).get("media_keys")
        if not keys:
            continue
        (key,) = keys
        match = MEDIA_RE.match(key)
        assert match, key
        media = ds.media(key)
        assert media is not None
        expected = {"3": "photo", "7": "video", "16": "animated_gif"}[match.group(1)]
        assert media["type"] == expected
        assert media["media_key"] == key
        assert media["width"] > 0
        assert media["height"] > 0
        if expected == "photo":
            assert urlparse(media["url"]).scheme == "https"
            alt_texts += "alt_text" in media
        else:
            assert urlparse(media["preview_image_url"]).scheme == "https"
            assert media["variants"]
        if expected == "video":
            assert media["duration_ms"] > 0
        kinds[expected] = kinds.get(expected, 0) + 1
        if event["text"]:
            media_urls = [u for u in event["urls"] if u.get("media_key") == key]
            assert len(media_urls) == 1
            assert event["text"].endswith(media_urls[0]["url"])
        # The media id is a Snowflake from just before the message.
        assert 0 < int(event["id"]) - int(match.group(2)) < (5000 << 22)
    assert set(kinds) == {"photo", "video", "animated_gif"}
    assert alt_texts >= 1
    assert ds.media("3_123") is None
    assert ds.media("nonsense") is None
    some_key = next(e["attachments"]["media_keys"][0] for e in all_events if "attachments" in e)
    prefix, digits = some_key.split("_")
    wrong = {"3": "7", "7": "16", "16": "3"}[prefix]
    assert ds.media(f"{wrong}_{digits}") is None


# -- paging ----------------------------------------------------------------------


@pytest.mark.parametrize("limit", [1, 7, 100])
def test_pages_cover_exactly_what_the_account_sees(
    ds: Dataset, all_events: list[dict[str, Any]], limit: int
) -> None:
    account = ds.users[0].id
    paged = page_all(ds, account, limit=limit)
    expected = brute_force(ds, all_events, account)
    assert paged == expected  # same ids, newest first, no duplicates
    assert len(set(paged)) == len(paged)
    assert 3000 < len(paged) < 6000  # most, not all: customers also talk among themselves


def test_pages_for_every_user(ds: Dataset, all_events: list[dict[str, Any]]) -> None:
    total = 0
    for user in ds.users:
        paged = page_all(ds, user.id, limit=37)
        assert paged == brute_force(ds, all_events, user.id)
        assert all(ds.can_see(user.id, i) for i in paged[:50])
        total += len(paged)
    assert total > 6000  # group events are seen by several members


def test_pages_per_conversation(ds: Dataset, all_events: list[dict[str, Any]]) -> None:
    account = ds.users[0].id
    for conv_id in ds.conversations_of(account):
        paged = page_all(ds, account, conversation_id=conv_id, limit=10)
        assert paged == brute_force(ds, all_events, account, conversation_id=conv_id)
        assert paged
    hidden = next(c for c in ds.conversation_ids() if "-" in c and account not in c.split("-"))
    assert ds.page(
        viewer_id=account,
        conversation_id=hidden,
        below_id=None,
        limit=100,
        min_ms=None,
        event_types=ALL_EVENT_TYPES,
    ) == ([], False)
    assert ds.page(
        viewer_id=account,
        conversation_id="123-456",
        below_id=None,
        limit=100,
        min_ms=None,
        event_types=ALL_EVENT_TYPES,
    ) == ([], False)
    hidden_event = next(e for e in all_events if e["dm_conversation_id"] == hidden)
    assert not ds.can_see(account, int(hidden_event["id"]))
    assert not ds.can_see(account, 12345)


def test_thirty_day_window(ds: Dataset, all_events: list[dict[str, Any]]) -> None:
    account = ds.users[0].id
    min_ms = NOW_MS - 30 * DAY_MS
    paged = page_all(ds, account, min_ms=min_ms)
    assert paged == brute_force(ds, all_events, account, min_ms=min_ms)
    assert 0 < len(paged) < len(page_all(ds, account))
    assert all(snowflake_ms(i) >= min_ms for i in paged)


@pytest.mark.parametrize(
    "types",
    [frozenset(t) for n in (1, 2) for t in itertools.combinations(sorted(ALL_EVENT_TYPES), n)],
)
def test_event_type_filter(
    ds: Dataset, all_events: list[dict[str, Any]], types: frozenset[str]
) -> None:
    for user in (ds.users[0].id, ds.users[1].id):
        paged = page_all(ds, user, types=types, limit=5)
        assert paged == brute_force(ds, all_events, user, types=types)
        min_ms = NOW_MS - 30 * DAY_MS
        assert page_all(ds, user, types=types, min_ms=min_ms, limit=3) == brute_force(
            ds, all_events, user, types=types, min_ms=min_ms
        )
    group = next(c for c in ds.conversations_of(ds.users[0].id) if "-" not in c)
    assert page_all(ds, ds.users[0].id, conversation_id=group, types=types) == brute_force(
        ds, all_events, ds.users[0].id, conversation_id=group, types=types
    )
    assert ds.page(
        viewer_id=ds.users[0].id,
        conversation_id=None,
        below_id=None,
        limit=10,
        min_ms=None,
        event_types=frozenset(),
    ) == ([], False)


def test_page_edges(ds: Dataset, all_events: list[dict[str, Any]]) -> None:
    account = ds.users[0].id
    everything = brute_force(ds, all_events, account)
    # below_id is exclusive and need not be an event id.
    ids, more = ds.page(
        viewer_id=account,
        conversation_id=None,
        below_id=everything[10],
        limit=5,
        min_ms=None,
        event_types=ALL_EVENT_TYPES,
    )
    assert ids == everything[11:16]
    assert more
    ids, _ = ds.page(
        viewer_id=account,
        conversation_id=None,
        below_id=everything[10] + 1,
        limit=5,
        min_ms=None,
        event_types=ALL_EVENT_TYPES,
    )
    assert ids == everything[10:15]
    # A page that ends exactly at the last event says there is no more.
    ids, more = ds.page(
        viewer_id=account,
        conversation_id=None,
        below_id=everything[-4],
        limit=3,
        min_ms=None,
        event_types=ALL_EVENT_TYPES,
    )
    assert ids == everything[-3:]
    assert not more
    assert ds.page(
        viewer_id="999",
        conversation_id=None,
        below_id=None,
        limit=100,
        min_ms=None,
        event_types=ALL_EVENT_TYPES,
    ) == ([], False)


# -- schemas -------------------------------------------------------------------


def properties_of(openapi: OpenAPI, name: str) -> set[str]:
    """Every property name a schema (with its allOf parts) defines."""
    schemas = openapi.document["components"]["schemas"]
    schema = schemas[name]
    names = set(schema.get("properties", {}))
    for part in schema.get("allOf", []):
        if "$ref" in part:
            names |= properties_of(openapi, part["$ref"].rsplit("/", 1)[1])
        names |= set(part.get("properties", {}))
    return names


def test_events_validate_against_dm_event_schema(
    openapi: OpenAPI, all_events: list[dict[str, Any]]
) -> None:
    validator = openapi.validator("DmEvent")
    known = properties_of(openapi, "DmEvent")
    url_fields = properties_of(openapi, "UrlEntityDm")
    for event in all_events:
        errors = list(validator.iter_errors(event))
        assert not errors, (event, errors[0].message)
        assert set(event) <= known, set(event) - known
        for url in event.get("urls", []):
            assert set(url) <= url_fields
    # The validator is not vacuous.
    assert list(validator.iter_errors({"id": "x", "event_type": "MessageCreate"}))
    assert list(validator.iter_errors({"id": "1", "event_type": "MessageCreate", "urls": []}))


def test_users_tweets_media_validate(
    openapi: OpenAPI, ds: Dataset, all_events: list[dict[str, Any]]
) -> None:
    user_validator = openapi.validator("User")
    every_field: tuple[str, ...] = ("created_at", "description", "location", "profile_image_url")
    every_field = (*every_field, "protected", "url", "verified")
    for user in ds.users:
        data = user.as_json(every_field)
        assert not list(user_validator.iter_errors(data)), data
        assert set(data) <= properties_of(openapi, "User")
    tweet_validator = openapi.validator("Tweet")
    media_schemas = openapi.document["components"]["schemas"]["Media"]["discriminator"]["mapping"]
    media_validators = {
        kind: openapi.validator(ref.rsplit("/", 1)[1]) for kind, ref in media_schemas.items()
    }
    tweets = media = 0
    for event in all_events:
        for ref in event.get("referenced_tweets", []):
            tweet = ds.tweet(ref["id"])
            if tweet is not None:
                assert not list(tweet_validator.iter_errors(tweet)), tweet
                assert set(tweet) <= properties_of(openapi, "Tweet")
                tweets += 1
        for key in event.get("attachments", {}).get("media_keys", []):
            found = ds.media(key)
            assert found is not None
            schema_name = media_schemas[found["type"]].rsplit("/", 1)[1]
            assert not list(media_validators[found["type"]].iter_errors(found)), found
            assert set(found) <= properties_of(openapi, schema_name)
            media += 1
    assert tweets > 50
    assert media > 50


# -- determinism and speed ---------------------------------------------------------


def test_same_seed_same_world_other_seed_other_world() -> None:
    first = Dataset.generate(seed=3, now_ms=NOW_MS, events=2000, conversations=50, users=20)
    second = Dataset.generate(seed=3, now_ms=NOW_MS, events=2000, conversations=50, users=20)
    other = Dataset.generate(seed=4, now_ms=NOW_MS, events=2000, conversations=50, users=20)
    assert first.to_json() == second.to_json()
    assert [u.id for u in first.users] != [u.id for u in other.users]
    assert first.to_json()["events"] != other.to_json()["events"]
    assert len(other) == 2000
    assert len(other.conversation_ids()) == 50


def test_small_and_invalid_sizes() -> None:
    tiny = Dataset.generate(seed=1, now_ms=NOW_MS, users=4, conversations=12, events=12, days=2)
    assert len(tiny) == 12
    assert len(tiny.conversation_ids()) == 12  # too few customer pairs: the rest became groups
    assert tiny.conversations_of(tiny.empty_user_id()) == []
    with pytest.raises(ValueError):
        Dataset.generate(now_ms=NOW_MS, users=3)
    with pytest.raises(ValueError):
        Dataset.generate(now_ms=NOW_MS, conversations=10, events=9)
    with pytest.raises(ValueError):
        Dataset.generate(now_ms=TWEPOCH_MS + DAY_MS)


def test_default_build_is_fast() -> None:
    started = time.perf_counter()
    Dataset.generate(seed=11, now_ms=NOW_MS)
    assert time.perf_counter() - started < 1.0


@pytest.mark.slow
def test_paging_a_big_dataset_is_fast() -> None:
    big = Dataset.generate(seed=5, now_ms=NOW_MS, events=200_000)
    account = big.users[0].id
    started = time.perf_counter()
    ids = page_all(big, account)
    elapsed = time.perf_counter() - started
    pages = len(ids) // 100 + 1
    assert len(ids) > 100_000
    assert elapsed / pages < 0.002  # well under 2 ms a page, index build included
    started = time.perf_counter()
    for event_id in ids[:100]:
        assert big.event(event_id) is not None
    assert time.perf_counter() - started < 0.1


# -- live additions ----------------------------------------------------------------


def test_add_events_on_top(all_events: list[dict[str, Any]]) -> None:
    ds = Dataset.generate(seed=7, now_ms=NOW_MS)  # a fresh copy: we mutate it
    account = ds.users[0].id
    before = page_all(ds, account)  # builds the account's index first
    customer = ds.users[1].id
    page_all(ds, customer)
    old_max = ds.max_id()
    added = ds.add_events(3, now_ms=NOW_MS + 5_000)
    assert [e["created_at"] for e in added] == [iso_ms(NOW_MS + 5_000)] * 3
    new_ids = [int(e["id"]) for e in added]
    assert new_ids == [snowflake(NOW_MS + 5_000, s) for s in range(3)]
    assert new_ids[0] > old_max
    assert ds.max_id() == new_ids[-1]
    assert len(ds) == 6003
    conv_id = added[0]["dm_conversation_id"]
    members = ds.conversation_members(conv_id)
    assert members is not None
    assert account in members
    assert all(e["sender_id"] in members for e in added)
    assert all(e["text"] for e in added)
    assert all(ds.event(i) == e for i, e in zip(new_ids, added, strict=True))
    after = page_all(ds, account, limit=2)
    assert after == sorted(new_ids, reverse=True) + before
    assert page_all(ds, account, conversation_id=conv_id)[:3] == sorted(new_ids, reverse=True)
    # A clock behind the newest event: same millisecond, next sequence numbers.
    late = ds.add_events(2, now_ms=NOW_MS - DAY_MS, text="still there?")
    assert [int(e["id"]) for e in late] == [new_ids[-1] + 1, new_ids[-1] + 2]
    assert all(e["created_at"] == iso_ms(NOW_MS + 5_000) for e in late)
    assert all(e["text"] == "still there?" for e in late)
    # Customers' conversations: invisible to the account, visible to both customers.
    pair = next(c for c in ds.conversation_ids() if "-" in c and account not in c.split("-"))
    low, high = pair.split("-")
    page_all(ds, low)
    (private,) = ds.add_events(1, now_ms=NOW_MS + 9_000, conversation_id=pair, sender_id=high)
    assert private["sender_id"] == high
    assert page_all(ds, low)[0] == int(private["id"])
    assert page_all(ds, high)[0] == int(private["id"])
    assert int(private["id"]) not in page_all(ds, account)
    for viewer in (account, customer, low, high):
        assert page_all(ds, viewer, limit=13) == brute_force(ds, every_event(ds), viewer)
    assert ds.page(
        viewer_id=account,
        conversation_id=None,
        below_id=None,
        limit=1,
        min_ms=NOW_MS + 1,
        event_types=frozenset({"MessageCreate"}),
    ) == ([int(late[-1]["id"])], True)
    with pytest.raises(ValueError):
        ds.add_events(1, now_ms=NOW_MS, conversation_id="1-2")
    with pytest.raises(ValueError):
        ds.add_events(1, now_ms=NOW_MS, conversation_id=pair, sender_id=account)
    with pytest.raises(ValueError):
        ds.add_events(-1, now_ms=NOW_MS)
    assert ds.add_events(0, now_ms=NOW_MS) == []


# -- JSON files ------------------------------------------------------------------


def write_json(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "dataset.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def small_file() -> dict[str, Any]:
    a, b, c, lone = "944480690", "906948460078698496", "17200003", "42"
    group = "1578398451921985538"
    return {
        "users": [
            {"id": a, "username": "FloodSocial", "name": "API Demos", "description": "demos"},
            {"id": b, "username": "SnowBotDev", "name": "the SnowBot"},
            {"id": c, "username": "someone", "name": "Some One", "verified": False},
            {"id": lone, "username": "lonely", "name": "Nobody Writes"},
        ],
        "conversations": [{"id": group, "participant_ids": [c, a]}],
        "events": [
            {
                "id": "1585047616894574596",
                "sender_id": a,
                "text": "Hello, just you!",
                "created_at": "2022-10-25T23:16:15.000Z",
                "event_type": "MessageCreate",
                "dm_conversation_id": f"{a}-{b}",
            },
            {
                "id": "1581048670673260549",
                "sender_id": a,
                "text": "Simple Tweet link: https://t.co/IYFbRIdXHg",
                "referenced_tweets": [{"id": "1578900353814519810"}],
                "created_at": "2022-10-14T22:25:52.000Z",
                "event_type": "MessageCreate",
                "dm_conversation_id": f"{a}-{b}",
            },
            {
                "id": "1582835469712138240",
                "event_type": "ParticipantsJoin",
                "participant_ids": [b],
                "sender_id": c,
                "dm_conversation_id": group,
                "created_at": "2022-10-19T20:45:58.000Z",
            },
            {
                "id": "1582838535115067392",
                "event_type": "ParticipantsLeave",
                "participant_ids": [b],
                "dm_conversation_id": group,
            },
            {
                "id": "1580705121553420292",
                "event_type": "MessageCreate",
                "text": "photo",
                "attachments": {"media_keys": ["3_1580705121553420000"]},
                "dm_conversation_id": f"{a}-{b}",
            },
        ],
        "tweets": [
            {
                "id": "1578900353814519810",
                "text": "Happy Water Year",
                "author_id": a,
                "edit_history_tweet_ids": ["1578900353814519810"],
            }
        ],
        "media": [{"media_key": "3_1580705121553420000", "type": "photo", "width": 10}],
    }


def test_from_json_file(tmp_path: Path) -> None:
    data = small_file()
    ds = Dataset.from_json_file(write_json(tmp_path, data))
    a, b, c = "944480690", "906948460078698496", "17200003"
    assert len(ds) == 5
    assert ds.users[0].id == a
    assert ds.users[0].as_json(("description", "created_at")) == {
        "id": a,
        "name": "API Demos",
        "username": "FloodSocial",
        "description": "demos",
    }
    assert ds.empty_user_id() == "42"
    assert ds.conversation_members("1578398451921985538") == frozenset({a, b, c})
    assert ds.conversation_members(f"{a}-{b}") == frozenset({a, b})
    assert set(ds.conversations_of(b)) == {f"{a}-{b}", "1578398451921985538"}
    # Events come back exactly as given.
    for event in data["events"]:
        assert ds.event(int(event["id"])) == event
    # Newest first, by id.
    ids = page_all(ds, b, limit=2)
    assert ids == sorted((int(e["id"]) for e in data["events"]), reverse=True)
    assert page_all(ds, a, conversation_id="1578398451921985538") == [
        1582838535115067392,
        1582835469712138240,
    ]
    assert page_all(ds, a, types=frozenset({"ParticipantsLeave"})) == [1582838535115067392]
    # min_ms uses created_at, or the id's time when created_at is missing.
    assert page_all(ds, b, min_ms=parse_iso_ms("2022-10-19T20:00:00.000Z")) == [
        1585047616894574596,
        1582838535115067392,
        1582835469712138240,
    ]
    tweet = ds.tweet("1578900353814519810")
    assert tweet is not None
    assert tweet["text"] == "Happy Water Year"
    assert ds.tweet("1578900353814519811") is None
    assert ds.media("3_1580705121553420000") == {
        "media_key": "3_1580705121553420000",
        "type": "photo",
        "width": 10,
    }
    # Live additions on a loaded file.
    (added,) = ds.add_events(1, now_ms=parse_iso_ms("2026-01-01T00:00:00.000Z"))
    assert added["created_at"] == "2026-01-01T00:00:00.000Z"
    assert added["dm_conversation_id"] == f"{a}-{b}"
    assert added["sender_id"] == b  # the other side writes in
    assert page_all(ds, a)[0] == int(added["id"])
    assert page_all(ds, a, min_ms=parse_iso_ms("2025-12-31T00:00:00.000Z")) == [int(added["id"])]


def test_from_json_created_at_out_of_id_order(tmp_path: Path) -> None:
    data = small_file()
    data["events"][0]["created_at"] = "2020-01-01T00:00:00.000Z"  # newest id, oldest time
    ds = Dataset.from_json_file(write_json(tmp_path, data))
    min_ms = parse_iso_ms("2022-10-14T00:00:00.000Z")
    assert page_all(ds, "906948460078698496", min_ms=min_ms, limit=1) == [
        1582838535115067392,
        1582835469712138240,
        1581048670673260549,
    ]


def test_from_json_rejects_bad_files(tmp_path: Path) -> None:
    data = small_file()
    data["events"].append(dict(data["events"][0]))
    with pytest.raises(ValueError, match="duplicate"):
        Dataset.from_json_file(write_json(tmp_path, data))
    data = small_file()
    del data["events"][0]["dm_conversation_id"]
    with pytest.raises(ValueError):
        Dataset.from_json_file(write_json(tmp_path, data))
    with pytest.raises(ValueError):
        Dataset.from_json_file(write_json(tmp_path, {"users": [], "events": []}))
    with pytest.raises(ValueError):
        SandboxUser.from_json({"id": "1", "name": "x"})


def test_generated_round_trips_through_a_file(tmp_path: Path) -> None:
    original = Dataset.generate(seed=9, now_ms=NOW_MS, events=1500, conversations=40, users=15)
    loaded = Dataset.from_json_file(write_json(tmp_path, original.to_json()))
    assert len(loaded) == len(original)
    assert [u.id for u in loaded.users] == [u.id for u in original.users]
    assert loaded.users[3] == original.users[3]
    assert loaded.empty_user_id() == original.empty_user_id()
    for user in original.users[:5]:
        assert page_all(loaded, user.id, limit=33) == page_all(original, user.id, limit=33)
        min_ms = NOW_MS - 30 * DAY_MS
        recent = page_all(original, user.id, min_ms=min_ms)
        assert page_all(loaded, user.id, min_ms=min_ms) == recent
    for event_id in page_all(original, original.users[0].id)[:300]:
        assert loaded.event(event_id) == original.event(event_id)
        event = loaded.event(event_id)
        assert event is not None
        for ref in event.get("referenced_tweets", []):
            assert loaded.tweet(ref["id"]) == original.tweet(ref["id"])
