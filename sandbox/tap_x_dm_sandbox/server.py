"""The HTTP layer: X API v2 DM routes on a stdlib ThreadingHTTPServer.

`SandboxApp` turns a `Request` into a `Response` (routing, auth, caps, rate
limits, validation, paging, billing, faults, logging) without touching
sockets, so the rules are easy to follow; `SandboxHTTPServer` only moves bytes.
Keep-alive and TCP_NODELAY matter: a benchmark pages through a million events
in ~10,000 requests.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import socket
import socketserver
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote

from requests.structures import CaseInsensitiveDict

from tap_x_dm_sandbox import errors
from tap_x_dm_sandbox.billing import BillingLedger
from tap_x_dm_sandbox.clock import Clock
from tap_x_dm_sandbox.config import SandboxConfig
from tap_x_dm_sandbox.data import Dataset
from tap_x_dm_sandbox.faults import HTML_502, NON_JSON, Fault, FaultInjector, server_error_body
from tap_x_dm_sandbox.limits import RateDecision, RateLimiter
from tap_x_dm_sandbox.model import DAY_MS, DM_EVENTS_WINDOW_DAYS, one_to_one_conversation_id
from tap_x_dm_sandbox.oauth import AuthProblem, SandboxAuth
from tap_x_dm_sandbox.params import (
    CONVERSATION_ID,
    EVENT_ID,
    MAX_ID,
    USER_ID,
    InvalidRequestError,
    check_path,
    invalid_token,
    parse_list_params,
    parse_lookup_params,
    parse_query,
    parse_users_me_params,
)
from tap_x_dm_sandbox.render import Expander, shape_event
from tap_x_dm_sandbox.requestlog import RequestLog, iso_time, public_query
from tap_x_dm_sandbox.tokens import Cursor, Direction, TokenCodec

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
    ("POST", re.compile(r"^/2/oauth2/token$"), "oauth2_token"),
    ("GET", re.compile(r"^/i/oauth2/authorize$"), "oauth2_authorize"),
)
#: Faults answered "by the proxy": the API never sees these requests.
PROXY_FAULTS = frozenset(
    {"server_error", "rate_limit_no_headers", "drop_connection", "non_json", "html_502"}
)


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
    billed: int = 0


def encode_json(obj: Any) -> bytes:
    """Encode compactly as UTF-8, as X does (non-ASCII text is not escaped)."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def json_response(status: int, obj: Any, content_type: str = JSON) -> Response:
    """Return a JSON answer."""
    return Response(status, encode_json(obj), {"Content-Type": content_type})


def problem(status: int, body: Mapping[str, Any], rate: RateDecision | None = None) -> Response:
    """Return an RFC 7807 problem answer, with rate headers when a user is known."""
    response = json_response(status, body, PROBLEM_JSON)
    if rate is not None:
        response.headers.update(rate.headers())
    return response


