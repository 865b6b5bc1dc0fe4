"""Write a state fixture with a released tap-x-dm, or add what another tap does next from it.

Not a test: run by hand, with the release to record on the path first (README.md here):

    git worktree add /tmp/old02 af85a85             # the commit that set version 0.2.0
    PYTHONPATH=/tmp/old02:/tmp/old02/sandbox .venv/bin/python \\
        tests/state_fixtures/make_fixture.py make tests/state_fixtures/v2_0.2.0.json
    PYTHONPATH=/tmp/main:/tmp/main/sandbox .venv/bin/python \\
        tests/state_fixtures/make_fixture.py expect tests/state_fixtures/v2_0.2.0.json main

`make` runs the release against its own sandbox and keeps, for each case, the world's
steps (clock moves, events added), the state the release saved, and what the release
did next from it (its rows). `expect` adds what the tap on the path does next (rows and
requests): the upgrade tests hold the current tap to it.
"""

from __future__ import annotations

import copy
import importlib
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from singer_sdk.singerlib.encoding.simple import SimpleSingerWriter

import tap_x_dm
from tap_x_dm.tap import TapXDM

try:
    from tap_x_dm_sandbox import ManualClock, Sandbox, SandboxConfig
except ImportError:  # 0.1 and 0.2 shipped the sandbox inside the tap
    Sandbox = importlib.import_module("tap_x_dm.sandbox").Sandbox
    SandboxConfig = importlib.import_module("tap_x_dm.sandbox").SandboxConfig
    ManualClock = importlib.import_module("tap_x_dm.clock").ManualClock

WORLD = {"seed": 1, "events": 500, "days": 60, "conversations": 30, "users": 16}
CLOCK_START = 1_796_515_200.0  # 2026-12-05T00:00:00Z
STREAMS = ("dm_events", "conversation_events", "users", "tweets", "media")
MISSING_EVENT = "1999999999999999999"  # X answers 404


class Killed(BaseException):
    """The process dies (kill -9) after a number of records."""


class Writer(SimpleSingerWriter):
    def __init__(self, kill_after: int | None = None) -> None:
        self.messages: list[dict[str, Any]] = []
        self._kill_after = kill_after

    def write_message(self, message: Any) -> None:
        self.messages.append(json.loads(self.format_message(message)))
        records = sum(1 for m in self.messages if m["type"] == "RECORD")
        if self._kill_after is not None and records >= self._kill_after:
            raise Killed


def world() -> tuple[Any, Any]:
    clock = ManualClock(start=CLOCK_START)
    sandbox = Sandbox(SandboxConfig(rate_limit=10_000, **WORLD), clock=clock).start()
    return sandbox, clock


def apply(sandbox: Any, clock: Any, steps: list[dict[str, Any]]) -> None:
    for step in steps:
        if "advance" in step:
            clock.advance(step["advance"])
        else:
            sandbox.add_events(step["add_events"], conversation_id=step.get("conversation_id"))


def settings(sandbox: Any, fixture: dict[str, Any], archive_dir: Path) -> dict[str, Any]:
    config = dict(fixture["config"])
    if config.pop("archive", False):
        builder = importlib.import_module("tests.archive_sandbox").archive_from_sandbox(sandbox)
        config["archive_path"] = str(builder.build_zip(archive_dir / "twitter-archive.zip"))
    return {"api_url": sandbox.base_url, "access_token": sandbox.access_token(), **config}


