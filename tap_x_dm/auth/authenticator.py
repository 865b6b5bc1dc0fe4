"""The run's one authenticator: waits for the rate budget, signs, learns from the response.

A config token (`BearerToken`) is signed here too: every request runs through this module
only; OAuth 1.0a and refreshing OAuth 2.0 bring their own signers (`signers`, `refreshing`).

The Tap's services hold a single `XAuthenticator` shared by every stream and
partition (not a per-stream property, not a process-wide singleton), so all
requests of a run draw on one budget and one token chain. The SDK's
`OAuthAuthenticator` is not used: in singer-sdk 0.54 it drops the rotated
refresh token and re-POSTs a spent one on a dropped connection.
"""

from __future__ import annotations

import logging
import typing as t
from collections import Counter
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.auth import AuthBase
from typing_extensions import override

from tap_x_dm.api.ratelimit import RateBudget, endpoint_of
from tap_x_dm.auth.signers import OAuth1Signer, Signer
from tap_x_dm.auth.tokenstore import fingerprint

if t.TYPE_CHECKING:
    from tap_x_dm.clock import Clock


class BearerToken(Signer):
    """An OAuth 2.0 user-context access token from the config, sent as is."""

    def __init__(self, access_token: str) -> None:
        self._access_token = access_token

    @override
    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        """Set the bearer header."""
        request.headers["Authorization"] = f"Bearer {self._access_token}"
        return request

    @property
    @override
    def identity(self) -> str:
        """The token's fingerprint (a config token is the whole credential)."""
        return f"oauth2:{fingerprint(self._access_token)}"

    @override
    def hint_401(self) -> str:
        """A config token cannot be refreshed: say how to get one that can."""
        return (
            "The access token is invalid or expired (X's access tokens last 2 hours): set a "
            "fresh `access_token`, or let the tap refresh its own: run `tap-x-dm-auth`, then "
            "set token_store_path and client_id."
        )

    @override
    def __repr__(self) -> str:
        return "BearerToken(<redacted>)"


def build_signer(config: Mapping[str, Any], *, clock: Clock, logger: logging.Logger) -> Signer:
    """Pick the credential the (validated) config describes.

    `consumer_key` selects OAuth 1.0a; `token_store_path` with `client_id`
    selects refreshing OAuth 2.0; otherwise `access_token` is sent as is.
    """

    def get(name: str) -> str | None:
        value = str(config.get(name) or "").strip()
        return value or None

    if get("consumer_key"):
        ignored = [name for name in ("refresh_token", "client_id", "token_store_path") if get(name)]
        if ignored:
            logger.warning(
                "consumer_key selects OAuth 1.0a; the OAuth 2.0 setting(s) %s are ignored.",
                ", ".join(ignored),
            )
        return OAuth1Signer(
            consumer_key=str(get("consumer_key")),
            consumer_secret=str(get("consumer_secret")),
            access_token=str(get("access_token")),
            access_token_secret=str(get("access_token_secret")),
            clock=clock,
        )
    store_path, client_id = get("token_store_path"), get("client_id")
    if store_path and client_id:
        # Imported here: a run with a config token never loads the refresh machinery or
        # oauthlib (start-up CPU; see docs/benchmarks.md).
        from tap_x_dm.auth.refreshing import RefreshingBearer
        from tap_x_dm.auth.token_endpoint import (
            TokenEndpoint,
            silence_library_debug_logs,
            token_url_for,
        )
        from tap_x_dm.auth.tokenstore import TokenStore

        silence_library_debug_logs()
        endpoint = TokenEndpoint(
            token_url_for(config),
            client_id=client_id,
            client_secret=get("client_secret"),
            timeout=float(config.get("request_timeout") or 30),
        )
        return RefreshingBearer(
            store=TokenStore(store_path, logger=logger),
            endpoint=endpoint,
            seed_access_token=get("access_token"),
            seed_refresh_token=get("refresh_token"),
            clock=clock,
            logger=logger,
        )
    return BearerToken(get("access_token") or "")


class XAuthenticator(AuthBase):
    """Waits for the rate budget, signs the request, learns from the response.

    The SDK applies it once per try, as the request is sent (`XStream` keeps it out
    of the session, which would apply it a second time); applying it again (a retry)
    is harmless, and the response hook is registered once. On a 401 the hook asks
    the signer for a better credential and re-sends that request once, like
    requests' digest auth does; a second 401 goes back to the stream, which fails
    with the signer's hint.
    """

    def __init__(
        self,
        signer: Signer,
        budget: RateBudget,
        logger: logging.Logger | None = None,
        *,
        answers: Counter[str] | None = None,
    ) -> None:
        self._signer = signer
        self.budget = budget
        self._logger = logger or logging.getLogger("tap-x-dm")
        #: X's answers per endpoint template, 429s and errors included (the run summary's
        #: `requests`: `RunTally.requests`, counted here without a call per answer).
        self.answers: Counter[str] = Counter() if answers is None else answers

    @property
    def identity(self) -> str:
        """A stable, non-secret tag of the run's credential (for a per-account run lock)."""
        return self._signer.identity

    @property
    def user_id(self) -> str | None:
        """The X user the credential acts for, if known without a request."""
        return self._signer.user_id

    @override
    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        """Wait if the window is spent, then sign and watch the response."""
        self.budget.before_request(self._endpoint(request))
        request = self._signer(request)
        hooks = request.hooks.setdefault("response", [])
        if self._on_response not in hooks:
            hooks.append(self._on_response)
        return request

    @staticmethod
    def _endpoint(request: requests.PreparedRequest) -> str:
        return endpoint_of(urlsplit(request.url or "").path)

    def _on_response(self, response: requests.Response, **send_kwargs: Any) -> requests.Response:
        request = response.request
        endpoint = self._endpoint(request)
        self._count(endpoint)
        self.budget.observe(endpoint, response.headers, status=response.status_code)
        if response.status_code != requests.codes.unauthorized:
            return response
        if not self._signer.recover_from_401(request):
            return response
        self._logger.info(
            "%s %s answered 401; re-sending it once with the refreshed access token.",
            request.method,
            endpoint,
        )
        _ = response.content  # read it, so the connection goes back to the pool
        response.close()
        retry = self(request.copy())
        second: requests.Response = response.connection.send(retry, **send_kwargs)
        second.history.append(response)
        second.request = retry
        self._count(endpoint)
        self.budget.observe(endpoint, second.headers, status=second.status_code)
        return second

    def _count(self, endpoint: str) -> None:
        self.answers[endpoint] += 1

    def explain(self, response: requests.Response) -> str:
        """The hint for a 401 or a generic 403, from the credential's point of view."""
        if response.status_code == requests.codes.unauthorized:
            return self._signer.hint_401()
        return self._signer.hint_403(urlsplit(response.url).path)

    @override
    def __repr__(self) -> str:
        return f"XAuthenticator({self._signer!r})"