class NotFoundError(Exception):
    """Raised with X's resource-not-found problem for a 404 answer."""

    def __init__(self, body: dict[str, Any]) -> None:
        super().__init__(body.get("detail", "not found"))
        self.body = body


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
    ) -> None:
        self.dataset = dataset
        self.auth = auth
        self.clock = clock
        self.limiter = limiter
        self.faults = faults
        self.ledger = ledger
        self.log = log
        self.tokens = TokenCodec(config.seed)
        # Guards the dataset: tests add events while server threads page through it.
        self.data_lock = threading.RLock()
        self.usage_capped = config.usage_capped
        self.credits_depleted = config.credits_depleted
        self.meta_only_last_page = config.meta_only_last_page
        self.offset_pagination = config.offset_pagination
        self.unknown_conversation_404 = config.unknown_conversation_404
        self.nested_entities = config.nested_entities
        self.conversation_history_days = config.conversation_history_days
        self.user_fields_default = config.user_fields_default

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
        self.log.append(
            {
                "time": iso_time(started),
                "method": req.method,
                "path": path,
                "query": public_query(dict(parse_qsl(raw_query, keep_blank_values=True))),
                "status": "dropped" if response.drop else response.status,
                "user": outcome.user,
                "billed_events": outcome.billed,
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
        if fault.kind == "html_502":
            return Response(502, HTML_502, {"Content-Type": "text/html"})
        if fault.kind == "non_json":
            status = int(fault.param("status"))
            return Response(status, NON_JSON, {"Content-Type": "text/plain"})
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
        needed = USERS_ME_SCOPES if endpoint == "users_me" else DM_SCOPES
        # OAuth 1.0a principals carry their app permission as scope equivalents.
        if not needed <= principal.scopes:
            return problem(403, errors.FORBIDDEN, self.limiter.peek(user_id, endpoint))
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
                body, event_ids = self._users_me(user_id, query)
            elif endpoint == "dm_event":
                body, event_ids = self._lookup(user_id, path_value, query)
            else:
                body, event_ids = self._list(user_id, endpoint, path_value, query)
        except InvalidRequestError as exc:
            return problem(400, errors.invalid_request(exc.errors), rate)
        except NotFoundError as exc:
            return problem(404, exc.body, rate)
        day = int(self.clock.time() // 86_400)
        outcome.billed = self.ledger.bill(user_id, day, event_ids) if event_ids else 0
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

    # -- endpoints -----------------------------------------------------------------------

    def _users_me(self, user_id: str, query: Mapping[str, str]) -> tuple[dict[str, Any], list[int]]:
        fields = parse_users_me_params(query)
        user = self.dataset.user(user_id)
        if user is None:
            missing = errors.resource_not_found(resource_type="user", parameter="id", value=user_id)
            return {"errors": [missing]}, []
        wanted = fields.user_fields if fields.user_fields is not None else self.user_fields_default
        return {"data": user.as_json(wanted)}, []

    def _lookup(
        self, user_id: str, raw_id: str, query: Mapping[str, str]
    ) -> tuple[dict[str, Any], list[int]]:
        fields = parse_lookup_params(query, check_path("event_id", raw_id, EVENT_ID))
        event_id = int(raw_id)
        with self.data_lock:
            full = None
            if event_id <= MAX_ID and self.dataset.can_see(user_id, event_id):
                full = self.dataset.event(event_id)
            if full is None:
                missing = errors.resource_not_found(
                    resource_type="dm_event", parameter="event_id", value=raw_id
                )
                return {"errors": [missing]}, []
            expander = Expander(self.dataset, fields, user_fields_default=self.user_fields_default)
            expander.add([full])
            includes, partial = expander.result()
        body: dict[str, Any] = {
            "data": shape_event(full, fields.dm_event_fields, nested_entities=self.nested_entities)
        }
        if includes:
            body["includes"] = includes
        if partial:
            body["errors"] = partial
        return body, [event_id]

    def _min_ms(self, endpoint: str) -> int | None:
        days: int | None = DM_EVENTS_WINDOW_DAYS
        if endpoint != "dm_events":
            days = self.conversation_history_days
        if days is None:
            return None
        return int(self.clock.time() * 1000) - days * DAY_MS

    def _list(
        self, user_id: str, endpoint: str, path_value: str, query: Mapping[str, str]
    ) -> tuple[dict[str, Any], list[int]]:
        path_errors: list[dict[str, Any]] = []
        if endpoint == "dm_conversation_events":
            path_errors = check_path("id", path_value, CONVERSATION_ID)
        elif endpoint == "dm_conversation_with_events":
            path_errors = check_path("participant_id", path_value, USER_ID)
        params = parse_list_params(query, path_errors)
        scope = f"{endpoint}/{path_value}/{user_id}"
        cursor: Cursor | None = None
        if params.pagination_token is not None:
            cursor = self.tokens.decode(params.pagination_token, scope=scope)
            if cursor is None:
                raise InvalidRequestError([invalid_token(params.pagination_token)])
        conversation_id: str | None = None
        if endpoint == "dm_conversation_events":
            conversation_id = path_value
        elif endpoint == "dm_conversation_with_events":
            conversation_id = one_to_one_conversation_id(user_id, path_value)
        page = _Pager(
            self.dataset,
            viewer_id=user_id,
            conversation_id=conversation_id,
            min_ms=self._min_ms(endpoint),
            event_types=params.event_types,
        )
        limit = params.max_results
        with self.data_lock:
            members = (
                None
                if conversation_id is None
                else (self.dataset.conversation_members(conversation_id))
            )
            if conversation_id is not None and (members is None or user_id not in members):
                if self.unknown_conversation_404:
                    parameter = "id" if endpoint == "dm_conversation_events" else "participant_id"
                    missing = errors.resource_not_found(
                        resource_type="dm_conversation", parameter=parameter, value=path_value
                    )
                    raise NotFoundError({**missing, "status": 404})
                return {"meta": {"result_count": 0}}, []
            if self.offset_pagination and (cursor is None or cursor.direction is Direction.NEXT):
                offset = cursor.id if cursor is not None else 0
                window, has_next = page(None, offset + limit)
                ids = window[offset:]
                next_anchor: int | None = offset + len(ids)  # the token carries an offset
                previous_anchor = None
            elif cursor is None or cursor.direction is Direction.NEXT:
                below = cursor.id if cursor is not None else None
                ids, more = page(below, limit)
                has_next = more or (self.meta_only_last_page and len(ids) == limit)
                next_anchor = ids[-1] if ids else None
                # After the first page, "previous" means the events above this page; an
                # empty page points back at the cursor itself (events >= it).
                previous_anchor = None
                if below is not None:
                    previous_anchor = ids[0] if ids else below - 1
            else:
                ids = page.above(cursor.id, limit)
                if ids:
                    has_next = bool(page(ids[-1], 1)[0])
                    next_anchor = ids[-1]
                    top = page(None, 1)[0]
                    previous_anchor = ids[0] if top and top[0] > ids[0] else None
                else:
                    has_next = bool(page(cursor.id + 1, 1)[0])
                    next_anchor = cursor.id + 1
                    previous_anchor = None
            fulls = [e for e in map(self.dataset.event, ids) if e is not None]
            expander = Expander(
                self.dataset, params.fields, user_fields_default=self.user_fields_default
            )
            expander.add(fulls)
            includes, partial = expander.result()
        fields = params.fields.dm_event_fields
        data = [shape_event(e, fields, nested_entities=self.nested_entities) for e in fulls]
        body: dict[str, Any] = {}
        if data:
            body["data"] = data
        if includes:
            body["includes"] = includes
        if partial:
            body["errors"] = partial
        meta: dict[str, Any] = {"result_count": len(data)}
        if has_next and next_anchor is not None:
            meta["next_token"] = self.tokens.encode(
                Cursor(Direction.NEXT, next_anchor), scope=scope
            )
        if previous_anchor is not None:
            meta["previous_token"] = self.tokens.encode(
                Cursor(Direction.PREVIOUS, previous_anchor), scope=scope
            )
        body["meta"] = meta
        return body, ids


class _Pager:
    """`Dataset.page` with the filters of one request bound, plus the upward walk."""

    def __init__(
        self,
        dataset: Dataset,
        *,
        viewer_id: str,
        conversation_id: str | None,
        min_ms: int | None,
        event_types: frozenset[str],
    ) -> None:
        self._dataset = dataset
        self._viewer = viewer_id
        self._conversation = conversation_id
        self._min_ms = min_ms
        self._types = event_types

    def __call__(self, below_id: int | None, limit: int) -> tuple[list[int], bool]:
        """Return up to `limit` ids strictly below `below_id`, newest first, and "more"."""
        return self._dataset.page(
            viewer_id=self._viewer,
            conversation_id=self._conversation,
            below_id=below_id,
            limit=limit,
            min_ms=self._min_ms,
            event_types=self._types,
        )

    def above(self, anchor: int, limit: int) -> list[int]:
        """Return the `limit` ids just above `anchor`, newest first (a `previous_token` page).

        The dataset only pages downward, so search for an upper bound whose page
        reaches the anchor: exponential steps, then bisection. Only clients that
        follow `previous_token` pay for this.
        """
        fetch = 2 * limit
        top = self(None, 1)[0]
        if not top or top[0] <= anchor:
            return []

        def probe(bound: int) -> list[int] | None:
            # Every id in (anchor, bound), or None when there are `fetch` or more.
            ids, more = self(bound, fetch)
            inside = [i for i in ids if i > anchor]
            return None if len(inside) == len(ids) and more else inside

        high = top[0] + 1
        found = probe(high)
        if found is not None:
            return found[-limit:]
        low, step = anchor + 1, 1 << 22  # one millisecond of snowflake ids
        while anchor + step < high:
            found = probe(anchor + step)
            if found is None:
                high = anchor + step
                break
            if len(found) >= limit:
                return found[-limit:]
            low, step = anchor + step, step * 2
        while high - low > 1:
            middle = (low + high) // 2
            found = probe(middle)
            if found is None:
                high = middle
            elif len(found) >= limit:
                return found[-limit:]
            else:
                low = middle
        return (probe(low) or [])[-limit:]


# -- HTTP transport ---------------------------------------------------------------------


class SandboxHTTPServer(ThreadingHTTPServer):
    """A threading server that can be stopped quickly, open keep-alive connections included."""

    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], app: SandboxApp) -> None:
        self.app = app
        self.stopping = False
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        """Bind without HTTPServer's reverse DNS lookup, which can stall for seconds."""
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def track(self, conn: socket.socket, *, open_: bool) -> None:
        """Remember open connections so `close_connections` can end idle keep-alives."""
        with self._connections_lock:
            if open_:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    def close_connections(self) -> None:
        """Shut every open connection, waking handler threads blocked on a read."""
        with self._connections_lock:
            conns = list(self._connections)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    """Moves bytes between a socket and `SandboxApp.handle`."""

    server: SandboxHTTPServer
    protocol_version = "HTTP/1.1"
    server_version = "tap-x-dm-sandbox"
    disable_nagle_algorithm = True
    wbufsize = 1 << 16  # headers and body leave in one write
    timeout = 120.0  # idle keep-alive connections end eventually

    def setup(self) -> None:
        """Register the connection."""
        super().setup()
        self.server.track(self.connection, open_=True)

    def finish(self) -> None:
        """Unregister the connection."""
        try:
            super().finish()
        except OSError:
            pass
        finally:
            self.server.track(self.connection, open_=False)

    def version_string(self) -> str:
        """Name the server without Python's version."""
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        """Stay quiet: the request log records every request."""

    def date_time_string(self, timestamp: float | None = None) -> str:
        """Use the sandbox clock for the Date header, like every other time it reports."""
        when = self.server.app.clock.time() if timestamp is None else timestamp
        return formatdate(when, usegmt=True)

    def do_GET(self) -> None:
        """Serve a GET."""
        self._serve()

    def do_POST(self) -> None:
        """Serve a POST."""
        self._serve()

    def do_PUT(self) -> None:
        """Serve a PUT (no such route: X's 404)."""
        self._serve()

    def do_DELETE(self) -> None:
        """Serve a DELETE (no such route: X's 404)."""
        self._serve()

    def do_PATCH(self) -> None:
        """Serve a PATCH (no such route: X's 404)."""
        self._serve()

    def _abort(self) -> None:
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _serve(self) -> None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0:
            self.send_error(400, "bad Content-Length")
            return
        body = self.rfile.read(length) if length else b""
        host = self.headers.get("Host") or f"{self.server.server_name}:{self.server.server_port}"
        headers: CaseInsensitiveDict[str] = CaseInsensitiveDict(self.headers.items())
        request = Request(self.command, self.path, headers, body, f"http://{host}{self.path}")
        response = self.server.app.handle(request)
        if response.drop:
            self._abort()
            return
        payload = response.body if response.cut is None else response.body[: response.cut]
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        if self.server.stopping or response.cut is not None:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(payload)
        if response.cut is not None:
            self._abort()


class ServerThread:
    """Run a `SandboxHTTPServer` on a daemon thread; `stop` returns within ~0.1 s."""

    def __init__(self, app: SandboxApp, host: str, port: int) -> None:
        self.server = SandboxHTTPServer((host, port), app)
        self._thread = threading.Thread(
            target=self.server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"x-sandbox-{self.server.server_port}",
            daemon=True,
        )

    @property
    def address(self) -> tuple[str, int]:
        """The bound (host, port)."""
        return self.server.server_name, self.server.server_port

    def start(self) -> None:
        """Start serving."""
        self._thread.start()

    def stop(self) -> None:
        """Stop accepting, end open connections and release the port."""
        self.server.stopping = True
        if self._thread.is_alive():
            self.server.shutdown()  # blocks forever if serve_forever never ran
        self.server.close_connections()
        self.server.server_close()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
