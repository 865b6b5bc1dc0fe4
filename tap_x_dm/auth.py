"""The run's one authenticator: signs every request, refreshes tokens, feeds the rate budget.

The Tap owns a single `XAuthenticator` shared by every stream and partition
(not a per-stream property, not a process-wide singleton), so all requests of
a run draw on one budget and one token chain. It wraps one `Signer`:

* `BearerToken`: an OAuth 2.0 user access token from the config, as is.
* `RefreshingBearer`: OAuth 2.0 with single-use rotating refresh tokens kept
  in a `TokenStore`; refreshes before expiry and once after a 401.
* `OAuth1Signer`: OAuth 1.0a user context (HMAC-SHA1) via requests-oauthlib.

The SDK's `OAuthAuthenticator` is not used: in singer-sdk 0.54 it drops the
rotated refresh token and re-POSTs a spent one on a dropped connection.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import logging
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from typing import Any, ClassVar
from urllib.parse import urlsplit

import requests
import urllib3
from requests.auth import AuthBase, HTTPBasicAuth
from requests_oauthlib import OAuth1, OAuth2Session

from tap_x_dm.clock import Clock
from tap_x_dm.errors import XAPIError
from tap_x_dm.ratelimit import RateBudget, endpoint_of
from tap_x_dm.tokenstore import StoredTokens, TokenStore, TokenStoreError, fingerprint

#: What `tap-x-dm-auth` asks for: the DM samples' scopes (offline.access brings a refresh token).
AUTH_SCOPES = ("dm.read", "tweet.read", "users.read", "offline.access")
DM_READ_SCOPES = frozenset({"dm.read", "tweet.read", "users.read"})
USERS_ME_SCOPES = frozenset({"tweet.read", "users.read"})

#: Refresh this long before the access token expires (X's tokens last 2 hours).
REFRESH_MARGIN_SECONDS = 300.0

APP_PERMISSION = '"Read, write, and Direct Messages"'
BOTH_403_CAUSES = (
    "Either the token lacks the dm.read scope (re-authorise with dm.read tweet.read "
    f"users.read offline.access) or the X app lacks the {APP_PERMISSION} permission."
)

_INSECURE_ENV = "OAUTHLIB_INSECURE_TRANSPORT"
_insecure_lock = threading.Lock()


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


def is_loopback(host: str | None) -> bool:
    """Whether `host` is this machine (where plain http cannot leak a token)."""
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@contextlib.contextmanager
def loopback_http_allowed(url: str) -> Iterator[None]:
    """Let oauthlib use plain http for a loopback URL (the sandbox), and nothing else.

    oauthlib refuses http unless `OAUTHLIB_INSECURE_TRANSPORT` is set. It is
    set only for the duration of one call, only for a loopback URL, and put
    back afterwards; https URLs leave the environment untouched.
    """
    parts = urlsplit(url)
    if parts.scheme != "http":
        yield
        return
    if not is_loopback(parts.hostname):
        msg = f"{url} must use https; plain http is allowed only for 127.0.0.1/localhost."
        raise AuthError(msg)
    with _insecure_lock:
        previous = os.environ.get(_INSECURE_ENV)
        os.environ[_INSECURE_ENV] = "1"
        try:
            yield
        finally:
            if previous is None:
                os.environ.pop(_INSECURE_ENV, None)
            else:
                os.environ[_INSECURE_ENV] = previous


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


def _utc(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, tz=dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


class AuthError(XAPIError):
    """Authentication cannot go on (refused credentials, a spent refresh token...)."""


# -- the token endpoint ----------------------------------------------------------------


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


# -- signers ---------------------------------------------------------------------------


class Signer(AuthBase):
    """Puts a credential on a request, and knows what X's 401/403 mean for it."""

    kind: ClassVar[str]

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        """Sign the request (idempotent: the SDK signs every request twice)."""
        raise NotImplementedError

    @property
    def identity(self) -> str:
        """A stable, non-secret tag of the credential (e.g. to name a per-account lock)."""
        raise NotImplementedError

    @property
    def user_id(self) -> str | None:
        """The X user this credential acts for, when it says so without a request."""
        return None

    def recover_from_401(self, request: requests.PreparedRequest) -> bool:
        """Get a credential better than the one X refused; True if re-sending is worth it."""
        return False

    def hint_401(self, *, after_refresh: bool) -> str:
        """What a 401 means for this credential, and what to do."""
        raise NotImplementedError

    def hint_403(self, path: str) -> str:
        """What a generic 403 (no problem type) means for this credential."""
        return BOTH_403_CAUSES


