"""Fixtures and helpers of the XChat tests: one crypto cache per test session."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tap_x_dm_sandbox import Sandbox, SandboxConfig
from tap_x_dm_sandbox.clock import ManualClock
from tap_x_dm_sandbox.model import one_to_one_conversation_id

ChatSandbox = Callable[..., Sandbox]


@pytest.fixture(scope="session")
def xchat_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache folder shared by the session's sandboxes: the crypto is made once."""
    return tmp_path_factory.mktemp("xchat-cache")


@pytest.fixture
def chat_sandbox(xchat_cache: Path) -> Iterator[ChatSandbox]:
    """Return `make(**SandboxConfig fields) -> started Sandbox` using the session cache."""
    made: list[Sandbox] = []

    def make(*, clock: ManualClock | None = None, **config: Any) -> Sandbox:
        config.setdefault("xchat_cache_dir", str(xchat_cache))
        sandbox = Sandbox(SandboxConfig(**config), clock=clock or ManualClock())
        made.append(sandbox)
        return sandbox.start()

    yield make
    for sandbox in made:
        sandbox.stop()


def get(sb: Sandbox, path: str, user_id: str | None = None, **params: Any) -> requests.Response:
    """GET `path` as `user_id` (default: the account) with its demo token."""
    headers = {"Authorization": f"Bearer {sb.access_token(user_id)}"}
    return requests.get(sb.base_url + path, headers=headers, params=params, timeout=10)


def pages(sb: Sandbox, path: str, **params: Any) -> list[dict[str, Any]]:
    """Every page of a paged Chat API read, following `next_token`."""
    out: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        extra = {"pagination_token": token} if token else {}
        response = get(sb, path, **params, **extra)
        assert response.status_code == 200, response.text
        out.append(response.json())
        token = out[-1]["meta"].get("next_token")
        if token is None:
            return out


def pair(sb: Sandbox, peer: str) -> str:
    """The account's one-to-one conversation id with a peer (`A-B`)."""
    return one_to_one_conversation_id(sb.account.id, peer)


def conversation_ids(sb: Sandbox) -> dict[str, str]:
    """The sandbox's XChat conversations by the part they play."""
    cast = sb.xchat.cast
    assert cast is not None
    groups = [c.id for c in sb.xchat.conversations(sb.account.id) if c.type == "group"]
    upgraded = next(c.id for c in sb.xchat.conversations(sb.account.id) if c.legacy_id is not None)
    return {
        "both_systems": pair(sb, cast["peers"][0]),
        "tampered": pair(sb, cast["peers"][1]),
        "upgraded_group": upgraded,
        "new_group": next(g for g in groups if g != upgraded),
        "unopenable": pair(sb, cast["others"][1]),
    }
