"""The base REST stream of the tap: request shape, X's answers, and retries on the run's clock."""

from __future__ import annotations

import typing as t
from collections.abc import Callable, Generator, Iterable
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.auth import AuthBase
from requests.utils import resolve_proxies
from singer_sdk import RESTStream
from singer_sdk.exceptions import RetriableAPIError
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.streams.rest import HTTPRequest, PageContext
from typing_extensions import override

from tap_x_dm.api import network
from tap_x_dm.api.answers import KnownProperties, WarnOnce, flat_entities, shipped_names
from tap_x_dm.api.costs import resources_in
from tap_x_dm.api.ratelimit import endpoint_of
from tap_x_dm.errors import (
    XAPIError,
    XNotFoundError,
    problem_summary,
    problem_type,
    rejected_parameters,
)
from tap_x_dm.schemas import X_SCHEMAS
from tap_x_dm.sdk_adapter import LeanRecordMessages

if t.TYPE_CHECKING:
    from singer_sdk import Tap
    from singer_sdk.helpers.types import Context

    from tap_x_dm.services import RunServices

#: Ids named in the line about objects X could not return (the rest are counted).
MISSING_IDS_SHOWN = 10


class XStream(LeanRecordMessages, RESTStream[str]):
    """Request shape, error lines, retries and page parsing shared by the tap's streams."""

    records_jsonpath = "$.data[*]"
    primary_keys: t.ClassVar[list[str]] = ["id"]
    #: The component of X's OpenAPI document that types this stream's records.
    schema_key: t.ClassVar[str]
    #: The kind of resource an answer's `data` holds, for the cost ledger.
    data_kind: t.ClassVar[str] = "dm_events"
    #: X's JSON needs no type conversion; unknown properties, nested ones too, are dropped
    #: by `drop_unknown_fields` (`tap_x_dm.api.answers`), at a fraction of the SDK's cost.
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE

    def __init__(self, tap: Tap, services: RunServices) -> None:
        # Resolved once per stream: the SDK reads `schema` for every record.
        schema = self.record_schema(tap.config)
        super().__init__(tap=tap, schema=schema)
        self.services = services
        self.logger.addFilter(network.OneLinePerProblem())
        self._known = KnownProperties(schema)
        self._warn_unknown_field = WarnOnce(self.logger, self.name)
        self._last_payload: tuple[requests.Response | None, Any] = (None, None)
        self._problems_seen: set[str] = set()
        #: The endpoint of the request in flight, for retry lines when an error carries no URL.
        self._endpoint = ""
        #: Tries of the request in flight (`request_decorator`).
        self._tries = 0
        #: The account's id, on every record (resolved before the first one: `services.Account`).
        self._account_id: str | None = None
        #: The query of the request in flight in 2.166 names (`tap_x_dm.api.vocabulary`).
        self._asked_params: dict[str, Any] = {}
        self._resolve_proxies_once(self.requests_session)

    def record_schema(self, config: t.Mapping[str, Any]) -> dict[str, Any]:
        """The stream's JSON Schema: X's component `schema_key` (the chat streams write theirs)."""
        return X_SCHEMAS.get_schema(self.schema_key, key_properties=self.primary_keys)

    def _resolve_proxies_once(self, session: requests.Session) -> None:
        """Find the environment's proxy for `api_url` once, not on every request.

        The SDK sends prepared requests with `Session.send`, which looks the proxy up
        in the environment (`HTTPS_PROXY`, `NO_PROXY`...) for each request, reading
        every variable three times. Every request of a stream goes to `api_url`'s
        host, so the answer never changes: the session keeps it and stops looking
        (`trust_env` off; with `Session.send` it governs nothing else here but a
        `.netrc` login after a redirect, and X does not redirect its API).
        """
        probe = requests.Request("GET", f"{self.url_base}/")
        session.proxies = resolve_proxies(probe, dict(session.proxies), trust_env=True)
        session.trust_env = False

    @property
    @override
    def url_base(self) -> str:
        """`api_url` without a trailing slash."""
        return str(self.config["api_url"]).rstrip("/")

    @property
    @override
    def authenticator(self) -> AuthBase:
        """The run's single authenticator (one budget, one token chain per run)."""
        return self.services.authenticator

    @property
    @override
    def timeout(self) -> int:
        """Seconds before a request is abandoned and retried."""
        return int(self.config["request_timeout"])

    @override
    def build_prepared_request(self, *args: Any, **kwargs: Any) -> requests.PreparedRequest:
        """The SDK's request, unsigned: the SDK's `_request` signs it once, as it is sent.

        The SDK also sets it as the session's `auth`, which would wait for the rate budget
        and sign a second time as the request is prepared.
        """
        request = requests.Request(*args, **kwargs)
        request.headers.setdefault("User-Agent", self.user_agent)
        return self.requests_session.prepare_request(request)

    @override
    def get_http_request(self, *, page: PageContext) -> HTTPRequest:
        """The request, its fields and expansions in the names this run asks X in."""
        request = super().get_http_request(page=page)
        self._asked_params = dict(request.params)
        request.params = self.services.vocabulary.outgoing(request.params)
        return request

    # -- response -----------------------------------------------------------------------

    def payload(self, response: requests.Response) -> Any:
        """The page's JSON, parsed once however many hooks read it."""
        cached_response, payload = self._last_payload
        if cached_response is not response:
            payload = response.json()
            self._last_payload = (response, payload)
        return payload

    def _describe(self, response: requests.Response) -> str:
        method = response.request.method if response.request is not None else "GET"
        path = urlsplit(response.url).path
        return f"{method} {path} answered {response.status_code}: {problem_summary(response)}"

    @override
    def response_error_message(self, response: requests.Response) -> str:
        """One line: endpoint, status and X's title/detail (never headers or tokens)."""
        return self._describe(response)

    @override
    def validate_response(self, response: requests.Response) -> None:
        """Sort X's answers into retriable, fatal with a clear line, and good.

        A 200 whose body is not JSON (a proxy cut it short) is retried like a 5xx.
        """
        self.services.vocabulary.observe(response)
        status = response.status_code
        kind = problem_type(response) if status >= HTTPStatus.BAD_REQUEST else ""
        if status == HTTPStatus.TOO_MANY_REQUESTS and kind != "usage-capped":
            raise RetriableAPIError(self._describe(response), response)
        if status >= HTTPStatus.INTERNAL_SERVER_ERROR:
            raise RetriableAPIError(self._describe(response), response)
        if status >= HTTPStatus.BAD_REQUEST:
            raise self._fatal(response, kind)
        try:
            self.payload(response)
        except ValueError as exc:
            msg = f"{self._describe(response)} (body is not valid JSON)"
            raise RetriableAPIError(msg, response) from exc

    def _fatal(self, response: requests.Response, kind: str) -> XAPIError:
        status = response.status_code
        hint = ""
        if status == HTTPStatus.UNAUTHORIZED:
            hint = self.services.authenticator.explain(response)
        elif status == HTTPStatus.FORBIDDEN and kind == "unsupported-authentication":
            hint = (
                "This is an app-only bearer token; DM endpoints need a user token "
                "(OAuth 2.0 user context or OAuth 1.0a)."
            )
        elif status == HTTPStatus.FORBIDDEN and kind == "client-forbidden":
            hint = "The X app is not enrolled for this endpoint in the developer portal."
        elif status == HTTPStatus.FORBIDDEN:
            hint = self.services.authenticator.explain(response)
        elif kind == "usage-capped":
            hint = "The account's usage cap is reached; waiting will not help until it resets."
        elif status == HTTPStatus.PAYMENT_REQUIRED:
            hint = "The X account has no API credits left; add credits, then run again."
        line = self._describe(response)
        message = f"{line}. {hint}" if hint else line
        if status == HTTPStatus.NOT_FOUND:
            return XNotFoundError(message, status=status)
        parameters = rejected_parameters(response)
        return XAPIError(message, status=status, parameters=parameters, problem=kind)

    @override
    def parse_response(self, response: requests.Response) -> Iterable[dict[str, Any]]:
        """Yield the answer's records (a list, or the one object of a lookup)."""
        payload = self.payload(response)
        if not isinstance(payload, dict):
            return
        self.log_partial_errors(payload.get("errors"))
        data = payload.get("data")
        if isinstance(data, dict):  # single-object answers: /2/users/me, /2/dm_events/{id}
            data = [data]
        yield from data or []

    def log_partial_errors(self, errors: object) -> None:
        """Sum up the objects an answer lacks (deleted or private posts) in one line.

        Each object is named once per run; X's own words for each go to DEBUG.
        """
        if not isinstance(errors, list):
            return
        missing: dict[tuple[str, str], list[str]] = {}
        for problem in errors:
            if not isinstance(problem, dict):
                continue
            resource = str(problem.get("resource_id") or problem.get("value") or "?")
            kind = str(problem.get("resource_type") or "object")
            key = f"{kind}:{resource}"
            if key in self._problems_seen:
                continue
            self._problems_seen.add(key)
            title = str(problem.get("title") or "error")
            missing.setdefault((kind, title), []).append(resource)
            self.logger.debug("X could not return %s %s: %s", kind, resource, problem.get("detail"))
        for (kind, title), ids in missing.items():
            shown = ", ".join(ids[:MISSING_IDS_SHOWN])
            more = (
                f" and {len(ids) - MISSING_IDS_SHOWN} more" if len(ids) > MISSING_IDS_SHOWN else ""
            )
            self.logger.warning(
                "X could not return %d %s(s) referenced by DM events (%s: %s%s); the events are "
                "kept.",
                *(len(ids), kind, title, shown, more),
            )

    @override
    def post_process(self, row: dict[str, Any], context: Context | None = None) -> dict[str, Any]:
        """Normalise X's spec-version differences and tag the row with the account."""
        flat_entities(row)  # spec 2.167 nests entities; 2.166 puts them flat
        shipped_names(row)  # 2.167's referenced_posts
        self.drop_unknown_fields(row)
        if self._account_id is None:
            self._account_id = self.services.account.id
        row["account_id"] = self._account_id
        return row

    def drop_unknown_fields(self, row: dict[str, Any]) -> None:
        """Drop fields X added after our schema, at any depth, warning once per field per run."""
        self._known.prune(row, self._warn_unknown_field)

    @override
    def calculate_sync_cost(
        self,
        request: requests.PreparedRequest,
        response: requests.Response,
        context: Context | None,
    ) -> dict[str, int]:
        """Count the request and every resource X bills in its answer (the run's ledger too)."""
        try:
            payload = self.payload(response)
        except ValueError:
            payload = None
        resources = resources_in(payload, self.data_kind)
        self.services.costs.add(self.name, resources)
        return {"requests": 1, **resources}

    @override
    def log_sync_costs(self) -> None:
        """One line per stream: requests, resources by kind, and what X may bill for them."""
        counts = self.services.costs.totals(self.name)
        if counts["requests"]:
            self.logger.info("%s", self.services.costs.line(self.name, counts))

    # -- retries ------------------------------------------------------------------------

    @override
    def backoff_wait_generator(self) -> Generator[float, Any, None]:
        """Wait through the run's clock: until the reset on 429, else exponential.

        python-backoff sleeps with `time.sleep`; doing the wait here (and telling
        backoff to sleep 0 s) keeps it observable, logged once, and instant in tests.
        """
        budget = self.services.budget
        max_tries = self.backoff_max_tries()

        def waits() -> Generator[float, Any, None]:
            exc = yield 0.0
            attempt = 0
            while True:
                attempt += 1
                response = getattr(exc, "response", None)
                headers = response.headers if response is not None else {}
                request = getattr(exc, "request", None)
                url = response.url if response is not None else getattr(request, "url", "")
                endpoint = endpoint_of(urlsplit(url).path) if url else self._endpoint
                delay = budget.delay_for_retry(endpoint, headers, attempt)
                budget.wait(
                    delay,
                    endpoint=endpoint,
                    reason=network.retry_reason(exc),
                    retry=f"retry {attempt} of {max_tries - 1}",
                )
                exc = yield 0.0

        return waits()

    @override
    def backoff_max_tries(self) -> int:
        """Tries per request before giving up (`max_retries` + 1)."""
        return int(self.config["max_retries"]) + 1

    @override
    def backoff_jitter(self, value: float) -> float:
        """No extra jitter: waits until a reset must be exact; our own backoff adds it."""
        return value

    @override
    def backoff_handler(self, details: Any) -> None:
        """The wait itself is logged by the rate budget, with its reason."""

    @override
    def request_decorator(self, func: Callable[..., Any]) -> Callable[..., Any]:
        """The SDK's retries, ending in one clear line instead of a retry exception.

        An unreachable address stops at its second try (`network`); X's 400 naming a
        field or expansion is asked again once in the other vocabulary (`vocabulary`).
        """
        decorated = super().request_decorator(self._counting_tries(func))
        tries = self.backoff_max_tries()

        def call(prepared: requests.PreparedRequest, *args: Any, **kwargs: Any) -> Any:
            self._endpoint = endpoint_of(urlsplit(prepared.url or "").path)
            self._tries = 0
            try:
                try:
                    return decorated(prepared, *args, **kwargs)
                except XAPIError as exc:
                    if not self.services.vocabulary.switch_after(exc.status, exc.parameters):
                        raise
                    self.services.vocabulary.rewrite(prepared, self._asked_params)
                    self._tries = 0
                    return decorated(prepared, *args, **kwargs)
            except RetriableAPIError as exc:
                response = exc.response
                status = response.status_code if response is not None else None
                msg = f"{exc} (gave up after {tries} tries)"
                raise XAPIError(msg, status=status) from None
            except requests.exceptions.RequestException as exc:
                msg = network.failure_line(
                    prepared.method or "GET",
                    self._endpoint,
                    exc,
                    url=prepared.url or "",
                    api_url=self.url_base,
                    tries=self._tries,
                )
                raise XAPIError(msg) from None

        return call

    def _counting_tries(self, func: Callable[..., Any]) -> Callable[..., Any]:
        """Count a request's tries; an unreachable address stops at its second (`network`)."""

        def one_try(prepared: requests.PreparedRequest, *args: Any, **kwargs: Any) -> Any:
            self._tries += 1
            try:
                return func(prepared, *args, **kwargs)
            except requests.exceptions.RequestException as exc:
                network.stop_if_unreachable(exc, prepared, api_url=self.url_base, tries=self._tries)
                raise

        return one_try
