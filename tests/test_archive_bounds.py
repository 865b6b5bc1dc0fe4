"""The X archive reader in linear time and bounded memory, whatever a DM file holds.

Linear time is proven by memory, not by a clock: the reader holds back at most a
chunk (and never re-joins what it held with the next one), so a run of whitespace
costs one pass; anything longer than an X DM can be is refused in one line before
the parser buffers it; a zip member that inflates like no real archive is refused
as it inflates.
"""

from __future__ import annotations

import io
import json
import struct
import subprocess
import sys
import tracemalloc
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tap_x_dm.archive import ArchiveFormatError, jsdata, open_archive
from tap_x_dm.archive.container import ZipContainer
from tests.archive_builder import ACCOUNT_ID, ArchiveBuilder, Conversation, message
from tests.archive_support import ALICE, many_messages

MIB = 1024 * 1024
CONVERSATION = f"{ALICE}-{ACCOUNT_ID}"
PREFIX = b"window.YTD.direct_messages.part0 = ["
DM_FILE = "data/direct-messages.js"


def conversation(text: str = "hello", event_id: str = "1500000000000000001") -> bytes:
    item = message(event_id, ALICE, "2022-01-01T00:00:00.000Z", text, recipient=ACCOUNT_ID)
    return json.dumps({"dmConversation": {"conversationId": CONVERSATION, "messages": [item]}})


def archive_with(tmp_path: Path, content: bytes, *, zipped: bool = False) -> Path:
    builder = ArchiveBuilder(one_to_one=[Conversation(CONVERSATION, [])], extra={DM_FILE: content})
    if zipped:
        return builder.build_zip(tmp_path / "archive.zip")
    return builder.build_folder(tmp_path / "archive")


def read_traced(path: Path) -> tuple[list[str], int]:
    """The ids read and the reader's traced peak (bytes held by Python while reading)."""
    with open_archive(path) as archive:
        tracemalloc.start()
        try:
            ids = [row["id"] for row in archive.records()]
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    return ids, peak


def refusal(path: Path) -> tuple[str, list[str]]:
    """The one line an archive is refused with, and the ids read before it."""
    ids: list[str] = []
    with pytest.raises(ArchiveFormatError) as caught, open_archive(path) as archive:
        ids.extend(row["id"] for row in archive.records())
    assert "\n" not in str(caught.value)
    return str(caught.value), ids


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(PREFIX + b" " * (8 * MIB) + conversation().encode() + b"]", id="leading"),
        pytest.param(PREFIX + conversation().encode() + b"]" + b"\n" * (8 * MIB), id="trailing"),
        pytest.param(PREFIX + conversation().encode() + b"];" + b"\n" * (8 * MIB), id="after-;"),
        pytest.param(PREFIX + conversation().encode() + b"]" + b";\n" * (4 * MIB), id="many-;"),
    ],
)
def test_megabytes_of_whitespace_are_read_once_in_bounded_memory(
    tmp_path: Path, content: bytes
) -> None:
    """8 MB of whitespace around the conversations: the reader holds at most ~1 MB of it.

    Holding it all and joining it again with every 64 KB chunk made time grow with the
    square of the run (3 GB took hours).
    """
    ids, peak = read_traced(archive_with(tmp_path, content))
    assert ids == ["1500000000000000001"]
    assert peak < 3 * MIB, f"traced peak {peak} bytes"


def test_semicolons_and_whitespace_past_a_megabyte_then_data_is_one_line(tmp_path: Path) -> None:
    first = conversation().encode()
    second = conversation(event_id="1500000000000000002").encode()
    content = PREFIX + first + b";" + b"\n" * (2 * MIB) + b"," + second + b"]"
    line, ids = refusal(archive_with(tmp_path, content))
    assert line == (
        f"X archive {tmp_path / 'archive'}: {DM_FILE}: more than 1 MB of ';' and whitespace, "
        f"then more data at byte {len(PREFIX + first) + 1 + 2 * MIB}: not an X data file"
    )
    assert ids == ["1500000000000000001"]


