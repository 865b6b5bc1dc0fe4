"""The request pipeline: faults, routing, auth, caps, rate limits, billing and the log.

`SandboxApp` turns a `Request` into a `Response` without touching sockets, so the
rules are easy to follow; the endpoints themselves are in `endpoints`, the socket
side in `server`.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote

from tap_x_dm_sandbox import errors
from tap_x_dm_sandbox.billing import KINDS, BillingLedger
from tap_x_dm_sandbox.clock import Clock
from tap_x_dm_sandbox.config import SandboxConfig
from tap_x_dm_sandbox.data import Dataset
from tap_x_dm_sandbox.endpoints import DmEndpoints, NotFoundError
from tap_x_dm_sandbox.faults import HTML_502, NON_JSON, Fault, FaultInjector, server_error_body
from tap_x_dm_sandbox.limits import RateDecision, RateLimiter
from tap_x_dm_sandbox.lookups import LookupEndpoints
from tap_x_dm_sandbox.oauth import AuthProblem, SandboxAuth
from tap_x_dm_sandbox.params import (
    InvalidRequestError,
    parse_query,
)
from tap_x_dm_sandbox.requestlog import RequestLog, iso_time, public_query
from tap_x_dm_sandbox.standing import Standing
from tap_x_dm_sandbox.vocabulary import Vocabulary, to_2167

logger = logging.getLogger(__name__)

JSON = "application/json; charset=utf-8"
PROBLEM_JSON = "application/problem+json"
DM_SCOPES = frozenset({"dm.read", "tweet.read", "users.read"})
USERS_ME_SCOPES = frozenset({"tweet.read", "users.read"})

#: (method, path pattern, endpoint name); the name keys rate budgets and the request log.
ROUTES: tuple[tuple[str, re.Pattern[str], str], ...] = (
    ("GET", re.compile(r"^/2/dm_events$"), "dm_events"),
    ("GET", re.compile(r"^/2/dm_events/([^/]+)$"), "dm_event"),
    (
        "GET",
        re.compile(r"^/2/dm_conversations/with/([^/]+)/dm_events$"),
        "dm_conversation_with_events",
    ),
    ("GET", re.compile(r"^/2/dm_conversations/([^/]+)/dm_events$"), "dm_conversation_events"),
    ("GET", re.compile(r"^/2/users/me$"), "users_me"),
    ("GET", re.compile(r"^/2/users$"), "users_lookup"),
    ("GET", re.compile(r"^/2/tweets$"), "tweets_lookup"),
    ("POST", re.compile(r"^/2/oauth2/token$"), "oauth2_token"),
    ("GET", re.compile(r"^/i/oauth2/authorize$"), "oauth2_authorize"),
)
#: Faults answered "by the proxy": the API never sees these requests.
PROXY_FAULTS = frozenset(
    {
        "server_error",
        "rate_limit_no_headers",
        "drop_connection",
        "non_json",
        "html_502",
        "malformed_200",
        "client_forbidden",
    }
)
#: Endpoints that are not X API v2 calls (no `api-version` header).
OAUTH_ENDPOINTS = frozenset({"oauth2_token", "oauth2_authorize"})


@dataclass(frozen=True)
class Request:
    """One HTTP request as received; `url` is what an OAuth 1.0a client signed."""

    method: str
    target: str
    headers: Mapping[str, str]
    body: bytes
    url: str


@dataclass
class Response:
    """One answer; `drop` closes the socket without a reply, `cut` sends only a prefix."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False
    cut: int | None = None


@dataclass
class _Outcome:
    endpoint: str | None
    user: str | None = None
    billed: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))


def returned_resources(body: Mapping[str, Any]) -> dict[str, list[str]]:
    """Return the users, Tweets and media an answer carries (`includes`, or a user as `data`)."""
    includes = body.get("includes") or {}
    posts = [*includes.get("tweets", []), *includes.get("posts", [])]
    found = {
        "users": [str(u["id"]) for u in includes.get("users", [])],
        "tweets": [str(t["id"]) for t in posts],
        "media": [str(m["media_key"]) for m in includes.get("media", [])],
    }
    data = body.get("data")
    objects = data if isinstance(data, list) else [data] if isinstance(data, dict) else []
    for obj in objects:  # the objects of /2/users/me, /2/users and /2/tweets (not DM events)
        if "username" in obj:
            found["users"].append(str(obj["id"]))
        elif "edit_history_tweet_ids" in obj or "edit_history_post_ids" in obj:
            found["tweets"].append(str(obj["id"]))
    return found


