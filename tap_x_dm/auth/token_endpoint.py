"""X's OAuth 2.0 token endpoint: one POST per refresh or code, never retried.

A retry would re-POST a refresh token (or code) that X may already have
spent, so each call is exactly one POST on a fresh requests-oauthlib session
without urllib3 retries, and a failure is sorted by what it means for the grant.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import requests
import urllib3
from requests.auth import HTTPBasicAuth
from requests_oauthlib import OAuth2Session
from typing_extensions import override

from tap_x_dm.auth.urls import loopback_http_allowed


def silence_library_debug_logs() -> None:
    """Keep requests-oauthlib and oauthlib from logging secrets.

    At DEBUG they log refresh-request bodies, token responses, OAuth 1.0a
    headers and signature base strings: refresh tokens, codes and access
    tokens. No log level of the tap may write those, so their loggers stay at
    WARNING (called at import and again when a signer is built, after the
    SDK has configured logging).
    """
    for name in ("requests_oauthlib", "oauthlib"):
        logging.getLogger(name).setLevel(logging.WARNING)


silence_library_debug_logs()


silence_library_debug_logs()


def token_url_for(config: Mapping[str, Any]) -> str:
    """`token_url`, or `{api_url}/2/oauth2/token` (X: https://api.x.com/2/oauth2/token)."""
    explicit = str(config.get("token_url") or "").strip()
    if explicit:
        return explicit
    return str(config.get("api_url") or "https://api.x.com").rstrip("/") + "/2/oauth2/token"


def scope_text(scope: object) -> str | None:
    """X's space-separated scope (oauthlib hands it back as a list)."""
    if isinstance(scope, (list, tuple)):
        return " ".join(str(s) for s in scope) or None
    return str(scope) if scope else None


class TokenEndpointError(Exception):
    """A token request that did not return tokens, sorted by what it means for the grant.

    Attributes:
        outcome: "not_sent" (nothing reached X: the token is intact), "unknown"
            (sent, answer lost or unusable: X may have spent the token),
            "rejected" (400: spent, revoked or invalid), "client" (the app's
            client credentials were refused).
        what: What happened, for a one-line message (never a token).
    """

    def __init__(self, outcome: str, what: str) -> None:
        super().__init__(what)
        self.outcome = outcome
        self.what = what


def _was_not_sent(exc: requests.exceptions.RequestException) -> bool:
    """True only when the request provably never left: connecting or TLS failed."""
    if isinstance(exc, (requests.exceptions.ConnectTimeout, requests.exceptions.SSLError)):
        return True
    if isinstance(exc, requests.exceptions.ConnectionError) and exc.args:
        reason = getattr(exc.args[0], "reason", exc.args[0])
        return isinstance(reason, urllib3.exceptions.ConnectTimeoutError)
    return False


def _token_answer_error(response: requests.Response) -> TokenEndpointError:
    try:
        body = response.json()
    except ValueError:
        body = {}
    body = body if isinstance(body, dict) else {}
    error = str(body.get("error") or "")
    said = ": ".join(str(body[k]) for k in ("error", "error_description") if body.get(k))
    what = f"answered {response.status_code}" + (f" ({said})" if said else "")
    if response.status_code == 401 or error in {"unauthorized_client", "invalid_client"}:
        return TokenEndpointError("client", what)
    if response.status_code == 400:
        return TokenEndpointError("rejected", what)
    return TokenEndpointError("unknown", what)


class TokenEndpoint:
    """X's `POST /2/oauth2/token`, through requests-oauthlib, never retried.

    A retry would re-POST a refresh token (or code) that X may already have
    spent, so each call is exactly one POST on a fresh session without
    urllib3 retries. Confidential clients authenticate with HTTP Basic,
    public ones send `client_id` in the body.
    """

    def __init__(
        self, url: str, *, client_id: str, client_secret: str | None, timeout: float
    ) -> None:
        self.url = url
        self.client_id = client_id
        self._client_secret = client_secret
        self._timeout = timeout

    @override
    def __repr__(self) -> str:
        return f"TokenEndpoint({self.url!r}, client_id={self.client_id!r})"

    @property
    def confidential(self) -> bool:
        """Whether the app authenticates with a client secret."""
        return bool(self._client_secret)

    def _basic(self) -> HTTPBasicAuth | None:
        if self._client_secret:
            return HTTPBasicAuth(self.client_id, self._client_secret)
        return None

    @staticmethod
    def _check(response: requests.Response) -> requests.Response:
        if response.status_code != requests.codes.ok:
            raise _token_answer_error(response)
        return response

    def refresh(self, refresh_token: str) -> dict[str, Any]:
        """Spend `refresh_token` for a new token pair (one POST, whatever happens)."""
        extra = {} if self.confidential else {"client_id": self.client_id}
        return self._call(
            "refresh_token_response",
            lambda session: session.refresh_token(
                self.url,
                refresh_token=refresh_token,
                auth=self._basic(),
                timeout=self._timeout,
                **extra,
            ),
        )

    def exchange_code(self, *, code: str, redirect_uri: str, code_verifier: str) -> dict[str, Any]:
        """Exchange an authorisation code (PKCE) for tokens (one POST)."""
        return self._call(
            "access_token_response",
            lambda session: session.fetch_token(
                self.url,
                code=code,
                code_verifier=code_verifier,
                auth=self._basic(),
                include_client_id=not self.confidential,
                timeout=self._timeout,
            ),
            redirect_uri=redirect_uri,
        )

    def _call(
        self,
        hook: str,
        post: Callable[[OAuth2Session], Any],
        redirect_uri: str | None = None,
    ) -> dict[str, Any]:
        silence_library_debug_logs()
        session = OAuth2Session(client_id=self.client_id, redirect_uri=redirect_uri)
        session.register_compliance_hook(hook, self._check)
        try:
            with session, loopback_http_allowed(self.url):
                token = post(session)
        except TokenEndpointError:
            raise
        except requests.exceptions.RequestException as exc:
            kind = type(exc).__name__
            if _was_not_sent(exc):
                raise TokenEndpointError("not_sent", f"could not be reached ({kind})") from None
            if isinstance(exc, requests.exceptions.Timeout):
                what = f"did not answer within {self._timeout:.0f} s ({kind})"
            else:
                what = f"closed the connection without answering ({kind})"
            raise TokenEndpointError("unknown", what) from None
        except (ValueError, KeyError, TypeError) as exc:  # oauthlib: a 200 without a token
            what = f"answered 200 without a usable token ({type(exc).__name__})"
            raise TokenEndpointError("unknown", what) from None
        if not token.get("access_token"):
            raise TokenEndpointError("unknown", "answered 200 without an access token")
        return dict(token)