@pytest.mark.parametrize(
    ("text", "what"),
    [
        pytest.param("y" * (2 * MIB), "a JSON value longer than 1 MB", id="text"),
        pytest.param(" " * (2 * MIB), "a JSON value longer than 1 MB", id="spaces"),
        pytest.param('"' * MIB, "a JSON value longer than 1 MB", id="escaped-quotes"),
    ],
)
def test_a_message_longer_than_any_dm_is_refused_in_one_line_after_the_ones_before(
    tmp_path: Path, text: str, what: str
) -> None:
    huge = conversation(text, event_id="1500000000000000002")
    content = PREFIX + conversation().encode() + b", " + huge.encode() + b"]"
    line, ids = refusal(archive_with(tmp_path, content))
    assert line.startswith(f"X archive {tmp_path / 'archive'}: {DM_FILE}: {what} before byte ")
    assert line.endswith(": no X DM is that long; not an X data file")
    assert ids == ["1500000000000000001"]


def test_a_number_longer_than_any_id_is_refused_in_one_line(tmp_path: Path) -> None:
    huge = conversation().replace('"hello"', "1" * (2 * MIB))
    line, ids = refusal(archive_with(tmp_path, PREFIX + huge.encode() + b"]"))
    assert "a JSON value longer than 1 MB before byte " in line
    assert ids == []


