"""How one event is packed into the store's columns, shared by the store, generator and renderer.

A generated message is a handful of small integers (type code and flag bits); its text,
media and links are derived again from the seed and its id, using per-object random
streams (`stream_seed`), so a million events cost a few bytes each.
"""

from __future__ import annotations

from tap_x_dm_sandbox.model import EVENT_TYPES

TYPE_CODE = {name: code for code, name in enumerate(EVENT_TYPES)}
MC, JOIN, LEAVE = 0, 1, 2

# Flag bits of a generated MessageCreate (the flags column).
F_MEDIA = 0x03  # 0 none, 1 photo, 2 video, 3 animated_gif
F_TWEET = 0x04  # links a Tweet: t.co URL + referenced_tweets
F_LINK = 0x08  # links a web page: t.co URL
F_TAG = 0x10  # a hashtag or a cashtag
F_MENTION = 0x20  # an @mention
F_SPECIAL = 0x40  # empty text (with media) or a very long text (without)
F_STORED = 0x80  # the event is a stored dict (JSON file or live addition)

MEDIA_TYPES = ("", "photo", "video", "animated_gif")
MEDIA_PREFIX = ("", "3", "7", "16")
MEDIA_LAG_MS = 1_734  # media are uploaded just before the message that carries them

# Salts for the per-object random streams.
S_USERS, S_PLAN, S_MESSAGE, S_MEDIA, S_TWEET, S_ADDED = range(1, 7)


def stream_seed(seed: int, salt: int, value: int) -> int:
    """Seed for the random stream of one object, so objects derive independently."""
    return ((seed & 0xFFFFFFFFFFFFFFFF) << 72) | (salt << 64) | (value & 0xFFFFFFFFFFFFFFFF)
