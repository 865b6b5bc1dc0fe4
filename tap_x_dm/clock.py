"""The one seam through which the tap and the sandbox read the time and sleep.

Rate-limit windows last 15 minutes on X. Tests and benchmarks swap in a manual
clock (the sandbox's `tap_x_dm_sandbox.ManualClock`, which fits this protocol)
shared by the tap and the in-process sandbox, so a "15 minute" wait takes
microseconds and every wait is still observable.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

#: The longest a wait sleeps before it calls its `check` again.
CHECK_EVERY_SECONDS = 1.0


class Clock(Protocol):
    """Wall-clock time in epoch seconds, and a way to wait."""

    def time(self) -> float:
        """Return the current time in epoch seconds."""
        ...

    def sleep(self, seconds: float, check: Callable[[], None] | None = None) -> None:
        """Block for `seconds` (or pretend to), calling `check` before each second of it.

        `check` raises to end the wait early (the target stopped reading): a
        15-minute wait notices within a second instead of at its end.
        """
        ...


class SystemClock:
    """The real clock."""

    #: `time.time` itself: reading the clock runs no code of the tap's (it happens per page).
    time = staticmethod(time.time)

    def sleep(self, seconds: float, check: Callable[[], None] | None = None) -> None:
        """Sleep for real, a second at a time when there is something to check."""
        if check is None:
            if seconds > 0:
                time.sleep(seconds)
            return
        end = time.monotonic() + seconds
        while True:
            check()
            left = end - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(CHECK_EVERY_SECONDS, left))
