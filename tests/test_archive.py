"""The X archive reader (tap_x_dm.archive): records, summary, errors, memory."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tracemalloc
import zipfile
from pathlib import Path

import jsonschema
import pytest

from tap_x_dm.archive import (
    ArchiveAccountError,
    ArchiveError,
    ArchiveFormatError,
    is_derived_id,
    open_archive,
    x_time,
)
from tap_x_dm.errors import TapXDMError
from tap_x_dm.schemas import X_SCHEMAS
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


def test_folder_gives_the_exact_records(folder):
    records, _ = read(folder, expected_account_id=ACCOUNT_ID)
    assert records == EXPECTED


def test_zip_gives_the_same_records_summary_and_checksum(folder, zipped):
    from_folder, folder_summary = read(folder)
    from_zip, zip_summary = read(zipped)
    assert from_zip == from_folder == EXPECTED
    assert zip_summary == folder_summary
    with open_archive(zipped) as archive:
        assert archive.checksum() == zip_summary.checksum


def test_summary_counts_range_checksum_and_line(folder):
    with open_archive(folder) as archive:
        assert archive.account.id == ACCOUNT_ID
        assert archive.account.username == "acme_support"
        assert archive.account.source == "data/manifest.js"
        assert [(f.name, f.part) for f in archive.files] == [
            ("data/direct-messages.js", 0),
            ("data/direct-messages-group.js", 0),
            ("data/direct-messages-group-part1.js", 1),
        ]
        assert archive.summary is None
        summary = archive.scan()
        checksum = archive.checksum()
    assert (summary.messages, summary.joins, summary.leaves) == (5, 3, 1)
    assert (summary.reactions, summary.name_updates, summary.other) == (5, 1, {})
    assert (summary.files, summary.parts, summary.events) == (3, 1, 9)
    expected_hash = hashlib.sha256()
    for dm_file in ("direct-messages.js", "direct-messages-group.js",
                    "direct-messages-group-part1.js"):  # fmt: skip
        content = (folder / "data" / dm_file).read_bytes()
        expected_hash.update(f"data/{dm_file}\n{len(content)}\n".encode() + content)
    assert summary.checksum == checksum == "sha256:" + expected_hash.hexdigest()
    assert summary.state() == {
        "checksum": checksum,
        "from": "2021-01-01T00:00:00.123Z",
        "to": "2022-10-19T20:58:09.000Z",
    }
    line = summary.line()
    assert "\n" not in line
    assert line == (
        "X archive of account 1000000000 @acme_support: 5 messages, 3 joins, 1 leaves "
        "(2021-01-01T00:00:00.123Z to 2022-10-19T20:58:09.000Z); not imported: 5 reactions, "
        f"1 conversation name updates; 3 DM files (1 extra parts); {checksum}"
    )


def test_derived_ids_are_stable_distinct_and_recognisable(folder, zipped):
    first, _ = read(folder)
    again, _ = read(zipped)
    derived_ids = [r["id"] for r in first if is_derived_id(r["id"])]
    assert len(derived_ids) == 4
    assert derived_ids == [r["id"] for r in again if is_derived_id(r["id"])]
    assert len(set(derived_ids)) == 4
    for value in derived_ids:
        assert value.startswith("archive-")
        assert not value.isdigit()
    for x_id in ("1582838499983564806", "1", "9" * 19):
        assert not is_derived_id(x_id)
    assert not is_derived_id(None)
    assert not is_derived_id(123)
    assert not is_derived_id("archive-xyz")


def test_repeated_identical_items_get_distinct_ids(tmp_path):
    leave = participants_leave([CAROL], "2022-10-19T20:47:00.000Z")
    builder = ArchiveBuilder(groups=[Conversation(GROUP_1, [leave, leave])])
    records, _ = read(builder.build_folder(tmp_path))
    first = derived(GROUP_1, "ParticipantsLeave", "2022-10-19T20:47:00.000Z", None, [CAROL])
    second = derived(GROUP_1, "ParticipantsLeave", "2022-10-19T20:47:00.000Z", None, [CAROL], 1)
    assert [r["id"] for r in records] == [first, second]


def test_records_pass_the_dm_events_schema(folder):
    schema = X_SCHEMAS.get_schema("DmEvent", key_properties=["account_id", "id"])
    validator = jsonschema.Draft7Validator(schema, format_checker=jsonschema.FormatChecker())
    records, _ = read(folder)
    for record in records:
        validator.validate(record)
        assert set(record) <= set(schema["properties"])


def test_no_manifest_falls_back_to_account_file_and_file_names(tmp_path, folder):
    builder = standard()
    builder.manifest = False
    with open_archive(builder.build_folder(tmp_path / "bare")) as archive:
        assert archive.account.source == "data/account.js"
        assert archive.account.username == "acme_support"
        records = list(archive.records())
    assert records == EXPECTED


def test_manifest_without_file_list_finds_parts_by_name(tmp_path):
    builder = standard()
    builder.data_types = False
    builder.parts = {"direct-messages": 3, "direct-messages-group": 2}
    with open_archive(builder.build_zip(tmp_path / "a.zip")) as archive:
        assert [f.name for f in archive.files] == [
            "data/direct-messages.js",
            "data/direct-messages-part1.js",
            "data/direct-messages-part2.js",
            "data/direct-messages-group.js",
            "data/direct-messages-group-part1.js",
        ]
        assert list(archive.records()) == EXPECTED
        assert archive.summary is not None
        assert (archive.summary.files, archive.summary.parts) == (5, 3)


def test_zip_with_a_top_folder_and_the_data_folder_itself(tmp_path):
    builder = standard()
    builder.top_folder = "twitter-2026-11-30/"
    assert read(builder.build_zip(tmp_path / "nested.zip"))[0] == EXPECTED
    root = builder.build_folder(tmp_path / "unzipped")
    assert read(root)[0] == EXPECTED  # the folder holding the archive's folder
    assert read(root / "twitter-2026-11-30" / "data")[0] == EXPECTED


def test_trailing_semicolon_bom_plain_json_and_escapes(tmp_path):
    item = message("1500000000000000001", ALICE, "2022-01-01T00:00:00.000Z", "caf\u00e9 \U0001f600")
    escaped = json.dumps(item, ensure_ascii=True)  # \u00e9 and surrogate pairs
    conversation = {"conversationId": f"{ALICE}-{ACCOUNT_ID}", "messages": ["ITEM"]}
    body = json.dumps([{"dmConversation": conversation}]).replace('"ITEM"', escaped)
    variants = {
        "data/direct-messages.js": f"\ufeffwindow.YTD.direct_messages.part0 = {body};\n",
        "data/direct-messages-group.js": "\ufeff\n" + body,  # plain JSON, no assignment
    }
    builder = ArchiveBuilder(extra={k: v.encode() for k, v in variants.items()})
    records, _ = read(builder.build_folder(tmp_path))
    assert [r["text"] for r in records] == ["café 😀", "café 😀"]


def test_url_entities_without_text_match_and_with_indices(tmp_path):
    links: list[dict[str, object]] = [
        url("https://t.co/missing", "https://example.com/m", "example.com/m"),
        {"url": "https://t.co/idx", "expanded_url": "https://example.com/i", "indices": [0, 16]},
    ]
    item = message("1500000000000000002", ALICE, "2022-01-01T00:00:00.000Z",
                   "https://t.co/idx", urls=links)  # fmt: skip
    builder = ArchiveBuilder(one_to_one=[Conversation(f"{ALICE}-{ACCOUNT_ID}", [item])])
    (record,), _ = read(builder.build_folder(tmp_path))
    assert record["urls"] == [
        {"url": "https://t.co/missing", "expanded_url": "https://example.com/m",
         "display_url": "example.com/m"},
        {"start": 0, "end": 16, "url": "https://t.co/idx", "expanded_url": "https://example.com/i"},
    ]  # fmt: skip
    assert record["referenced_tweets"] is None
    assert record["media_urls"] is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2022-10-19T20:58:00.000Z", "2022-10-19T20:58:00.000Z"),
        ("2022-10-19T20:58:00Z", "2022-10-19T20:58:00.000Z"),
        ("2022-10-19T20:58:00.5Z", "2022-10-19T20:58:00.500Z"),
        ("2022-10-19T20:58:00.123456789Z", "2022-10-19T20:58:00.123Z"),
        ("2022-10-19 22:58:00.000+02:00", "2022-10-19T20:58:00.000Z"),
        ("2022-10-19T20:58:00", "2022-10-19T20:58:00.000Z"),
        ("1666213080123", "2022-10-19T20:58:00.123Z"),
    ],
)
def test_times_are_normalised_to_x_format(value, expected):
    assert x_time(value) == expected


# -- errors: one line each, before any record ------------------------------------------------


def error_of(path, **kwargs) -> ArchiveError:
    with pytest.raises(ArchiveError) as caught:
        read(path, **kwargs)
    error = caught.value
    assert isinstance(error, TapXDMError)
    assert "\n" not in str(error)
    return error


def test_error_not_a_zip_nor_a_folder(tmp_path):
    assert "does not exist" in str(error_of(tmp_path / "nope.zip"))
    (tmp_path / "notes.txt").write_text("hello")
    assert str(error_of(tmp_path / "notes.txt")) == (
        f"X archive {tmp_path / 'notes.txt'} is neither a zip file nor a folder."
    )


def test_error_no_data_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    assert "has no data/ folder" in str(error_of(tmp_path / "empty"))
    with zipfile.ZipFile(tmp_path / "other.zip", "w") as other:
        other.writestr("photos/cat.jpg", b"jpg")
    assert "has no data/ folder" in str(error_of(tmp_path / "other.zip"))


def test_error_no_manifest_and_no_account_file(tmp_path):
    builder = standard()
    builder.manifest = builder.account_file = False
    message_text = str(error_of(builder.build_folder(tmp_path)))
    assert message_text.endswith("no manifest and no data/account.js: whose is it?")


def test_error_manifest_lists_a_missing_part(tmp_path):
    path = standard().build_folder(tmp_path)
    (path / "data" / "direct-messages-group-part1.js").unlink()
    assert str(error_of(path)) == (
        f"X archive {path}: data/manifest.js lists data/direct-messages-group-part1.js, "
        "which is missing"
    )


def test_error_no_dm_file_at_all(tmp_path):
    assert "has neither data/direct-messages.js nor data/direct-messages-group.js" in str(
        error_of(ArchiveBuilder().build_folder(tmp_path))
    )


def test_error_archive_of_another_account(folder):
    error = error_of(folder, expected_account_id="42")
    assert isinstance(error, ArchiveAccountError)
    assert (error.expected, error.found) == ("42", ACCOUNT_ID)
    assert str(error) == (
        f"X archive {folder} is the archive of account 1000000000 (@acme_support), not of "
        "account 42 that this tap reads: import each account's own archive."
    )


def test_error_malformed_manifest_names_line(tmp_path):
    builder = standard()
    builder.extra = {"data/manifest.js": b'window.__THAR_CONFIG = {\n  "userInfo" : {,\n}'}
    error = error_of(builder.build_folder(tmp_path))
    assert isinstance(error, ArchiveFormatError)
    assert str(error).startswith(
        f"X archive {tmp_path}: data/manifest.js: malformed JSON at line 2"
    )


def test_error_malformed_dm_file_names_file_and_position_not_text(tmp_path):
    good = standard().build_folder(tmp_path / "good") / "data" / "direct-messages-group.js"
    content = good.read_text(encoding="utf-8")
    broken = content.replace('"text" : "👨', '"text" "secret 👨', 1)  # a missing colon
    builder = standard()
    builder.extra = {"data/direct-messages-group.js": broken.encode()}
    path = builder.build_zip(tmp_path / "broken.zip")
    with open_archive(path) as archive:  # the start of every file is fine
        rows = archive.records()
        with pytest.raises(ArchiveFormatError) as caught:
            list(rows)
    line_number = broken[: broken.index('"text" "secret')].count("\n") + 1
    text = str(caught.value)
    assert text.startswith(
        f"X archive {path}: data/direct-messages-group.js: malformed JSON at line {line_number}, "
    )
    assert "secret" not in text
    assert "\n" not in text


def test_error_truncated_and_non_array_files(tmp_path):
    builder = standard()
    builder.extra = {"data/direct-messages-group-part1.js": b"window.YTD.x.part1 = [ {"}
    archive = open_archive(builder.build_folder(tmp_path / "t"))
    with archive, pytest.raises(ArchiveFormatError, match="premature EOF"):
        list(archive.records())
    builder.extra = {"data/direct-messages-group-part1.js": b'window.YTD.x.part1 = {"a": 1}'}
    error = error_of(builder.build_folder(tmp_path / "o"))
    assert str(error).endswith(
        "data/direct-messages-group-part1.js: expected a JSON array after '=', found '{'"
    )
    builder.extra = {"data/direct-messages-group-part1.js": b"hello world"}
    assert "no 'window.YTD... =' assignment" in str(error_of(builder.build_folder(tmp_path / "n")))


def test_error_bad_item_names_conversation(tmp_path):
    item = message("not-an-id", ALICE, "2022-01-01T00:00:00.000Z", "x")
    builder = ArchiveBuilder(one_to_one=[Conversation(f"{ALICE}-{ACCOUNT_ID}", [item])])
    error = error_of(builder.build_folder(tmp_path / "i"))
    assert str(error) == (
        f"X archive {tmp_path / 'i'}: data/direct-messages.js: conversation "
        f"{ALICE}-{ACCOUNT_ID}: messageCreate id 'not-an-id' is not an X id"
    )
    item = message("1500000000000000003", ALICE, "yesterday", "x")
    builder = ArchiveBuilder(one_to_one=[Conversation(f"{ALICE}-{ACCOUNT_ID}", [item])])
    assert str(error_of(builder.build_folder(tmp_path / "t"))).endswith(
        "createdAt 'yesterday' is not a time"
    )


# -- memory: one message at a time -------------------------------------------------------


def many_messages(count: int, text: str = "x" * 200):
    base = 1500000000000000000
    for number in range(count):
        link = url("https://t.co/abc", "https://example.com", "example.com")
        yield message(str(base + number), ALICE, "2022-01-01T00:00:00.000Z", f"{number} {text}",
                      recipient=ACCOUNT_ID, urls=[link])  # fmt: skip


def test_memory_stays_flat_in_one_huge_conversation(tmp_path):
    """~6 MB in a single conversation: traced memory stays far below the file's size."""
    count = 15_000
    builder = ArchiveBuilder(
        one_to_one=[Conversation(f"{ALICE}-{ACCOUNT_ID}", many_messages(count))]
    )
    path = builder.build_zip(tmp_path / "big.zip")
    with open_archive(path) as archive:
        size = archive.files[0].size
        assert size > 6_000_000
        tracemalloc.start()
        try:
            seen = sum(1 for _ in archive.records())
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert seen == count
    print(f"traced peak {peak} bytes for a {size}-byte file")
    assert peak < 1_500_000, f"peak {peak} bytes for a {size}-byte file"


