"""Authentication for the X API sandbox: who is calling, and with which scopes.

Pure logic, no sockets: the HTTP server hands in the method, the absolute URL the
client signed, the headers and the body, and gets a `Principal` back or an
`AuthProblem` carrying X's status and JSON body. The token endpoint and the
consent page answer with (status, body) tuples for the server to send.

It mirrors what X does so that a tap tested here behaves the same against X:

* OAuth 2.0 Authorization Code with PKCE (S256 or plain), codes single-use and
  valid for 30 s, refresh tokens single-use and rotated on every refresh.
* Bearer access tokens that expire after `token_ttl`; the app-only token is
  refused with X's 403 ``unsupported-authentication`` body.
* OAuth 1.0a user context, verified for real (HMAC-SHA1) by
  `oauthlib.oauth1.ResourceEndpoint`, with stale timestamps and replayed nonces
  refused. Two apps exist: one with DM permission, one without.

Every time read goes through the injected `Clock`, so tests move time by hand.
oauthlib compares `oauth_timestamp` with `time.time()` by itself; the validator
makes that check unbeatable (`timestamp_lifetime` is huge) and does the real
300-second check against the clock in `validate_timestamp_and_nonce`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import html
import ipaddress
import secrets
import string
import threading
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final
from urllib.parse import quote, urlencode, urlsplit

from oauthlib.oauth1 import RequestValidator, ResourceEndpoint

from tap_x_dm_sandbox.clock import Clock

PUBLIC_CLIENT_ID: Final = "sandbox-public-client"
CONFIDENTIAL_CLIENT_ID: Final = "sandbox-confidential-client"

#: What the official DM samples request; also the demo tokens' scopes.
DEFAULT_SCOPES: Final[tuple[str, ...]] = ("dm.read", "tweet.read", "users.read", "offline.access")

#: OAuth 2.0 scopes X knows; anything else is refused by the consent page.
X_SCOPES: Final = frozenset(
    {
        "tweet.read",
        "tweet.write",
        "tweet.moderate.write",
        "users.email",
        "users.read",
        "follows.read",
        "follows.write",
        "offline.access",
        "space.read",
        "mute.read",
        "mute.write",
        "like.read",
        "like.write",
        "list.read",
        "list.write",
        "block.read",
        "block.write",
        "bookmark.read",
        "bookmark.write",
        "dm.read",
        "dm.write",
        "media.write",
    }
)

#: OAuth 1.0a apps have permissions, not scopes; these are their scope equivalents.
#: "Read, write, and Direct Messages":
OAUTH1_DM_SCOPES: Final = frozenset(
    {"tweet.read", "tweet.write", "users.read", "dm.read", "dm.write"}
)
#: "Read and write" (no DM access, so DM routes answer 403):
OAUTH1_NO_DM_SCOPES: Final = frozenset({"tweet.read", "tweet.write", "users.read"})

#: X's exact error bodies (examples/errors/*.observed.json).
UNAUTHORIZED_BODY: Final[Mapping[str, Any]] = {
    "title": "Unauthorized",
    "type": "about:blank",
    "status": 401,
    "detail": "Unauthorized",
}
FORBIDDEN_BODY: Final[Mapping[str, Any]] = {
    "title": "Forbidden",
    "type": "about:blank",
    "status": 403,
    "detail": "Forbidden",
}
UNSUPPORTED_AUTHENTICATION_BODY: Final[Mapping[str, Any]] = {
    "title": "Unsupported Authentication",
    "detail": (
        "Authenticating with OAuth 2.0 Application-Only is forbidden for this endpoint.  "
        "Supported authentication types are [OAuth 1.0a User Context, OAuth 2.0 User Context]."
    ),
    "type": "https://api.twitter.com/2/problems/unsupported-authentication",
    "status": 403,
}

_INVALID_TOKEN = "Value passed for the token was invalid."  # noqa: S105  (an error text)
_INVALID_CODE = "Value passed for the authorization code was invalid."
_BAD_CLIENT_AUTH = "Missing valid authorization header"

_ALNUM = string.ascii_letters + string.digits
_LOOPBACK_NAMES = frozenset({"localhost"})
_UNRESERVED = frozenset(_ALNUM + "-._~")
_B64URL = frozenset(_ALNUM + "-_")


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: a user acting through OAuth 2.0 or OAuth 1.0a."""

    user_id: str
    scopes: frozenset[str]
    kind: str  # "oauth2" | "oauth1"