def test_a_message_item_of_many_small_values_is_refused_past_the_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """4 MB in the tap; a quarter of a megabyte here, so the test builds a small file."""
    assert jsdata.MAX_ITEM_BYTES == 4 * MIB
    monkeypatch.setattr(jsdata, "MAX_ITEM_BYTES", MIB // 4)
    item = message("1500000000000000002", ALICE, "2022-01-01T00:00:00.000Z", "hi")
    item["messageCreate"]["reactions"] = [{"r": 1}] * 40_000  # 0.4 MB of small objects
    body = {"dmConversation": {"conversationId": CONVERSATION, "messages": [item]}}
    content = PREFIX + conversation().encode() + b", " + json.dumps(body).encode() + b"]"
    line, ids = refusal(archive_with(tmp_path, content))
    assert line.startswith(f"X archive {tmp_path / 'archive'}: {DM_FILE}: a message item longer ")
    assert "than 0.25 MB from byte " in line
    assert line.endswith(": no X DM is that long; not an X data file")
    assert ids == ["1500000000000000001"]


def test_a_conversation_whose_id_comes_after_the_limit_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its items wait in memory for the id: 8 MB of file in the tap, 1 MB here."""
    assert jsdata.MAX_WAITING_BYTES == 8 * MIB
    monkeypatch.setattr(jsdata, "MAX_WAITING_BYTES", MIB)
    builder = ArchiveBuilder(
        one_to_one=[Conversation(CONVERSATION, many_messages(3_000), id_last=True)]
    )
    line, ids = refusal(builder.build_folder(tmp_path / "archive"))
    assert line == (
        f"X archive {tmp_path / 'archive'}: {DM_FILE}: conversation 1 has more than 1 MB of "
        "messages before its conversationId: not an X data file"
    )
    assert ids == []


def test_a_zip_member_inflating_past_100_to_1_is_refused_before_any_record(
    tmp_path: Path,
) -> None:
    content = PREFIX + b" " * (4 * MIB) + conversation().encode() + b"]"
    path = archive_with(tmp_path, content, zipped=True)
    compressed = zipfile.ZipFile(path).getinfo(DM_FILE).compress_size
    assert len(content) > 100 * compressed
    with pytest.raises(ArchiveFormatError) as caught:
        open_archive(path)
    assert str(caught.value) == (
        f"X archive {path}: {DM_FILE} inflates to more than 100 times its {compressed} "
        "compressed bytes: no X archive compresses so far; refused as a crafted file (a zip bomb)"
    )


def crafted_zip(content: bytes, *, file_size: int, compress_size: int | None = None) -> bytes:
    """A zip of `data/f.js` whose directory declares `file_size` (and `compress_size`)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("data/f.js", content)
        real = archive.getinfo("data/f.js").compress_size
    lie = buffer.getvalue().replace(struct.pack("<I", len(content)), struct.pack("<I", file_size))
    if compress_size is not None:
        lie = lie.replace(struct.pack("<I", real), struct.pack("<I", compress_size))
    return lie


def test_a_member_is_not_inflated_past_its_declared_size() -> None:
    """zipfile stops at the declared size and checks the CRC-32; the reader says why."""
    crafted = zipfile.ZipFile(io.BytesIO(crafted_zip(b"x" * 5000, file_size=4096)))
    member = crafted.open("data/f.js")
    reader = jsdata.AssignmentReader(member, "X archive a.zip: f.js")
    with pytest.raises(ArchiveFormatError) as caught:
        reader.drain()
    assert str(caught.value) == (
        "X archive a.zip: f.js inflates past the 4096 bytes the zip declares for it: the zip "
        "is damaged or crafted"
    )
    # A member declaring more than 100 times its compressed size is refused unopened.
    bomb = zipfile.ZipFile(
        io.BytesIO(crafted_zip(b" " * (3 * MIB), file_size=3 * MIB, compress_size=100))
    )
    container = ZipContainer("a.zip", bomb, "")
    with pytest.raises(ArchiveFormatError, match="more than 100 times its 100 compressed"):
        container.open("data/f.js")


def test_real_archives_compress_well_below_the_limit(tmp_path: Path) -> None:
    """The test archives (very repetitive) stay under 100:1, so none is refused."""
    builder = ArchiveBuilder(one_to_one=[Conversation(CONVERSATION, many_messages(3_000))])
    path = builder.build_zip(tmp_path / "ok.zip")
    with open_archive(path) as archive:
        assert sum(1 for _ in archive.records()) == 3_000


MEASURE = """
import re, sys
from pathlib import Path
from tap_x_dm.archive import ArchiveFormatError, open_archive

def high_water_kb():
    return int(re.search(r"VmHWM:\\s+(\\d+)", Path("/proc/self/status").read_text()).group(1))

try:
    with open_archive(sys.argv[1]) as archive:
        outcome = str(sum(1 for _ in archive.records()))
except ArchiveFormatError as exc:
    outcome = "refused"
print(outcome, high_water_kb())
"""


def _write_file(path: Path, parts: list[tuple[bytes, int]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        for chunk, times in parts:
            for _ in range(times):
                out.write(chunk)


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_peak_rss_stays_under_500_mb_on_a_gigabyte_of_odd_dm_files(tmp_path: Path) -> None:
    """512 MB of whitespace around a conversation, and a 1 GB message, each read whole."""
    blank = b" " * MIB
    around = archive_with(tmp_path / "around", PREFIX + b"]")
    _write_file(
        around / DM_FILE,
        [(PREFIX, 1), (blank, 256), (conversation().encode(), 1), (b"]", 1), (b"\n" * MIB, 256)],
    )
    huge = archive_with(tmp_path / "huge", PREFIX + b"]")
    head = conversation("@").encode().split(b"@")
    _write_file(huge / DM_FILE, [(PREFIX + head[0], 1), (b"y" * MIB, 1024), (head[1] + b"]", 1)])
    results: dict[str, Any] = {}
    for name, path in (("around", around), ("huge", huge)):
        done = subprocess.run(
            [sys.executable, "-c", MEASURE, str(path)], capture_output=True, text=True,
            check=True, timeout=120,
        )  # fmt: skip
        outcome, peak_kb = done.stdout.split()
        results[name] = (outcome, int(peak_kb) / 1024)
    print(results)
    assert results["around"][0] == "1"
    assert results["huge"][0] == "refused"
    assert all(peak_mb < 500 for _, peak_mb in results.values()), results
