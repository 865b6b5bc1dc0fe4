"""Lone surrogates (half of an emoji) in X's text: U+FFFD in the rows, one line, no crash."""

from __future__ import annotations

import hashlib
import io
import json
import random
from pathlib import Path
from typing import Any

import pytest

from tap_x_dm.sdk_adapter import LineWriter
from tap_x_dm.surrogates import RepairingStream, repaired
from tap_x_dm.tap import TapXDM
from tap_x_dm_sandbox import ManualClock
from tests.archive_builder import ACCOUNT_ID, ArchiveBuilder, Conversation, message
from tests.conftest import tap_config

CUT = "cut in the middle of an emoji \ud83d"
PAIR_THEN_LONE_LOW = "\U0001f600 and \ude00 alone"


class LineCollectingWriter(LineWriter):
    """The tap's own writer (msgspec, UTF-8), keeping each line as a target would read it."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    def write_message(self, message: Any) -> None:
        self.messages.append(json.loads(self.format_message(message)))

    def records(self, stream: str) -> list[dict[str, Any]]:
        return [
            m["record"] for m in self.messages if m["type"] == "RECORD" and m["stream"] == stream
        ]


def run_with_line_writer(sandbox: Any, clock: ManualClock, **config: Any) -> LineCollectingWriter:
    writer = LineCollectingWriter()
    state = {"version": 3, "account": {"id": ACCOUNT_ID}} if config.get("archive_only") else {}
    tap = TapXDM(
        config=tap_config(sandbox, **config), state=state, message_writer=writer, clock=clock
    )
    tap.sync_all()
    return writer


def test_api_texts_with_lone_surrogates_are_written_with_u_fffd_and_counted_once(
    sandbox_factory: Any, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO")
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000, events=200, conversations=10)
    cut = sandbox.add_events(1, text=CUT)[0]
    clock.advance(1)
    both = sandbox.add_events(1, text=PAIR_THEN_LONE_LOW)[0]

    writer = run_with_line_writer(sandbox, clock)

    rows = writer.records("dm_events")
    assert [r["id"] for r in rows] == [e["id"] for e in sandbox.visible_events()]
    texts = {r["id"]: r.get("text") for r in rows}
    assert texts[cut["id"]] == "cut in the middle of an emoji \ufffd"
    assert texts[both["id"]] == "\U0001f600 and \ufffd alone"
    assert sum("\ufffd" in (r.get("text") or "") for r in rows) == 2
    lines = [m for m in caplog.messages if m.startswith("Replaced ")]
    assert lines == [
        "Replaced 2 lone surrogate(s) (half of an emoji, as in a message cut in the middle of "
        "one) by U+FFFD in the text of 2 record(s): UTF-8 cannot hold them."
    ]


def test_the_readme_privacy_map_hashes_a_text_with_a_lone_surrogate_instead_of_crashing(
    sandbox_factory: Any, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO")
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000, events=20, conversations=3)
    cut = sandbox.add_events(1, text=CUT)[0]
    maps = {
        "dm_events": {
            "text": "__NULL__",
            "text_sha256": "sha256(record.get('text') or '')",
        }
    }

    writer = run_with_line_writer(sandbox, clock, stream_maps=maps)

    rows = {r["id"]: r for r in writer.records("dm_events")}
    expected = hashlib.sha256("cut in the middle of an emoji \ufffd".encode()).hexdigest()
    assert rows[cut["id"]]["text_sha256"] == expected
    assert "text" not in rows[cut["id"]]
    assert [m for m in caplog.messages if m.startswith("Replaced 1 lone surrogate(s)")]


def test_archive_texts_with_lone_surrogate_escapes_are_written_with_u_fffd(
    sandbox: Any, clock: ManualClock, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO")
    items = [
        message("1582838499983564806", "944480690", "2022-10-19T20:58:00.000Z", "CUT-HERE"),
        message("1582838499983564800", "944480690", "2022-10-19T20:57:00.000Z", "whole \U0001f600"),
    ]
    archive = ArchiveBuilder(one_to_one=[Conversation(f"{ACCOUNT_ID}-944480690", items)])
    folder = archive.build_folder(tmp_path / "a")
    dm_file = folder / "data" / "direct-messages.js"
    raw = dm_file.read_bytes()
    assert raw.count(b"CUT-HERE") == 1
    dm_file.write_bytes(raw.replace(b"CUT-HERE", b"cut \\ud83d, \\ud83d\\ude00 whole"))

    writer = run_with_line_writer(sandbox, clock, archive_path=str(folder), archive_only=True)

    assert sandbox.request_log == []
    texts = [r["text"] for r in writer.records("dm_events")]
    assert texts == ["cut \ufffd, \U0001f600 whole", "whole \U0001f600"]
    summaries = [m for m in caplog.messages if m.startswith("X archive of account")]
    assert len(summaries) == 1
    assert "; 1 lone surrogate(s) (half of an emoji) replaced by U+FFFD; sha256:" in summaries[0]


def read_all(stream: RepairingStream, size: int) -> bytes:
    out = b""
    while chunk := stream.read(size):
        out += chunk
    return out


def test_the_archive_stream_repair_matches_the_record_repair_whatever_the_read_sizes() -> None:
    rng = random.Random(18)
    parts = ["a", "\ud83d", "\ude00", "\U0001f600", "\\", "\\\\", "u", "d83d", "\\ud83d", "é"]
    for _ in range(300):
        texts = ["".join(rng.choice(parts) for _ in range(rng.randint(0, 10))) for _ in range(3)]
        raw = json.dumps(texts).encode()  # lone surrogates as escapes, as in X's JSON
        if rng.random() < 0.5:
            raw = raw.upper().replace(b"\\U", b"\\u")  # upper-case hex digits
        want, count = repaired(json.loads(raw))
        for size in (1, 5, 7, 11, 13, 64):
            hasher = hashlib.sha256()
            stream = RepairingStream(io.BytesIO(raw), hasher)
            out = read_all(stream, size)
            assert (json.loads(out), stream.replaced) == (want, count), (raw, size)
            assert len(out) == len(raw)  # positions in parse errors stay right
            assert hasher.hexdigest() == hashlib.sha256(raw).hexdigest()  # the file's own bytes
