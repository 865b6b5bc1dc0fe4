"""A Singer target in the runner's process: records as JSON lines per stream, the last STATE.

Why not a target from PyPI: the ones that write files (target-jsonl 0.1.4) pin
jsonschema 2.6 and cost a Python process per account run; this is one loop over
the tap's stdout. Point the fleet at target-postgres instead for a warehouse
(docs/fleet.md). A STATE is written (atomically) only after the records before it
are flushed, so the state never runs ahead of the data: a kill loses nothing.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import IO


class SingerFilesTarget:
    """RECORDs appended to `records/STREAM.jsonl`, SCHEMAs kept, the last STATE in `state.json`."""

    def __init__(self, records_dir: Path, state_path: Path) -> None:
        self.records_dir = records_dir
        self.state_path = state_path
        self.counts: dict[str, int] = {}
        self._files: dict[str, IO[str]] = {}

    def consume(self, lines: Iterable[bytes]) -> None:
        """Read the tap's messages to their end."""
        try:
            for raw in lines:
                message = json.loads(raw)
                kind = message.get("type")
                if kind == "RECORD":
                    self._record(message["stream"], message["record"])
                elif kind == "STATE":
                    self._state(message["value"])
                elif kind == "SCHEMA":
                    path = self.records_dir / f"{message['stream']}.schema.json"
                    path.write_text(json.dumps(message["schema"]), encoding="utf-8")
        finally:
            for handle in self._files.values():
                handle.close()

    def _record(self, stream: str, record: object) -> None:
        handle = self._files.get(stream)
        if handle is None:
            path = self.records_dir / f"{stream}.jsonl"
            handle = self._files[stream] = path.open("a", encoding="utf-8")
        handle.write(json.dumps(record, separators=(",", ":")) + "\n")
        self.counts[stream] = self.counts.get(stream, 0) + 1

    def _state(self, value: object) -> None:
        for handle in self._files.values():
            handle.flush()
            os.fsync(handle.fileno())
        handle_no, name = tempfile.mkstemp(dir=self.state_path.parent, prefix=".state.")
        with os.fdopen(handle_no, "w", encoding="utf-8") as out:
            json.dump(value, out)
        Path(name).replace(self.state_path)
