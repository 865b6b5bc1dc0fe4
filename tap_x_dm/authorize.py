"""`tap-x-dm-auth`: authorise the tap for one X account (OAuth 2.0 Authorization Code + PKCE).

It prints (and opens) X's consent page, receives the redirect on a local
`http://127.0.0.1:<port>/callback` (or, with `--headless`, reads the URL the
browser was sent to), checks `state`, exchanges the code at once (X accepts it
for 30 seconds) and writes the token store the tap reads (`token_store_path`).
No token is ever printed: the store file (mode 0600) is the only place they go.

Settings come from `TAP_X_DM_*` environment variables, then `--config` files
(the tap's own config), then flags. `client_secret` is never a flag (it would
show in the process list).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import html
import json
import os
import secrets
import sys
import time
import webbrowser
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import parse_qsl, urlsplit

import requests
from requests_oauthlib import OAuth2Session

from tap_x_dm.auth import (
    AUTH_SCOPES,
    TokenEndpoint,
    TokenEndpointError,
    is_loopback,
    loopback_http_allowed,
    scope_text,
    silence_library_debug_logs,
    token_url_for,
)
from tap_x_dm.clock import Clock, SystemClock
from tap_x_dm.errors import TapXDMError
from tap_x_dm.tokenstore import StoredTokens, TokenStore

DEFAULT_AUTHORIZE_URL = "https://x.com/i/oauth2/authorize"
DEFAULT_API_URL = "https://api.x.com"
DEFAULT_PORT = 8765
CALLBACK_HOST = "127.0.0.1"
CALLBACK_PATH = "/callback"
ENV_PREFIX = "TAP_X_DM_"
#: Settings read from the environment and from --config files.
SETTINGS = (
    "client_id",
    "client_secret",
    "token_store_path",
    "token_url",
    "api_url",
    "authorize_url",
    "request_timeout",
)


class AuthorizeError(TapXDMError):
    """The authorisation cannot be completed; the message says why and what to do."""


@dataclass(frozen=True)
class AuthSettings:
    """Everything one authorisation needs."""

    client_id: str
    client_secret: str | None
    token_store_path: Path
    token_url: str
    api_url: str
    authorize_url: str
    port: int
    scopes: tuple[str, ...]
    callback_timeout: float
    request_timeout: float

    def __repr__(self) -> str:
        return f"AuthSettings(client_id={self.client_id!r}, store={str(self.token_store_path)!r})"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tap-x-dm-auth",
        description=(
            "Authorise tap-x-dm to read one X account's DMs (OAuth 2.0 with PKCE) and save "
            "the tokens to the token store the tap refreshes. Settings come from TAP_X_DM_* "
            "environment variables, then --config files, then these flags; client_secret "
            "only from the environment or a config file."
        ),
    )
    parser.add_argument(
        "--config",
        action="append",
        default=[],
        metavar="PATH",
        help="the tap's JSON config file (repeatable); 'ENV' is accepted and does nothing "
        "more, as TAP_X_DM_* variables are always read",
    )
    parser.add_argument("--client-id", help="OAuth 2.0 Client ID of the X app")
    parser.add_argument(
        "--token-store",
        metavar="PATH",
        help="the token store file to write (the tap's token_store_path)",
    )
    parser.add_argument("--api-url", help=f"X API base URL (default {DEFAULT_API_URL})")
    parser.add_argument("--token-url", help="token endpoint (default {api_url}/2/oauth2/token)")
    parser.add_argument("--authorize-url", help=f"consent page (default {DEFAULT_AUTHORIZE_URL})")
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"port of the local callback http://{CALLBACK_HOST}:PORT{CALLBACK_PATH}, which "
        f"must be registered in the X app exactly (default {DEFAULT_PORT})",
    )
    parser.add_argument(
        "--scopes",
        default=" ".join(AUTH_SCOPES),
        help=f"space-separated scopes (default: {' '.join(AUTH_SCOPES)})",
    )
    parser.add_argument("--no-browser", action="store_true", help="do not open a browser")
    parser.add_argument(
        "--headless",
        action="store_true",
        help="no local callback: paste the URL the browser was redirected to",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=300.0,
        help="seconds to wait for the browser's redirect (default 300)",
    )
    return parser


def _read_config_files(paths: Sequence[str]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for path in paths:
        if path == "ENV":
            continue
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            msg = f"Cannot read --config {path}: {exc.strerror or exc}."
            raise AuthorizeError(msg) from None
        except ValueError:
            msg = f"--config {path} is not valid JSON."
            raise AuthorizeError(msg) from None
        if not isinstance(data, dict):
            msg = f"--config {path} must hold a JSON object."
            raise AuthorizeError(msg)
        merged.update(data)
    return merged


def _safe_url(url: str) -> bool:
    parts = urlsplit(url)
    if not parts.hostname:
        return False
    return parts.scheme == "https" or (parts.scheme == "http" and is_loopback(parts.hostname))


def load_settings(args: argparse.Namespace, environ: Mapping[str, str]) -> AuthSettings:
    """Merge environment, config files and flags; one clear line per missing setting."""
    values: dict[str, Any] = {}
    for name in SETTINGS:
        env = environ.get(ENV_PREFIX + name.upper())
        if env:
            values[name] = env
    values.update({k: v for k, v in _read_config_files(args.config).items() if v not in ("", None)})
    for flag, name in (
        ("client_id", "client_id"),
        ("token_store", "token_store_path"),
        ("api_url", "api_url"),
        ("token_url", "token_url"),
        ("authorize_url", "authorize_url"),
    ):
        if getattr(args, flag):
            values[name] = getattr(args, flag)

    missing = []
    if not str(values.get("client_id") or "").strip():
        missing.append(
            "client_id is missing: pass --client-id or set TAP_X_DM_CLIENT_ID (the X app's "
            "OAuth 2.0 Client ID, developer portal, Keys and tokens)."
        )
    if not str(values.get("token_store_path") or "").strip():
        missing.append(
            "token_store_path is missing: pass --token-store PATH (the same file as the tap's "
            "token_store_path setting, on storage that outlives the tap's runs)."
        )
    if not 0 <= args.port <= 65535:
        missing.append(f"--port must be 0-65535 (got {args.port}).")
    if missing:
        raise AuthorizeError(" ".join(missing))
    api_url = str(values.get("api_url") or DEFAULT_API_URL).rstrip("/")
    token_url = token_url_for({**values, "api_url": api_url})
    authorize_url = str(values.get("authorize_url") or DEFAULT_AUTHORIZE_URL)
    insecure = [
        f"{name} {url}"
        for name, url in (
            ("api_url", api_url),
            ("token_url", token_url),
            ("authorize_url", authorize_url),
        )
        if not _safe_url(url)
    ]
    if insecure:
        msg = (
            f"{'; '.join(insecure)}: use https (plain http only for 127.0.0.1/localhost, the "
            "sandbox), because tokens would travel in clear text."
        )
        raise AuthorizeError(msg)
    try:
        request_timeout = float(values.get("request_timeout") or 30)
    except (TypeError, ValueError):
        request_timeout = 30.0
    return AuthSettings(
        client_id=str(values["client_id"]).strip(),
        client_secret=str(values.get("client_secret") or "").strip() or None,
        token_store_path=Path(str(values["token_store_path"]).strip()).expanduser(),
        token_url=token_url,
        api_url=api_url,
        authorize_url=authorize_url,
        port=args.port,
        scopes=tuple(args.scopes.split()),
        callback_timeout=args.timeout,
        request_timeout=request_timeout,
    )


# -- PKCE and the consent URL ----------------------------------------------------------


@dataclass(frozen=True)
class AuthorizationRequest:
    """One consent-page visit: its URL and the secrets that must come back with the code."""

    url: str
    state: str
    code_verifier: str
    redirect_uri: str

    def __repr__(self) -> str:
        return f"AuthorizationRequest(redirect_uri={self.redirect_uri!r})"


def _s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def authorization_request(settings: AuthSettings, redirect_uri: str) -> AuthorizationRequest:
    """Build the consent URL with a fresh `state` and an S256 code challenge."""
    state = secrets.token_urlsafe(32)
    verifier = secrets.token_urlsafe(64)  # 86 unreserved characters (RFC 7636: 43-128)
    session = OAuth2Session(settings.client_id, redirect_uri=redirect_uri, scope=settings.scopes)
    with loopback_http_allowed(settings.authorize_url):
        url, _ = session.authorization_url(
            settings.authorize_url,
            state=state,
            code_challenge=_s256(verifier),
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


# -- the local callback ----------------------------------------------------------------


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

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
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


# -- the flow --------------------------------------------------------------------------


def _exchange(settings: AuthSettings, request: AuthorizationRequest, code: str) -> dict[str, Any]:
    endpoint = TokenEndpoint(
        settings.token_url,
        client_id=settings.client_id,
        client_secret=settings.client_secret,
        timeout=settings.request_timeout,
    )
    try:
        return endpoint.exchange_code(
            code=code, redirect_uri=request.redirect_uri, code_verifier=request.code_verifier
        )
    except TokenEndpointError as exc:
        where = f"The token endpoint {settings.token_url} {exc.what}"
        if exc.outcome == "client":
            msg = (
                f"{where}: X refused the app's client credentials. Check client_id, and set "
                "client_secret (TAP_X_DM_CLIENT_SECRET) only for a confidential client (Web "
                "App, Automated App or bot)."
            )
        elif exc.outcome == "rejected":
            msg = (
                f"{where}: X refused the code. Codes work once and for 30 seconds, and the "
                f"redirect URI must be exactly the registered one ({request.redirect_uri}); "
                "run tap-x-dm-auth again."
            )
        else:
            msg = f"{where}; nothing was saved: run tap-x-dm-auth again."
        raise AuthorizeError(msg) from None


def _who(settings: AuthSettings, access_token: str) -> dict[str, Any] | None:
    """The authorised account (`id`, `username`), or None if X would not say."""
    try:
        response = requests.get(
            f"{settings.api_url}/2/users/me",
            headers={"Authorization": f"Bearer {access_token}"},
            timeout=settings.request_timeout,
        )
        user = response.json().get("data") or {}
    except (requests.exceptions.RequestException, ValueError, AttributeError):
        return None
    if not isinstance(user, dict) or not user.get("id"):
        return None
    return user


def authorize(
    settings: AuthSettings,
    *,
    headless: bool = False,
    open_browser: Callable[[str], Any] | None = webbrowser.open,
    read_line: Callable[[str], str] = input,
    out: TextIO = sys.stdout,
    clock: Clock | None = None,
) -> StoredTokens:
    """Run the whole flow and write the token store; return what was stored."""
    silence_library_debug_logs()
    clock = clock or SystemClock()

    def say(line: str = "") -> None:
        print(line, file=out, flush=True)

    server = None if headless else CallbackServer(settings.port)
    try:
        redirect_uri = (
            server.redirect_uri
            if server is not None
            else f"http://{CALLBACK_HOST}:{settings.port}{CALLBACK_PATH}"
        )
        request = authorization_request(settings, redirect_uri)
        say(f"Authorising client_id {settings.client_id} for: {' '.join(settings.scopes)}")
        say("The X app's callback URI must be exactly (developer portal, User authentication")
        say("settings, Callback URI / Redirect URL):")
        say(f"  {redirect_uri}")
        say()
        say("Open this URL in a browser and approve access:")
        say(f"  {request.url}")
        say()
        if open_browser is not None:
            say("Opening it in your browser (--no-browser stops that)...")
            try:
                opened = open_browser(request.url)
            except Exception:  # any browser failure: the URL is printed anyway
                opened = False
            if opened is False:
                say("No browser could be opened: open the URL yourself.")
        if server is not None:
            say(f"Waiting for X to redirect back (up to {settings.callback_timeout:.0f} s)...")
            redirected = "?" + server.wait(request.state, settings.callback_timeout)
        else:
            say("Your browser will then fail to load a page at the callback URI: that is")
            say("expected. Copy that page's whole address and paste it here within 30 seconds")
            say("(X accepts the code for 30 seconds only).")
            redirected = read_line("Redirected URL: ")
    finally:
        if server is not None:
            server.close()

    code = code_from_redirect(redirected, request)
    now = clock.time()
    answer = _exchange(settings, request, code)
    expires_in = answer.get("expires_in")
    tokens = StoredTokens(
        access_token=str(answer["access_token"]),
        refresh_token=str(answer["refresh_token"]) if answer.get("refresh_token") else None,
        expires_at=now + float(expires_in) if expires_in else None,
        scope=scope_text(answer.get("scope")) or " ".join(settings.scopes),
        client_id=settings.client_id,
    )
    store = TokenStore(settings.token_store_path)
    with store.locked():
        replaced = store.exists()
        store.write(tokens)
    granted = set((tokens.scope or "").split())
    user = _who(settings, str(tokens.access_token))
    who = None
    if user is not None:
        who = f"@{user.get('username', '?')} (id {user['id']})"
        with store.locked():  # remember the account, to catch a state of another one
            store.write(replace(tokens, user_id=str(user["id"])))
    say()
    say(
        f"Authorised {who or 'the account'} with scopes: {tokens.scope}. Tokens saved to "
        f"{store.path} (mode 0600){', replacing the ones it held' if replaced else ''}."
    )
    if "offline.access" not in granted or not tokens.refresh_token:
        say(
            "Warning: X granted no offline.access, so there is no refresh token: the tap can "
            "use the access token for 2 hours only. Run again and keep offline.access."
        )
    missing = sorted({"dm.read", "tweet.read", "users.read"} - granted)
    if missing:
        say(f"Warning: the grant lacks {' '.join(missing)}: the tap will get 403 on DM reads.")
    say()
    say("Configure the tap with:")
    say(f"  token_store_path: {store.path}")
    say(f"  client_id: {settings.client_id}")
    if settings.client_secret:
        say("  client_secret: (as now)")
    return tokens


def main(
    argv: Sequence[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    open_browser: Callable[[str], Any] | None = None,
    read_line: Callable[[str], str] = input,
    out: TextIO | None = None,
    err: TextIO | None = None,
    clock: Clock | None = None,
) -> int:
    """The `tap-x-dm-auth` command; returns the exit status (0 on success)."""
    args = _parser().parse_args(argv)
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        settings = load_settings(args, os.environ if environ is None else environ)
        browser = None if (args.no_browser or args.headless) else (open_browser or webbrowser.open)
        authorize(
            settings,
            headless=args.headless,
            open_browser=browser,
            read_line=read_line,
            out=out,
            clock=clock,
        )
    except TapXDMError as exc:
        print(f"tap-x-dm-auth: {exc}", file=err, flush=True)
        return 1
    except (KeyboardInterrupt, EOFError):
        print("tap-x-dm-auth: interrupted; nothing was saved.", file=err, flush=True)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
