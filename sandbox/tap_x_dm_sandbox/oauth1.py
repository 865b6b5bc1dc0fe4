"""OAuth 1.0a user context: two apps (with and without DM permission), verified for real.

`oauthlib.oauth1.ResourceEndpoint` checks the HMAC-SHA1 signature of the URL the
client signed; stale timestamps (by the sandbox clock) and replayed nonces are refused.
oauthlib compares `oauth_timestamp` with `time.time()` by itself; the validator makes
that check unbeatable (`timestamp_lifetime` is huge) and does the real 300-second
check against the clock in `validate_timestamp_and_nonce`.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

from oauthlib.oauth1 import RequestValidator, ResourceEndpoint

from tap_x_dm_sandbox.credentials import (
    ALNUM,
    LOOPBACK_NAMES,
    AuthProblem,
    Principal,
    derive_alnum,
)
from tap_x_dm_sandbox.errors import UNAUTHORIZED

if TYPE_CHECKING:
    from tap_x_dm_sandbox.oauth import SandboxAuth

#: OAuth 1.0a apps have permissions, not scopes; these are their scope equivalents.
#: "Read, write, and Direct Messages":
OAUTH1_DM_SCOPES: Final = frozenset(
    {"tweet.read", "tweet.write", "users.read", "dm.read", "dm.write"}
)
#: "Read and write" (no DM access, so DM routes answer 403):
OAUTH1_NO_DM_SCOPES: Final = frozenset({"tweet.read", "tweet.write", "users.read"})


@dataclass(frozen=True)
class OAuth1App:
    """An X app with OAuth 1.0a keys; `scopes` stand for its permission."""

    name: str
    consumer_key: str
    consumer_secret: str
    scopes: frozenset[str]


def make_apps(seed: int) -> dict[str, OAuth1App]:
    """Return the two apps by consumer key, their keys derived from the seed."""
    apps: dict[str, OAuth1App] = {}
    for name, scopes in (("dm", OAUTH1_DM_SCOPES), ("no-dm", OAUTH1_NO_DM_SCOPES)):
        app = OAuth1App(
            name=name,
            consumer_key=derive_alnum(seed, f"oauth1/{name}/consumer-key", 25),
            consumer_secret=derive_alnum(seed, f"oauth1/{name}/consumer-secret", 50),
            scopes=scopes,
        )
        apps[app.consumer_key] = app
    return apps


def user_token(seed: int, app: OAuth1App, user_id: str) -> tuple[str, str]:
    """Return the user's (access token, secret) through `app`; X style "<user_id>-<alnum>"."""
    label = f"oauth1/{app.name}/{user_id}"
    token = f"{user_id}-{derive_alnum(seed, label + '/token', 40)}"
    return token, derive_alnum(seed, label + "/secret", 45)


def is_loopback_host(host: str | None) -> bool:
    """Tell whether plain http is acceptable (X requires https elsewhere)."""
    if not host:
        return False
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def verify(
    auth: SandboxAuth, method: str, url: str, headers: Mapping[str, str], body: bytes | None
) -> Principal:
    """Verify an OAuth 1.0a signed request (HMAC-SHA1, fresh timestamp, unused nonce)."""
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        raise ValueError(f"authenticate() needs the absolute URL the client signed, got {url!r}")
    try:
        body_text = body.decode("utf-8") if body else None
    except UnicodeDecodeError:
        raise AuthProblem(401, UNAUTHORIZED) from None
    validator = _OAuth1Validator(auth, loopback=is_loopback_host(parts.hostname))
    try:
        valid, request = ResourceEndpoint(validator).validate_protected_resource_request(
            url,
            http_method=method.upper(),
            body=body_text,
            headers=dict(headers.items()),
            realms=[],
        )
    except ValueError:  # e.g. oauthlib refusing characters in the query
        raise AuthProblem(401, UNAUTHORIZED) from None
    if not valid:
        raise AuthProblem(401, UNAUTHORIZED)
    client_key: str = request.client_key
    token: str = request.resource_owner_key
    nonce_key = (client_key, str(request.timestamp), str(request.nonce), token)
    # Remember the nonce only once the signature is proven, so a forged
    # request cannot burn a genuine client's nonce; check again under the
    # lock because two copies of one request may race through oauthlib.
    with auth._lock:
        if nonce_key in auth._nonces:
            raise AuthProblem(401, UNAUTHORIZED)
        auth._nonces[nonce_key] = int(request.timestamp)
        if len(auth._nonces) > 4096:
            oldest = int(auth._clock.time() - auth.oauth1_timestamp_window)
            auth._nonces = {k: ts for k, ts in auth._nonces.items() if ts >= oldest}
    app = auth._oauth1_apps[client_key]
    return Principal(token.split("-", 1)[0], app.scopes, "oauth1")


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
        return set(ALNUM + "-_")

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
