"""The standard X archive of the reader tests, the records it must give, and their fixtures."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tap_x_dm.archive import open_archive
from tests.archive_builder import (
    ACCOUNT_ID,
    ArchiveBuilder,
    Conversation,
    join_conversation,
    message,
    name_update,
    participants_join,
    participants_leave,
    reaction,
    url,
)

ALICE, BOB, CAROL, DAVE = "944480690", "2244994945", "17200003", "906948460078698496"
GROUP_1, GROUP_2 = "1578398451921985538", "1578398451921985539"
PHOTO = "https://ton.twitter.com/1.1/ton/data/dm/1582700000000000000/1582699999/J5Kotye.jpg"


def derived(conversation, event_type, created_at, sender, users, repeat=0):
    """The formula documented in tap_x_dm/archive/ids.py and docs/archive.md."""
    key = "|".join(
        [conversation, event_type, created_at, sender or "", ",".join(sorted(users, key=int))]
    )
    key += f"|{repeat}" if repeat else ""
    return "archive-" + hashlib.sha256(key.encode()).hexdigest()[:32]


def standard() -> ArchiveBuilder:
    """Both kinds, a two-part group file, unicode, media, reactions, joins and leaves."""
    one_to_one = [
        Conversation(
            f"{ACCOUNT_ID}-{ALICE}",  # X's order is not promised: rows get the canonical id
            [
                message(
                    "1582838499983564806", ALICE, "2022-10-19T20:58:00.000Z",
                    "Hi 😀 look https://t.co/abc123", recipient=ACCOUNT_ID,
                    urls=[url("https://t.co/abc123", "https://x.com/acme/status/1582000000000000001",
                              "x.com/acme/status/158…")],
                    reactions=[reaction(ACCOUNT_ID, "like", "1582838600000000000",
                                        "2022-10-19T21:00:00.000Z")],
                ),
                message(
                    "1582700000000000000", ACCOUNT_ID, "2022-10-18T10:00:00Z",
                    "Another photo https://t.co/J5KotyeIyd", recipient=ALICE, media_urls=[PHOTO],
                    reactions={"reactionSenderID": ALICE, "reactionKey": "heart",  # one, bare
                               "reactionEventID": "1582700000000000001",
                               "reactionCreatedAt": "2022-10-18T10:01:00.000Z"},
                ),
            ],
        ),
        Conversation(
            f"{ACCOUNT_ID}-{BOB}",
            [message("1344000000000000000", BOB, "2021-01-01T00:00:00.123456Z",
                     "你好\uff0c世界 مرحبا بالعالم", recipient=ACCOUNT_ID)],
        ),
    ]  # fmt: skip
    groups = [
        Conversation(
            GROUP_1,
            [
                message(
                    "1582838535115067392", DAVE, "2022-10-19T20:58:09.000Z",
                    "👨‍👩‍👧 family, see https://t.co/grp1 and https://t.co/grp2",
                    urls=[url("https://t.co/grp1", "https://example.com/a", "example.com/a"),
                          url("https://t.co/grp2", "https://example.com/b", "example.com/b")],
                ),
                name_update(ALICE, "Support 🛟", "2022-10-19T20:50:00.000Z"),
                participants_leave([CAROL], "2022-10-19T20:47:00.000Z"),
                participants_join(ALICE, [CAROL, BOB], "2022-10-19T20:45:58.000Z"),
                join_conversation(ALICE, [ALICE, DAVE, ACCOUNT_ID], "2022-10-08T09:00:00.000Z"),
            ],
        ),
        Conversation(
            GROUP_2,
            [
                message(
                    "1580000000000000000", BOB, "2022-10-12T08:00:00.000Z", "reactions nested",
                    reactions={"reactions": [
                        reaction(ALICE, "laugh", "1580000000000000002", "2022-10-12T08:01:00.000Z",
                                 readme_names=False),
                        reaction(DAVE, "heart", "1580000000000000003", "2022-10-12T08:02:00.000Z",
                                 readme_names=False),
                    ]},
                ),
                {"reactionCreate": {"senderId": ALICE, "reactionKey": "wow",
                                    "eventId": "1580000000000000004",
                                    "createdAt": "2022-10-12T08:03:00.000Z"}},
                join_conversation(BOB, [BOB, ACCOUNT_ID], "2022-10-11T00:00:00.000Z"),
            ],
            id_last=True,
        ),
    ]  # fmt: skip
    return ArchiveBuilder(one_to_one=one_to_one, groups=groups, parts={"direct-messages-group": 2})


def row(**values):
    base = dict.fromkeys(
        ["id", "event_type", "text", "sender_id", "dm_conversation_id", "created_at",
         "participant_ids", "attachments", "referenced_tweets", "urls", "hashtags", "mentions",
         "cashtags", "account_id", "source", "media_urls"]
    )  # fmt: skip
    base.update(account_id=ACCOUNT_ID, source="archive")
    base.update(values)
    return base


EXPECTED = [
    row(id="1582838499983564806", event_type="MessageCreate",
        text="Hi 😀 look https://t.co/abc123", sender_id=ALICE,
        dm_conversation_id=f"{ALICE}-{ACCOUNT_ID}", created_at="2022-10-19T20:58:00.000Z",
        referenced_tweets=[{"id": "1582000000000000001"}],
        urls=[{"start": 10, "end": 29, "url": "https://t.co/abc123",
               "expanded_url": "https://x.com/acme/status/1582000000000000001",
               "display_url": "x.com/acme/status/158…"}]),
    row(id="1582700000000000000", event_type="MessageCreate",
        text="Another photo https://t.co/J5KotyeIyd", sender_id=ACCOUNT_ID,
        dm_conversation_id=f"{ALICE}-{ACCOUNT_ID}", created_at="2022-10-18T10:00:00.000Z",
        media_urls=[PHOTO]),
    row(id="1344000000000000000", event_type="MessageCreate", text="你好\uff0c世界 مرحبا بالعالم",
        sender_id=BOB, dm_conversation_id=f"{ACCOUNT_ID}-{BOB}",
        created_at="2021-01-01T00:00:00.123Z"),
    row(id="1582838535115067392", event_type="MessageCreate",
        text="👨‍👩‍👧 family, see https://t.co/grp1 and https://t.co/grp2", sender_id=DAVE,
        dm_conversation_id=GROUP_1, created_at="2022-10-19T20:58:09.000Z",
        urls=[{"start": 18, "end": 35, "url": "https://t.co/grp1",
               "expanded_url": "https://example.com/a", "display_url": "example.com/a"},
              {"start": 40, "end": 57, "url": "https://t.co/grp2",
               "expanded_url": "https://example.com/b", "display_url": "example.com/b"}]),
    row(id=derived(GROUP_1, "ParticipantsLeave", "2022-10-19T20:47:00.000Z", None, [CAROL]),
        event_type="ParticipantsLeave", dm_conversation_id=GROUP_1,
        created_at="2022-10-19T20:47:00.000Z", participant_ids=[CAROL]),
    row(id=derived(GROUP_1, "ParticipantsJoin", "2022-10-19T20:45:58.000Z", ALICE, [CAROL, BOB]),
        event_type="ParticipantsJoin", sender_id=ALICE, dm_conversation_id=GROUP_1,
        created_at="2022-10-19T20:45:58.000Z", participant_ids=[CAROL, BOB]),
    row(id=derived(GROUP_1, "ParticipantsJoin", "2022-10-08T09:00:00.000Z", ALICE, [ACCOUNT_ID]),
        event_type="ParticipantsJoin", sender_id=ALICE, dm_conversation_id=GROUP_1,
        created_at="2022-10-08T09:00:00.000Z", participant_ids=[ACCOUNT_ID]),
    row(id="1580000000000000000", event_type="MessageCreate", text="reactions nested",
        sender_id=BOB, dm_conversation_id=GROUP_2, created_at="2022-10-12T08:00:00.000Z"),
    row(id=derived(GROUP_2, "ParticipantsJoin", "2022-10-11T00:00:00.000Z", BOB, [ACCOUNT_ID]),
        event_type="ParticipantsJoin", sender_id=BOB, dm_conversation_id=GROUP_2,
        created_at="2022-10-11T00:00:00.000Z", participant_ids=[ACCOUNT_ID]),
]  # fmt: skip


def read(path, **kwargs):
    with open_archive(path, **kwargs) as archive:
        return list(archive.records()), archive.summary


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return standard().build_folder(tmp_path / "unpacked")


@pytest.fixture
def zipped(tmp_path: Path) -> Path:
    return standard().build_zip(tmp_path / "twitter-2026-11-30-acme.zip")


def many_messages(count: int, text: str = "x" * 200):
    base = 1500000000000000000
    for number in range(count):
        link = url("https://t.co/abc", "https://example.com", "example.com")
        yield message(str(base + number), ALICE, "2022-01-01T00:00:00.000Z", f"{number} {text}",
                      recipient=ACCOUNT_ID, urls=[link])  # fmt: skip
