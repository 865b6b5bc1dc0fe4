"""SandboxAuth: bearer tokens, PKCE, refresh rotation and real OAuth 1.0a signatures."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
from oauthlib.oauth2.rfc6749.errors import OAuth2Error
from requests_oauthlib import OAuth1, OAuth2Session

from sandbox_helpers import EXAMPLES
from tap_x_dm_sandbox.clock import ManualClock
from tap_x_dm_sandbox.oauth import (
    CONFIDENTIAL_CLIENT_ID,
    DEFAULT_SCOPES,
    OAUTH1_DM_SCOPES,
    PUBLIC_CLIENT_ID,
    AuthProblem,
    Principal,
    SandboxAuth,
    s256_challenge,
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


# ------------------------------------------------------------------ OAuth 1.0a


def sign(
    creds: dict[str, str], url: str = DM_URL, method: str = "GET", **kw: Any
) -> requests.PreparedRequest:
    oauth = OAuth1(
        creds["consumer_key"],
        client_secret=creds["consumer_secret"],
        resource_owner_key=creds["access_token"],
        resource_owner_secret=creds["access_token_secret"],
        **kw,
    )
    return requests.Request(method, url, auth=oauth).prepare()


def send(
    auth: SandboxAuth, prepared: Any, *, url: str | None = None, headers: Any = None
) -> Principal:
    hdrs = {
        k: v.decode() if isinstance(v, bytes) else v
        for k, v in (headers or prepared.headers).items()
    }
    body = prepared.body.encode() if isinstance(prepared.body, str) else prepared.body
    return auth.authenticate(
        method=prepared.method, url=url or prepared.url, headers=hdrs, body=body
    )


def test_oauth1_signed_request_is_accepted(auth: SandboxAuth) -> None:
    creds = auth.oauth1_credentials(USERS[1])
    assert creds["access_token"].startswith(f"{USERS[1]}-")
    principal = send(auth, sign(creds))
    assert principal == Principal(USERS[1], OAUTH1_DM_SCOPES, "oauth1")


def test_oauth1_credentials_are_stable_and_per_app(auth: SandboxAuth, clock: ManualClock) -> None:
    again = SandboxAuth(clock=clock, user_ids=USERS)
    assert auth.oauth1_credentials(ACCOUNT) == again.oauth1_credentials(ACCOUNT)
    dm, no_dm = (
        auth.oauth1_credentials(ACCOUNT),
        auth.oauth1_credentials(ACCOUNT, dm_permission=False),
    )
    assert dm["consumer_key"] != no_dm["consumer_key"]
    assert dm["access_token"] != no_dm["access_token"]
    other_seed = SandboxAuth(clock=clock, user_ids=USERS, seed=8)
    assert other_seed.oauth1_credentials(ACCOUNT) != dm


def test_oauth1_app_without_dm_permission_lacks_dm_scopes(auth: SandboxAuth) -> None:
    principal = send(auth, sign(auth.oauth1_credentials(ACCOUNT, dm_permission=False)))
    assert principal.kind == "oauth1"
    assert principal.user_id == ACCOUNT
    assert "dm.read" not in principal.scopes
    assert "users.read" in principal.scopes


def test_oauth1_query_with_commas_is_signed_and_checked(auth: SandboxAuth) -> None:
    url = "http://localhost:8080/2/dm_conversations/with/2244994945/dm_events?dm_event.fields=id,text,created_at&expansions=sender_id"
    creds = auth.oauth1_credentials(ACCOUNT)
    assert send(auth, sign(creds, url)).user_id == ACCOUNT
    tampered = sign(creds, url)
    problem(lambda: send(auth, tampered, url=url.replace("id,text", "id,text,entities")))


def test_oauth1_tampered_query_is_rejected(auth: SandboxAuth) -> None:
    prepared = sign(auth.oauth1_credentials(ACCOUNT))
    signed_url = str(prepared.url)
    assert signed_url == DM_URL
    for url in (
        signed_url.replace("max_results=5", "max_results=6"),
        signed_url + "&event_types=MessageCreate",
        signed_url.replace("/2/dm_events", "/2/dm_events/123"),
        signed_url.replace(":8080", ":8081"),
        signed_url.replace("http://", "https://"),
    ):
        err = problem(lambda url=url: send(auth, prepared, url=url))
        assert (err.status, err.body) == (401, UNAUTHORIZED)
    # The forgeries did not spend the nonce: the genuine request still passes.
    assert send(auth, prepared).user_id == ACCOUNT


def test_oauth1_tampered_header_is_rejected(auth: SandboxAuth) -> None:
    creds = auth.oauth1_credentials(ACCOUNT)
    prepared = sign(creds)
    header = prepared.headers["Authorization"]
    header = header.decode() if isinstance(header, bytes) else header
    other = auth.oauth1_credentials(USERS[2])
    for forged in (
        header.replace(creds["access_token"], other["access_token"]),  # impersonation
        header.replace('oauth_nonce="', 'oauth_nonce="1'),
        header.replace('oauth_signature="', 'oauth_signature="A'),
    ):
        err = problem(lambda forged=forged: send(auth, prepared, headers={"Authorization": forged}))
        assert err.status == 401
    assert send(auth, prepared).user_id == ACCOUNT


def test_oauth1_signed_form_body_is_covered(auth: SandboxAuth) -> None:
    creds = auth.oauth1_credentials(ACCOUNT)
    url = "http://127.0.0.1:8080/2/dm_conversations/with/2244994945/messages"
    prepared = requests.Request(
        "POST",
        url,
        data={"text": "héllo"},
        auth=OAuth1(
            creds["consumer_key"],
            creds["consumer_secret"],
            creds["access_token"],
            creds["access_token_secret"],
        ),
    ).prepare()
    body = prepared.body.decode() if isinstance(prepared.body, bytes) else str(prepared.body)
    assert "h%C3%A9llo" in body
    forged_body = body.replace("h%C3%A9llo", "bye")
    hdrs = {k: v.decode() if isinstance(v, bytes) else v for k, v in prepared.headers.items()}
    err = problem(
        lambda: auth.authenticate(method="POST", url=url, headers=hdrs, body=forged_body.encode())
    )
    assert err.status == 401
    assert send(auth, prepared).user_id == ACCOUNT


def test_oauth1_replayed_nonce_is_rejected(auth: SandboxAuth) -> None:
    prepared = sign(auth.oauth1_credentials(ACCOUNT))
    send(auth, prepared)
    err = problem(lambda: send(auth, prepared))
    assert (err.status, err.body) == (401, UNAUTHORIZED)


def test_oauth1_stale_timestamp_is_judged_by_the_injected_clock(
    auth: SandboxAuth, clock: ManualClock
) -> None:
    creds = auth.oauth1_credentials(ACCOUNT)
    fresh = sign(creds)
    clock.advance(299)
    assert send(auth, fresh).user_id == ACCOUNT
    stale = sign(creds, timestamp=str(int(clock.time()) - 301))
    assert problem(lambda: send(auth, stale)).status == 401
    future = sign(creds, timestamp=str(int(clock.time()) + 301))
    assert problem(lambda: send(auth, future)).status == 401
    signed_now = sign(creds)
    clock.advance(301)  # real time has not moved; only the sandbox clock has
    assert problem(lambda: send(auth, signed_now)).status == 401


def test_oauth1_clock_far_from_real_time(auth: SandboxAuth) -> None:
    clock = ManualClock(start=1_900_000_000.0)
    auth = SandboxAuth(clock=clock, user_ids=USERS)
    creds = auth.oauth1_credentials(ACCOUNT)
    assert send(auth, sign(creds, timestamp="1900000100")).user_id == ACCOUNT
    assert problem(lambda: send(auth, sign(creds))).status == 401  # real-time stamp is stale


@pytest.mark.parametrize("which", ["consumer_secret", "access_token_secret", "consumer_key"])
def test_oauth1_wrong_secret_or_key_is_rejected(auth: SandboxAuth, which: str) -> None:
    creds = dict(auth.oauth1_credentials(ACCOUNT))
    creds[which] = creds[which][:-1] + ("x" if creds[which][-1] != "x" else "y")
    err = problem(lambda: send(auth, sign(creds)))
    assert (err.status, err.body) == (401, UNAUTHORIZED)


def test_oauth1_token_of_another_app_is_rejected(auth: SandboxAuth) -> None:
    creds = dict(auth.oauth1_credentials(ACCOUNT))
    no_dm = auth.oauth1_credentials(ACCOUNT, dm_permission=False)
    creds["consumer_key"], creds["consumer_secret"] = (
        no_dm["consumer_key"],
        no_dm["consumer_secret"],
    )
    assert problem(lambda: send(auth, sign(creds))).status == 401


def test_oauth1_only_hmac_sha1(auth: SandboxAuth) -> None:
    prepared = sign(auth.oauth1_credentials(ACCOUNT), signature_method="HMAC-SHA256")
    assert problem(lambda: send(auth, prepared)).status == 401


def test_oauth1_plain_http_only_on_loopback(auth: SandboxAuth) -> None:
    creds = auth.oauth1_credentials(ACCOUNT)
    for host in ("127.0.0.1:8080", "localhost", "[::1]:9000", "127.0.0.2"):
        assert send(auth, sign(creds, f"http://{host}/2/users/me")).user_id == ACCOUNT
    assert problem(lambda: send(auth, sign(creds, "http://192.168.1.5:8080/2/users/me")))
    assert send(auth, sign(creds, "https://api.x.com/2/users/me")).user_id == ACCOUNT


def test_oauth1_needs_the_absolute_url(auth: SandboxAuth) -> None:
    prepared = sign(auth.oauth1_credentials(ACCOUNT))
    with pytest.raises(ValueError, match="absolute URL"):
        send(auth, prepared, url="/2/dm_events?max_results=5")


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


def basic(client_id: str, secret: str) -> dict[str, str]:
    raw = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


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


# ------------------------------------------------------------------ PKCE


def authorize_query(challenge: str = RFC_CHALLENGE, **overrides: str) -> dict[str, str]:
    query = {
        "response_type": "code",
        "client_id": PUBLIC_CLIENT_ID,
        "redirect_uri": REDIRECT,
        "scope": "tweet.read users.read dm.read offline.access",
        "state": "state-123",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    query.update(overrides)
    return {k: v for k, v in query.items() if v != "<omit>"}


def get_code(auth: SandboxAuth, **overrides: str) -> tuple[str, dict[str, str]]:
    status, headers, _ = auth.authorize(authorize_query(**overrides))
    assert status == 302, _
    params = dict(parse_qsl(urlsplit(headers["Location"]).query))
    return params["code"], params


def exchange(
    auth: SandboxAuth, code_: str, verifier: str = RFC_VERIFIER, **extra: str
) -> tuple[int, dict[str, Any]]:
    form = {
        "grant_type": "authorization_code",
        "code": code_,
        "redirect_uri": REDIRECT,
        "code_verifier": verifier,
        "client_id": PUBLIC_CLIENT_ID,
        **extra,
    }
    return auth.token(headers={}, form={k: v for k, v in form.items() if v != "<omit>"})


def test_s256_matches_rfc7636_vector() -> None:
    assert s256_challenge(RFC_VERIFIER) == RFC_CHALLENGE


def test_code_exchange_works_once(auth: SandboxAuth) -> None:
    code, params = get_code(auth)
    assert params["state"] == "state-123"
    status, tokens = exchange(auth, code)
    assert status == 200
    assert tokens["scope"] == "tweet.read users.read dm.read offline.access"
    assert "refresh_token" in tokens
    assert bearer(auth, tokens["access_token"]).user_id == ACCOUNT
    assert exchange(auth, code) == (400, BAD_CODE)


def test_wrong_verifier_fails(auth: SandboxAuth) -> None:
    code, _ = get_code(auth)
    assert exchange(auth, code, verifier=RFC_VERIFIER[:-1] + "A") == (400, BAD_CODE)


@pytest.mark.parametrize(
    "extra",
    [
        {"redirect_uri": "http://127.0.0.1:8765/other"},
        {"code": "made-up-code"},
    ],
)
def test_code_bound_to_redirect_uri(auth: SandboxAuth, extra: dict[str, str]) -> None:
    code, _ = get_code(auth)
    assert exchange(auth, code, **extra) == (400, BAD_CODE)


def test_code_bound_to_client(auth: SandboxAuth) -> None:
    code, _ = get_code(auth)
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "code_verifier": RFC_VERIFIER,
    }
    right = basic(CONFIDENTIAL_CLIENT_ID, auth.confidential_client_secret)
    assert auth.token(headers=right, form=form) == (400, BAD_CODE)
    code, _ = get_code(auth, client_id=CONFIDENTIAL_CLIENT_ID)
    assert auth.token(headers=right, form={**form, "code": code})[0] == 200


@pytest.mark.parametrize("missing", ["code", "redirect_uri", "code_verifier"])
def test_code_exchange_missing_parameter(auth: SandboxAuth, missing: str) -> None:
    code, _ = get_code(auth)
    status, body = exchange(auth, code, **{missing: "<omit>"})
    assert (status, body) == (
        400,
        {
            "error": "invalid_request",
            "error_description": f"Missing required parameter [{missing}].",
        },
    )


def test_code_expires_after_30_seconds(auth: SandboxAuth, clock: ManualClock) -> None:
    code, _ = get_code(auth)
    clock.advance(29)
    assert exchange(auth, code)[0] == 200
    code, _ = get_code(auth)
    clock.advance(31)
    assert exchange(auth, code) == (400, BAD_CODE)


def test_plain_challenge_as_in_x_docs(auth: SandboxAuth) -> None:
    code, _ = get_code(auth, code_challenge="challenge", code_challenge_method="plain")
    assert exchange(auth, code, verifier="challenger") == (400, BAD_CODE)
    code, _ = get_code(auth, code_challenge="challenge", code_challenge_method="plain")
    assert exchange(auth, code, verifier="challenge")[0] == 200


def test_scopes_granted_as_requested_and_no_refresh_without_offline(auth: SandboxAuth) -> None:
    code, _ = get_code(auth, scope="dm.read tweet.read users.read", user_id=USERS[2])
    status, tokens = exchange(auth, code)
    assert status == 200
    assert "refresh_token" not in tokens
    assert bearer(auth, tokens["access_token"]) == Principal(
        USERS[2], frozenset({"dm.read", "tweet.read", "users.read"}), "oauth2"
    )


def test_redirect_keeps_existing_query_and_encodes_state(auth: SandboxAuth) -> None:
    state = "a b&c=d/é"
    status, headers, _ = auth.authorize(
        authorize_query(redirect_uri="http://localhost:3000/cb?tenant=7&x=", state=state)
    )
    assert status == 302
    location = urlsplit(headers["Location"])
    assert location.geturl().startswith("http://localhost:3000/cb?tenant=7&x=&code=")
    params = parse_qsl(location.query, keep_blank_values=True)
    assert [k for k, _ in params] == ["tenant", "x", "code", "state"]
    assert dict(params)["state"] == state


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        ({"client_id": "nobody"}, "client_id"),
        ({"client_id": "<omit>"}, "client_id"),
        ({"redirect_uri": "https://evil.example/cb"}, "redirect_uri"),
        ({"redirect_uri": "http://example.com:8080/cb"}, "redirect_uri"),
        ({"redirect_uri": "http://127.0.0.1:99999/cb"}, "redirect_uri"),
        ({"redirect_uri": "<omit>"}, "redirect_uri"),
        ({"response_type": "token"}, "response_type"),
        ({"scope": ""}, "scope"),
        ({"scope": "dm.read dm.everything"}, "dm.everything"),
        ({"state": "<omit>"}, "state"),
        ({"state": "s" * 501}, "state"),
        ({"code_challenge": "<omit>"}, "code_challenge"),
        ({"code_challenge": "too-short"}, "code_challenge"),
        ({"code_challenge_method": "S512"}, "code_challenge_method"),
        ({"code_challenge_method": "<omit>"}, "code_challenge_method"),
        ({"user_id": "42"}, "user_id"),
    ],
)
def test_authorize_rejects_bad_input_with_an_html_page(
    auth: SandboxAuth, overrides: dict[str, str], needle: str
) -> None:
    status, headers, body = auth.authorize(authorize_query(**overrides))
    assert status == 400
    assert "Location" not in headers
    assert headers["Content-Type"].startswith("text/html")
    assert needle in body.decode()


def test_state_of_500_chars_is_fine(auth: SandboxAuth) -> None:
    _, params = get_code(auth, state="s" * 500)
    assert params["state"] == "s" * 500


class TokenEndpointAdapter(requests.adapters.BaseAdapter):
    """Routes requests-oauthlib's token calls into SandboxAuth.token without a socket."""

    def __init__(self, auth: SandboxAuth) -> None:
        super().__init__()
        self.auth = auth

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float, float] | tuple[float, None] | None = None,
        verify: bool | str = True,
        cert: bytes | str | tuple[bytes | str, bytes | str] | None = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        body = request.body.decode() if isinstance(request.body, bytes) else request.body or ""
        status, payload = self.auth.token(
            headers=dict(request.headers), form=dict(parse_qsl(body, keep_blank_values=True))
        )
        response = requests.Response()
        response.status_code = status
        response._content = json.dumps(payload).encode()
        response.headers["Content-Type"] = "application/json;charset=UTF-8"
        response.encoding = "utf-8"
        response.url = request.url or TOKEN_URL
        response.request = request
        return response

    def close(self) -> None:
        pass


