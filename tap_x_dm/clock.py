"""The one seam through which the tap and the sandbox read the time and sleep.

Rate-limit windows last 15 minutes on X. Tests and benchmarks swap in a manual
clock (the sandbox's `tap_x_dm_sandbox.ManualClock`, which fits this protocol)
shared by the tap and the in-process sandbox, so a "15 minute" wait takes
microseconds and every wait is still observable.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """Wall-clock time in epoch seconds, and a way to wait."""

    def time(self) -> float:
        """Return the current time in epoch seconds."""
        ...

    def sleep(self, seconds: float) -> None:
        """Block for `seconds` (or pretend to)."""
        ...


class SystemClock:
    """The real clock."""

    def time(self) -> float:
        """Return `time.time()`."""
        return time.time()

    def sleep(self, seconds: float) -> None:
        """Sleep for real."""
        if seconds > 0:
            time.sleep(seconds)
