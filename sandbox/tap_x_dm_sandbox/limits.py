"""Rate-limit budgets, the way X counts them: per user, per endpoint, per window.

X's published numbers changed over time (300/15 min shared by the three DM
lookup endpoints, later 15/15 min per endpoint), so both layouts are settable.
All time comes from the injected clock, so a test with a `ManualClock` can
exhaust a "15 minute" window and `advance()` past it without waiting.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass

from tap_x_dm_sandbox.clock import Clock

#: The three list endpoints, which share one budget in `shared` mode.
LIST_ENDPOINTS = frozenset({"dm_events", "dm_conversation_events", "dm_conversation_with_events"})
SHARED_KEY = "dm_lookup"


@dataclass(frozen=True)
class RateDecision:
    """The verdict for one request and the values for its `x-rate-limit-*` headers."""

    allowed: bool
    limit: int
    remaining: int
    reset: int  # epoch seconds, integer, as X sends it

    def headers(self) -> dict[str, str]:
        """Return the three headers X sends on every user-context answer."""
        return {
            "x-rate-limit-limit": str(self.limit),
            "x-rate-limit-remaining": str(self.remaining),
            "x-rate-limit-reset": str(self.reset),
        }


@dataclass
class _Window:
    start: float
    used: int


class RateLimiter:
    """Fixed windows that open at a user's first request and close `window` seconds later."""

    def __init__(
        self,
        *,
        clock: Clock,
        limit: int = 15,
        window: float = 900.0,
        shared: bool = False,
        endpoint_limits: Mapping[str, int] | None = None,
        endpoint_windows: Mapping[str, float] | None = None,
    ) -> None:
        self._clock = clock
        #: Endpoints with a limit of their own (the lookups); the rest use `limit`.
        self.endpoint_limits = dict(endpoint_limits or {})
        #: Endpoints with a window of their own (a Basic plan's 24 h); the rest use `window`.
        self.endpoint_windows = dict(endpoint_windows or {})
        self._lock = threading.Lock()
        self._windows: dict[tuple[str, str], _Window] = {}
        self.limit = limit
        self.window = window
        self.shared = shared
        self._check(limit, window)

    @staticmethod
    def _check(limit: int, window: float) -> None:
        if limit < 1 or window <= 0:
            msg = f"rate limit needs limit >= 1 and window > 0, got {limit} and {window}"
            raise ValueError(msg)

    def configure(self, limit: int, window: float, *, shared: bool | None = None) -> None:
        """Change the numbers (and optionally the layout); every window restarts."""
        self._check(limit, window)
        with self._lock:
            self.limit = limit
            self.window = window
            if shared is not None:
                self.shared = shared
            self._windows.clear()

    def reset(self) -> None:
        """Forget all windows, as if no request had been made."""
        with self._lock:
            self._windows.clear()

    def budget_key(self, endpoint: str) -> str:
        """Name the budget an endpoint draws from."""
        if self.shared and endpoint in LIST_ENDPOINTS:
            return SHARED_KEY
        return endpoint

    def _current(self, user_id: str, endpoint: str, now: float) -> _Window | None:
        key = (user_id, self.budget_key(endpoint))
        win = self._windows.get(key)
        if win is not None and now >= win.start + self.window_for(endpoint):
            del self._windows[key]
            return None
        return win

    def limit_for(self, endpoint: str) -> int:
        """Return the requests per window of an endpoint's budget."""
        return self.endpoint_limits.get(endpoint, self.limit)

    def window_for(self, endpoint: str) -> float:
        """Return the window length of an endpoint's budget, in seconds."""
        return self.endpoint_windows.get(endpoint, self.window)

    def _reset_at(self, start: float, endpoint: str) -> int:
        return math.ceil(start + self.window_for(endpoint))

    def hit(self, user_id: str, endpoint: str) -> RateDecision:
        """Count one request; refuse it (without counting) once the window is spent."""
        with self._lock:
            now = self._clock.time()
            win = self._current(user_id, endpoint, now)
            if win is None:
                win = _Window(start=now, used=0)
                self._windows[(user_id, self.budget_key(endpoint))] = win
            limit = self.limit_for(endpoint)
            if win.used >= limit:
                return RateDecision(False, limit, 0, self._reset_at(win.start, endpoint))
            win.used += 1
            return RateDecision(True, limit, limit - win.used, self._reset_at(win.start, endpoint))

    def peek(self, user_id: str, endpoint: str) -> RateDecision:
        """Report the budget without spending any (for answers that are refused anyway)."""
        with self._lock:
            now = self._clock.time()
            win = self._current(user_id, endpoint, now)
            limit = self.limit_for(endpoint)
            if win is None:
                return RateDecision(True, limit, limit, self._reset_at(now, endpoint))
            remaining = max(0, limit - win.used)
            return RateDecision(
                remaining > 0, limit, remaining, self._reset_at(win.start, endpoint)
            )
