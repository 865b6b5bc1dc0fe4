"""Helpers of the sync tests: the requests of one endpoint in the sandbox's log."""

from __future__ import annotations

from typing import Any

DM_EVENTS = "/2/dm_events"


def list_requests(sandbox: Any, path: str = DM_EVENTS) -> list[dict[str, Any]]:
    return [entry for entry in sandbox.request_log if entry["path"] == path]
