"""The X archive reader's memory: one message at a time, whatever the archive's size."""

from __future__ import annotations

import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest

from tap_x_dm.archive import open_archive
from tests.archive_builder import ACCOUNT_ID, ArchiveBuilder, Conversation
from tests.archive_support import ALICE, many_messages


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
