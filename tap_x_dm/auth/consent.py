"""The consent step of `tap-x-dm-auth`: X's authorise URL (PKCE S256) and its redirect.

The redirect lands on a one-shot HTTP server on 127.0.0.1 (or is pasted, in
headless mode); its `state` must match before the code is exchanged.
"""

from __future__ import annotations

import html
import secrets
import time
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from oauthlib.oauth2 import WebApplicationClient
from requests_oauthlib import OAuth2Session
from typing_extensions import override

from tap_x_dm.auth.authorize_settings import (
    CALLBACK_HOST,
    CALLBACK_PATH,
    AuthorizeError,
    AuthSettings,
)
from tap_x_dm.auth.urls import loopback_http_allowed

#: RFC 7636 allows 43-128 characters; the longest verifier is the hardest to guess.
CODE_VERIFIER_LENGTH = 128


@dataclass(frozen=True)
class AuthorizationRequest:
    """One consent-page visit: its URL and the secrets that must come back with the code."""

    url: str
    state: str
    code_verifier: str
    redirect_uri: str

    @override
    def __repr__(self) -> str:
        return f"AuthorizationRequest(redirect_uri={self.redirect_uri!r})"


def authorization_request(settings: AuthSettings, redirect_uri: str) -> AuthorizationRequest:
    """Build the consent URL with a fresh `state` and an S256 code challenge."""
    state = secrets.token_urlsafe(32)
    pkce = WebApplicationClient(settings.client_id)
    verifier = pkce.create_code_verifier(CODE_VERIFIER_LENGTH)
    session = OAuth2Session(settings.client_id, redirect_uri=redirect_uri, scope=settings.scopes)
    with loopback_http_allowed(settings.authorize_url):
        url, _ = session.authorization_url(
            settings.authorize_url,
            state=state,
            code_challenge=pkce.create_code_challenge(verifier, "S256"),
            code_challenge_method="S256",
        )
    return AuthorizationRequest(str(url), state, verifier, redirect_uri)


def code_from_redirect(redirected: str, request: AuthorizationRequest) -> str:
    """Check the redirect's `state` and return its code (or explain X's refusal)."""
    parts = urlsplit(redirected.strip())
    query = dict(parse_qsl(parts.query or redirected.strip().lstrip("?")))
    if query.get("error"):
        said = ": ".join(query[k] for k in ("error", "error_description") if query.get(k))
        msg = f"X did not authorise the app ({said}); run tap-x-dm-auth again and approve."
        raise AuthorizeError(msg)
    if not secrets.compare_digest(query.get("state", ""), request.state):
        msg = (
            "The redirect's state does not match this authorisation request (a stale browser "
            "tab, or a forged redirect): nothing was exchanged; run tap-x-dm-auth again."
        )
        raise AuthorizeError(msg)
    code = query.get("code")
    if not code:
        msg = (
            f"The redirect carries no code: paste the whole address, which starts with "
            f"{request.redirect_uri}?."
        )
        raise AuthorizeError(msg)
    return code


class CallbackServer:
    """A one-shot HTTP server on 127.0.0.1 that catches X's redirect.

    The request line carries the code, so nothing is logged; the page says
    whether the terminal can go on.
    """

    def __init__(self, port: int) -> None:
        self.query: str | None = None
        self._expected_state: str | None = None
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                if parts.path != CALLBACK_PATH:
                    self._answer(HTTPStatus.NOT_FOUND, "Not the tap-x-dm-auth callback.")
                    return
                if outer.query is None:
                    outer.query = parts.query
                params = dict(parse_qsl(parts.query))
                if params.get("error"):
                    self._answer(HTTPStatus.OK, "X did not authorise the app; see the terminal.")
                elif params.get("state") != outer._expected_state:
                    self._answer(
                        HTTPStatus.BAD_REQUEST, "The state does not match; see the terminal."
                    )
                else:
                    self._answer(
                        HTTPStatus.OK,
                        "tap-x-dm-auth received the authorisation. You can close this tab.",
                    )

            def _answer(self, status: HTTPStatus, text: str) -> None:
                body = (
                    "<!doctype html><meta charset='utf-8'><title>tap-x-dm-auth</title>"
                    f"<p>{html.escape(text)}</p>"
                ).encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            @override
            def log_message(self, format: str, *args: Any) -> None:
                """The request line holds the code: log nothing."""

        try:
            self._server = HTTPServer((CALLBACK_HOST, port), Handler)
        except OSError as exc:
            msg = (
                f"Cannot listen on {CALLBACK_HOST}:{port} ({exc.strerror or exc}): stop what "
                f"uses the port, or pass --port N and register http://{CALLBACK_HOST}:N"
                f"{CALLBACK_PATH} in the X app."
            )
            raise AuthorizeError(msg) from None
        self._server.timeout = 0.2

    @property
    def redirect_uri(self) -> str:
        """The exact callback URL (the port is the bound one, even for --port 0)."""
        return f"http://{CALLBACK_HOST}:{self._server.server_address[1]}{CALLBACK_PATH}"

    def wait(self, expected_state: str, timeout: float) -> str:
        """Serve until the callback arrives; return its query string."""
        self._expected_state = expected_state
        deadline = time.monotonic() + timeout
        while self.query is None:
            if time.monotonic() >= deadline:
                msg = (
                    f"No redirect reached {self.redirect_uri} within {timeout:.0f} s: check that "
                    "this exact URL is registered as the X app's callback, or use --headless."
                )
                raise AuthorizeError(msg)
            self._server.handle_request()
        return self.query

    def close(self) -> None:
        """Stop listening."""
        self._server.server_close()