def test_pkce_flow_with_requests_oauthlib(auth: SandboxAuth) -> None:
    session = OAuth2Session(
        PUBLIC_CLIENT_ID,
        redirect_uri=REDIRECT,
        scope=["tweet.read", "users.read", "dm.read", "offline.access"],
        pkce="S256",
    )
    session.mount("https://sandbox.test/", TokenEndpointAdapter(auth))
    url, state = session.authorization_url(AUTHORIZE_URL)
    query = dict(parse_qsl(urlsplit(url).query))
    assert query["code_challenge_method"] == "S256"
    status, headers, _ = auth.authorize(query)
    assert status == 302
    params = dict(parse_qsl(urlsplit(headers["Location"]).query))
    assert params["state"] == state

    token = session.fetch_token(TOKEN_URL, code=params["code"], include_client_id=True)
    assert token["token_type"].lower() == "bearer"
    assert token["scope"] == ["tweet.read", "users.read", "dm.read", "offline.access"]
    assert bearer(auth, token["access_token"]).user_id == ACCOUNT
    with pytest.raises(OAuth2Error, match="authorization code was invalid"):
        session.fetch_token(TOKEN_URL, code=params["code"], include_client_id=True)

    refreshed = session.refresh_token(
        TOKEN_URL, refresh_token=token["refresh_token"], client_id=PUBLIC_CLIENT_ID
    )
    assert refreshed["refresh_token"] != token["refresh_token"]
    with pytest.raises(OAuth2Error, match="token was invalid"):
        session.refresh_token(
            TOKEN_URL, refresh_token=token["refresh_token"], client_id=PUBLIC_CLIENT_ID
        )


def test_confidential_pkce_flow_with_requests_oauthlib(auth: SandboxAuth) -> None:
    session = OAuth2Session(
        CONFIDENTIAL_CLIENT_ID, redirect_uri=REDIRECT, scope=["dm.read"], pkce="S256"
    )
    session.mount("https://sandbox.test/", TokenEndpointAdapter(auth))
    url, _ = session.authorization_url(AUTHORIZE_URL)
    _, headers, _ = auth.authorize(dict(parse_qsl(urlsplit(url).query)))
    code = dict(parse_qsl(urlsplit(headers["Location"]).query))["code"]
    # requests-oauthlib's default: client_id:client_secret as HTTP Basic.
    token = session.fetch_token(TOKEN_URL, code=code, client_secret=auth.confidential_client_secret)
    assert token["scope"] == ["dm.read"]
    assert "refresh_token" not in token
