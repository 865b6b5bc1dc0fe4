"""Paging the dataset, its schemas, determinism and speed."""

from __future__ import annotations

import itertools
import time
from typing import Any

import pytest

from data_support import (
    NOW_MS,
    brute_force,
    page_all,
)
from sandbox_helpers import OpenAPI
from tap_x_dm_sandbox.data import (
    ALL_EVENT_TYPES,
    DAY_MS,
    TWEPOCH_MS,
    Dataset,
    snowflake_ms,
)

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
