"""One rate budget per run, learned from X's `x-rate-limit-*` headers.

X allows about 15 requests per 15 minutes per user on the DM endpoints (older
plans: 300), and nobody can say for sure whether the three list endpoints share
one window. So nothing here is hard-coded: every response teaches the budget
its window, two endpoints whose headers move in lock-step are merged into one
window, and the tap sleeps until the reset *before* X has to answer 429.
"""

from __future__ import annotations

import logging
import random
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from tap_x_dm.clock import Clock
from tap_x_dm.errors import StopRunError
from tap_x_dm.ids_and_times import utc_text

_ENDPOINT_PATTERNS = (
    (
        re.compile(r"^/2/dm_conversations/with/[^/]+/dm_events$"),
        "/2/dm_conversations/with/:participant_id/dm_events",
    ),
    (
        re.compile(r"^/2/dm_conversations/[^/]+/dm_events$"),
        "/2/dm_conversations/:dm_conversation_id/dm_events",
    ),
    (re.compile(r"^/2/dm_events/[^/]+$"), "/2/dm_events/:event_id"),
    (re.compile(r"^/2/chat/conversations/[^/]+/events$"), "/2/chat/conversations/:id/events"),
    (re.compile(r"^/2/chat/conversations/[^/]+$"), "/2/chat/conversations/:id"),
)

#: The three list endpoints, which X may or may not count against one shared window.
LIST_ENDPOINTS = frozenset(
    {
        "/2/dm_events",
        "/2/dm_conversations/:dm_conversation_id/dm_events",
        "/2/dm_conversations/with/:participant_id/dm_events",
    }
)

#: Seconds added to X's reset time: its clock and ours may disagree a little.
RESET_MARGIN_SECONDS = 1.0

_TOO_MANY_REQUESTS = 429


def endpoint_of(path: str) -> str:
    """Return the endpoint template of a request path (ids replaced by names).

    Budgets, logs and error lines speak of endpoints, not of one conversation.
    """
    for pattern, template in _ENDPOINT_PATTERNS:
        if pattern.match(path):
            return template
    return path


@dataclass
class Window:
    """What the last response said about one rate-limit window."""

    limit: int
    remaining: int
    reset: float  # epoch seconds


def parse_window(headers: Mapping[str, str]) -> Window | None:
    """Read `x-rate-limit-limit/-remaining/-reset`; None when any is missing.

    X occasionally omits them, so their absence is normal, not an error.
    """
    try:
        return Window(
            limit=int(headers["x-rate-limit-limit"]),
            remaining=int(headers["x-rate-limit-remaining"]),
            reset=float(headers["x-rate-limit-reset"]),
        )
    except (KeyError, ValueError):
        return None