def _scope_hint(scope: str | None, path: str) -> str:
    """Tell the two causes of a 403 apart when the granted scope is known."""
    if not scope:
        return BOTH_403_CAUSES
    needed = USERS_ME_SCOPES if path.rstrip("/").endswith("/users/me") else DM_READ_SCOPES
    missing = sorted(needed - set(scope.split()))
    if missing:
        return (
            f"The token's scope ({scope}) lacks {' '.join(missing)}: run `tap-x-dm-auth` to "
            f"re-authorise with {' '.join(AUTH_SCOPES)}."
        )
    return (
        f"The token has the scopes this endpoint needs ({' '.join(sorted(needed))}), so X "
        f"refuses the app: give the X app the {APP_PERMISSION} permission in the developer "
        "portal, then run `tap-x-dm-auth` again."
    )


class BearerToken(Signer):
    """An OAuth 2.0 user-context access token from the config, sent as is."""

    kind = "oauth2"

    def __init__(self, access_token: str) -> None:
        self._access_token = access_token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        """Set the bearer header."""
        request.headers["Authorization"] = f"Bearer {self._access_token}"
        return request

    @property
    def identity(self) -> str:
        """The token's fingerprint (a config token is the whole credential)."""
        return f"oauth2:{fingerprint(self._access_token)}"

    def hint_401(self, *, after_refresh: bool) -> str:
        """A config token cannot be refreshed: say how to get one that can."""
        return (
            "The access token is invalid or expired (X's access tokens last 2 hours): set a "
            "fresh `access_token`, or let the tap refresh its own: run `tap-x-dm-auth`, then "
            "set token_store_path and client_id."
        )

    def __repr__(self) -> str:
        return "BearerToken(<redacted>)"


class OAuth1Signer(Signer):
    """OAuth 1.0a user context (HMAC-SHA1 in the Authorization header).

    requests-oauthlib signs; the timestamp comes from the tap's clock (the one
    seam for time), and every signing draws a fresh nonce, so retries and the
    SDK's double signing are accepted.
    """

    kind = "oauth1"

    def __init__(
        self,
        *,
        consumer_key: str,
        consumer_secret: str,
        access_token: str,
        access_token_secret: str,
        clock: Clock,
    ) -> None:
        silence_library_debug_logs()
        self._identity = f"oauth1:{fingerprint(consumer_key + ':' + access_token)}"
        prefix = access_token.split("-", 1)[0]
        self._user_id = prefix if "-" in access_token and prefix.isdigit() else None
        self._oauth = OAuth1(
            consumer_key,
            client_secret=consumer_secret,
            resource_owner_key=access_token,
            resource_owner_secret=access_token_secret,
        )
        self._clock = clock
        self._lock = threading.Lock()

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        """Sign with a fresh nonce and the clock's timestamp."""
        with self._lock:
            self._oauth.client.timestamp = str(int(self._clock.time()))
            signed: requests.PreparedRequest = self._oauth(request)
            return signed

    @property
    def identity(self) -> str:
        """The app and user's fingerprint."""
        return self._identity

    @property
    def user_id(self) -> str | None:
        """X's OAuth 1.0a access tokens start with the user's id: `<user id>-...`."""
        return self._user_id

    def hint_401(self, *, after_refresh: bool) -> str:
        """OAuth 1.0a has no refresh: the four keys or the clock are wrong."""
        return (
            "X refused the OAuth 1.0a signature: check that consumer_key, consumer_secret, "
            "access_token and access_token_secret belong to the same app and user "
            "(regenerate the access token and secret after changing the app's permissions) "
            "and that this machine's clock is right."
        )

    def hint_403(self, path: str) -> str:
        """OAuth 1.0a has no scopes: a 403 is the app's permission."""
        return (
            f"The X app behind consumer_key lacks the {APP_PERMISSION} permission (OAuth 1.0a "
            "has no scopes): change it in the developer portal (User authentication "
            "settings), then regenerate access_token and access_token_secret."
        )

    def __repr__(self) -> str:
        return "OAuth1Signer(<redacted>)"


