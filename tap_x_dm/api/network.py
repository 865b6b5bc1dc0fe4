"""Why a request never reached X, in one line: the address, the cause, and `api_url`.

A refused connection or a name that does not resolve will not heal in a minute: the
tap tries such a request twice (one short backoff apart, a few seconds), then stops
with a line a newcomer can act on. Timeouts and reset connections are X's or the
network's hiccups: they keep the bounded retries (`max_retries`). Each wait is logged once,
by the tap: `OneLinePerProblem` drops python-backoff's and the SDK's repeats of it.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

import requests
from singer_sdk.exceptions import RetriableAPIError
from typing_extensions import override

from tap_x_dm.api.ratelimit import endpoint_of
from tap_x_dm.errors import XAPIError

#: Tries of a request whose address refuses, does not resolve, or fails TLS.
UNREACHABLE_TRIES = 2
REFUSED = "connection refused"
UNRESOLVED = "host name not resolved"
TLS = "TLS handshake failed"
TIMEOUT = "timed out"
RESET = "connection reset"
#: Causes retried only `UNREACHABLE_TRIES` times.
UNREACHABLE = frozenset({REFUSED, UNRESOLVED, TLS})


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """`exc`, what it wraps (urllib3's `reason`, args, causes), depth first, each once."""
    seen: set[int] = set()
    stack = [exc]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        nested = [getattr(current, "reason", None), current.__cause__, current.__context__]
        nested += list(getattr(current, "args", ()))
        stack.extend(e for e in nested if isinstance(e, BaseException))


def cause_of(exc: BaseException) -> str:
    """The cause of a transport failure in a few words (refused, not resolved, TLS, ...)."""
    if isinstance(exc, requests.exceptions.SSLError):
        return TLS
    if isinstance(exc, requests.exceptions.Timeout):
        return TIMEOUT
    for link in _chain(exc):
        name = type(link).__name__
        if isinstance(link, socket.gaierror) or name == "NameResolutionError":
            return UNRESOLVED
        if isinstance(link, ConnectionRefusedError):
            return REFUSED
        if isinstance(link, (ConnectionResetError, ConnectionAbortedError)) or name in {
            "RemoteDisconnected",
            "ProtocolError",
        }:
            return RESET
        if isinstance(link, TimeoutError):
            return TIMEOUT
    text = str(exc)
    if "Connection refused" in text:
        return REFUSED
    if "Name or service not known" in text or "getaddrinfo" in text:
        return UNRESOLVED
    return type(exc).__name__


def address_of(url: str) -> str:
    """`host:port` of `url` (the scheme's port when none is given)."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    port = port or (443 if parts.scheme == "https" else 80)
    return f"{parts.hostname or '?'}:{port}"


def failure_line(
    method: str, endpoint: str, exc: BaseException, *, url: str, api_url: str, tries: int
) -> str:
    """One line naming the endpoint, the address, the cause, `api_url` and the tries."""
    cause = cause_of(exc)
    hint = (
        "check api_url and that this machine can reach it"
        if cause in UNREACHABLE
        else "X or the network is slow or dropping connections; the next run goes on"
    )
    return (
        f"{method} {endpoint} failed: {cause} at {address_of(url)} (api_url {api_url}; gave "
        f"up after {tries} {'try' if tries == 1 else 'tries'}): {hint}."
    )


def stop_if_unreachable(
    exc: requests.exceptions.RequestException,
    prepared: requests.PreparedRequest,
    *,
    api_url: str,
    tries: int,
) -> None:
    """End the retries of an address that refuses, does not resolve or fails TLS, in one line.

    Called on a failed try only (the request's tries are counted by `XStream.request_decorator`):
    from the `UNREACHABLE_TRIES`-th on, such a failure raises instead of being retried.

    Raises:
        XAPIError: the line naming the endpoint, address, cause and `api_url`.
    """
    if cause_of(exc) not in UNREACHABLE or tries < UNREACHABLE_TRIES:
        return
    url = prepared.url or ""
    line = failure_line(
        prepared.method or "GET",
        endpoint_of(urlsplit(url).path),
        exc,
        url=url,
        api_url=api_url,
        tries=tries,
    )
    raise XAPIError(line) from None


def retry_reason(exc: BaseException) -> str:
    """Why a request is retried, in a few words and without a secret.

    Our own messages name the endpoint, status and X's title/detail; a
    transport error is named by its type only (its text can hold a long URL).
    """
    if isinstance(exc, RetriableAPIError):
        return str(exc).split(". ", 1)[0][:200]
    return type(exc).__name__


class OneLinePerProblem(logging.Filter):
    """Drop the SDK's and python-backoff's lines that repeat what the tap says better.

    Backoff's "Backing off"/"Giving up" lines: the wait generator already logs
    each wait once, with its reason and end time. The SDK's "An unhandled error
    occurred while syncing": the tap's own line names the endpoint and the fix
    (and `--test`, which ends each stream early on purpose, would print it on
    success).
    """

    @override
    def filter(self, record: logging.LogRecord) -> bool:
        if record.funcName in {"_log_backoff", "_log_giveup"}:
            return False
        return not str(record.msg).startswith("An unhandled error occurred while syncing")
