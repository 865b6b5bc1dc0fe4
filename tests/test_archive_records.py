"""The X archive reader (tap_x_dm.archive): records, summary, derived ids, layouts, times."""

from __future__ import annotations

import hashlib
import json

import jsonschema
import pytest

from tap_x_dm.archive import is_derived_id, open_archive, x_time
from tap_x_dm.schemas import X_SCHEMAS
from tests.archive_builder import (
    ACCOUNT_ID,
    ArchiveBuilder,
    Conversation,
    message,
    participants_leave,
    url,
)
from tests.archive_support import ALICE, CAROL, EXPECTED, GROUP_1, derived, read, standard


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
