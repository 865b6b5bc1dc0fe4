"""The full content of one event, Tweet or media object, rebuilt from (seed, id).

The store keeps a generated message as a few integers; this module derives its text,
entities, attachments and referenced Tweets again on every read, identically each
time. It reads the store's columns directly (a friend of `data.Dataset`).
"""

from __future__ import annotations

import copy
import random
from bisect import bisect_left
from typing import TYPE_CHECKING, Any

from tap_x_dm_sandbox.codes import (
    F_LINK,
    F_MEDIA,
    F_MENTION,
    F_SPECIAL,
    F_STORED,
    F_TAG,
    F_TWEET,
    JOIN,
    MC,
    MEDIA_LAG_MS,
    MEDIA_PREFIX,
    MEDIA_TYPES,
    S_MEDIA,
    S_MESSAGE,
    S_TWEET,
    stream_seed,
)
from tap_x_dm_sandbox.model import EVENT_TYPES, MESSAGE_CREATE, iso_ms, snowflake_ms
from tap_x_dm_sandbox.text import (
    ALNUM,
    CASHTAGS,
    HASHTAGS,
    LINKS,
    TWEET_TEXTS,
    TextBuilder,
    chatter,
    display_url,
    long_text,
    tco,
)

if TYPE_CHECKING:
    from tap_x_dm_sandbox.data import Dataset


def event_at(dataset: Dataset, position: int) -> dict[str, Any]:
    """Return the full DmEvent at a store position (a fresh dict)."""
    event_id = dataset._ids[position]
    if dataset._flags[position] & F_STORED:
        return copy.deepcopy(dataset._stored[event_id])
    conv_id = dataset._conv_ids[dataset._conv[position]]
    created_at = dataset.created_at_rule.iso(event_id)
    type_code = dataset._type[position]
    if type_code == MC:
        return _derive_message(dataset, position, conv_id, created_at)
    out: dict[str, Any] = {"id": str(event_id), "event_type": EVENT_TYPES[type_code]}
    out["participant_ids"] = [
        dataset._users[p].id for p in dataset._struct_participants.get(event_id, ())
    ]
    sender = dataset._sender[position]
    if type_code == JOIN and sender >= 0:
        out["sender_id"] = dataset._users[sender].id
    out["dm_conversation_id"] = conv_id
    out["created_at"] = created_at
    return out


def _derive_message(
    dataset: Dataset, position: int, conv_id: str, created_at: str
) -> dict[str, Any]:
    """Rebuild a generated MessageCreate from (seed, id) and its flag bits."""
    event_id = dataset._ids[position]
    flags = dataset._flags[position]
    sender_pos = dataset._sender[position]
    sender = dataset._users[sender_pos]
    rng = random.Random(stream_seed(dataset._seed, S_MESSAGE, event_id))
    members = dataset._conv_members[dataset._conv[position]]
    others = sorted(m for m in members if m != sender.id)
    other = dataset.user(others[rng.randrange(len(others))]) if others else None
    other_name = other.name if other is not None else ""
    brand_id = dataset._users[0].id
    if sender_pos == 0:
        kind = 1
    elif brand_id in members:
        kind = 0
    else:
        kind = 2
    media_kind = flags & F_MEDIA
    builder = TextBuilder()
    refs: list[dict[str, str]] = []
    if flags & F_SPECIAL and media_kind:
        pass  # media only: empty text, no entities
    elif flags & F_SPECIAL:
        builder.add(long_text(rng))
    else:
        if flags & F_MENTION and rng.random() < 0.5:
            _mention(dataset, builder, rng, sender_pos)
            builder.add(" ")
        body = chatter(rng, kind=kind, other_name=other_name)
        builder.add(body)
        if flags & F_MENTION and not builder.mentions:
            builder.add(" cc ")
            _mention(dataset, builder, rng, sender_pos)
        if flags & F_TAG:
            if rng.random() < 0.75:
                tag = rng.choice(HASHTAGS)
                builder.add(" ")
                builder.entity("#" + tag, builder.hashtags, tag=tag)
            else:
                tag = rng.choice(CASHTAGS)
                builder.add(" (holding ")
                builder.entity("$" + tag, builder.cashtags, tag=tag)
                builder.add(" since 2019 😅)")
        if flags & F_LINK:
            expanded = rng.choice(LINKS)
            builder.add(" More here: " if kind == 1 else " ")
            short = tco(rng)
            builder.entity(
                short,
                builder.urls,
                url=short,
                expanded_url=expanded,
                display_url=display_url(expanded),
            )
        if flags & F_TWEET:
            tweet_id = _pick_tweet(dataset, rng, event_id)
            if tweet_id is not None:
                author = dataset._users[
                    dataset._tweet_author[bisect_left(dataset._tweet_ids, tweet_id)]
                ]
                expanded = f"https://x.com/{author.username}/status/{tweet_id}"
                builder.add(" ")
                short = tco(rng)
                builder.entity(
                    short,
                    builder.urls,
                    url=short,
                    expanded_url=expanded,
                    display_url=display_url(expanded),
                )
                refs.append({"id": str(tweet_id)})
        if media_kind:
            media_id = event_id - (MEDIA_LAG_MS << 22)
            builder.add(" ")
            short = tco(rng)
            builder.entity(
                short,
                builder.urls,
                url=short,
                expanded_url=f"https://x.com/messages/media/{event_id}",
                display_url="pic.x.com/" + short.rsplit("/", 1)[1],
                media_key=f"{MEDIA_PREFIX[media_kind]}_{media_id}",
            )
    out: dict[str, Any] = {
        "id": str(event_id),
        "event_type": MESSAGE_CREATE,
        "text": builder.text(),
        "sender_id": sender.id,
        "dm_conversation_id": conv_id,
        "created_at": created_at,
    }
    if media_kind:
        media_id = event_id - (MEDIA_LAG_MS << 22)
        out["attachments"] = {"media_keys": [f"{MEDIA_PREFIX[media_kind]}_{media_id}"]}
    if refs:
        out["referenced_tweets"] = refs
    for name in ("urls", "hashtags", "mentions", "cashtags"):
        found = getattr(builder, name)
        if found:
            out[name] = found
    return out