def run(sandbox: Any, clock: Any, config: dict[str, Any], state: dict[str, Any], **kw: Any) -> Any:
    writer = Writer(kw.get("kill_after"))
    start = len(sandbox.request_log)
    try:
        # A copy: some releases change the state they are given in place.
        tap = TapXDM(config=config, state=copy.deepcopy(state), message_writer=writer, clock=clock)
        tap.sync_all()
    except Killed:
        pass
    states = [m["value"] for m in writer.messages if m["type"] == "STATE"]
    rows = {
        stream: [
            m["record"]["id"]
            for m in writer.messages
            if m["type"] == "RECORD" and m["stream"] == stream and "id" in m["record"]
        ]
        for stream in ("dm_events", "conversation_events")
    }
    requests = [
        [
            e["path"],
            {
                k: v
                for k, v in e["query"].items()
                if k in ("max_results", "ids", "event_types", "pagination_token")
            },
        ]
        for e in list(sandbox.request_log)[start:]
        if e["path"].startswith("/2/")
    ]
    return (states[-1] if states else {}), rows, requests


def make(path: Path) -> None:
    """Record this release's states and next runs (the cases depend on what it offers)."""
    version = tap_x_dm.__version__
    sandbox, _ = world()
    account = sandbox.account.id
    conversations = sandbox.dataset.conversations_of(account)
    group = next(c for c in conversations if "-" not in c)
    pair = next(c for c in conversations if "-" in c)
    partner = next(p for p in pair.split("-") if p != account)
    old = [e["id"] for e in sandbox.visible_events(window_days=None)][-3]
    config: dict[str, Any] = {
        "dm_conversation_ids": [group],
        "participant_ids": [partner],
        "dm_event_ids": [old, MISSING_EVENT],
    }
    if version.startswith("0.3"):
        config.update(archive=True, object_lookups="by_id")
    sandbox.stop()
    fixture: dict[str, Any] = {
        "made_by": f"tap-x-dm {version}",
        "world": WORLD,
        "clock_start": CLOCK_START,
        "config": config,
        "cases": [],
    }
    at_rest = [{"advance": 3600}, {"add_events": 5, "conversation_id": group}, {"add_events": 3}]
    fixture["cases"].append(record(fixture, "at rest", [], at_rest, kill_after=None))
    if not version.startswith("0.1"):  # 0.1 kept no pass in flight
        busy = [
            {"advance": 3600},
            {"add_events": 120, "conversation_id": group},
            {"add_events": 180},
            {"advance": 60},
        ]
        fixture["cases"].append(record(fixture, "a pass in flight", busy, [], kill_after=150))
    path.write_text(json.dumps(fixture, indent=1) + "\n")


def record(
    fixture: dict[str, Any],
    name: str,
    before: list[dict[str, Any]],
    after: list[dict[str, Any]],
    *,
    kill_after: int | None,
) -> dict[str, Any]:
    """A first run, `before`, a run (killed after `kill_after` records), `after`, the next run."""
    sandbox, clock = world()
    try:
        with tempfile.TemporaryDirectory() as folder:
            config = settings(sandbox, fixture, Path(folder))
            first, _, _ = run(sandbox, clock, config, {})
            apply(sandbox, clock, before)
            state = first
            if kill_after is not None:
                state, _, _ = run(sandbox, clock, config, first, kill_after=kill_after)
            apply(sandbox, clock, after)
            _, rows, requests = run(sandbox, clock, config, state)
    finally:
        sandbox.stop()
    steps = [*before, *after]
    return {
        "name": name,
        "steps": steps,
        "state": state,
        "next_by_release": {"rows": rows, "requests": requests},
    }


def expect(path: Path, label: str) -> None:
    """Add what the tap on the path does next from each case's state, as `next_by_<label>`."""
    fixture = json.loads(path.read_text())
    for case in fixture["cases"]:
        sandbox, clock = world()
        try:
            with tempfile.TemporaryDirectory() as folder:
                config = settings(sandbox, fixture, Path(folder))
                apply(sandbox, clock, case["steps"])
                _, rows, requests = run(sandbox, clock, config, case["state"])
        finally:
            sandbox.stop()
        case[f"next_by_{label}"] = {"rows": rows, "requests": requests}
    path.write_text(json.dumps(fixture, indent=1) + "\n")


if __name__ == "__main__":
    if sys.argv[1] == "make":
        make(Path(sys.argv[2]))
    else:
        expect(Path(sys.argv[2]), sys.argv[3])
