"""Shared constants, fixtures and helpers of the sandbox OAuth tests."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from sandbox_helpers import EXAMPLES
from tap_x_dm_sandbox.clock import ManualClock
from tap_x_dm_sandbox.oauth import (
    AuthProblem,
    Principal,
    SandboxAuth,
)

USERS = ["1000000000000000001", "2244994945", "783214"]
ACCOUNT = USERS[0]
DM_URL = "http://127.0.0.1:8080/2/dm_events?max_results=5&pagination_token=ABCDEFGHIJKLMNOP"
REDIRECT = "http://127.0.0.1:8765/callback"
TOKEN_URL = "https://sandbox.test/2/oauth2/token"
AUTHORIZE_URL = "https://sandbox.test/i/oauth2/authorize"
#: X's captured error bodies (copied into x_api/examples, see the README there).
ERRORS = EXAMPLES / "errors"

UNAUTHORIZED = {
    "title": "Unauthorized",
    "type": "about:blank",
    "status": 401,
    "detail": "Unauthorized",
}
UNSUPPORTED = {
    "title": "Unsupported Authentication",
    "detail": "Authenticating with OAuth 2.0 Application-Only is forbidden for this endpoint.  "
    "Supported authentication types are [OAuth 1.0a User Context, OAuth 2.0 User Context].",
    "type": "https://api.twitter.com/2/problems/unsupported-authentication",
    "status": 403,
}
SPENT_TOKEN = {
    "error": "invalid_request",
    "error_description": "Value passed for the token was invalid.",
}
BAD_CODE = {
    "error": "invalid_request",
    "error_description": "Value passed for the authorization code was invalid.",
}
BAD_CLIENT = {
    "error": "unauthorized_client",
    "error_description": "Missing valid authorization header",
}
# RFC 7636 appendix B.
RFC_VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
RFC_CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


@pytest.fixture
def clock() -> ManualClock:
    # Starts at the real time: requests-oauthlib stamps oauth_timestamp with time.time().
    return ManualClock()


@pytest.fixture
def auth(clock: ManualClock) -> SandboxAuth:
    return SandboxAuth(clock=clock, user_ids=USERS, token_ttl=7200)


def example(name: str) -> dict[str, Any]:
    """X's captured body."""
    body: dict[str, Any] = json.loads((ERRORS / name).read_text(encoding="utf-8"))
    return body


def problem(fn: Any) -> AuthProblem:
    with pytest.raises(AuthProblem) as info:
        fn()
    return info.value


def bearer(auth: SandboxAuth, token: str) -> Principal:
    return auth.authenticate(
        method="GET", url=DM_URL, headers={"Authorization": f"Bearer {token}"}, body=None
    )


def basic(client_id: str, secret: str) -> dict[str, str]:
    raw = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}
