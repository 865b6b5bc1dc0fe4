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

import os
import sys
import webbrowser
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any, TextIO

import requests

from tap_x_dm.auth.authorize_settings import (
    CALLBACK_HOST,
    CALLBACK_PATH,
    AuthorizeError,
    AuthSettings,
    load_settings,
    parser,
)
from tap_x_dm.auth.consent import (
    AuthorizationRequest,
    CallbackServer,
    authorization_request,
    code_from_redirect,
)
from tap_x_dm.auth.token_endpoint import (
    TokenEndpoint,
    TokenEndpointError,
    scope_text,
    silence_library_debug_logs,
)
from tap_x_dm.auth.tokenstore import StoredTokens, TokenStore
from tap_x_dm.clock import Clock, SystemClock
from tap_x_dm.errors import TapXDMError


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
    argv = list(sys.argv[1:] if argv is None else argv)
    out = out or sys.stdout
    err = err or sys.stderr
    args = parser().parse_args(argv)
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
