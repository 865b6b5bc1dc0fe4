"""What a run cost: requests, and the resources X bills, priced at X's pay-per-use list.

X bills every resource a response returns: DM events, and the users, posts and
media expanded in `includes` alike. The prices live here, once; the
`prices_usd` setting overrides them for other contracts. X bills a resource
returned again on the same UTC day only once (a "soft guarantee"), so the
figures are an upper estimate of the bill, never a lower one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from tap_x_dm.errors import StopRunError
from tap_x_dm.run.summary import spent_sentence

#: X's pay-per-use prices per resource returned (2026), by the kind names the tap uses.
PRICES_USD: Mapping[str, float] = {
    "dm_events": 0.010,
    "users": 0.010,
    "tweets": 0.005,
    "media": 0.0,  # no price line since 2026-06-18 (it was $0.005); `prices_usd` sets one
    #: XChat events: X prices only the webhook's `chat.received` so far; counted like a DM event.
    "chat_events": 0.010,
}
#: The most expanded objects one DM event brings, by kind, for the cost cap's worst case: a
#: sender and a participant, one linked post, one attachment (X allows one per DM). A join or
#: leave listing more than two users is the exception this does not bound: a page of such
#: events can take a run past `max_cost_usd` by their extra users (expanded, or looked up by
#: id: `lookups` fetches only what a page's emitted events refer to, counted like any answer).
WORST_PER_EVENT = {"users": 2, "tweets": 1, "media": 1}


def resources_in(payload: object, data_kind: str = "dm_events") -> dict[str, int]:
    """How many resources of each kind one answer returned (what X bills).

    `data_kind` is what the answer's `data` holds (users for `GET /2/users/me`); a kind X
    does not bill (`chat_conversations`) counts nothing.
    """
    counts = dict.fromkeys(PRICES_USD, 0)
    if not isinstance(payload, dict):
        return counts
    data = payload.get("data")
    if data_kind in counts:
        counts[data_kind] += len(data) if isinstance(data, list) else int(isinstance(data, dict))
    includes = payload.get("includes")
    for kind in ("users", "tweets", "media"):
        found = includes.get(kind) if isinstance(includes, dict) else None
        if found is None and kind == "tweets" and isinstance(includes, dict):
            found = includes.get("posts")  # 2.167 names
        counts[kind] += len(found) if isinstance(found, list) else 0
    return counts


class CostLedger:
    """The run's requests and billed resources, per stream, with their estimated price."""

    def __init__(self, prices: Mapping[str, float] | None = None) -> None:
        self.prices = {**PRICES_USD, **(prices or {})}
        self._by_stream: dict[str, dict[str, int]] = {}

    def add(self, stream: str, resources: Mapping[str, int]) -> None:
        """Count one request of `stream` and what its answer returned."""
        totals = self._by_stream.setdefault(stream, dict.fromkeys(("requests", *PRICES_USD), 0))
        totals["requests"] += 1
        for kind, count in resources.items():
            totals[kind] = totals.get(kind, 0) + count

    def totals(self, stream: str | None = None) -> dict[str, int]:
        """The counts of one stream, or of the whole run."""
        rows = [self._by_stream.get(stream, {})] if stream else list(self._by_stream.values())
        summed = dict.fromkeys(("requests", *PRICES_USD), 0)
        for row in rows:
            for key, value in row.items():
                summed[key] += value
        return summed

    def usd(self, counts: Mapping[str, Any]) -> float:
        """The price of `counts` at the ledger's prices."""
        return sum(float(counts.get(kind, 0)) * price for kind, price in self.prices.items())

    def per_event_worst(self, expanded: set[str], kind: str = "dm_events") -> float:
        """The most one event of `kind` can cost with the objects it may expand."""
        return self.prices[kind] + sum(
            self.prices[kind] * count for kind, count in WORST_PER_EVENT.items() if kind in expanded
        )

    def page_size_under(self, cap_usd: float, expanded: set[str], page_size: int) -> int:
        """The largest page a run capped at `cap_usd` can ever afford (at most `page_size`)."""
        per_event = self.per_event_worst(expanded)
        fits = math.floor(cap_usd / per_event + 1e-9) if per_event > 0 else page_size
        return max(0, min(page_size, fits))

    def check_next_page(
        self,
        size: int,
        cap_usd: float,
        expanded: set[str],
        *,
        committed_usd: float = 0.0,
        kind: str = "dm_events",
    ) -> None:
        """Stop the run before a page of `size` events could take it past `cap_usd`.

        `committed_usd` is what the run will spend anyway (the queued lookups by id).

        Raises:
            StopRunError: naming the cap, what was spent and what the page could cost.
        """
        spent = self.usd(self.totals()) + committed_usd
        worst = size * self.per_event_worst(expanded, kind)
        if size < 1 or spent + worst > cap_usd + 1e-9:
            msg = (
                f"Stopping: the next page could cost more than max_cost_usd={cap_usd:.2f} (this "
                f"run has spent about ${spent:.2f}; a page of {size} event(s) with their objects "
                f"could cost ${worst:.2f}). Finished work is kept in the state; the next run "
                "goes on."
            )
            raise StopRunError(msg, reason="cost_cap")

    def line(self, label: str, counts: Mapping[str, int]) -> str:
        """One line for the log: requests, resources by kind, dollars (an estimate)."""
        return spent_sentence(label, counts.get("requests", 0), counts, self.usd(counts))
