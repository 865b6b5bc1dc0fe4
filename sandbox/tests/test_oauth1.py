"""OAuth 1.0a: HMAC-SHA1 signatures checked by oauthlib's server side, on the injected clock."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from requests_oauthlib import OAuth1

from oauth_support import (
    ACCOUNT,
    DM_URL,
    UNAUTHORIZED,
    USERS,
    problem,
)
from tap_x_dm_sandbox.clock import ManualClock
from tap_x_dm_sandbox.oauth import (
    OAUTH1_DM_SCOPES,
    Principal,
    SandboxAuth,
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