class AuthProblem(Exception):  # noqa: N818  (name fixed by the sandbox design)
    """Refusal to serve a request, with the status and JSON body X sends."""

    def __init__(self, status: int, body: Mapping[str, Any]) -> None:
        super().__init__(f"{status} {body.get('title', body)}")
        self.status = status
        self.body: dict[str, Any] = dict(body)


@dataclass(frozen=True)
class _AccessGrant:
    user_id: str
    scopes: frozenset[str]
    client_id: str
    expires_at: float | None  # None: demo token, never expires on its own


@dataclass(frozen=True)
class _RefreshGrant:
    user_id: str
    scopes: tuple[str, ...]
    client_id: str
    ttl: float


@dataclass(frozen=True)
class _AuthCode:
    user_id: str
    scopes: tuple[str, ...]
    client_id: str
    redirect_uri: str
    challenge: str
    method: str
    expires_at: float


@dataclass(frozen=True)
class _OAuth1App:
    name: str
    consumer_key: str
    consumer_secret: str
    scopes: frozenset[str]


def _derive_bytes(seed: int, label: str, n: int) -> bytes:
    """Stable pseudo-random bytes, so credentials survive a sandbox restart."""
    key = f"tap-x-dm-sandbox/{seed}".encode()
    out = b""
    counter = 0
    while len(out) < n:
        out += hmac.new(key, f"{label}/{counter}".encode(), hashlib.sha256).digest()
        counter += 1
    return out[:n]


def _derive_alnum(seed: int, label: str, n: int) -> str:
    return "".join(_ALNUM[b % len(_ALNUM)] for b in _derive_bytes(seed, label, n))


def _oauth_error(error: str, description: str) -> dict[str, Any]:
    return {"error": error, "error_description": description}


def _header(headers: Mapping[str, str], name: str) -> str | None:
    """Case-insensitive header lookup that also works for `email.message.Message`."""
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def _is_loopback_host(host: str | None) -> bool:
    if not host:
        return False
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _is_registered_redirect(uri: str) -> bool:
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


