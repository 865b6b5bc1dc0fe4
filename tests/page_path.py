"""Which modules of `tap_x_dm` one steady-state page of `GET /2/dm_events` runs through.

Issue 20: `docs/architecture.md` lists that path ("The modules one page runs through") and
`tests/test_page_path.py` compares it with what `measure()` sees. The page: the second
run (incremental, default config: `object_lookups: by_id`) of a sandbox whose inbox got 360
new messages in four conversations after the first run, read 100 a page. Its pass reads
them newest first; the profiled page is the run's fourth request (the pass's third page of
100: its first page, of 14 events sized from the arrival rate, did not reach the bookmark
and was read again at 100): a page that follows the cursor of a full page and is followed
by another one.

The window opens when the STATE line of the page before reaches stdout (from there the
pass decides to go on, and builds, signs and sends the page's request) and closes when the
STATE line written after the page's records does (the tap's own `LineWriter`, as in
production). A module runs if a function of it has a frame executing in the window: called
in it (`sys.setprofile` sees every Python call and generator resume) or on the stack when
it opens.

Regenerate the list (with each module's calls): `.venv/bin/python -m tests.page_path`.
Keep the bound by giving each job one module, never by copying a helper into its caller
(`duplicates --change` shows copies).
"""

from __future__ import annotations

import json
import sys
import types
import typing as t
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from tap_x_dm.run.log_lines import quiet_sdk_lines
from tap_x_dm.sdk_adapter import LineWriter
from tap_x_dm.tap import TapXDM
from tap_x_dm_sandbox import ManualClock, Sandbox, SandboxConfig
from tests.conftest import run_tap, tap_config

PACKAGE = "tap_x_dm"
DM_EVENTS = "/2/dm_events"
#: The profiled page: the n-th `/2/dm_events` request of the incremental run.
PAGE = 4
#: New messages per conversation, and the conversations they arrive in, between the runs.
NEW_PER_CONVERSATION, CONVERSATIONS = 90, 4
#: The sandbox's and the tap's clock at the first run (fixed: the same ids every time).
START = 1_796_083_200.0


def in_package(module: str) -> bool:
    return module == PACKAGE or module.startswith(PACKAGE + ".")


@dataclass
class PagePath:
    """What ran between the page's request and its STATE line."""

    #: Frames entered per module (calls and generator resumes).
    calls: Counter[str] = field(default_factory=Counter)
    #: Of those, the ones entered from another module (or from outside the package).
    entries: Counter[str] = field(default_factory=Counter)
    #: Calls entering the package's modules from another module: (caller, callee function).
    edges: Counter[tuple[str, str]] = field(default_factory=Counter)
    #: Modules with a frame on the stack when the window opened.
    on_stack: set[str] = field(default_factory=set)
    #: The sandbox's log entries of the requests made in the window.
    requests: list[dict[str, Any]] = field(default_factory=list)
    #: The STATE that closed the window, and every message of the run.
    state: dict[str, Any] = field(default_factory=dict)
    messages: list[dict[str, Any]] = field(default_factory=list)
    #: The sandbox's log of the profiled run (every request).
    run_requests: list[dict[str, Any]] = field(default_factory=list)

    @property
    def modules(self) -> list[str]:
        return sorted(set(self.calls) | self.on_stack)


class _Profiler:
    """Counts the package's frames between `start()` and `stop()` (this thread only)."""

    def __init__(self, path: PagePath) -> None:
        self.path = path
        self.running = False
        self._saved: Any = None

    def start(self, frame: types.FrameType | None) -> None:
        while frame is not None:
            module = frame.f_globals.get("__name__", "")
            if in_package(module):
                self.path.on_stack.add(module)
            frame = frame.f_back
        self.running = True
        self._saved = sys.getprofile()
        sys.setprofile(self._event)

    def stop(self) -> None:
        if self.running:
            sys.setprofile(self._saved)
            self.running = False

    def _event(self, frame: types.FrameType, event: str, arg: Any) -> None:
        if event != "call":
            return
        module = frame.f_globals.get("__name__", "")
        if not in_package(module):
            return
        self.path.calls[module] += 1
        caller = frame.f_back
        source = "" if caller is None else caller.f_globals.get("__name__", "")
        if source != module:
            self.path.entries[module] += 1
            code = frame.f_code
            name = f"{module}.{getattr(code, 'co_qualname', code.co_name)}"
            self.path.edges[source if in_package(source) else "(outside)", name] += 1