def encode_json(obj: Any) -> bytes:
    r"""Encode compactly as UTF-8, as X does (non-ASCII text is not escaped).

    A lone surrogate (a text cut in the middle of an emoji) has no UTF-8 form: X
    sends its escape (`"\ud83d"`), and so does this, escaping that body's non-ASCII.
    """
    try:
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(obj, separators=(",", ":")).encode("ascii")


def json_response(status: int, obj: Any, content_type: str = JSON) -> Response:
    """Return a JSON answer."""
    return Response(status, encode_json(obj), {"Content-Type": content_type})


def problem(status: int, body: Mapping[str, Any], rate: RateDecision | None = None) -> Response:
    """Return an RFC 7807 problem answer, with rate headers when a user is known."""
    response = json_response(status, body, PROBLEM_JSON)
    if rate is not None:
        response.headers.update(rate.headers())
    return response


class SandboxApp:
    """Everything the sandbox does with a request, apart from socket handling."""

    def __init__(
        self,
        *,
        config: SandboxConfig,
        dataset: Dataset,
        auth: SandboxAuth,
        clock: Clock,
        limiter: RateLimiter,
        faults: FaultInjector,
        ledger: BillingLedger,
        log: RequestLog,
        standing: Standing | None = None,
    ) -> None:
        self.dataset = dataset
        self.auth = auth
        self.clock = clock
        self.limiter = limiter
        self.faults = faults
        self.ledger = ledger
        self.log = log
        # Guards the dataset: tests add events while server threads page through it.
        self.data_lock = threading.RLock()
        self.usage_capped = config.usage_capped
        self.credits_depleted = config.credits_depleted
        self.client_not_enrolled = config.client_not_enrolled
        self.vocabulary = Vocabulary(config.vocabulary)
        standing = standing or Standing()
        self.lookups = LookupEndpoints(
            dataset,
            user_fields_default=config.user_fields_default,
            vocabulary=self.vocabulary,
            standing=standing,
        )
        self.endpoints = DmEndpoints(
            config=config, dataset=dataset, clock=clock, data_lock=self.data_lock, standing=standing
        )

    # -- entry point -------------------------------------------------------------------

    def handle(self, req: Request) -> Response:
        """Answer one request (faults, routing, auth, limits, the endpoint) and log it."""
        started = self.clock.time()
        path, _, raw_query = req.target.partition("?")
        route = self._route(req.method, path)
        outcome = _Outcome(endpoint=route[0] if route else None)
        terminal: Fault | None = None
        applied: list[str] = []
        for fault in self.faults.take(req.method, path):
            if fault.kind == "slow":
                self.faults.sleep(float(fault.param("seconds")))
                applied.append(fault.kind)
            elif terminal is None:  # one terminal fault per request; the rest are dropped
                terminal = fault
                applied.append(fault.kind)
        if terminal is not None and terminal.kind in PROXY_FAULTS:
            response = self._fault_response(terminal)
        else:
            try:
                response = self._dispatch(req, route, raw_query, outcome)
            except Exception:
                logger.exception("sandbox failed on %s %s", req.method, req.target)
                response = problem(500, errors.INTERNAL)
            if terminal is not None and terminal.kind == "truncated_json":
                keep = int(len(response.body) * float(terminal.param("fraction")))
                if terminal.param("short_read"):
                    response.cut = keep
                else:
                    response.body = response.body[:keep]
            elif terminal is not None and terminal.kind == "token_drop_after_processing":
                response.drop = True
            if outcome.endpoint is not None and outcome.endpoint not in OAUTH_ENDPOINTS:
                query = dict(parse_qsl(raw_query, keep_blank_values=True))
                response.headers["api-version"] = self.vocabulary.answer_version(query)
        self.log.append(
            {
                "time": iso_time(started),
                "method": req.method,
                "path": path,
                "query": public_query(dict(parse_qsl(raw_query, keep_blank_values=True))),
                "status": "dropped" if response.drop else response.status,
                "user": outcome.user,
                "billed_events": outcome.billed["dm_events"],
                "billed": outcome.billed,
                "billed_usd": self.ledger.usd(outcome.billed),
                "endpoint": outcome.endpoint,
                "fault": ",".join(applied) or None,
            }
        )
        return response

    @staticmethod
    def _route(method: str, path: str) -> tuple[str, re.Match[str]] | None:
        for route_method, pattern, name in ROUTES:
            match = pattern.match(path)
            if match and method == route_method:
                return name, match
        return None

    @staticmethod
    def _fault_response(fault: Fault) -> Response:
        if fault.kind == "drop_connection":
            return Response(0, drop=True)
        if fault.kind == "rate_limit_no_headers":
            return problem(429, errors.RATE_LIMITED)
        if fault.kind == "client_forbidden":
            return problem(403, errors.CLIENT_FORBIDDEN)
        if fault.kind == "html_502":
            return Response(502, HTML_502, {"Content-Type": "text/html"})
        if fault.kind == "non_json":
            status = int(fault.param("status"))
            return Response(status, NON_JSON, {"Content-Type": "text/plain"})
        if fault.kind == "malformed_200":
            body = json.dumps(fault.param("body")).encode()
            return Response(200, body, {"Content-Type": JSON})
        status = int(fault.param("status"))
        return Response(status, server_error_body(status), {"Content-Type": JSON})

    def _dispatch(
        self,
        req: Request,
        route: tuple[str, re.Match[str]] | None,
        raw_query: str,
        outcome: _Outcome,
    ) -> Response:
        if route is None:
            return problem(404, errors.NOT_FOUND)
        endpoint, match = route
        if endpoint == "oauth2_token":
            return self._token(req)
        if endpoint == "oauth2_authorize":
            status, headers, page = self.auth.authorize(
                dict(parse_qsl(raw_query, keep_blank_values=True))
            )
            return Response(status, page, dict(headers))
        try:
            principal = self.auth.authenticate(
                method=req.method, url=req.url, headers=req.headers, body=req.body or None
            )
        except AuthProblem as exc:
            return problem(exc.status, exc.body)
        user_id = outcome.user = principal.user_id
        needed = DM_SCOPES if endpoint.startswith("dm_") else USERS_ME_SCOPES
        # OAuth 1.0a principals carry their app permission as scope equivalents.
        if not needed <= principal.scopes:
            return problem(403, errors.FORBIDDEN, self.limiter.peek(user_id, endpoint))
        if self.client_not_enrolled:
            return problem(403, errors.CLIENT_FORBIDDEN, self.limiter.peek(user_id, endpoint))
        if self.credits_depleted:
            return problem(402, errors.CREDITS_DEPLETED, self.limiter.peek(user_id, endpoint))
        if self.usage_capped:
            return problem(429, errors.USAGE_CAPPED, self.limiter.peek(user_id, endpoint))
        rate = self.limiter.hit(user_id, endpoint)
        if not rate.allowed:
            return problem(429, errors.RATE_LIMITED, rate)
        path_value = unquote(match.group(1)) if match.groups() else ""
        try:
            query = parse_query(raw_query)
            if endpoint == "users_me":
                body, event_ids = self.endpoints.users_me(user_id, query)
            elif endpoint == "users_lookup":
                body, event_ids = self.lookups.users(query), []
            elif endpoint == "tweets_lookup":
                body, event_ids = self.lookups.tweets(query, user_id), []
            elif endpoint == "dm_event":
                body, event_ids = self.endpoints.lookup(user_id, path_value, query)
            else:
                body, event_ids = self.endpoints.list_events(user_id, endpoint, path_value, query)
        except InvalidRequestError as exc:
            return problem(400, errors.invalid_request(exc.errors), rate)
        except NotFoundError as exc:
            return problem(404, exc.body, rate)
        day = int(self.clock.time() // 86_400)
        outcome.billed = self.ledger.bill(user_id, day, event_ids, returned_resources(body))
        if self.vocabulary.answer_version(query) == "2.167":
            body = to_2167(body)
        response = json_response(200, body)
        response.headers.update(rate.headers())
        return response

    # -- OAuth 2.0 token endpoint --------------------------------------------------------

    def _token(self, req: Request) -> Response:
        form = dict(parse_qsl(req.body.decode("utf-8", "replace"), keep_blank_values=True))
        status, payload = self.auth.token(headers=req.headers, form=form)
        response = json_response(status, payload, "application/json;charset=UTF-8")
        response.headers.update({"Cache-Control": "no-store", "Pragma": "no-cache"})
        return response
