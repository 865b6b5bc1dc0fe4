"""Failures the tap can explain in one line.

The CLI prints these without a traceback (see `TapXDM.invoke`): a data engineer
reading a scheduler log needs the setting or the response that went wrong, not
the stack. Messages never contain a secret.
"""

from __future__ import annotations

from typing import Any

import requests
from singer_sdk.exceptions import FatalAPIError


class TapXDMError(Exception):
    """A failure with a one-line explanation for the user."""


class ConfigError(TapXDMError):
    """A setting is missing or wrong; raised before the first request."""


class XAPIError(TapXDMError, FatalAPIError):
    """X answered with an error that retrying will not fix.

    Attributes:
        status: The HTTP status, when there was an answer.
        parameters: The request parameters X named as invalid (`errors[].parameters`).
        problem: The last segment of X's problem `type` (`usage-capped`), or what a token
            refresh's failure meant (`refresh-rejected`): `tap_x_dm.run.summary` tells
            from it who must act.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        parameters: tuple[str, ...] = (),
        problem: str = "",
    ) -> None:
        super().__init__(message)
        self.status = status
        self.parameters = parameters
        self.problem = problem


class XNotFoundError(XAPIError):
    """X answered 404 for one resource (a conversation, an event id)."""


class StopRunError(TapXDMError):
    """The run must stop early, keeping the state of the work it finished.

    Raised for waits longer than `max_rate_limit_wait_seconds` and for pages past
    `max_cost_usd`: the tap emits the state of completed passes and exits cleanly
    so the next scheduled run continues from there.

    Attributes:
        reason: `rate_limit` or `cost_cap` (the run summary's `reason`).
        resume_at: When the exhausted endpoint's window resets (epoch seconds, X's
            `x-rate-limit-reset`, no margin), or when the wait would have ended.
    """

    def __init__(
        self, message: str, *, reason: str = "rate_limit", resume_at: float | None = None
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.resume_at = resume_at


def problem_summary(response: requests.Response) -> str:
    """Return X's `title: detail` for an error response, or a short body excerpt.

    X's v2 errors are RFC 7807 problem objects; v1.1-style bodies carry
    `errors[].message`; proxies answer with HTML. Whatever arrives, the user
    gets one readable fragment and never a token (X does not echo them).
    """
    try:
        body: Any = response.json()
    except ValueError:
        text = " ".join(response.text.split())
        return f"non-JSON body: {text[:120]!r}" if text else "empty body"
    if not isinstance(body, dict):
        return f"unexpected body: {str(body)[:120]!r}"
    title = body.get("title")
    detail = body.get("detail")
    if title or detail:
        summary = ": ".join(str(part) for part in (title, detail) if part)
        rejected = _rejected_values(body.get("errors"))
        return f"{summary} ({rejected})" if rejected else summary
    errors = body.get("errors")
    if isinstance(errors, list) and errors:
        first = errors[0] if isinstance(errors[0], dict) else {}
        message = first.get("message") or first.get("detail") or first
        return str(message)[:200]
    if "error" in body:
        return ": ".join(str(body[k]) for k in ("error", "error_description") if k in body)
    return f"unexpected body: {str(body)[:120]!r}"


def _rejections(errors: object) -> list[tuple[str, str, str | None]]:
    """`(parameter, value, message)` for each parameter a 400 names in `errors[].parameters`."""
    found = []
    for problem in errors if isinstance(errors, list) else []:
        if not isinstance(problem, dict) or not isinstance(problem.get("parameters"), dict):
            continue
        for name, values in problem["parameters"].items():
            shown = ",".join(map(str, values)) if isinstance(values, list) else str(values)
            found.append((str(name), shown[:80], problem.get("message")))
    return found


def _rejected_values(errors: object) -> str:
    """`name=value: message` for each parameter a 400 names."""
    return "; ".join(
        f"{name}={value}" + (f": {message}" if message else "")
        for name, value, message in _rejections(errors)
    )


def problem_type(response: requests.Response) -> str:
    """Return the last path segment of X's problem `type` (e.g. `usage-capped`).

    X's problem URIs use api.twitter.com in older answers and api.x.com in newer
    ones; only the suffix is stable.
    """
    try:
        body = response.json()
    except ValueError:
        return ""
    if not isinstance(body, dict):
        return ""
    return str(body.get("type") or "").rstrip("/").rsplit("/", 1)[-1]


def rejected_parameters(response: requests.Response) -> tuple[str, ...]:
    """The parameters a 400 names in `errors[].parameters` (e.g. `pagination_token`)."""
    try:
        body = response.json()
    except ValueError:
        return ()
    errors = body.get("errors") if isinstance(body, dict) else None
    return tuple(dict.fromkeys(name for name, _, _ in _rejections(errors)))
