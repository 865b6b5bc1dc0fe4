"""Shared test helpers: run the tap in-process against the sandbox and collect its output."""

from __future__ import annotations

import json
import os
import tempfile
import typing as t
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from singer_sdk.singerlib.encoding.simple import SimpleSingerWriter

from tap_x_dm.clock import Clock
from tap_x_dm.tap import TapXDM
from tap_x_dm_sandbox import ManualClock, Sandbox

# The fixtures of the split test modules live in their support modules.
pytest_plugins = ["tap_x_dm_sandbox.fixtures", "tests.archive_support", "tests.chat_support"]

#: X's example payloads, kept once in the repository with the sandbox's tests (README there).
X_API = Path(__file__).resolve().parents[1] / "sandbox" / "tests" / "x_api"
EXAMPLES = X_API / "examples"


class Killed(BaseException):
    """Stands for the process dying (kill -9, OOM) in the middle of a run."""


class CollectingWriter(SimpleSingerWriter):
    """Keeps every Singer message as the JSON a target would read.

    `on_message` runs after each message: tests use it to add events while a
    pass is under way, or to raise `Killed` at an exact point of the run.
    """

    def __init__(self, on_message: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.messages: list[dict[str, Any]] = []
        self._on_message = on_message

    def write_message(self, message: Any) -> None:
        decoded = json.loads(self.format_message(message))
        self.messages.append(decoded)
        if self._on_message is not None:
            self._on_message(decoded)


@dataclass
class TapRun:
    """What one run wrote, plus the tap for inspection."""

    messages: list[dict[str, Any]]
    tap: TapXDM | None = None
    error: BaseException | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def records(self, stream: str) -> list[dict[str, Any]]:
        return [
            m["record"] for m in self.messages if m["type"] == "RECORD" and m["stream"] == stream
        ]

    def ids(self, stream: str = "dm_events") -> list[str]:
        return [r["id"] for r in self.records(stream)]

    @property
    def states(self) -> list[dict[str, Any]]:
        return [m["value"] for m in self.messages if m["type"] == "STATE"]

    @property
    def final_state(self) -> dict[str, Any]:
        return self.states[-1] if self.states else {}

    def schemas(self, stream: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["type"] == "SCHEMA" and m["stream"] == stream]


#: Run locks of this test session, apart from any real tap-x-dm run on the machine.
RUN_LOCK_DIR = tempfile.mkdtemp(prefix="tap-x-dm-test-locks-")
#: The default lock folder of every run the tests start (subprocesses too): never the real home.
os.environ["XDG_STATE_HOME"] = tempfile.mkdtemp(prefix="tap-x-dm-test-state-")


def tap_config(sandbox: Sandbox, **overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "api_url": sandbox.base_url,
        "access_token": sandbox.access_token(),
        "run_lock_dir": RUN_LOCK_DIR,
        "xchat_check": False,  # the daily XChat probe is tested in test_chat.py
    }
    config.update(overrides)
    return config


def run_tap(
    sandbox: Sandbox,
    *,
    clock: Clock,
    state: dict[str, Any] | None = None,
    catalog: dict[str, Any] | None = None,
    raise_errors: bool = True,
    on_message: Callable[[dict[str, Any]], None] | None = None,
    select: list[str] | None = None,
    **config: Any,
) -> TapRun:
    """Run a full sync in-process; with raise_errors=False a failure is kept, not raised.

    `select` names the streams to select (default: all), as a catalog would.
    """
    if select is not None:
        catalog = selected_catalog(sandbox, select)
    writer = CollectingWriter(on_message)
    run = TapRun(writer.messages)
    try:
        tap = TapXDM(
            config=tap_config(sandbox, **config),
            state=state or {},
            catalog=catalog,
            message_writer=writer,
            clock=clock,
        )
        run.tap = tap
        tap.sync_all()
    except (Exception, Killed) as exc:
        if raise_errors:
            raise
        run.error = exc
    return run


def selected_catalog(sandbox: Sandbox, streams: list[str]) -> dict[str, Any]:
    """The tap's discovered catalog with only `streams` selected."""
    discovered = TapXDM(config=tap_config(sandbox), validate_config=False).catalog_dict
    for entry in discovered["streams"]:
        for metadata in entry["metadata"]:
            if metadata["breadcrumb"] == []:
                metadata["metadata"]["selected"] = entry["tap_stream_id"] in streams
    return discovered


def dm_requests(sandbox: Sandbox, prefix: str = "/2/dm_") -> list[dict[str, Any]]:
    return [entry for entry in sandbox.request_log if entry["path"].startswith(prefix)]


#: The sandbox's vocabulary modes (issue 21): X's 2.166 names only, 2.167 only, both answered in
#: 2.166 names (the only behaviour observed, the sandbox's default), both answered as asked.
VOCABULARIES = ("2.166", "2.167", "both", "as-asked")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Tests marked `every_vocabulary` run against each vocabulary mode of the sandbox."""
    marked = metafunc.definition.get_closest_marker("every_vocabulary")
    if marked and "vocabulary" in metafunc.fixturenames:  # tests with a sandbox
        metafunc.parametrize("vocabulary", VOCABULARIES)


@pytest.fixture
def vocabulary() -> str:
    """The sandbox's vocabulary mode: its default unless the test is `every_vocabulary`."""
    return "both"


@pytest.fixture
def sandbox_factory(sandbox_factory: Any, vocabulary: str) -> Any:
    """The sandbox package's factory, in the test's vocabulary mode unless one is given."""

    def make(**config: Any) -> Sandbox:
        config.setdefault("vocabulary", vocabulary)
        return t.cast("Sandbox", sandbox_factory(**config))

    return make


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()
