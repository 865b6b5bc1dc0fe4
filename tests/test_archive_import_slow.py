"""Slow tier: the tap imports a 200 MB archive with a flat peak RSS, and a second run skips it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.archive_builder import ACCOUNT_ID, ArchiveBuilder, Conversation
from tests.archive_support import ALICE, many_messages

RUN = """
import re, sys, time
from pathlib import Path

def high_water_kb():  # VmHWM: this process's peak RSS
    return int(re.search(r"VmHWM:\\s+(\\d+)", Path("/proc/self/status").read_text()).group(1))

from tap_x_dm.tap import TapXDM
base_kb = high_water_kb()
start = time.monotonic()
sys.argv = ["tap-x-dm", "--config", sys.argv[1], "--state", sys.argv[2]]
try:
    TapXDM.cli()
except SystemExit:
    pass
print(base_kb, high_water_kb(), round(time.monotonic() - start, 1), file=sys.stderr)
"""


def run_tap_process(config: Path, state: Path, out: Path) -> tuple[int, int, float, str]:
    with out.open("w") as stdout:
        done = subprocess.run(
            [sys.executable, "-c", RUN, str(config), str(state)],
            stdout=stdout, stderr=subprocess.PIPE, text=True, check=True,
        )  # fmt: skip
    base_kb, peak_kb, seconds = done.stderr.strip().splitlines()[-1].split()
    return int(base_kb), int(peak_kb), float(seconds), done.stderr


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_the_tap_imports_a_200_mb_archive_in_flat_memory_then_skips_it(tmp_path: Path) -> None:
    count = 330_000
    builder = ArchiveBuilder(
        one_to_one=[Conversation(f"{ALICE}-{ACCOUNT_ID}", many_messages(count))]
    )
    archive = builder.build_zip(tmp_path / "huge.zip")
    config = tmp_path / "config.json"
    config.write_text(json.dumps({
        "access_token": "unused", "archive_path": str(archive), "archive_only": True,
        "run_lock_dir": str(tmp_path / "locks"),
    }))  # fmt: skip
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"version": 3, "account": {"id": ACCOUNT_ID}}))
    out = tmp_path / "out.jsonl"

    base_kb, peak_kb, seconds, log = run_tap_process(config, state, out)

    records = 0
    last_state = None
    with out.open() as lines:
        for line in lines:
            message = json.loads(line)
            records += message["type"] == "RECORD"
            if message["type"] == "STATE":
                last_state = message["value"]
    print(f"import: {records} records, peak RSS {peak_kb / 1024:.0f} MB "
          f"({base_kb / 1024:.0f} MB after imports), {seconds} s")  # fmt: skip
    assert records == count
    assert f"archive_path: {count} event(s) written to dm_events" in log
    assert peak_kb - base_kb < 40 * 1024
    assert last_state is not None
    state.write_text(json.dumps(last_state))

    _, _, skip_seconds, log = run_tap_process(config, state, out)

    again = [json.loads(line) for line in out.read_text().splitlines()]
    print(f"second run (checksum known): {skip_seconds} s")
    assert not any(m["type"] == "RECORD" for m in again)
    assert "was imported already; nothing to emit." in log
