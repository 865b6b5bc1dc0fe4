"""The sandbox's time source: the `Clock` protocol, the real clock and a manual one.

The sandbox imports nothing from the tap, so it defines the same two-method
protocol the tap does (`time()`, `sleep()`); structural typing lets tests hand
one `ManualClock` to both, so a 15-minute rate-limit wait takes no real time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol

__all__ = ["Clock", "ManualClock", "SystemClock"]


class Clock(Protocol):
    """Wall-clock time in epoch seconds, and a way to wait."""

    def time(self) -> float:
        """Return the current time in epoch seconds."""
        ...

    def sleep(self, seconds: float, check: Callable[[], None] | None = None) -> None:
        """Block for `seconds` (or pretend to), calling `check` before each second of it."""
        ...


class SystemClock:
    """The real clock."""

    def time(self) -> float:
        """Return `time.time()`."""
        return time.time()

    def sleep(self, seconds: float, check: Callable[[], None] | None = None) -> None:
        """Sleep for real, a second at a time when there is something to check."""
        end = time.monotonic() + seconds
        while True:
            if check is not None:
                check()
            left = end - time.monotonic()
            if left <= 0:
                return
            time.sleep(left if check is None else min(1.0, left))


class ManualClock:
    """A clock that only moves when told to; `sleep` advances it instantly.

    Thread-safe, because the sandbox answers on server threads while the tap
    sleeps on the main thread.
    """

    def __init__(self, start: float | None = None) -> None:
        self._now = time.time() if start is None else start
        self._lock = threading.Lock()
        self.sleeps: list[float] = []

    def time(self) -> float:
        """Return the simulated time."""
        with self._lock:
            return self._now

    def sleep(self, seconds: float, check: Callable[[], None] | None = None) -> None:
        """Advance the clock by `seconds` and remember the wait (one entry per wait).

        With `check`, the clock moves a second at a time and calls it before each
        step, as a real wait would: a test sees when the wait noticed.
        """
        with self._lock:
            self.sleeps.append(seconds)
        left = max(0.0, seconds)
        while True:
            if check is not None:
                check()
            if left <= 0:
                return
            step = left if check is None else min(1.0, left)
            with self._lock:
                self._now += step
            left -= step

    def advance(self, seconds: float) -> None:
        """Move time forward without recording a sleep."""
        with self._lock:
            self._now += seconds