MEASURE = """
import re, sys, time
from pathlib import Path
from tap_x_dm.archive import open_archive

def high_water_kb():  # VmHWM: this process's peak RSS (ru_maxrss would count the parent's)
    return int(re.search(r"VmHWM:\\s+(\\d+)", Path("/proc/self/status").read_text()).group(1))

base_kb = high_water_kb()
start = time.monotonic()
with open_archive(sys.argv[1]) as archive:
    count = sum(1 for _ in archive.records())
    size = sum(f.size for f in archive.files)
print(count, size, base_kb, high_water_kb(), round(time.monotonic() - start, 1))
"""


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_peak_rss_on_a_200_mb_archive(tmp_path):
    """A 200 MB DM file (one conversation, in a zip) is read with a flat peak RSS."""
    count = 330_000
    builder = ArchiveBuilder(
        one_to_one=[Conversation(f"{ALICE}-{ACCOUNT_ID}", many_messages(count))]
    )
    path = builder.build_zip(tmp_path / "huge.zip")
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, str(path)], capture_output=True, text=True, check=True
    )
    seen, size, base_kb, peak_kb, seconds = (int(float(v)) for v in done.stdout.split())
    print(
        f"{seen} records, {size / 1e6:.0f} MB of DM JSON: peak RSS {peak_kb / 1024:.0f} MB "
        f"({base_kb / 1024:.0f} MB after imports), {seconds} s"
    )
    assert seen == count
    assert size > 200_000_000
    assert peak_kb - base_kb < 30 * 1024
