"""Authentication for the X API sandbox: who is calling, and with which scopes.

Pure logic, no sockets: the server hands in the method, the absolute URL the client
signed, the headers and the body, and gets a `Principal` back or an `AuthProblem`
carrying X's status and JSON body. It mirrors what X does, so a tap tested here
behaves the same against X:

* OAuth 2.0 Authorization Code with PKCE (S256 or plain): codes single-use and valid
  for 30 s (the consent page: `consent`), refresh tokens single-use and rotated on
  every refresh (the token endpoint, here).
* Bearer access tokens that expire after `token_ttl`; the app-only token is refused
  with X's 403 ``unsupported-authentication`` body.
* OAuth 1.0a user context, verified for real (`oauth1`).

Every time read goes through the injected `Clock`, so tests move time by hand.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
import threading
from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace
from typing import Any

from tap_x_dm_sandbox import consent, oauth1
from tap_x_dm_sandbox.clock import Clock
from tap_x_dm_sandbox.credentials import (
    CONFIDENTIAL_CLIENT_ID,
    DEFAULT_SCOPES,
    PUBLIC_CLIENT_ID,
    X_SCOPES,
    AccessGrant,
    AuthCode,
    AuthProblem,
    Principal,
    RefreshGrant,
    derive_alnum,
    derive_bytes,
    header,
    oauth_error,
    pkce_matches,
    s256_challenge,
)
from tap_x_dm_sandbox.errors import UNAUTHORIZED, UNSUPPORTED_AUTHENTICATION
from tap_x_dm_sandbox.oauth1 import OAUTH1_DM_SCOPES, OAUTH1_NO_DM_SCOPES, OAuth1App

# Importable from here, as before the split into credentials / oauth1 / consent.
__all__ = [
    "CONFIDENTIAL_CLIENT_ID",
    "DEFAULT_SCOPES",
    "OAUTH1_DM_SCOPES",
    "OAUTH1_NO_DM_SCOPES",
    "PUBLIC_CLIENT_ID",
    "AuthCode",
    "AuthProblem",
    "Principal",
    "SandboxAuth",
    "s256_challenge",
]

_INVALID_TOKEN = "Value passed for the token was invalid."  # noqa: S105  (an error text)
_INVALID_CODE = "Value passed for the authorization code was invalid."
_BAD_CLIENT_AUTH = "Missing valid authorization header"


class SandboxAuth:
    """Tokens, OAuth 2.0 flows and OAuth 1.0a verification for the sandbox.

    Thread-safe: the server answers on several threads, so every store is
    guarded by one lock.

    Attributes:
        code_ttl: seconds an authorization code stays exchangeable (X: 30).
        oauth1_timestamp_window: largest allowed |clock - oauth_timestamp|.
    """

    code_ttl: float = 30.0
    oauth1_timestamp_window: float = 300.0

    def __init__(
        self,
        *,
        clock: Clock,
        user_ids: Sequence[str],
        token_ttl: float = 7200,
        seed: int = 7,
    ) -> None:
        if not user_ids:
            raise ValueError("SandboxAuth needs at least one user")
        self._clock = clock
        self._users: tuple[str, ...] = tuple(user_ids)
        self._user_set = frozenset(self._users)
        self.token_ttl = token_ttl
        self._seed = seed
        self._lock = threading.Lock()

        self.public_client_id: str = PUBLIC_CLIENT_ID
        self.confidential_client_id: str = CONFIDENTIAL_CLIENT_ID
        self.confidential_client_secret: str = derive_alnum(seed, "confidential-secret", 50)
        # Looks like X's app-only tokens (they start with a run of "A").
        self.app_only_bearer_token: str = "AAAAAAAAAAAAAAAAAAAAA" + derive_alnum(
            seed, "app-only-bearer", 80
        )

        self._oauth1_apps: dict[str, OAuth1App] = oauth1.make_apps(seed)
        self._nonces: dict[tuple[str, str, str, str], int] = {}

        self._access: dict[str, AccessGrant] = {}
        self._refresh: dict[str, RefreshGrant] = {}
        self._codes: dict[str, AuthCode] = {}
        demo_scopes = frozenset(DEFAULT_SCOPES)
        for user_id in self._users:
            self._access[self.demo_access_token(user_id)] = AccessGrant(
                user_id, demo_scopes, PUBLIC_CLIENT_ID, None
            )

    # ----------------------------------------------------------------- tokens

    def demo_access_token(self, user_id: str) -> str:
        """Return the user's never-expiring token, stable for a given seed.

        It is the base64url HMAC-SHA256 of ("demo-access-token", user_id) under a
        key made from the seed: 43 characters, like `secrets.token_urlsafe(32)`.
        """
        self._require_user(user_id)
        raw = derive_bytes(self._seed, f"demo-access-token/{user_id}", 32)
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")

    def issue_tokens(
        self,
        user_id: str,
        *,
        scopes: Collection[str] = DEFAULT_SCOPES,
        client_id: str | None = None,
        ttl: float | None = None,
    ) -> dict[str, Any]:
        """Mint tokens as the token endpoint would, skipping the consent page.

        The refresh token (present only with offline.access) is bound to
        `client_id` (default: the public client) and its refreshes keep `ttl`.
        """
        self._require_user(user_id)
        scope_list = tuple(dict.fromkeys(scopes))
        if not scope_list:
            raise ValueError("at least one scope is needed")
        unknown = set(scope_list) - X_SCOPES
        if unknown:
            raise ValueError(f"unknown scopes: {sorted(unknown)}")
        cid = PUBLIC_CLIENT_ID if client_id is None else client_id
        if cid not in (PUBLIC_CLIENT_ID, CONFIDENTIAL_CLIENT_ID):
            raise ValueError(f"unknown client_id {cid!r}")
        return self._issue(user_id, scope_list, cid, self.token_ttl if ttl is None else ttl)

    def _issue(
        self, user_id: str, scopes: tuple[str, ...], client_id: str, ttl: float
    ) -> dict[str, Any]:
        access_token = secrets.token_urlsafe(48)
        response: dict[str, Any] = {
            "token_type": "bearer",
            "expires_in": int(ttl),
            "access_token": access_token,
            "scope": " ".join(scopes),
        }
        with self._lock:
            now = self._clock.time()
            self._access[access_token] = AccessGrant(
                user_id, frozenset(scopes), client_id, now + ttl
            )
            if "offline.access" in scopes:
                refresh_token = secrets.token_urlsafe(48)
                self._refresh[refresh_token] = RefreshGrant(user_id, scopes, client_id, ttl)
                response["refresh_token"] = refresh_token
            if len(self._access) > 10_000:
                self._access = {
                    t: g
                    for t, g in self._access.items()
                    if g.expires_at is None or g.expires_at > now
                }
        return response

    def expire_access_tokens(self, user_id: str | None = None) -> None:
        """Make access tokens (of one user, or all) expired as of now, demo tokens included."""
        with self._lock:
            now = self._clock.time()
            for token, grant in list(self._access.items()):
                if user_id is None or grant.user_id == user_id:
                    self._access[token] = replace(grant, expires_at=now)

    def revoke_access_tokens(self, user_id: str) -> None:
        """Invalidate every access token of the user, the demo token included (a revoked grant)."""
        with self._lock:
            self._access = {t: g for t, g in self._access.items() if g.user_id != user_id}

    def revoke_refresh_tokens(self, user_id: str) -> None:
        """Invalidate every refresh token of the user, as a revoked app grant would."""
        with self._lock:
            self._refresh = {t: g for t, g in self._refresh.items() if g.user_id != user_id}

    def oauth1_credentials(self, user_id: str, *, dm_permission: bool = True) -> dict[str, str]:
        """Return OAuth 1.0a keys for the user, through the app with or without DM permission.

        Derived from (seed, app, user), so they are the same on every call and
        after a restart; the access token is X style: "<user_id>-<40 alnum>".
        """
        self._require_user(user_id)
        app = self._oauth1_app("dm" if dm_permission else "no-dm")
        access_token, access_secret = self._oauth1_user_token(app, user_id)
        return {
            "consumer_key": app.consumer_key,
            "consumer_secret": app.consumer_secret,
            "access_token": access_token,
            "access_token_secret": access_secret,
        }

    def _oauth1_app(self, name: str) -> OAuth1App:
        return next(a for a in self._oauth1_apps.values() if a.name == name)

    def _oauth1_user_token(self, app: OAuth1App, user_id: str) -> tuple[str, str]:
        return oauth1.user_token(self._seed, app, user_id)

    def _require_user(self, user_id: str) -> None:
        if user_id not in self._user_set:
            raise KeyError(f"unknown sandbox user {user_id!r}")

    # --------------------------------------------------------- authentication

    def authenticate(
        self,
        *,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes | None,
    ) -> Principal:
        """Identify the caller of an API request or raise `AuthProblem`.

        Args:
            method: the HTTP method.
            url: the absolute URL as the client saw it ("http://" + Host header +
                raw path and query); OAuth 1.0a signatures cover it.
            headers: the request headers (any case).
            body: the raw body; only a form-urlencoded one matters (OAuth 1.0a).

        Raises:
            AuthProblem: 401 for missing, unknown, expired or badly signed
                credentials; 403 unsupported-authentication for the app-only token.
        """
        authorization = header(headers, "Authorization")
        if authorization is None:
            raise AuthProblem(401, UNAUTHORIZED)
        scheme, _, credentials = authorization.strip().partition(" ")
        if scheme.lower() == "bearer":
            return self._bearer(credentials.strip())
        if scheme.lower() == "oauth":
            return oauth1.verify(self, method, url, headers, body)
        raise AuthProblem(401, UNAUTHORIZED)

    def _bearer(self, token: str) -> Principal:
        if hmac.compare_digest(token.encode(), self.app_only_bearer_token.encode()):
            raise AuthProblem(403, UNSUPPORTED_AUTHENTICATION)
        with self._lock:
            grant = self._access.get(token)
            now = self._clock.time()
        if grant is None or (grant.expires_at is not None and now >= grant.expires_at):
            raise AuthProblem(401, UNAUTHORIZED)
        return Principal(grant.user_id, grant.scopes, "oauth2")

    # --------------------------------------------------------- consent page

    def authorize(self, query: Mapping[str, str]) -> tuple[int, dict[str, str], bytes]:
        """Answer GET /i/oauth2/authorize (see `consent.authorize`)."""
        return consent.authorize(self, query)

    # ------------------------------------------------------- token endpoint

    def token(
        self, *, headers: Mapping[str, str], form: Mapping[str, str]
    ) -> tuple[int, dict[str, Any]]:
        """Answer POST /2/oauth2/token (code exchange and refresh) with status and JSON body."""
        grant_type = form.get("grant_type")
        if not grant_type:
            return 400, oauth_error("invalid_request", "Missing required parameter [grant_type].")
        if grant_type not in ("authorization_code", "refresh_token"):
            return 400, oauth_error(
                "unsupported_grant_type", "Value passed for the grant_type was invalid."
            )
        client = self._client_id(headers, form)
        if isinstance(client, tuple):
            return client
        if grant_type == "authorization_code":
            return self._exchange_code(client, form)
        return self._refresh_grant(client, form)

    def _client_id(
        self, headers: Mapping[str, str], form: Mapping[str, str]
    ) -> str | tuple[int, dict[str, Any]]:
        """Public clients name themselves in the form; confidential ones use Basic auth."""
        unauthorized = 401, oauth_error("unauthorized_client", _BAD_CLIENT_AUTH)
        form_id = form.get("client_id")
        authorization = header(headers, "Authorization")
        if authorization is not None:
            scheme, _, credentials = authorization.strip().partition(" ")
            if scheme.lower() != "basic":
                return unauthorized
            try:
                decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                return unauthorized
            client_id, sep, secret = decoded.partition(":")
            if (
                not sep
                or client_id != CONFIDENTIAL_CLIENT_ID
                or not hmac.compare_digest(
                    secret.encode(), self.confidential_client_secret.encode()
                )
                or (form_id is not None and form_id != client_id)
            ):
                return unauthorized
            return client_id
        if form_id == PUBLIC_CLIENT_ID:
            return form_id
        if form_id is None or form_id == CONFIDENTIAL_CLIENT_ID:
            return unauthorized
        return 400, oauth_error("invalid_request", "Value passed for the client_id was invalid.")

    def _exchange_code(self, client_id: str, form: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
        for name in ("code", "redirect_uri", "code_verifier"):
            if not form.get(name):
                return 400, oauth_error("invalid_request", f"Missing required parameter [{name}].")
        with self._lock:
            # Any attempt spends the code, so a verifier cannot be guessed by retrying.
            grant = self._codes.pop(form["code"], None)
            now = self._clock.time()
        if (
            grant is None
            or now >= grant.expires_at
            or grant.client_id != client_id
            or grant.redirect_uri != form["redirect_uri"]
            or not pkce_matches(grant.challenge, grant.method, form["code_verifier"])
        ):
            return 400, oauth_error("invalid_request", _INVALID_CODE)
        return 200, self._issue(grant.user_id, grant.scopes, client_id, self.token_ttl)

    def _refresh_grant(self, client_id: str, form: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
        refresh_token = form.get("refresh_token")
        if not refresh_token:
            return 400, oauth_error(
                "invalid_request", "Missing required parameter [refresh_token]."
            )
        with self._lock:
            grant = self._refresh.get(refresh_token)
            if grant is None or grant.client_id != client_id:
                return 400, oauth_error("invalid_request", _INVALID_TOKEN)
            del self._refresh[refresh_token]
        return 200, self._issue(grant.user_id, grant.scopes, client_id, grant.ttl)
