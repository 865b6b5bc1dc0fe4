"""Configured conversations and participants X says do not exist: one warning, the run goes on.

X answers a missing resource with a 200 that holds only `errors` (no `data`, no `meta`),
each of `type` `.../resource-not-found` (its older servers: a 404). For a configured
conversation or participant that is a config problem, not X's failure: the partition is
skipped for the run with its bookmark kept, the rest loads, and one warning names them
all (the first ten, and how many more).
"""

from __future__ import annotations

import logging
from typing import Any

from tap_x_dm.errors import XNotFoundError

#: Ids a warning names before it counts the rest.
SHOWN = 10
NOT_FOUND_TYPE = "resource-not-found"


def not_found_error(payload: object, path: str) -> XNotFoundError | None:
    """The error of a 200 that says only that the resource of `path` does not exist, or None."""
    if not isinstance(payload, dict) or payload.get("data"):
        return None
    errors = payload.get("errors")
    if not isinstance(errors, list) or not errors:
        return None
    for error in errors:
        kind = str(error.get("type") or "") if isinstance(error, dict) else ""
        if not kind.rstrip("/").endswith(NOT_FOUND_TYPE):
            return None
    first: dict[str, Any] = errors[0]
    detail = first.get("detail") or first.get("title") or "not found"
    return XNotFoundError(f"GET {path} answered 200 with only errors: {detail}", status=200)


class MissingResources:
    """The configured ids X said do not exist in this run, reported in one warning."""

    def __init__(self, stream_name: str) -> None:
        self._stream_name = stream_name
        self._ids: list[str] = []

    def note(self, setting: str, resource_id: str) -> None:
        """Remember `resource_id` of `setting` (`dm_conversation_ids`, `participant_ids`)."""
        self._ids.append(f"{setting} {resource_id}")

    def report(self, logger: logging.Logger) -> None:
        """One warning naming what X did not find (then forget it)."""
        if not self._ids:
            return
        shown = ", ".join(self._ids[:SHOWN])
        more = len(self._ids) - SHOWN
        logger.warning(
            "%s: X says %d configured conversation(s) or participant(s) do not exist or are "
            "not the account's: %s%s. Each is skipped in this run (its bookmark is kept) and "
            "the rest loads; remove them from the config if they are gone for good.",
            self._stream_name,
            len(self._ids),
            shown,
            f" and {more} more" if more > 0 else "",
        )
        self._ids.clear()
