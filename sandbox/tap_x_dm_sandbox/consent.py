"""The OAuth 2.0 consent page (GET /i/oauth2/authorize): approve at once, redirect with a code.

The sandbox has no login: the approving user is the account unless the sandbox-only
`user_id` parameter names another. Bad input gets X-like 400 HTML, never a redirect.
"""

from __future__ import annotations

import html
import secrets
from collections.abc import Mapping
from typing import TYPE_CHECKING
from urllib.parse import quote, urlencode, urlsplit

from tap_x_dm_sandbox.credentials import (
    B64URL,
    CONFIDENTIAL_CLIENT_ID,
    PUBLIC_CLIENT_ID,
    UNRESERVED,
    X_SCOPES,
    AuthCode,
)

if TYPE_CHECKING:
    from tap_x_dm_sandbox.oauth import SandboxAuth


def is_registered_redirect(uri: str) -> bool:
    """Every http loopback URL counts as registered, whatever its port and path."""
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018  (raises ValueError on a bad port)
    except ValueError:
        return False
    return (
        parts.scheme == "http"
        and parts.hostname in {"127.0.0.1", "localhost", "::1"}
        and not parts.fragment
        and parts.username is None
        and parts.password is None
    )


def html_page(title: str, message: str) -> bytes:
    """Return the HTML error page shown instead of a redirect."""
    return (
        '<!doctype html>\n<html><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title></head>\n"
        f"<body><h1>{html.escape(title)}</h1>\n<p>{html.escape(message)}</p>\n"
        "<p>X API sandbox: fix the authorization URL and try again.</p></body></html>\n"
    ).encode()


def authorize(auth: SandboxAuth, query: Mapping[str, str]) -> tuple[int, dict[str, str], bytes]:
    """Answer GET /i/oauth2/authorize: approve at once and redirect with a code.

    `query` is the decoded query string, one value per name (e.g.
    ``dict(parse_qsl(raw, keep_blank_values=True))``). The approving user
    is `query["user_id"]` when given (a sandbox-only parameter), else the
    account (users[0]). Bad input gets a 400 HTML page, never a redirect.
    """

    def bad(message: str) -> tuple[int, dict[str, str], bytes]:
        headers = {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store"}
        return 400, headers, html_page("Something went wrong", message)

    client_id = query.get("client_id", "")
    if client_id not in (PUBLIC_CLIENT_ID, CONFIDENTIAL_CLIENT_ID):
        return bad(f"Unknown client_id {client_id!r}.")
    redirect_uri = query.get("redirect_uri", "")
    if not is_registered_redirect(redirect_uri):
        return bad(
            f"redirect_uri {redirect_uri!r} is not registered: the sandbox accepts "
            "http://127.0.0.1:<port>/<path> and http://localhost:<port>/<path>."
        )
    if query.get("response_type") != "code":
        return bad("response_type must be 'code'.")
    scopes = tuple(dict.fromkeys(query.get("scope", "").split()))
    if not scopes:
        return bad("scope is missing: ask for space-separated scopes such as 'dm.read'.")
    unknown = [s for s in scopes if s not in X_SCOPES]
    if unknown:
        return bad(f"Unknown scope(s): {' '.join(unknown)}.")
    state = query.get("state", "")
    if not state or len(state) > 500:
        return bad("state is required and must be at most 500 characters.")
    method = query.get("code_challenge_method", "")
    challenge = query.get("code_challenge", "")
    if method not in ("S256", "plain"):
        return bad("code_challenge_method must be 'S256' or 'plain'.")
    if method == "S256" and (len(challenge) != 43 or not set(challenge) <= B64URL):
        return bad("code_challenge must be 43 base64url characters for S256.")
    # X's own docs use the 9-character "challenge" with plain, so no 43-char minimum.
    if method == "plain" and not (0 < len(challenge) <= 128 and set(challenge) <= UNRESERVED):
        return bad("code_challenge must be 1-128 unreserved characters.")
    user_id = query.get("user_id", auth._users[0])
    if user_id not in auth._user_set:
        return bad(f"Unknown user_id {user_id!r}.")

    code = secrets.token_urlsafe(48)
    with auth._lock:
        now = auth._clock.time()
        auth._codes = {c: g for c, g in auth._codes.items() if g.expires_at > now}
        auth._codes[code] = AuthCode(
            user_id, scopes, client_id, redirect_uri, challenge, method, now + auth.code_ttl
        )
    parts = urlsplit(redirect_uri)
    added = urlencode({"code": code, "state": state}, quote_via=quote)
    new_query = f"{parts.query}&{added}" if parts.query else added
    location = parts._replace(query=new_query).geturl()
    headers = {
        "Location": location,
        "Content-Type": "text/html; charset=utf-8",
        "Cache-Control": "no-store",
    }
    link = html.escape(location, quote=True)
    return 302, headers, f'<html><body><a href="{link}">Continue</a></body></html>\n'.encode()
