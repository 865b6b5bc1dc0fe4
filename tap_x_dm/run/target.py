"""Whether the Singer target still reads the tap's stdout.

A target that dies (a crash, an out-of-memory kill, `head -1`) leaves the tap
writing into a closed pipe; stdout may also be closed from the start (`>&-`)
or full (`/dev/full`). Each is one line and an immediate stop: every request
after it would be billed for records nobody keeps. Nothing is lost: the next
run starts from the last STATE the target took. A long rate-limit wait checks
the pipe every second (`check_target`), so it does not sleep for 15 minutes
and then pay for one more page.
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import sys

from tap_x_dm.errors import TapXDMError

_GONE = getattr(select, "POLLERR", 0) | getattr(select, "POLLHUP", 0)
_GONE |= getattr(select, "POLLNVAL", 0)


class TargetGoneError(TapXDMError):
    """stdout is closed, full, or its reader (the target) exited."""


def target_gone(reason: str) -> TargetGoneError:
    """The one line: why the output failed, what happens to the run and the state."""
    return TargetGoneError(
        f"The target stopped reading the tap's output ({reason}): the run stops here, making "
        "no further request; the next run starts from the last STATE the target took."
    )


def reason_of(exc: BaseException) -> str:
    """`stdout: Broken pipe`, `stdout: No space left on device`... in a few words."""
    if isinstance(exc, OSError) and exc.errno is not None:
        if exc.errno == errno.EPIPE:
            return "stdout: broken pipe, the target exited"
        return f"stdout: {os.strerror(exc.errno)}"
    if isinstance(exc, (ValueError, AttributeError)):  # a closed file; no stdout at all
        return "stdout is closed"
    return f"stdout: {type(exc).__name__}"


def check_target() -> None:
    """Raise `TargetGoneError` if stdout is closed or its reader has gone, without writing.

    A pipe or socket whose reader exited polls as an error or hang-up; a file or
    terminal polls as writable. Where stdout is no real file (a test's capture)
    or `poll` does not exist (Windows), nothing can be told and nothing is raised.
    """
    out = sys.stdout
    if out is None:
        raise target_gone("stdout is closed")
    if not _GONE or not hasattr(select, "poll"):
        return
    try:
        fd = out.fileno()
    except (AttributeError, OSError, ValueError):
        return
    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    for _, events in poller.poll(0):
        if events & _GONE:
            raise target_gone("stdout: the target exited")


def silence_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's last flush adds no second error."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