class RefreshingBearer(Signer):
    """OAuth 2.0 with X's single-use rotating refresh tokens, kept in a token store.

    * Refreshes before expiry (`REFRESH_MARGIN_SECONDS`) when the expiry is
      known, and once after a 401 (the config's access token has no known expiry).
    * Refreshes under the store's file lock, re-reading the store first: if
      another run refreshed meanwhile, its fresh token is used and nothing is POSTed.
    * Persists the new refresh token before the new access token is used.
    * Never re-POSTs: after a refresh whose outcome is unknown the run fails,
      and later refresh attempts in this run raise the same error. Not even a
      connection dropped before X processed the POST is retried: a client
      cannot tell it from one dropped after (the sandbox's `drop_connection`
      and `token_drop_after_processing` look the same from here), and a
      re-POST of a spent token is refused and may revoke the grant. Only a
      failure to connect at all proves the token intact; the message then says so.
    """

    kind = "oauth2-refresh"

    def __init__(
        self,
        *,
        store: TokenStore,
        endpoint: TokenEndpoint,
        seed_access_token: str | None,
        seed_refresh_token: str | None,
        clock: Clock,
        logger: logging.Logger,
        margin_seconds: float = REFRESH_MARGIN_SECONDS,
    ) -> None:
        self._store = store
        self._endpoint = endpoint
        self._seed = StoredTokens(
            access_token=seed_access_token,
            refresh_token=seed_refresh_token,
            client_id=endpoint.client_id,
            seed_fingerprint=fingerprint(seed_refresh_token),
        )
        self._clock = clock
        self._logger = logger
        self._margin = margin_seconds
        self._lock = threading.RLock()
        self._tokens: StoredTokens | None = None
        self._failure: AuthError | None = None

    def __repr__(self) -> str:
        return f"RefreshingBearer({self._store!r}, {self._endpoint!r})"

    @property
    def identity(self) -> str:
        """The token store's path: one store holds one account's token chain."""
        return f"oauth2-store:{fingerprint(str(self._store.path.resolve()))}"

    @property
    def scope(self) -> str | None:
        """The scopes X granted, when the store or a refresh said so."""
        return self._tokens.scope if self._tokens else None

    @property
    def user_id(self) -> str | None:
        """The account tap-x-dm-auth recorded in the store (a file read, no request)."""
        tokens = self._tokens or self._store.read()
        return tokens.user_id if tokens else None

    # -- signing ----------------------------------------------------------------------

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        """Refresh first if the access token is missing or about to expire, then sign."""
        with self._lock:
            tokens = self._current()
            if not tokens.access_token:
                tokens = self._refresh("there is no access token yet", rejected=None)
            elif self._expiring(tokens):
                assert tokens.expires_at is not None
                reason = f"the access token expires at {_utc(tokens.expires_at)}"
                tokens = self._refresh(reason, rejected=None)
            request.headers["Authorization"] = f"Bearer {tokens.access_token}"
        return request

    def recover_from_401(self, request: requests.PreparedRequest) -> bool:
        """Refresh once for the refused token (or take the one already refreshed)."""
        used = str(request.headers.get("Authorization", "")).removeprefix("Bearer ")
        with self._lock:
            if self._current().access_token != used:
                return True  # refreshed since this request was signed
            self._refresh("X refused the access token (401)", rejected=used)
            return True

    def hint_401(self, *, after_refresh: bool) -> str:
        """A 401 right after a refresh: the grant itself is gone."""
        return (
            "X refused the access token it had just issued (401 right after a refresh): the "
            "user or X may have revoked the app's access; run `tap-x-dm-auth --token-store "
            f"{self._store.path}` to re-authorise."
        )

    def hint_403(self, path: str) -> str:
        """The stored scope tells the two causes of a 403 apart."""
        return _scope_hint(self.scope, path)

    # -- tokens -----------------------------------------------------------------------

    def _expiring(self, tokens: StoredTokens) -> bool:
        if tokens.expires_at is None:
            return False
        return self._clock.time() >= tokens.expires_at - self._margin

    def _current(self) -> StoredTokens:
        """The tokens in use; the store (once it exists) wins over the config's seed."""
        if self._tokens is None:
            stored = self._store.read()
            if stored is None:
                self._tokens = self._seed
                self._logger.info(
                    "OAuth 2.0: no token store at %s yet; using the config's tokens (a refresh "
                    "will create it).",
                    self._store.path,
                )
            else:
                self._check_client(stored)
                self._tokens = stored
                expires = stored.expires_at
                until = f"valid until {_utc(expires)}" if expires else "expiry unknown"
                self._logger.info(
                    "OAuth 2.0: using the tokens in %s (access token %s).", self._store.path, until
                )
                config_fp = self._seed.seed_fingerprint
                if config_fp and config_fp != stored.seed_fingerprint:
                    self._logger.info(
                        "OAuth 2.0: refresh_token in the config is not used: the token store "
                        "%s wins (the config only seeds a missing store; delete the store to "
                        "start over from a new refresh_token).",
                        self._store.path,
                    )
        return self._tokens

    def _check_client(self, stored: StoredTokens) -> None:
        if stored.client_id and stored.client_id != self._endpoint.client_id:
            msg = (
                f"The token store {self._store.path} holds tokens of client_id "
                f"{stored.client_id}, not of the configured client_id "
                f"{self._endpoint.client_id}: point token_store_path at the right file, or run "
                "`tap-x-dm-auth` with this client_id."
            )
            raise AuthError(msg, status=None)

    def _refresh(self, reason: str, *, rejected: str | None) -> StoredTokens:
        """Get a new token pair under the store lock; persist it before it is used."""
        if self._failure is not None:
            raise self._failure
        current = self._current()
        try:
            with self._store.locked():
                stored = self._store.read()
                if stored is not None:
                    self._check_client(stored)
                head = stored or current
                if (
                    head.access_token
                    and head.access_token not in {current.access_token, rejected}
                    and not self._expiring(head)
                ):
                    self._logger.info(
                        "OAuth 2.0: another run already refreshed the tokens in %s; using them.",
                        self._store.path,
                    )
                    self._tokens = head
                    return head
                return self._post_refresh(head, reason, from_store=stored is not None)
        except TokenStoreError as exc:
            self._failure = AuthError(str(exc))
            raise self._failure from None

    def _post_refresh(self, head: StoredTokens, reason: str, *, from_store: bool) -> StoredTokens:
        if not head.refresh_token:
            self._failure = AuthError(
                f"OAuth 2.0: {reason}, and there is no refresh token to get another: run "
                f"`tap-x-dm-auth --token-store {self._store.path}` (it asks for offline.access, "
                "which brings a refresh token)."
            )
            raise self._failure
        self._logger.info("OAuth 2.0: refreshing the access token (%s).", reason)
        now = self._clock.time()
        try:
            answer = self._endpoint.refresh(head.refresh_token)
        except TokenEndpointError as exc:
            if exc.outcome == "unknown":
                self._remember_unknown_outcome(head, now)
            self._failure = AuthError(self._explain(exc, head, from_store=from_store))
            raise self._failure from None
        expires_in = answer.get("expires_in")
        new = StoredTokens(
            access_token=str(answer["access_token"]),
            refresh_token=str(answer.get("refresh_token") or head.refresh_token),
            expires_at=now + float(expires_in) if expires_in else None,
            scope=scope_text(answer.get("scope")) or head.scope,
            client_id=self._endpoint.client_id,
            seed_fingerprint=head.seed_fingerprint,
        )
        try:
            self._store.write(new)  # the new refresh token is safe before anything uses it
        except TokenStoreError as exc:
            msg = (
                f"{exc} X issued new tokens, and the old refresh token is spent: make "
                f"{self._store.path.parent} writable, then run `tap-x-dm-auth --token-store "
                f"{self._store.path}` to re-authorise."
            )
            self._failure = AuthError(msg)
            raise self._failure from None
        self._tokens = new
        self._logger.info(
            "OAuth 2.0: access token refreshed (valid %s); the new refresh token is saved in %s.",
            f"until {_utc(new.expires_at)}" if new.expires_at else "for an unknown time",
            self._store.path,
        )
        return new

    def _remember_unknown_outcome(self, head: StoredTokens, when: float) -> None:
        """Note in the store that X may have spent its refresh token (for the next run)."""
        try:
            self._store.write(replace(head, refresh_outcome_unknown_since=when))
        except TokenStoreError as exc:
            self._logger.warning("%s", exc)

    def _explain(self, exc: TokenEndpointError, head: StoredTokens, *, from_store: bool) -> str:
        path = self._store.path
        reauth = f"run `tap-x-dm-auth --token-store {path}` to re-authorise"
        where = f"The token endpoint {self._endpoint.url}"
        if exc.outcome == "not_sent":
            return (
                f"{where} {exc.what}; the refresh token was not sent and is still valid: run "
                "again when X is reachable."
            )
        if exc.outcome == "unknown":
            return (
                f"{where} {exc.what} after the refresh request was sent: X may have spent the "
                "refresh token without the tap receiving the new one. It is not re-sent "
                "(a spent refresh token cannot be used twice). Run again: if X still accepts "
                f"the refresh token the run goes on; if it is rejected, {reauth}."
            )
        if exc.outcome == "client":
            return (
                f"{where} {exc.what}: X refused the app's client credentials. Check client_id, "
                "and set client_secret only for a confidential client (Web App, Automated App "
                "or bot); a public client (Native App) has none."
            )
        notes = []
        if head.refresh_outcome_unknown_since:
            notes.append(
                f"a run at {_utc(head.refresh_outcome_unknown_since)} lost the token endpoint's "
                "answer to a refresh, so X most likely spent this token then"
            )
        if not from_store:
            notes.append(
                "it came from refresh_token in the config, which only seeds the token store; "
                f"if an earlier run's store at {path} was lost (e.g. a throwaway container), "
                "keep token_store_path on persistent storage"
            )
        elif self._seed.seed_fingerprint and self._seed.seed_fingerprint != head.seed_fingerprint:
            notes.append(
                f"the token store {path} wins over refresh_token in the config; if you set a new "
                "refresh_token on purpose, delete the store file"
            )
        extra = f" ({'; '.join(notes)})" if notes else ""
        return (
            f"The OAuth 2.0 refresh token was rejected (already used or revoked): {reauth}, "
            f"then run the tap again. The token endpoint {exc.what}{extra}."
        )


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


