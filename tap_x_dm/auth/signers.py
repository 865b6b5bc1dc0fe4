"""Signers: put one credential on a request, and know what X's 401 and 403 mean for it.

* `BearerToken` (in `authenticator`, on every request's path): an OAuth 2.0 user access
  token from the config, as is.
* `OAuth1Signer`: OAuth 1.0a user context (HMAC-SHA1) via requests-oauthlib.
* `RefreshingBearer` (in `refreshing`): OAuth 2.0 with single-use rotating
  refresh tokens kept in a `TokenStore`.
"""

from __future__ import annotations

import typing as t

import requests
from requests.auth import AuthBase
from typing_extensions import override

from tap_x_dm.auth.tokenstore import fingerprint
from tap_x_dm.clock import Clock
from tap_x_dm.errors import XAPIError

if t.TYPE_CHECKING:
    from requests_oauthlib import OAuth1

AUTH_SCOPES = ("dm.read", "tweet.read", "users.read", "offline.access")
DM_READ_SCOPES = frozenset({"dm.read", "tweet.read", "users.read"})
USERS_ME_SCOPES = frozenset({"tweet.read", "users.read"})

APP_PERMISSION = '"Read, write, and Direct Messages"'
BOTH_403_CAUSES = (
    "Either the token lacks the dm.read scope (re-authorise with dm.read tweet.read "
    f"users.read offline.access) or the X app lacks the {APP_PERMISSION} permission."
)


class AuthError(XAPIError):
    """Authentication cannot go on (refused credentials, a spent refresh token...)."""


class Signer(AuthBase):
    """Puts a credential on a request, and knows what X's 401/403 mean for it."""

    @override
    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        """Sign the request (idempotent: a retry signs the same request again)."""
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

    def hint_401(self) -> str:
        """What a 401 means for this credential, and what to do."""
        raise NotImplementedError

    def hint_403(self, path: str) -> str:
        """What a generic 403 (no problem type) means for this credential."""
        return BOTH_403_CAUSES


def scope_hint(scope: str | None, path: str) -> str:
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


class OAuth1Signer(Signer):
    """OAuth 1.0a user context (HMAC-SHA1 in the Authorization header).

    requests-oauthlib signs; the timestamp comes from the tap's clock (the one
    seam for time), and every signing draws a fresh nonce, so a retry's signature
    is accepted too.
    """

    def __init__(
        self,
        *,
        consumer_key: str,
        consumer_secret: str,
        access_token: str,
        access_token_secret: str,
        clock: Clock,
    ) -> None:
        # Imported here: a run with an OAuth 2.0 token never loads oauthlib (start-up CPU).
        from requests_oauthlib import OAuth1

        from tap_x_dm.auth.token_endpoint import silence_library_debug_logs

        silence_library_debug_logs()
        self._identity = f"oauth1:{fingerprint(consumer_key + ':' + access_token)}"
        prefix = access_token.split("-", 1)[0]
        self._user_id = prefix if "-" in access_token and prefix.isdigit() else None
        self._oauth: OAuth1 = OAuth1(
            consumer_key,
            client_secret=consumer_secret,
            resource_owner_key=access_token,
            resource_owner_secret=access_token_secret,
        )
        self._clock = clock

    @override
    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        """Sign with a fresh nonce and the clock's timestamp."""
        self._oauth.client.timestamp = str(int(self._clock.time()))
        signed: requests.PreparedRequest = self._oauth(request)
        return signed

    @property
    @override
    def identity(self) -> str:
        """The app and user's fingerprint."""
        return self._identity

    @property
    @override
    def user_id(self) -> str | None:
        """X's OAuth 1.0a access tokens start with the user's id: `<user id>-...`."""
        return self._user_id

    @override
    def hint_401(self) -> str:
        """OAuth 1.0a has no refresh: the four keys or the clock are wrong."""
        return (
            "X refused the OAuth 1.0a signature: check that consumer_key, consumer_secret, "
            "access_token and access_token_secret belong to the same app and user "
            "(regenerate the access token and secret after changing the app's permissions) "
            "and that this machine's clock is right."
        )

    @override
    def hint_403(self, path: str) -> str:
        """OAuth 1.0a has no scopes: a 403 is the app's permission."""
        return (
            f"The X app behind consumer_key lacks the {APP_PERMISSION} permission (OAuth 1.0a "
            "has no scopes): change it in the developer portal (User authentication "
            "settings), then regenerate access_token and access_token_secret."
        )

    @override
    def __repr__(self) -> str:
        return "OAuth1Signer(<redacted>)"
