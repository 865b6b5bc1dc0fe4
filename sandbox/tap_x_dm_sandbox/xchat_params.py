"""What the Chat API endpoints share: their answer, parameter checks, access errors."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tap_x_dm_sandbox import errors
from tap_x_dm_sandbox.params import InvalidRequestError

#: X's answer to an app whose access level lacks an endpoint (the Chat API, here).
CLIENT_FORBIDDEN: dict[str, Any] = {
    "title": "Client Forbidden",
    "detail": (
        "When authenticating requests to the Twitter API v2 endpoints, you must use keys and "
        "tokens from a Twitter developer App that is attached to a Project. You can create a "
        "project via the developer portal."
    ),
    "reason": "client-not-enrolled",
    "registration_url": "https://developer.twitter.com/en/docs/projects/overview",
    "required_enrollment": "Appropriate Level of API Access",
    "type": "https://api.twitter.com/2/problems/client-forbidden",
}


def access_denied(status: int) -> dict[str, Any]:
    """The body X sends an app without Chat access (403 client-forbidden or a 404)."""
    return dict(CLIENT_FORBIDDEN) if status == 403 else dict(errors.NOT_FOUND)


@dataclass
class ChatAnswer:
    """What the app sends: JSON or bytes, and the resources to bill."""

    status: int
    body: dict[str, Any] | bytes
    chat_event_ids: list[str] = field(default_factory=list)
    user_ids: list[str] = field(default_factory=list)


def one_of(name: str, value: str, allowed: Sequence[str]) -> dict[str, Any]:
    """One 400 entry: a list parameter's value X does not know."""
    message = f"The `{name}` query parameter value [{value}] is not one of [{','.join(allowed)}]"
    return errors.param_error(name, value, message)


def query_params(raw: Mapping[str, str], allowed: Sequence[str]) -> dict[str, str]:
    """Return the query, or raise X's 400 naming every parameter it does not take."""
    problems = [
        errors.param_error(
            key, value, f"The query parameter [{key}] is not one of [{','.join(allowed)}]"
        )
        for key, value in raw.items()
        if key not in allowed
    ]
    if problems:
        raise InvalidRequestError(problems)
    return dict(raw)


def max_results(query: Mapping[str, str]) -> int:
    """Return `max_results` (1-100, default 10)."""
    raw = query.get("max_results")
    if raw is None:
        return 10
    if raw.isdigit() and 1 <= int(raw) <= 100:
        return int(raw)
    message = f"The `max_results` query parameter value [{raw}] is not between 1 and 100"
    raise InvalidRequestError([errors.param_error("max_results", raw, message)])


def field_set(
    query: Mapping[str, str], name: str, allowed: Sequence[str], default: frozenset[str]
) -> frozenset[str]:
    """Return the names a `*.fields` (or `expansions`) parameter asks for, checked."""
    raw = query.get(name)
    if raw is None:
        return default
    items = [i for i in raw.split(",") if i]
    bad = [one_of(name, i, allowed) for i in items if i not in allowed]
    if bad or not items:
        raise InvalidRequestError(bad or [one_of(name, raw, allowed)])
    return frozenset(items)
