"""What the fleet costs while it runs: the process tree's resident memory, sampled (Linux).

`python -m tap_x_dm_fleet run --measure` samples, every 0.2 s, the resident set of
this process and every process below it (the tap runs), and writes the peak, this
process's own CPU and the tap runs' CPU to `output_dir/measure.json` at the end.
"""

from __future__ import annotations

import contextlib
import os
import resource
import threading
import time
from pathlib import Path

_PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            found += [int(c) for c in (task / "children").read_text().split()]
    return found


def _rss_kib(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * _PAGE_KIB
    except (OSError, IndexError, ValueError):
        return 0


def tree_rss_kib(root: int) -> tuple[int, int, int]:
    """Resident KiB of `root` and all its descendants, how many, the largest child's KiB."""
    total, count, largest, stack = 0, 0, 0, [root]
    while stack:
        pid = stack.pop()
        rss = _rss_kib(pid)
        total += rss
        count += 1
        if pid != root:
            largest = max(largest, rss)
        stack += _children(pid)
    return total, count, largest


class TreeSampler:
    """Samples this process tree's resident memory on a thread until `stop`."""

    def __init__(self, interval: float = 0.2) -> None:
        self.interval = interval
        self.peak_kib = 0
        self.peak_processes = 0
        self.child_peak_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="rss-sampler")
        self.started = time.monotonic()

    def __enter__(self) -> TreeSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        me = os.getpid()
        while not self._stop.wait(self.interval):
            kib, processes, largest = tree_rss_kib(me)
            self.child_peak_kib = max(self.child_peak_kib, largest)
            if kib > self.peak_kib:
                self.peak_kib, self.peak_processes = kib, processes

    def figures(self) -> dict[str, float]:
        """Peak tree RSS, this process's CPU and peak RSS, the children's CPU, wall time."""
        own = resource.getrusage(resource.RUSAGE_SELF)
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        return {
            "wall_seconds": round(time.monotonic() - self.started, 1),
            "tree_peak_rss_mib": round(self.peak_kib / 1024, 1),
            "tree_peak_processes": self.peak_processes,
            "tap_run_peak_rss_mib": round(self.child_peak_kib / 1024, 1),
            "driver_cpu_seconds": round(own.ru_utime + own.ru_stime, 2),
            "driver_peak_rss_mib": round(own.ru_maxrss / 1024, 1),
            "tap_runs_cpu_seconds": round(kids.ru_utime + kids.ru_stime, 2),
        }
