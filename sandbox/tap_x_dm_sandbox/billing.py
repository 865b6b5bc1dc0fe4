"""Pay-per-use billing: every DM event returned costs, once per user per UTC day.

X bills "DM Event: Read" per event returned and deduplicates the same event
for the same user within a UTC day. Counting that lets tests prove a tap does
not re-read history it already has. Only the current day is kept per user,
in a compact sorted array, because a benchmark reads a million events.
"""

from __future__ import annotations

import threading
from array import array
from bisect import bisect_left
from collections.abc import Iterable

_MIN_PENDING = 4096


class _IdSet:
    """A set of 64-bit ids at ~8 bytes each: a sorted array plus a small overflow set."""

    def __init__(self) -> None:
        self._sorted = array("q")
        self._recent: set[int] = set()

    def __contains__(self, item: int) -> bool:
        if item in self._recent:
            return True
        i = bisect_left(self._sorted, item)
        return i < len(self._sorted) and self._sorted[i] == item

    def add(self, item: int) -> None:
        self._recent.add(item)
        if len(self._recent) > max(_MIN_PENDING, len(self._sorted) // 4):
            merged = sorted(self._recent)
            merged.extend(self._sorted)
            merged.sort()  # two sorted runs: timsort merges them in linear time
            self._sorted = array("q", merged)
            self._recent = set()

    def __len__(self) -> int:
        return len(self._sorted) + len(self._recent)


class BillingLedger:
    """Count billable events: (user, UTC day, event id) triples seen for the first time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._days: dict[str, tuple[int, _IdSet]] = {}
        self.total = 0

    def bill(self, user_id: str, day: int, event_ids: Iterable[int]) -> int:
        """Record the events returned to `user_id` on `day`; return how many were new."""
        with self._lock:
            current = self._days.get(user_id)
            if current is None or current[0] != day:
                current = (day, _IdSet())
                self._days[user_id] = current
            seen = current[1]
            new = 0
            for event_id in event_ids:
                if event_id not in seen:
                    seen.add(event_id)
                    new += 1
            self.total += new
            return new

    def reset(self) -> None:
        """Forget everything billed so far."""
        with self._lock:
            self._days.clear()
            self.total = 0