# -- the authenticator -----------------------------------------------------------------


class XAuthenticator(AuthBase):
    """Waits for the rate budget, signs the request, learns from the response.

    The SDK applies an authenticator twice per request (when preparing and when
    sending); both steps here are idempotent, and the response hook is
    registered once. On a 401 the hook asks the signer for a better credential
    and re-sends that request once, like requests' digest auth does; a second
    401 goes back to the stream, which fails with the signer's hint.
    """

    def __init__(
        self, signer: Signer, budget: RateBudget, logger: logging.Logger | None = None
    ) -> None:
        self._signer = signer
        self.budget = budget
        self._logger = logger or logging.getLogger("tap-x-dm")

    @property
    def signer(self) -> Signer:
        """The credential in use."""
        return self._signer

    @property
    def identity(self) -> str:
        """A stable, non-secret tag of the run's credential (for a per-account run lock)."""
        return self._signer.identity

    @property
    def user_id(self) -> str | None:
        """The X user the credential acts for, if known without a request."""
        return self._signer.user_id

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
        self.budget.observe(endpoint, second.headers, status=second.status_code)
        return second

    def explain(self, response: requests.Response) -> str:
        """The hint for a 401 or a generic 403, from the credential's point of view."""
        if response.status_code == requests.codes.unauthorized:
            after = any(r.status_code == requests.codes.unauthorized for r in response.history)
            return self._signer.hint_401(after_refresh=after)
        return self._signer.hint_403(urlsplit(response.url).path)

    def __repr__(self) -> str:
        return f"XAuthenticator({self._signer!r})"


__all__ = [
    "AUTH_SCOPES",
    "AuthError",
    "BearerToken",
    "OAuth1Signer",
    "RefreshingBearer",
    "Signer",
    "TokenEndpoint",
    "TokenEndpointError",
    "XAuthenticator",
    "build_signer",
    "is_loopback",
    "loopback_http_allowed",
    "token_url_for",
]
