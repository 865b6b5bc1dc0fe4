"""Helpers of the XChat tests: sandboxes sharing one crypto cache, what the sandbox holds."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tap_x_dm.tap import TapXDM
from tap_x_dm_sandbox import ManualClock, Sandbox, SandboxConfig
from tests.conftest import run_tap, tap_config

ChatSandbox = Callable[..., Sandbox]
CHAT_STREAMS = ["chat_conversations", "chat_events"]
ALL_CHAT = [*CHAT_STREAMS, "chat_conversation_keys"]
EVENTS_PATH = "/2/chat/conversations/"


@pytest.fixture(scope="session")
def xchat_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One crypto cache for the session: chatxdk's keys are made once."""
    return tmp_path_factory.mktemp("xchat-cache")


@pytest.fixture
def chat_sandbox(xchat_cache: Path) -> Iterator[ChatSandbox]:
    """`make(clock, **SandboxConfig fields)` -> a started sandbox with XChat."""
    made: list[Sandbox] = []

    def make(clock: Any = None, **config: Any) -> Sandbox:
        config.setdefault("xchat_cache_dir", str(xchat_cache))
        sandbox = Sandbox(SandboxConfig(**config), clock=clock or ManualClock())
        made.append(sandbox)
        return sandbox.start()

    yield make
    for sandbox in made:
        sandbox.stop()


def all_chat_events(sandbox: Sandbox) -> dict[str, dict[str, Any]]:
    """Every XChat event the account can read, by id."""
    return {
        event["id"]: event
        for conversation in sandbox.xchat.conversations(sandbox.account.id)
        for event in sandbox.xchat.events(conversation.id)
    }


def chat_requests(sandbox: Sandbox) -> list[dict[str, Any]]:
    """The Chat API requests of the sandbox's log."""
    return [e for e in sandbox.request_log if e["path"].startswith("/2/chat/")]


def event_pages(sandbox: Sandbox) -> list[dict[str, Any]]:
    """The requests for conversations' events."""
    return [e for e in chat_requests(sandbox) if e["path"].endswith("/events")]


def catalog(sandbox: Sandbox, streams: list[str], **config: Any) -> dict[str, Any]:
    """The discovered catalog (for `config`) with only `streams` selected."""
    discovered = TapXDM(config=tap_config(sandbox, **config), validate_config=False).catalog_dict
    for entry in discovered["streams"]:
        for metadata in entry["metadata"]:
            if metadata["breadcrumb"] == []:
                metadata["metadata"]["selected"] = entry["tap_stream_id"] in streams
    return discovered


def chat_run(sandbox: Sandbox, clock: ManualClock, streams: list[str], **config: Any) -> Any:
    return run_tap(sandbox, clock=clock, catalog=catalog(sandbox, streams, **config), **config)
