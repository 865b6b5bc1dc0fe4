"""OAuth 2.0 with X's single-use rotating refresh tokens, kept in a token store."""

from __future__ import annotations

import logging
from dataclasses import replace

import requests
from typing_extensions import override

from tap_x_dm.auth.signers import AuthError, Signer, scope_hint
from tap_x_dm.auth.token_endpoint import TokenEndpoint, TokenEndpointError, scope_text
from tap_x_dm.auth.tokenstore import StoredTokens, TokenStore, TokenStoreError, fingerprint
from tap_x_dm.clock import Clock
from tap_x_dm.ids_and_times import utc_text

#: Refresh at most this long before the access token expires (X's tokens last 2 hours)...
REFRESH_MARGIN_SECONDS = 300.0
#: ... and at most this share of the token's lifetime before: a token that lives a minute (the
#: sandbox's `--token-ttl 60`) then serves most of its minute instead of one request.
REFRESH_MARGIN_SHARE = 0.1


class RefreshingBearer(Signer):
    """OAuth 2.0 with X's single-use rotating refresh tokens, kept in a token store.

    * Refreshes before expiry (`REFRESH_MARGIN_SECONDS`, or `REFRESH_MARGIN_SHARE` of a
      shorter lifetime) when the expiry is known, and once after a 401 (the config's
      access token has no known expiry).
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
        #: The access token's lifetime: `expires_in` of this run's last refresh, else the
        #: time the stored token had left when first read (a lower bound).
        self._lifetime: float | None = None
        self._tokens: StoredTokens | None = None
        self._failure: AuthError | None = None

    @override
    def __repr__(self) -> str:
        return f"RefreshingBearer({self._store!r}, {self._endpoint!r})"

    @property
    @override
    def identity(self) -> str:
        """The token store's path: one store holds one account's token chain."""
        return f"oauth2-store:{fingerprint(str(self._store.path.resolve()))}"

    @property
    def scope(self) -> str | None:
        """The scopes X granted, when the store or a refresh said so."""
        return self._tokens.scope if self._tokens else None

    @property
    @override
    def user_id(self) -> str | None:
        """The account tap-x-dm-auth recorded in the store (a file read, no request)."""
        tokens = self._tokens or self._store.read()
        return tokens.user_id if tokens else None

    # -- signing ----------------------------------------------------------------------

    @override
    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        """Refresh first if the access token is missing or about to expire, then sign."""
        tokens = self._current()
        if not tokens.access_token:
            tokens = self._refresh("there is no access token yet", rejected=None)
        elif self._expiring(tokens):
            assert tokens.expires_at is not None
            reason = f"the access token expires at {utc_text(tokens.expires_at)}"
            tokens = self._refresh(reason, rejected=None)
        request.headers["Authorization"] = f"Bearer {tokens.access_token}"
        return request

    @override
    def recover_from_401(self, request: requests.PreparedRequest) -> bool:
        """Refresh once for the refused token (or take the one already refreshed)."""
        used = str(request.headers.get("Authorization", "")).removeprefix("Bearer ")
        if self._current().access_token != used:
            return True  # refreshed since this request was signed
        self._refresh("X refused the access token (401)", rejected=used)
        return True

    @override
    def hint_401(self) -> str:
        """A 401 right after a refresh: the grant itself is gone."""
        return (
            "X refused the access token it had just issued (401 right after a refresh): the "
            "user or X may have revoked the app's access; run `tap-x-dm-auth --token-store "
            f"{self._store.path}` to re-authorise."
        )

    @override
    def hint_403(self, path: str) -> str:
        """The stored scope tells the two causes of a 403 apart."""
        return scope_hint(self.scope, path)

    # -- tokens -----------------------------------------------------------------------

    def _expiring(self, tokens: StoredTokens) -> bool:
        if tokens.expires_at is None:
            return False
        margin = self._margin
        if self._lifetime is not None:
            margin = min(margin, REFRESH_MARGIN_SHARE * self._lifetime)
        return self._clock.time() >= tokens.expires_at - margin

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
                if expires is not None and expires > self._clock.time():
                    self._lifetime = expires - self._clock.time()
                until = f"valid until {utc_text(expires)}" if expires else "expiry unknown"
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
                "which brings a refresh token).",
                problem="no-refresh-token",
            )
            raise self._failure
        self._logger.info("OAuth 2.0: refreshing the access token (%s).", reason)
        now = self._clock.time()
        try:
            answer = self._endpoint.refresh(head.refresh_token)
        except TokenEndpointError as exc:
            if exc.outcome == "unknown":
                self._remember_unknown_outcome(head, now)
            message = self._explain(exc, head, from_store=from_store)
            self._failure = AuthError(message, problem=f"refresh-{exc.outcome}")
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
        self._lifetime = float(expires_in) if expires_in else None
        self._logger.info(
            "OAuth 2.0: access token refreshed (valid %s); the new refresh token is saved in %s.",
            f"until {utc_text(new.expires_at)}" if new.expires_at else "for an unknown time",
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
                f"a run at {utc_text(head.refresh_outcome_unknown_since)} lost the token "
                "endpoint's answer to a refresh, so X most likely spent this token then"
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
