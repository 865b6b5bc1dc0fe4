"""OAuth 2.0 bearer tokens and the token endpoint: rotation, clients, revocation."""

from __future__ import annotations

import threading

import pytest

from oauth_support import (
    ACCOUNT,
    BAD_CLIENT,
    DM_URL,
    SPENT_TOKEN,
    UNAUTHORIZED,
    UNSUPPORTED,
    USERS,
    basic,
    bearer,
    example,
    problem,
)
from tap_x_dm_sandbox.clock import ManualClock
from tap_x_dm_sandbox.oauth import (
    CONFIDENTIAL_CLIENT_ID,
    DEFAULT_SCOPES,
    PUBLIC_CLIENT_ID,
    Principal,
    SandboxAuth,
)

# ------------------------------------------------------------------ bearer


def test_missing_or_foreign_authorization_is_401(auth: SandboxAuth) -> None:
    for headers in ({}, {"Authorization": "Basic Zm9vOmJhcg=="}, {"authorization": "Bearer "}):
        err = problem(
            lambda h=headers: auth.authenticate(method="GET", url=DM_URL, headers=h, body=None)
        )
        assert (err.status, err.body) == (401, UNAUTHORIZED)
    assert example("401_unauthorized.observed.json") == UNAUTHORIZED


def test_demo_token_is_deterministic_and_never_expires(
    auth: SandboxAuth, clock: ManualClock
) -> None:
    token = auth.demo_access_token(ACCOUNT)
    assert token == SandboxAuth(clock=clock, user_ids=USERS).demo_access_token(ACCOUNT)
    assert token != SandboxAuth(clock=clock, user_ids=USERS, seed=8).demo_access_token(ACCOUNT)
    assert token != auth.demo_access_token(USERS[1])
    assert token.replace("-", "").replace("_", "").isalnum()
    clock.advance(10 * 365 * 86400)
    assert bearer(auth, token) == Principal(ACCOUNT, frozenset(DEFAULT_SCOPES), "oauth2")
    assert bearer(auth, auth.demo_access_token(USERS[2])).user_id == USERS[2]
    with pytest.raises(KeyError):
        auth.demo_access_token("42")


def test_lowercase_header_and_scheme(auth: SandboxAuth) -> None:
    token = auth.demo_access_token(ACCOUNT)
    principal = auth.authenticate(
        method="GET", url=DM_URL, headers={"authorization": f"bearer {token}"}, body=None
    )
    assert principal.user_id == ACCOUNT


def test_app_only_token_is_403_unsupported_authentication(auth: SandboxAuth) -> None:
    err = problem(lambda: bearer(auth, auth.app_only_bearer_token))
    assert (err.status, err.body) == (403, UNSUPPORTED)
    assert err.body == example("403_unsupported_authentication.observed.json")


def test_issued_access_token_expires_after_ttl(auth: SandboxAuth, clock: ManualClock) -> None:
    tokens = auth.issue_tokens(USERS[1], scopes=["dm.read", "users.read"])
    assert tokens["token_type"] == "bearer"
    assert tokens["expires_in"] == 7200
    assert tokens["scope"] == "dm.read users.read"
    assert "refresh_token" not in tokens
    assert bearer(auth, tokens["access_token"]).scopes == frozenset({"dm.read", "users.read"})
    clock.advance(7199)
    assert bearer(auth, tokens["access_token"]).user_id == USERS[1]
    clock.advance(1)
    err = problem(lambda: bearer(auth, tokens["access_token"]))
    assert (err.status, err.body) == (401, UNAUTHORIZED)
    assert problem(lambda: bearer(auth, "not-a-token")).status == 401


def test_expire_access_tokens_now(auth: SandboxAuth) -> None:
    mine, theirs = auth.issue_tokens(ACCOUNT), auth.issue_tokens(USERS[1])
    auth.expire_access_tokens(ACCOUNT)
    assert problem(lambda: bearer(auth, mine["access_token"])).status == 401
    assert problem(lambda: bearer(auth, auth.demo_access_token(ACCOUNT))).status == 401
    assert bearer(auth, theirs["access_token"]).user_id == USERS[1]
    auth.expire_access_tokens()
    assert problem(lambda: bearer(auth, theirs["access_token"])).status == 401


def test_issue_tokens_validates(auth: SandboxAuth) -> None:
    with pytest.raises(KeyError):
        auth.issue_tokens("42")
    with pytest.raises(ValueError, match="unknown scopes"):
        auth.issue_tokens(ACCOUNT, scopes=["dm.read", "dm.everything"])
    with pytest.raises(ValueError, match="client_id"):
        auth.issue_tokens(ACCOUNT, client_id="someone-else")


# ------------------------------------------------------------------ token endpoint


def refresh_form(token: str, client_id: str | None = PUBLIC_CLIENT_ID) -> dict[str, str]:
    form = {"grant_type": "refresh_token", "refresh_token": token}
    if client_id is not None:
        form["client_id"] = client_id
    return form


def test_missing_grant_type_exact_body(auth: SandboxAuth) -> None:
    status, body = auth.token(headers={}, form={"client_id": PUBLIC_CLIENT_ID})
    expected = {
        "error": "invalid_request",
        "error_description": "Missing required parameter [grant_type].",
    }
    assert (status, body) == (400, expected)
    assert body == example("oauth2_token_400_missing_grant_type.observed.json")