def s256_challenge(verifier: str) -> str:
    """BASE64URL-ENCODE(SHA256(ASCII(code_verifier))) without padding (RFC 7636 4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _pkce_matches(challenge: str, method: str, verifier: str) -> bool:
    if not verifier or not set(verifier) <= _UNRESERVED:
        return False
    expected = s256_challenge(verifier) if method == "S256" else verifier
    return hmac.compare_digest(expected, challenge)


def _html_page(title: str, message: str) -> bytes:
    return (
        '<!doctype html>\n<html><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title></head>\n"
        f"<body><h1>{html.escape(title)}</h1>\n<p>{html.escape(message)}</p>\n"
        "<p>X API sandbox: fix the authorization URL and try again.</p></body></html>\n"
    ).encode()


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
        self.confidential_client_secret: str = _derive_alnum(seed, "confidential-secret", 50)
        # Looks like X's app-only tokens (they start with a run of "A").
        self.app_only_bearer_token: str = "AAAAAAAAAAAAAAAAAAAAA" + _derive_alnum(
            seed, "app-only-bearer", 80
        )

        self._oauth1_apps: dict[str, _OAuth1App] = {}
        for name, scopes in (("dm", OAUTH1_DM_SCOPES), ("no-dm", OAUTH1_NO_DM_SCOPES)):
            app = _OAuth1App(
                name=name,
                consumer_key=_derive_alnum(seed, f"oauth1/{name}/consumer-key", 25),
                consumer_secret=_derive_alnum(seed, f"oauth1/{name}/consumer-secret", 50),
                scopes=scopes,
            )
            self._oauth1_apps[app.consumer_key] = app
        self._nonces: dict[tuple[str, str, str, str], int] = {}

        self._access: dict[str, _AccessGrant] = {}
        self._refresh: dict[str, _RefreshGrant] = {}
        self._codes: dict[str, _AuthCode] = {}
        demo_scopes = frozenset(DEFAULT_SCOPES)
        for user_id in self._users:
            self._access[self.demo_access_token(user_id)] = _AccessGrant(
                user_id, demo_scopes, PUBLIC_CLIENT_ID, None
            )

    # ----------------------------------------------------------------- tokens

    def demo_access_token(self, user_id: str) -> str:
        """Return the user's never-expiring token, stable for a given seed.

        It is the base64url HMAC-SHA256 of ("demo-access-token", user_id) under a
        key made from the seed: 43 characters, like `secrets.token_urlsafe(32)`.
        """
        self._require_user(user_id)
        raw = _derive_bytes(self._seed, f"demo-access-token/{user_id}", 32)
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
            self._access[access_token] = _AccessGrant(
                user_id, frozenset(scopes), client_id, now + ttl
            )
            if "offline.access" in scopes:
                refresh_token = secrets.token_urlsafe(48)
                self._refresh[refresh_token] = _RefreshGrant(user_id, scopes, client_id, ttl)
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

    def _oauth1_app(self, name: str) -> _OAuth1App:
        return next(a for a in self._oauth1_apps.values() if a.name == name)

    def _oauth1_user_token(self, app: _OAuth1App, user_id: str) -> tuple[str, str]:
        label = f"oauth1/{app.name}/{user_id}"
        token = f"{user_id}-{_derive_alnum(self._seed, label + '/token', 40)}"
        return token, _derive_alnum(self._seed, label + "/secret", 45)

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
        authorization = _header(headers, "Authorization")
        if authorization is None:
            raise AuthProblem(401, UNAUTHORIZED_BODY)
        scheme, _, credentials = authorization.strip().partition(" ")
        if scheme.lower() == "bearer":
            return self._bearer(credentials.strip())
        if scheme.lower() == "oauth":
            return self._oauth1(method, url, headers, body)
        raise AuthProblem(401, UNAUTHORIZED_BODY)

    def _bearer(self, token: str) -> Principal:
        if hmac.compare_digest(token.encode(), self.app_only_bearer_token.encode()):
            raise AuthProblem(403, UNSUPPORTED_AUTHENTICATION_BODY)
        with self._lock:
            grant = self._access.get(token)
            now = self._clock.time()
        if grant is None or (grant.expires_at is not None and now >= grant.expires_at):
            raise AuthProblem(401, UNAUTHORIZED_BODY)
        return Principal(grant.user_id, grant.scopes, "oauth2")

    def _oauth1(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | None
    ) -> Principal:
        parts = urlsplit(url)
        if not parts.scheme or not parts.netloc:
            raise ValueError(
                f"authenticate() needs the absolute URL the client signed, got {url!r}"
            )
        try:
            body_text = body.decode("utf-8") if body else None
        except UnicodeDecodeError:
            raise AuthProblem(401, UNAUTHORIZED_BODY) from None
        validator = _OAuth1Validator(self, loopback=_is_loopback_host(parts.hostname))
        try:
            valid, request = ResourceEndpoint(validator).validate_protected_resource_request(
                url,
                http_method=method.upper(),
                body=body_text,
                headers=dict(headers.items()),
                realms=[],
            )
        except ValueError:  # e.g. oauthlib refusing characters in the query
            raise AuthProblem(401, UNAUTHORIZED_BODY) from None
        if not valid:
            raise AuthProblem(401, UNAUTHORIZED_BODY)
        client_key: str = request.client_key
        token: str = request.resource_owner_key
        nonce_key = (client_key, str(request.timestamp), str(request.nonce), token)
        # Remember the nonce only once the signature is proven, so a forged
        # request cannot burn a genuine client's nonce; check again under the
        # lock because two copies of one request may race through oauthlib.
        with self._lock:
            if nonce_key in self._nonces:
                raise AuthProblem(401, UNAUTHORIZED_BODY)
            self._nonces[nonce_key] = int(request.timestamp)
            if len(self._nonces) > 4096:
                oldest = int(self._clock.time() - self.oauth1_timestamp_window)
                self._nonces = {k: ts for k, ts in self._nonces.items() if ts >= oldest}
        app = self._oauth1_apps[client_key]
        return Principal(token.split("-", 1)[0], app.scopes, "oauth1")

    # --------------------------------------------------------- consent page

    def authorize(self, query: Mapping[str, str]) -> tuple[int, dict[str, str], bytes]:
        """Answer GET /i/oauth2/authorize: approve at once and redirect with a code.

        `query` is the decoded query string, one value per name (e.g.
        ``dict(parse_qsl(raw, keep_blank_values=True))``). The approving user
        is `query["user_id"]` when given (a sandbox-only parameter), else the
        account (users[0]). Bad input gets a 400 HTML page, never a redirect.
        """

        def bad(message: str) -> tuple[int, dict[str, str], bytes]:
            headers = {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store"}
            return 400, headers, _html_page("Something went wrong", message)

        client_id = query.get("client_id", "")
        if client_id not in (PUBLIC_CLIENT_ID, CONFIDENTIAL_CLIENT_ID):
            return bad(f"Unknown client_id {client_id!r}.")
        redirect_uri = query.get("redirect_uri", "")
        if not _is_registered_redirect(redirect_uri):
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
        if method == "S256" and (len(challenge) != 43 or not set(challenge) <= _B64URL):
            return bad("code_challenge must be 43 base64url characters for S256.")
        # X's own docs use the 9-character "challenge" with plain, so no 43-char minimum.
        if method == "plain" and not (0 < len(challenge) <= 128 and set(challenge) <= _UNRESERVED):
            return bad("code_challenge must be 1-128 unreserved characters.")
        user_id = query.get("user_id", self._users[0])
        if user_id not in self._user_set:
            return bad(f"Unknown user_id {user_id!r}.")

        code = secrets.token_urlsafe(48)
        with self._lock:
            now = self._clock.time()
            self._codes = {c: g for c, g in self._codes.items() if g.expires_at > now}
            self._codes[code] = _AuthCode(
                user_id, scopes, client_id, redirect_uri, challenge, method, now + self.code_ttl
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

    # ------------------------------------------------------- token endpoint

    def token(
        self, *, headers: Mapping[str, str], form: Mapping[str, str]
    ) -> tuple[int, dict[str, Any]]:
        """Answer POST /2/oauth2/token (code exchange and refresh) with status and JSON body."""
        grant_type = form.get("grant_type")
        if not grant_type:
            return 400, _oauth_error("invalid_request", "Missing required parameter [grant_type].")
        if grant_type not in ("authorization_code", "refresh_token"):
            return 400, _oauth_error(
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
        unauthorized = 401, _oauth_error("unauthorized_client", _BAD_CLIENT_AUTH)
        form_id = form.get("client_id")
        authorization = _header(headers, "Authorization")
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
        return 400, _oauth_error("invalid_request", "Value passed for the client_id was invalid.")

    def _exchange_code(self, client_id: str, form: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
        for name in ("code", "redirect_uri", "code_verifier"):
            if not form.get(name):
                return 400, _oauth_error("invalid_request", f"Missing required parameter [{name}].")
        with self._lock:
            # Any attempt spends the code, so a verifier cannot be guessed by retrying.
            grant = self._codes.pop(form["code"], None)
            now = self._clock.time()
        if (
            grant is None
            or now >= grant.expires_at
            or grant.client_id != client_id
            or grant.redirect_uri != form["redirect_uri"]
            or not _pkce_matches(grant.challenge, grant.method, form["code_verifier"])
        ):
            return 400, _oauth_error("invalid_request", _INVALID_CODE)
        return 200, self._issue(grant.user_id, grant.scopes, client_id, self.token_ttl)

    def _refresh_grant(self, client_id: str, form: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
        refresh_token = form.get("refresh_token")
        if not refresh_token:
            return 400, _oauth_error(
                "invalid_request", "Missing required parameter [refresh_token]."
            )
        with self._lock:
            grant = self._refresh.get(refresh_token)
            if grant is None or grant.client_id != client_id:
                return 400, _oauth_error("invalid_request", _INVALID_TOKEN)
            del self._refresh[refresh_token]
        return 200, self._issue(grant.user_id, grant.scopes, client_id, grant.ttl)


class _OAuth1Validator(RequestValidator):  # type: ignore[misc]
    """oauthlib's storage hooks, with X-style formats and loopback-only plain http.

    Built per request because `enforce_ssl` depends on the request's host.
    """

    def __init__(self, auth: SandboxAuth, *, loopback: bool) -> None:
        super().__init__()
        self._auth = auth
        self._loopback = loopback

    # Format rules: X keys are 25 alnum chars, access tokens "<user id>-<alnum>".
    @property
    def enforce_ssl(self) -> bool:
        return not self._loopback

    @property
    def allowed_signature_methods(self) -> tuple[str, ...]:
        return ("HMAC-SHA1",)

    @property
    def safe_characters(self) -> set[str]:
        return set(_ALNUM + "-_")

    @property
    def client_key_length(self) -> tuple[int, int]:
        return 10, 64

    @property
    def access_token_length(self) -> tuple[int, int]:
        return 20, 128

    @property
    def nonce_length(self) -> tuple[int, int]:
        return 8, 128

    @property
    def timestamp_lifetime(self) -> int:
        # oauthlib compares against time.time(); make that check never fire and
        # judge freshness against the injected clock in validate_timestamp_and_nonce.
        return 10**12

    @property
    def dummy_client(self) -> str:
        return "dummyconsumerkeydummyconsumer"

    @property
    def dummy_access_token(self) -> str:
        return "0-dummyaccesstokendummyaccesstoken"

    def validate_client_key(self, client_key: str, request: Any) -> bool:
        return client_key in self._auth._oauth1_apps

    def get_client_secret(self, client_key: str, request: Any) -> str:
        app = self._auth._oauth1_apps.get(client_key)
        return app.consumer_secret if app else "dummy"

    def _token_secret(self, client_key: str, token: str) -> str | None:
        app = self._auth._oauth1_apps.get(client_key)
        user_id = token.split("-", 1)[0]
        if app is None or user_id not in self._auth._user_set:
            return None
        expected, secret = self._auth._oauth1_user_token(app, user_id)
        return secret if hmac.compare_digest(expected.encode(), token.encode()) else None

    def validate_access_token(self, client_key: str, token: str, request: Any) -> bool:
        return self._token_secret(client_key, token) is not None

    def get_access_token_secret(self, client_key: str, token: str, request: Any) -> str:
        return self._token_secret(client_key, token) or "dummy"

    def validate_timestamp_and_nonce(
        self,
        client_key: str,
        timestamp: str,
        nonce: str,
        request: Any,
        request_token: str | None = None,
        access_token: str | None = None,
    ) -> bool:
        if abs(self._auth._clock.time() - int(timestamp)) > self._auth.oauth1_timestamp_window:
            return False
        key = (client_key, timestamp, nonce, access_token or request_token or "")
        with self._auth._lock:
            return key not in self._auth._nonces

    def validate_realms(
        self,
        client_key: str,
        token: str,
        request: Any,
        uri: str | None = None,
        realms: Any = None,
    ) -> bool:
        return True