class RateBudget:
    """The run's knowledge of every endpoint's window, shared by all streams.

    X counts per user and endpoint. A run authenticates as exactly one user
    (the Tap builds one budget next to its one authenticator, and a token
    refresh does not change the user), so windows are keyed by endpoint
    template, and endpoints X turns out to count together share one window.
    One thread uses it: the SDK syncs streams one after another.
    """

    def __init__(
        self,
        clock: Clock,
        *,
        max_wait_seconds: float,
        logger: logging.Logger,
        backoff_base_seconds: float = 2.0,
        backoff_cap_seconds: float = 120.0,
        check_during_waits: Callable[[], None] | None = None,
    ) -> None:
        self._clock = clock
        #: Raises to end a wait early (`tap_x_dm.run.target.check_target`), called every second.
        self._check = check_during_waits
        self._max_wait = max_wait_seconds
        self._logger = logger
        self._backoff_base = backoff_base_seconds
        self._backoff_cap = backoff_cap_seconds
        self._windows: dict[str, Window] = {}
        self._group_of: dict[str, str] = {}
        self._last_observed: str | None = None

    # -- learning ---------------------------------------------------------------------

    def _group(self, endpoint: str) -> str:
        return self._group_of.get(endpoint, endpoint)

    def observe(
        self, endpoint: str, headers: Mapping[str, str], *, status: int | None = None
    ) -> None:
        """Record the window a response reports for `endpoint`.

        Two list endpoints share a window when a response of one continues the
        other's count (same limit and reset, one request fewer left), or when
        one answers 429 exactly when the other's window ran out.
        """
        window = parse_window(headers)
        if window is None:
            return
        previous_key = self._last_observed
        if endpoint in LIST_ENDPOINTS:  # a users/tweets lookup between pages changes nothing
            self._last_observed = endpoint
        if (
            previous_key is not None
            and self._group(previous_key) != self._group(endpoint)
            and {previous_key, endpoint} <= LIST_ENDPOINTS
        ):
            other = self._windows.get(self._group(previous_key))
            own = self._windows.get(self._group(endpoint))
            if (
                other is not None
                and self._same_window(other, window, status)
                and not self._continues(own, window)
            ):
                # The two endpoints spend one budget: X shares the window.
                self._group_of[endpoint] = self._group(previous_key)
                self._logger.info(
                    "Rate limit: %s and %s share one window of %d requests.",
                    endpoint,
                    previous_key,
                    window.limit,
                )
        self._windows[self._group(endpoint)] = window

    @staticmethod
    def _continues(own: Window | None, window: Window) -> bool:
        """Whether `window` is just the next count of the endpoint's own window.

        Then one budget per endpoint explains it as well as a shared one, and
        merging on a coincidence would make the tap wait for no reason.
        """
        if own is None:
            return window.remaining == window.limit - 1
        same_period = abs(own.reset - window.reset) <= RESET_MARGIN_SECONDS
        return same_period and window.remaining == own.remaining - 1

    @staticmethod
    def _same_window(other: Window, window: Window, status: int | None) -> bool:
        if other.limit != window.limit or abs(other.reset - window.reset) > RESET_MARGIN_SECONDS:
            return False
        if window.remaining == other.remaining - 1:
            return True
        return status == _TOO_MANY_REQUESTS and other.remaining == 0 and window.remaining == 0

    def window(self, endpoint: str) -> Window | None:
        """Return the last known window of `endpoint` (for tests and cost logs)."""
        return self._windows.get(self._group(endpoint))

    # -- waiting ----------------------------------------------------------------------

    def wait(self, seconds: float, *, endpoint: str, reason: str, retry: str | None = None) -> None:
        """Sleep through the clock, logging once why, how long and until when.

        Args:
            seconds: How long.
            endpoint: The endpoint template the wait is for.
            reason: Why (a window ran out, X's answer that is being retried).
            retry: "retry N of M" when this wait precedes a retry.

        Raises:
            StopRunError: when the wait exceeds `max_rate_limit_wait_seconds`.
        """
        if seconds <= 0:
            return
        now = self._clock.time()
        until = now + seconds
        if seconds > self._max_wait:
            msg = (
                f"Stopping: {endpoint} would need a wait of {seconds:.0f} s (until "
                f"{utc_text(until)}; {reason}), longer than max_rate_limit_wait_seconds="
                f"{self._max_wait:.0f}. Finished work is kept in the state; run again later."
            )
            window = self._windows.get(self._group(endpoint))
            spent = window is not None and window.remaining == 0 and window.reset > now
            raise StopRunError(msg, resume_at=window.reset if spent and window else until)
        if retry is None:
            self._logger.warning(
                "Rate limit: waiting %.0f s for %s until %s (%s).",
                seconds,
                endpoint,
                utc_text(until),
                reason,
            )
        else:
            self._logger.warning(
                "Retrying %s in %.0f s (until %s), %s: %s.",
                endpoint,
                seconds,
                utc_text(until),
                retry,
                reason,
            )
        self._clock.sleep(seconds, self._check)

    def before_request(self, endpoint: str) -> None:
        """Wait for the reset when the last response left no request in the window."""
        window = self._windows.get(self._group(endpoint))
        if window is None or window.remaining > 0:
            return
        seconds = window.reset + RESET_MARGIN_SECONDS - self._clock.time()
        if seconds <= 0:
            return
        self.wait(
            seconds,
            endpoint=endpoint,
            reason=f"0 of {window.limit} requests left in this window",
        )
        # The window has reset; the next response will tell us the new one.
        window.remaining = window.limit

    def delay_for_retry(self, endpoint: str, headers: Mapping[str, str], attempt: int) -> float:
        """Seconds to wait before retrying a 429 or a transient failure.

        A 429 with `x-rate-limit-reset` waits exactly until the reset (+1 s);
        anything else (no headers, a reset already past, a 5xx, a dropped
        connection) backs off exponentially with jitter, bounded by the cap.
        """
        window = parse_window(headers)
        if window is not None and window.remaining == 0:
            self._windows[self._group(endpoint)] = window
            until_reset = window.reset + RESET_MARGIN_SECONDS - self._clock.time()
            if until_reset > 0:
                return until_reset
        ceiling = min(self._backoff_cap, self._backoff_base * (2 ** max(0, attempt - 1)))
        return random.uniform(ceiling / 2, ceiling)