def test_unsupported_grant_type(auth: SandboxAuth) -> None:
    status, body = auth.token(
        headers={}, form={"grant_type": "client_credentials", "client_id": PUBLIC_CLIENT_ID}
    )
    assert status == 400
    assert body["error"] == "unsupported_grant_type"


def test_refresh_rotation(auth: SandboxAuth, clock: ManualClock) -> None:
    first = auth.issue_tokens(ACCOUNT)
    assert first["scope"] == " ".join(DEFAULT_SCOPES)
    clock.advance(60)
    status, second = auth.token(headers={}, form=refresh_form(first["refresh_token"]))
    assert status == 200
    assert set(second) == {"token_type", "expires_in", "access_token", "scope", "refresh_token"}
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert second["scope"] == first["scope"]
    assert second["expires_in"] == 7200

    status, body = auth.token(headers={}, form=refresh_form(first["refresh_token"]))
    assert (status, body) == (400, SPENT_TOKEN)
    assert body == example("oauth2_token_400_spent_refresh_token.observed.json")

    # The old access token lives until its own expiry; the new one a minute longer.
    assert bearer(auth, first["access_token"]).user_id == ACCOUNT
    assert bearer(auth, second["access_token"]).scopes == frozenset(DEFAULT_SCOPES)
    clock.advance(7140)
    assert problem(lambda: bearer(auth, first["access_token"])).status == 401
    assert bearer(auth, second["access_token"]).user_id == ACCOUNT

    status, third = auth.token(headers={}, form=refresh_form(second["refresh_token"]))
    assert status == 200
    assert bearer(auth, third["access_token"]).user_id == ACCOUNT


def test_refresh_keeps_a_custom_ttl(auth: SandboxAuth, clock: ManualClock) -> None:
    tokens = auth.issue_tokens(ACCOUNT, ttl=60)
    assert tokens["expires_in"] == 60
    clock.advance(60)
    assert problem(lambda: bearer(auth, tokens["access_token"])).status == 401
    status, fresh = auth.token(headers={}, form=refresh_form(tokens["refresh_token"]))
    assert (status, fresh["expires_in"]) == (200, 60)


def test_refresh_token_is_bound_to_its_client(auth: SandboxAuth) -> None:
    tokens = auth.issue_tokens(ACCOUNT)  # public client
    status, body = auth.token(
        headers=basic(CONFIDENTIAL_CLIENT_ID, auth.confidential_client_secret),
        form=refresh_form(tokens["refresh_token"], client_id=None),
    )
    assert (status, body) == (400, SPENT_TOKEN)
    # Another client's attempt did not spend it.
    status, _ = auth.token(headers={}, form=refresh_form(tokens["refresh_token"]))
    assert status == 200


def test_confidential_client_uses_basic_auth(auth: SandboxAuth) -> None:
    tokens = auth.issue_tokens(ACCOUNT, client_id=CONFIDENTIAL_CLIENT_ID)
    right = basic(CONFIDENTIAL_CLIENT_ID, auth.confidential_client_secret)
    wrong = basic(CONFIDENTIAL_CLIENT_ID, auth.confidential_client_secret + "x")
    form = refresh_form(tokens["refresh_token"], client_id=None)

    assert auth.token(headers=wrong, form=form) == (401, BAD_CLIENT)
    assert auth.token(headers={}, form={**form, "client_id": CONFIDENTIAL_CLIENT_ID}) == (
        401,
        BAD_CLIENT,
    )
    assert auth.token(headers={"Authorization": "Basic !!!"}, form=form) == (401, BAD_CLIENT)
    assert auth.token(headers=basic(PUBLIC_CLIENT_ID, ""), form=form) == (401, BAD_CLIENT)
    status, rotated = auth.token(headers=right, form=form)
    assert status == 200
    # client_id in the body is optional for Basic clients, and must match when present.
    form2 = refresh_form(rotated["refresh_token"], client_id=CONFIDENTIAL_CLIENT_ID)
    assert auth.token(headers=right, form={**form2, "client_id": PUBLIC_CLIENT_ID})[0] == 401
    assert auth.token(headers=right, form=form2)[0] == 200


def test_public_client_names_itself_in_the_body(auth: SandboxAuth) -> None:
    tokens = auth.issue_tokens(ACCOUNT)
    form = refresh_form(tokens["refresh_token"], client_id=None)
    assert auth.token(headers={}, form=form) == (401, BAD_CLIENT)
    status, body = auth.token(headers={}, form={**form, "client_id": "who-knows"})
    assert (status, body["error"]) == (400, "invalid_request")
    assert auth.token(headers={}, form={**form, "client_id": PUBLIC_CLIENT_ID})[0] == 200


def test_revoked_refresh_tokens(auth: SandboxAuth) -> None:
    mine, theirs = auth.issue_tokens(ACCOUNT), auth.issue_tokens(USERS[1])
    auth.revoke_refresh_tokens(ACCOUNT)
    assert auth.token(headers={}, form=refresh_form(mine["refresh_token"])) == (400, SPENT_TOKEN)
    assert auth.token(headers={}, form=refresh_form(theirs["refresh_token"]))[0] == 200


def test_concurrent_refreshes_of_one_token_succeed_once(auth: SandboxAuth) -> None:
    token = auth.issue_tokens(ACCOUNT)["refresh_token"]
    results: list[int] = []
    barrier = threading.Barrier(8)

    def worker() -> None:
        barrier.wait()
        results.append(auth.token(headers={}, form=refresh_form(token))[0])

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [200] + [400] * 7
