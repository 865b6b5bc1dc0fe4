"""The generated world: snowflakes, users, conversations, events and their content."""

from __future__ import annotations

import itertools
import re
import unicodedata
from typing import Any
from urllib.parse import urlparse

import pytest

from data_support import (
    CONV_RE,
    ISO_RE,
    MEDIA_RE,
    NOW_MS,
    TWEET_URL_RE,
    USERNAME_RE,
    page_all,
)
from tap_x_dm_sandbox.data import (
    ALL_EVENT_TYPES,
    DAY_MS,
    TWEPOCH_MS,
    Dataset,
    iso_ms,
    one_to_one_conversation_id,
    parse_iso_ms,
    snowflake,
    snowflake_ms,
)

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
