"""Whether a 200 from X is a page of events at all, before any of it is emitted."""

from __future__ import annotations

import re

_DIGITS = re.compile(r"^[0-9]{1,19}$")


def page_shape_problem(payload: object, *, single: bool) -> str | None:
    """What is wrong with a 200's body, in a few words, or None when it is a page of events."""
    if not isinstance(payload, dict):
        return "not a JSON object"
    data = payload.get("data")
    if single:
        events = [data] if data is not None else []
    else:
        if not isinstance(payload.get("meta"), dict):
            return "no meta"
        if data is not None and not isinstance(data, list):
            return "data is not a list"
        events = data or []
    for event in events:
        if not isinstance(event, dict) or "id" not in event:
            return "an event without id"
        if not isinstance(event["id"], str) or not _DIGITS.match(event["id"]):
            return f"an event id that is not a string of digits ({str(event['id'])[:30]!r})"
    return None
