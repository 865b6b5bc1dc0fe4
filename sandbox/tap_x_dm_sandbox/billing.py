"""Pay-per-use billing as X bills: every resource returned costs, once per app per UTC day.

X charges reads "per resource returned in the response" (REFERENCE.md 3.1): a DM event
$0.010, a user $0.010, a post (Tweet) $0.005, and objects expanded into `includes` count.
Media have had no price line since 2026-06-18 (CHANGES-2026.md §2): they are counted but
cost $0 unless a price is set. The same resource within a UTC day is charged once per app
(X tracks usage per app; the sandbox is one app, whoever the user). Counting that lets
tests prove a tap does not re-read history it already has, and what its expansions cost.
Only the current day is kept; the event ids in a compact sorted array, because a
benchmark reads a million events.
"""

from __future__ import annotations

import threading
from array import array
from bisect import bisect_left
from collections.abc import Iterable, Mapping
from typing import Final

_MIN_PENDING = 4096

#: The kinds of billed resources, and X's price of each in thousandths of a dollar today.
PRICE_MILLIDOLLARS: Final[Mapping[str, float]] = {
    "dm_events": 10,
    "users": 10,
    "tweets": 5,
    "media": 0,  # $0.005 until 2026-06-18; `media_price_usd` sets it
}
KINDS: Final = tuple(PRICE_MILLIDOLLARS)
#: Every bill of a sandbox goes to one app: the demo tokens, both OAuth 2.0 clients and the
#: OAuth 1.0a keys all belong to it.
APP: Final = "sandbox-app"


def prices(media_price_usd: float = 0.0) -> dict[str, float]:
    """Return the price list (thousandths of a dollar) with a media price in dollars."""
    if not 0 <= media_price_usd <= 1:
        raise ValueError(f"media_price_usd must be 0-1 dollars, got {media_price_usd}")
    return {**PRICE_MILLIDOLLARS, "media": media_price_usd * 1000}


def usd(counts: Mapping[str, int], price_list: Mapping[str, float] = PRICE_MILLIDOLLARS) -> float:
    """Return what `counts` (resources by kind) cost in dollars."""
    return round(sum(price_list[kind] * n for kind, n in counts.items()) / 1000, 6)


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


class _Day:
    """What one app was billed for on one UTC day."""

    def __init__(self, day: int) -> None:
        self.day = day
        self.events = _IdSet()
        self.others: dict[str, set[str]] = {kind: set() for kind in KINDS[1:]}


class BillingLedger:
    """Count billable resources: (app, UTC day, resource) triples seen for the first time."""

    def __init__(self, price_list: Mapping[str, float] = PRICE_MILLIDOLLARS) -> None:
        self._lock = threading.Lock()
        self._days: dict[str, _Day] = {}
        self.counts: dict[str, int] = dict.fromkeys(KINDS, 0)
        self.price_list = dict(price_list)

    def usd(self, counts: Mapping[str, int] | None = None) -> float:
        """Return what `counts` (default: everything billed so far) cost, in dollars."""
        return usd(self.counts if counts is None else counts, self.price_list)

    @property
    def total(self) -> int:
        """DM events billed so far."""
        return self.counts["dm_events"]

    def bill(
        self,
        user_id: str,
        day: int,
        event_ids: Iterable[int],
        others: Mapping[str, Iterable[str]] | None = None,
    ) -> dict[str, int]:
        """Record what was returned to `user_id` on `day`; return the new resources by kind.

        `others` maps "users", "tweets" and "media" to the ids (media keys) returned. What
        the app was billed for earlier that day, for any user, is not billed again.
        """
        with self._lock:
            current = self._days.get(APP)
            if current is None or current.day != day:
                current = _Day(day)
                self._days[APP] = current
            new = dict.fromkeys(KINDS, 0)
            for event_id in event_ids:
                if event_id not in current.events:
                    current.events.add(event_id)
                    new["dm_events"] += 1
            for kind, ids in (others or {}).items():
                seen = current.others[kind]
                for resource in ids:
                    if resource not in seen:
                        seen.add(resource)
                        new[kind] += 1
            for kind, n in new.items():
                self.counts[kind] += n
            return new

    def reset(self) -> None:
        """Forget everything billed so far."""
        with self._lock:
            self._days.clear()
            self.counts = dict.fromkeys(KINDS, 0)
