"""The base REST stream for X's DM event endpoints."""

from __future__ import annotations

import typing as t
from collections.abc import Callable, Generator, Iterable, Mapping
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

import backoff
import requests
from requests.auth import AuthBase
from singer_sdk import RESTStream
from singer_sdk.exceptions import RetriableAPIError

from tap_x_dm.errors import XAPIError, XNotFoundError, problem_summary, problem_type
from tap_x_dm.ratelimit import endpoint_of
from tap_x_dm.schemas import X_SCHEMAS, parameter_values

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

    from tap_x_dm.tap import TapXDM

#: Every field and expansion X's spec allows (REFERENCE.md §1.2): requested explicitly,
#: because the defaults differ between X's doc generations.
DM_EVENT_FIELDS = parameter_values("DmEventFieldsParameter")
EXPANSIONS = parameter_values("DmEventExpansionsParameter")
ENTITY_KINDS = ("cashtags", "hashtags", "mentions", "urls")
#: `includes` kinds the tap loads, and the key of their objects.
INCLUDE_KEYS = {"users": "id", "tweets": "id", "media": "media_key"}

_RETRIABLE = (
    ConnectionResetError,
    RetriableAPIError,
    requests.exceptions.Timeout,
    requests.exceptions.ConnectionError,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)


def _retry_reason(exc: BaseException) -> str:
    """Why a request is retried, in a few words and without a secret.

    Our own messages name the endpoint, status and X's title/detail; a
    transport error is named by its type only (its text can hold a long URL).
    """
    if isinstance(exc, RetriableAPIError):
        return str(exc).split(". ", 1)[0][:200]
    return type(exc).__name__