class _Stdout:
    """The tap's stdout: keeps each line; the STATE after the window opened closes it."""

    def __init__(self, profiler: _Profiler, path: PagePath, sandbox: Sandbox) -> None:
        self.buffer = self
        self._profiler, self._path, self._sandbox = profiler, path, sandbox
        self.closed_at: int | None = None  # requests in the sandbox's log at the close
        self.opened_at = 0  # and at the open

    def write(self, line: bytes) -> int:
        message = json.loads(line)
        self._path.messages.append(message)
        if message["type"] != "STATE":
            return len(line)
        if self._profiler.running:
            self._profiler.stop()
            self._path.state = message["value"]
            self.closed_at = len(self._sandbox.request_log)
        elif self.closed_at is None and self._pages_read() == PAGE - 1:
            self.opened_at = len(self._sandbox.request_log)
            self._profiler.start(sys._getframe(1))
        return len(line)

    def _pages_read(self) -> int:
        return sum(urlsplit(r["path"]).path == DM_EVENTS for r in self._sandbox.request_log)

    def flush(self) -> None:
        """Nothing buffered."""


def measure() -> PagePath:
    """Run the scenario of the module docstring; return the profiled page's path.

    The SDK's METRIC lines go to DEBUG through the tap's log filter, as `tap_x_dm.main`
    installs it for every run.
    """
    clock = ManualClock(START)
    sandbox = Sandbox(SandboxConfig(rate_limit=10_000, events=600, conversations=20), clock=clock)
    sandbox.start()
    undo_quiet_lines = quiet_sdk_lines(discovering=False)
    try:
        first = run_tap(sandbox, clock=clock)
        clock.advance(6 * 3600)
        recent = [e["dm_conversation_id"] for e in sandbox.visible_events()]
        for conversation in sorted(set(recent))[:CONVERSATIONS]:
            sandbox.add_events(NEW_PER_CONVERSATION, conversation_id=conversation)
            clock.advance(60)
        sandbox.clear_log()
        return _profiled_run(sandbox, clock, first.final_state)
    finally:
        undo_quiet_lines()
        sandbox.stop()


def _profiled_run(sandbox: Sandbox, clock: ManualClock, state: dict[str, Any]) -> PagePath:
    path = PagePath()
    profiler = _Profiler(path)
    stdout = _Stdout(profiler, path, sandbox)
    tap = TapXDM(config=tap_config(sandbox), state=state, message_writer=LineWriter(), clock=clock)
    saved = sys.stdout
    sys.stdout = t.cast("t.TextIO", stdout)  # the LineWriter uses `buffer` and `flush`
    try:
        tap.sync_all()
    finally:
        profiler.stop()
        sys.stdout = saved
    path.run_requests = sandbox.request_log
    if stdout.closed_at is not None:
        path.requests = path.run_requests[stdout.opened_at : stdout.closed_at]
    return path


def main() -> None:
    """Print the measured modules, one a line, with their calls; `--calls`: who calls what."""
    path = measure()
    if "--calls" in sys.argv[1:]:
        for (source, name), count in sorted(path.edges.items()):
            print(f"{count:5d}  {source} -> {name}")
        return
    for module in path.modules:
        note = " (on the stack)" if module in path.on_stack else ""
        print(f"{module}  calls={path.calls[module]} from-outside={path.entries[module]}{note}")
    total = sum(path.entries.values())
    print(f"{len(path.modules)} modules, {total} calls between modules", file=sys.stderr)


if __name__ == "__main__":
    main()
