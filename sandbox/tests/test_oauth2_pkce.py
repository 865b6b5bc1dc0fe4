"""OAuth 2.0 Authorization Code with PKCE: the consent page and the code exchange."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
from oauthlib.oauth2.rfc6749.errors import OAuth2Error
from requests_oauthlib import OAuth2Session

from oauth_support import (
    ACCOUNT,
    AUTHORIZE_URL,
    BAD_CODE,
    REDIRECT,
    RFC_CHALLENGE,
    RFC_VERIFIER,
    TOKEN_URL,
    USERS,
    basic,
    bearer,
)
from tap_x_dm_sandbox.clock import ManualClock
from tap_x_dm_sandbox.oauth import (
    CONFIDENTIAL_CLIENT_ID,
    PUBLIC_CLIENT_ID,
    Principal,
    SandboxAuth,
    s256_challenge,
)

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