def _mention(dataset: Dataset, builder: TextBuilder, rng: random.Random, sender_pos: int) -> None:
    choices = [p for p in range(len(dataset._users) - 1) if p != sender_pos]
    target = dataset._users[rng.choice(choices) if choices else 0]
    builder.entity("@" + target.username, builder.mentions, username=target.username, id=target.id)


def _pick_tweet(dataset: Dataset, rng: random.Random, event_id: int) -> int | None:
    """A Tweet created before the event, recent ones more likely."""
    older = bisect_left(dataset._tweet_ids, event_id)
    if older == 0:
        return None
    return dataset._tweet_ids[older - 1 - int(older * rng.random() ** 3)]


def tweet(dataset: Dataset, tweet_id: str) -> dict[str, Any] | None:
    """Return the Tweet object, or None when it is unknown or deleted."""
    if tweet_id in dataset._json_tweets:
        return copy.deepcopy(dataset._json_tweets[tweet_id])
    if not tweet_id.isdigit():
        return None
    numeric = int(tweet_id)
    position = bisect_left(dataset._tweet_ids, numeric)
    if position >= len(dataset._tweet_ids) or dataset._tweet_ids[position] != numeric:
        return None
    if dataset._tweet_deleted[position]:
        return None
    rng = random.Random(stream_seed(dataset._seed, S_TWEET, numeric))
    lang, text = rng.choice(TWEET_TEXTS)
    out: dict[str, Any] = {
        "id": tweet_id,
        "text": text,
        "created_at": iso_ms(snowflake_ms(numeric)),
        "author_id": dataset._users[dataset._tweet_author[position]].id,
        "edit_history_tweet_ids": [tweet_id],
        "lang": lang,
        "conversation_id": tweet_id,
        "possibly_sensitive": rng.random() < 0.05,
        "paid_partnership": rng.random() < 0.1,
    }
    return out


def is_deleted_tweet(dataset: Dataset, tweet_id: str) -> bool:
    """Tell whether a generated Tweet exists but was deleted (for tests)."""
    if not tweet_id.isdigit():
        return False
    numeric = int(tweet_id)
    position = bisect_left(dataset._tweet_ids, numeric)
    return (
        position < len(dataset._tweet_ids)
        and dataset._tweet_ids[position] == numeric
        and bool(dataset._tweet_deleted[position])
    )


def media(dataset: Dataset, media_key: str) -> dict[str, Any] | None:
    """Return the Media object for a media key, or None if no message carries it."""
    if media_key in dataset._json_media:
        return copy.deepcopy(dataset._json_media[media_key])
    prefix, _, digits = media_key.partition("_")
    if prefix not in MEDIA_PREFIX[1:] or not digits.isdigit():
        return None
    kind = MEDIA_PREFIX.index(prefix)
    media_id = int(digits)
    event_id = media_id + (MEDIA_LAG_MS << 22)
    with dataset._lock:
        position = dataset._position(event_id)
        if position is None:
            return None
        flags = dataset._flags[position]
        if flags & F_STORED or dataset._type[position] != MC or flags & F_MEDIA != kind:
            return None
    rng = random.Random(stream_seed(dataset._seed, S_MEDIA, media_id))
    resource = "".join(rng.choice(ALNUM) for _ in range(8))
    width, height = rng.choice(
        ((1200, 1600), (1080, 1920), (1600, 1200), (2048, 1536), (750, 1334), (1280, 720))
    )
    out: dict[str, Any] = {"media_key": media_key, "type": MEDIA_TYPES[kind]}
    if kind == 1:
        out["url"] = f"https://ton.twitter.com/1.1/ton/data/dm/{event_id}/{media_id}/{resource}.jpg"
        if rng.random() < 0.3:
            out["alt_text"] = rng.choice(
                ("Photo of a dented parcel", "Screenshot of the error message", "Receipt")
            )
    elif kind == 2:
        out["preview_image_url"] = (
            f"https://pbs.twimg.com/dm_video_preview/{media_id}/img/{resource}.jpg"
        )
        out["duration_ms"] = rng.randrange(2_000, 120_000)
        out["variants"] = [
            {
                "bit_rate": 2_176_000,
                "content_type": "video/mp4",
                "url": f"https://video.twimg.com/dm_video/{media_id}/vid/avc1/{width}x{height}/{resource}.mp4?tag=1",
            },
            {
                "content_type": "application/x-mpegURL",
                "url": f"https://video.twimg.com/dm_video/{media_id}/pl/{resource}.m3u8?tag=1",
            },
        ]
    else:
        width, height = rng.choice(((480, 270), (498, 280), (320, 320)))
        out["preview_image_url"] = f"https://pbs.twimg.com/dm_gif_preview/{media_id}/{resource}.jpg"
        out["variants"] = [
            {
                "bit_rate": 0,
                "content_type": "video/mp4",
                "url": f"https://video.twimg.com/dm_gif/{media_id}/{resource}.mp4",
            }
        ]
    out["width"] = width
    out["height"] = height
    return out
