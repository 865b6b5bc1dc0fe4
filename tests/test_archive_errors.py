"""The X archive reader's errors: one line each, naming archive and file, before any record."""

from __future__ import annotations

import zipfile

import pytest

from tap_x_dm.archive import ArchiveAccountError, ArchiveError, ArchiveFormatError, open_archive
from tap_x_dm.errors import TapXDMError
from tests.archive_builder import ACCOUNT_ID, ArchiveBuilder, Conversation, message
from tests.archive_support import ALICE, read, standard


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
