"""Fault injection: the failures a real API and the proxies in front of it produce.

A tap has to survive 5xx answers, 429s without rate headers, dropped
connections, slow answers, cut-off or non-JSON bodies and a proxy's HTML error
page, and it must not lose a rotated refresh token when the token answer never
arrives. Tests queue faults one by one (`inject`); the CLI sets "every k-th
request" rates (`EveryK`).

Faults act like a proxy in front of the API: except for `slow`,
`truncated_json` and `token_drop_after_processing`, a faulted request never
reaches the API, so it spends no rate budget and bills nothing.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

KINDS: frozenset[str] = frozenset(
    {
        "server_error",
        "rate_limit_no_headers",
        "drop_connection",
        "slow",
        "truncated_json",
        "non_json",
        "html_502",
        "token_drop_after_processing",
        "malformed_200",
        "client_forbidden",
    }
)

#: Keyword arguments each kind accepts, with their defaults.
_PARAMS: dict[str, dict[str, Any]] = {
    "server_error": {"status": 503},
    "rate_limit_no_headers": {},
    "drop_connection": {},
    "slow": {"seconds": 0.2},
    "truncated_json": {"fraction": 0.5, "short_read": False},
    "non_json": {"status": 200},
    "html_502": {},
    "token_drop_after_processing": {},
    # A 200 whose JSON has the wrong shape (what a client must refuse, not misread).
    "malformed_200": {"body": {"data": "not a list", "meta": {"result_count": 1}}},
    # X's 403 for an app not enrolled in the endpoint (`reason: client-not-enrolled`).
    "client_forbidden": {},
}

TOKEN_PATH = "/2/oauth2/token"  # noqa: S105 - a URL path, not a secret
#: OAuth endpoints are only faulted when a fault names them by `path_prefix`,
#: so "fail the next request" means the next API call, not a token refresh.
OAUTH_PREFIXES = ("/2/oauth2/", "/i/oauth2/")

HTML_502 = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    b"</body>\r\n</html>\r\n"
)
NON_JSON = (
    b"upstream connect error or disconnect/reset before headers. "
    b"reset reason: connection termination"
)


@dataclass(frozen=True)
class Fault:
    """One fault to apply to one request."""

    kind: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def param(self, name: str) -> Any:
        """Return a parameter, falling back to the kind's default."""
        return self.params.get(name, _PARAMS[self.kind].get(name))


@dataclass(frozen=True)
class EveryK:
    """Periodic faults for the CLI: fault every k-th API request (0 = never)."""

    fail_every: int = 0
    fail_status: int = 503
    drop_every: int = 0
    slow_every: int = 0
    slow_seconds: float = 0.2
    truncate_every: int = 0
    non_json_every: int = 0
    html_502_every: int = 0
    rate_limit_no_headers_every: int = 0

    def faults_for(self, n: int) -> list[Fault]:
        """Return the periodic faults for the n-th (1-based) API request, most severe first."""
        table: list[tuple[int, Fault]] = [
            (self.drop_every, Fault("drop_connection")),
            (self.html_502_every, Fault("html_502")),
            (self.fail_every, Fault("server_error", {"status": self.fail_status})),
            (self.rate_limit_no_headers_every, Fault("rate_limit_no_headers")),
            (self.non_json_every, Fault("non_json")),
            (self.truncate_every, Fault("truncated_json")),
            (self.slow_every, Fault("slow", {"seconds": self.slow_seconds})),
        ]
        return [fault for k, fault in table if k > 0 and n % k == 0]


@dataclass
class _Queued:
    fault: Fault
    remaining: int
    path_prefix: str | None


def _is_oauth(path: str) -> bool:
    return path.startswith(OAUTH_PREFIXES)


def _validate(kind: str, count: int, kw: Mapping[str, Any]) -> None:
    if kind not in KINDS:
        msg = f"unknown fault kind {kind!r}; known: {', '.join(sorted(KINDS))}"
        raise ValueError(msg)
    if count < 1:
        msg = f"count must be >= 1, got {count}"
        raise ValueError(msg)
    unknown = set(kw) - set(_PARAMS[kind])
    if unknown:
        known = sorted(_PARAMS[kind])
        msg = f"fault {kind!r} takes no parameter(s) {sorted(unknown)}; known: {known}"
        raise ValueError(msg)
    status = kw.get("status")
    if kind == "server_error" and status is not None and not 500 <= int(status) <= 599:
        msg = f"server_error status must be 5xx, got {status}"
        raise ValueError(msg)


class FaultInjector:
    """A FIFO queue of programmed faults plus the periodic `EveryK` faults.

    Each request takes at most one queued fault: the first whose `path_prefix`
    matches (None matches every path except the OAuth endpoints).
    """

    def __init__(
        self, every: EveryK | None = None, *, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self._lock = threading.Lock()
        self._queue: list[_Queued] = []
        self._every = every or EveryK()
        self._api_requests = 0
        # Real sleep on purpose: `slow` exists to trip the client's real socket timeout.
        self.sleep = sleep

    def inject(
        self, kind: str, *, count: int = 1, path_prefix: str | None = None, **kw: Any
    ) -> None:
        """Queue `kind` for the next `count` matching requests."""
        _validate(kind, count, kw)
        if kind == "token_drop_after_processing":
            path_prefix = TOKEN_PATH
        with self._lock:
            self._queue.append(_Queued(Fault(kind, dict(kw)), count, path_prefix))

    def clear(self) -> None:
        """Drop every queued fault (periodic ones stay)."""
        with self._lock:
            self._queue.clear()

    @property
    def pending(self) -> list[dict[str, Any]]:
        """The queued faults, for assertions and debugging."""
        with self._lock:
            return [
                {
                    "kind": q.fault.kind,
                    "remaining": q.remaining,
                    "path_prefix": q.path_prefix,
                    **q.fault.params,
                }
                for q in self._queue
            ]

    def take(self, method: str, path: str) -> list[Fault]:
        """Return the faults for this request (a `slow` first if any) and consume them."""
        with self._lock:
            taken: list[Fault] = []
            if not _is_oauth(path):
                self._api_requests += 1
                taken.extend(self._every.faults_for(self._api_requests))
            for i, queued in enumerate(self._queue):
                if not self._matches(queued, method, path):
                    continue
                queued.remaining -= 1
                if queued.remaining <= 0:
                    del self._queue[i]
                taken.append(queued.fault)
                break
        slow = [f for f in taken if f.kind == "slow"]
        return slow[:1] + [f for f in taken if f.kind != "slow"]

    @staticmethod
    def _matches(queued: _Queued, method: str, path: str) -> bool:
        if queued.fault.kind == "token_drop_after_processing":
            return method == "POST" and path == TOKEN_PATH
        if queued.path_prefix is None:
            return not _is_oauth(path)
        return path.startswith(queued.path_prefix)


def server_error_body(status: int) -> bytes:
    """Return an X-style problem body for a 5xx."""
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    body = {"title": phrase, "detail": phrase, "type": "about:blank", "status": status}
    return json.dumps(body).encode()