class XStream(RESTStream[str]):
    """Request shape, error lines, retries and page handling shared by the DM streams."""

    records_jsonpath = "$.data[*]"
    primary_keys: t.ClassVar[list[str]] = ["id"]
    #: The component of X's OpenAPI document that types this stream's records.
    schema_key: t.ClassVar[str]

    def __init__(self, tap: TapXDM, **kwargs: Any) -> None:
        # Resolved once per stream: the SDK reads `schema` for every record.
        schema = X_SCHEMAS.get_schema(self.schema_key, key_properties=self.primary_keys)
        super().__init__(tap=tap, schema=schema, **kwargs)
        self._unknown_fields_seen: set[str] = set()
        self._last_payload: tuple[requests.Response | None, Any] = (None, None)
        self._problems_seen: set[str] = set()
        self._page_includes: dict[str, dict[str, dict[str, Any]]] = {}

    @property
    def tap(self) -> TapXDM:
        """The tap that owns the shared authenticator, budget and includes."""
        return t.cast("TapXDM", self._tap)

    @property
    def url_base(self) -> str:
        """`api_url` without a trailing slash."""
        return str(self.config["api_url"]).rstrip("/")

    @property
    def authenticator(self) -> AuthBase:
        """The tap's single authenticator (one budget, one token chain per run)."""
        return self.tap.authenticator

    @property
    def timeout(self) -> int:
        """Seconds before a request is abandoned and retried."""
        return int(self.config["request_timeout"])

    # -- request ------------------------------------------------------------------------

    def get_url_params(
        self, context: Context | None, next_page_token: str | None
    ) -> dict[str, Any]:
        """Ask for every field and expansion once, so no event needs a second request."""
        params: dict[str, Any] = {
            "max_results": self.config["page_size"],
            "event_types": ",".join(self.config["event_types"]),
            **self.lookup_params(),
        }
        if next_page_token:
            params["pagination_token"] = next_page_token
        return params

    def lookup_params(self) -> dict[str, str]:
        """Field and expansion parameters shared by list pages and single-event lookups."""
        return {
            "dm_event.fields": ",".join(DM_EVENT_FIELDS),
            "expansions": ",".join(EXPANSIONS),
            "user.fields": ",".join(self.config["user_fields"]),
            "tweet.fields": ",".join(self.config["tweet_fields"]),
            "media.fields": ",".join(self.config["media_fields"]),
        }

    def get_json(self, path: str, params: dict[str, str]) -> dict[str, Any]:
        """One request outside a paginated list (users/me, an event id).

        It goes through the same authenticator, budget, retries and error
        handling as every page.
        """
        prepared = self.build_prepared_request(
            method="GET",
            url=f"{self.url_base}{path}",
            params=params,
            headers=self.http_headers,
        )
        response = self.request_decorator(self._request)(prepared, None)
        payload = self._payload(response)
        return payload if isinstance(payload, dict) else {}

    # -- response -----------------------------------------------------------------------

    def _payload(self, response: requests.Response) -> Any:
        cached_response, payload = self._last_payload
        if cached_response is not response:
            payload = response.json()
            self._last_payload = (response, payload)
        return payload

    def _describe(self, response: requests.Response) -> str:
        method = response.request.method if response.request is not None else "GET"
        path = urlsplit(response.url).path
        return f"{method} {path} answered {response.status_code}: {problem_summary(response)}"

    def response_error_message(self, response: requests.Response) -> str:
        """One line: endpoint, status and X's title/detail (never headers or tokens)."""
        return self._describe(response)

    def validate_response(self, response: requests.Response) -> None:
        """Sort X's answers into retriable, fatal with a clear line, and good.

        A 200 whose body is not JSON (a proxy cut it short) is retried like a 5xx.
        """
        status = response.status_code
        kind = problem_type(response) if status >= HTTPStatus.BAD_REQUEST else ""
        if status == HTTPStatus.TOO_MANY_REQUESTS and kind != "usage-capped":
            raise RetriableAPIError(self._describe(response), response)
        if status >= HTTPStatus.INTERNAL_SERVER_ERROR:
            raise RetriableAPIError(self._describe(response), response)
        if status >= HTTPStatus.BAD_REQUEST:
            raise self._fatal(response, kind)
        try:
            self._payload(response)
        except ValueError as exc:
            msg = f"{self._describe(response)} (body is not valid JSON)"
            raise RetriableAPIError(msg, response) from exc

    def _fatal(self, response: requests.Response, kind: str) -> XAPIError:
        status = response.status_code
        line = self._describe(response)
        hint = ""
        if status == HTTPStatus.UNAUTHORIZED:
            hint = self.tap.authenticator.explain(response)
        elif status == HTTPStatus.FORBIDDEN and kind == "unsupported-authentication":
            hint = (
                "This is an app-only bearer token; DM endpoints need a user token "
                "(OAuth 2.0 user context or OAuth 1.0a)."
            )
        elif status == HTTPStatus.FORBIDDEN and kind == "client-forbidden":
            hint = "The X app is not enrolled for this endpoint in the developer portal."
        elif status == HTTPStatus.FORBIDDEN:
            hint = self.tap.authenticator.explain(response)
        elif kind == "usage-capped":
            hint = "The account's usage cap is reached; waiting will not help until it resets."
        elif status == HTTPStatus.PAYMENT_REQUIRED:
            hint = "The X account has no API credits left; add credits, then run again."
        message = f"{line}. {hint}" if hint else line
        if status == HTTPStatus.NOT_FOUND:
            return XNotFoundError(message, status=status)
        return XAPIError(message, status=status)

    def parse_response(self, response: requests.Response) -> Iterable[dict[str, Any]]:
        """Yield the page's events, keeping its `includes` for `publish_references`."""
        payload = self._payload(response)
        if not isinstance(payload, dict):
            return
        self._log_partial_errors(payload.get("errors"))
        self.index_includes(payload.get("includes"))
        data = payload.get("data")
        if isinstance(data, dict):  # GET /2/dm_events/{id} answers one object
            data = [data]
        yield from data or []

    def index_includes(self, includes: object) -> None:
        """Keep one page's expanded objects by key, until its events are emitted."""
        self._page_includes = (
            {
                kind: {
                    str(obj.get(key)): obj
                    for obj in includes.get(kind) or []
                    if isinstance(obj, dict)
                }
                for kind, key in INCLUDE_KEYS.items()
            }
            if isinstance(includes, dict)
            else {}
        )

    def publish_references(self, event: Mapping[str, Any]) -> None:
        """Emit the users, tweets and media `event` refers to, from its page's includes.

        Only what emitted events refer to reaches the includes streams, so a run
        that finds nothing new writes nothing, even though the page it read holds
        older events and their objects.
        """
        references = {
            "users": [event.get("sender_id"), *(event.get("participant_ids") or [])],
            "tweets": [
                ref.get("id")
                for ref in event.get("referenced_tweets") or event.get("referenced_posts") or []
                if isinstance(ref, dict)
            ],
            "media": (event.get("attachments") or {}).get("media_keys") or [],
        }
        found = {
            kind: [
                self._page_includes[kind][str(key)]
                for key in keys
                if str(key) in self._page_includes.get(kind, {})
            ]
            for kind, keys in references.items()
        }
        if any(found.values()):
            self.tap.publish_includes(found, via=self)

    def _log_partial_errors(self, errors: object) -> None:
        """Log each problem of a 200 once per run (e.g. a DM quoting a deleted tweet)."""
        if not isinstance(errors, list):
            return
        for problem in errors:
            if not isinstance(problem, dict):
                continue
            resource = problem.get("resource_id") or problem.get("value")
            key = f"{problem.get('resource_type')}:{resource}"
            if key in self._problems_seen:
                continue
            self._problems_seen.add(key)
            self.logger.warning(
                "X could not return %s %s referenced by a DM event (%s: %s); the event is kept.",
                problem.get("resource_type", "an object"),
                problem.get("resource_id") or problem.get("value", "?"),
                problem.get("title", "error"),
                problem.get("detail", ""),
            )

    def post_process(self, row: dict[str, Any], context: Context | None = None) -> dict[str, Any]:
        """Normalise X's spec-version differences and tag the row with the account."""
        nested = row.pop("entities", None)
        if isinstance(nested, dict):  # spec 2.167 nests entities; 2.166 puts them flat
            for kind in ENTITY_KINDS:
                if nested.get(kind) and kind not in row:
                    row[kind] = nested[kind]
        if "referenced_posts" in row and "referenced_tweets" not in row:
            row["referenced_tweets"] = row.pop("referenced_posts")
        self.drop_unknown_fields(row)
        row["account_id"] = self.tap.account_id(self)
        if "source" in self.schema["properties"]:
            row["source"] = "api"
        return row

    def drop_unknown_fields(self, row: dict[str, Any]) -> None:
        """Drop fields X added after our schema, warning once per field per run."""
        known = self.schema["properties"]
        for name in [name for name in row if name not in known]:
            del row[name]
            if name not in self._unknown_fields_seen:
                self._unknown_fields_seen.add(name)
                self.logger.warning(
                    "X sent a field %r in %s that the schema does not know; it is not "
                    "loaded (upgrade tap-x-dm to get it).",
                    name,
                    self.name,
                )

    def calculate_sync_cost(
        self,
        request: requests.PreparedRequest,
        response: requests.Response,
        context: Context | None,
    ) -> dict[str, int]:
        """Count requests and billed events: X bills every event it returns."""
        try:
            data = self._payload(response).get("data")
        except (ValueError, AttributeError):
            data = None
        billed = len(data) if isinstance(data, list) else int(isinstance(data, dict))
        return {"requests": 1, "billed_events": billed}

    # -- retries ------------------------------------------------------------------------

    def backoff_wait_generator(self) -> Generator[float, Any, None]:
        """Wait through the tap's clock: until the reset on 429, else exponential.

        python-backoff sleeps with `time.sleep`; doing the wait here (and telling
        backoff to sleep 0 s) keeps it observable, logged once, and instant in tests.
        """
        budget = self.tap.rate_budget
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
                endpoint = endpoint_of(urlsplit(url or "").path)
                delay = budget.delay_for_retry(endpoint, headers, attempt)
                budget.wait(
                    delay,
                    endpoint=endpoint,
                    reason=_retry_reason(exc),
                    retry=f"retry {attempt} of {max_tries - 1}",
                )
                exc = yield 0.0

        return waits()

    def backoff_max_tries(self) -> int:
        """Tries per request before giving up (`max_retries` + 1)."""
        return int(self.config["max_retries"]) + 1

    def backoff_jitter(self, value: float) -> float:
        """No extra jitter: waits until a reset must be exact; our own backoff adds it."""
        return value

    def backoff_handler(self, details: Any) -> None:
        """The wait itself is logged by the rate budget, with its reason."""

    def request_decorator(self, func: Callable[..., Any]) -> Callable[..., Any]:
        """Retry transient failures; turn a final one into a single clear line."""
        decorated = backoff.on_exception(
            self.backoff_wait_generator,
            _RETRIABLE,
            max_tries=self.backoff_max_tries,
            on_backoff=self.backoff_handler,
            jitter=self.backoff_jitter,
            logger=None,
        )(func)
        tries = self.backoff_max_tries()

        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return decorated(*args, **kwargs)
            except RetriableAPIError as exc:
                response = exc.response
                status = response.status_code if response is not None else None
                msg = f"{exc} (gave up after {tries} tries)"
                raise XAPIError(msg, status=status) from None
            except requests.exceptions.RequestException as exc:
                url = getattr(exc.request, "url", "") or ""
                path = urlsplit(url).path
                msg = f"GET {path} failed: {type(exc).__name__} (gave up after {tries} tries)"
                raise XAPIError(msg) from None

        return call
