"""OAuth over HTTP, the request log and billing, and the `Sandbox` facade."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from requests_oauthlib import OAuth1

from sandbox_helpers import PINNED_START, OpenAPI, example, get, pinned_clock, walk
from tap_x_dm_sandbox import Sandbox
from tap_x_dm_sandbox.clock import ManualClock
from tap_x_dm_sandbox.fixtures import SandboxFactory

# -- OAuth through HTTP ----------------------------------------------------------------------


def oauth1(sb: Sandbox, *, dm_permission: bool = True) -> OAuth1:
    creds = sb.auth.oauth1_credentials(sb.account.id, dm_permission=dm_permission)
    return OAuth1(
        creds["consumer_key"],
        creds["consumer_secret"],
        creds["access_token"],
        creds["access_token_secret"],
    )


def test_oauth1_signed_requests(live: Sandbox, openapi: OpenAPI) -> None:
    auth = oauth1(live)
    params = {"max_results": "5", "dm_event.fields": "id,text,sender_id"}
    response = requests.get(live.base_url + "/2/dm_events", params=params, auth=auth, timeout=5)
    assert response.status_code == 200, response.text
    openapi.validate(response.json(), "Get2DmEventsResponse")
    assert live.request_log[-1]["user"] == live.account.id
    # The server checks the URL the client signed, host as sent: "localhost" works too.
    local = live.base_url.replace("127.0.0.1", "localhost")
    assert requests.get(local + "/2/users/me", auth=oauth1(live), timeout=5).status_code == 200
    # Tampering with the query after signing breaks the signature.
    session = requests.Session()
    prepared = session.prepare_request(
        requests.Request("GET", live.base_url + "/2/dm_events", params=params, auth=auth)
    )
    assert prepared.url and "max_results=5" in prepared.url
    prepared.url = prepared.url.replace("max_results=5", "max_results=6")
    tampered = session.send(prepared, timeout=5)
    assert tampered.status_code == 401
    assert tampered.json() == example("errors/401_unauthorized.observed.json")


def test_oauth1_app_without_dm_permission(live: Sandbox) -> None:
    auth = oauth1(live, dm_permission=False)
    response = requests.get(live.base_url + "/2/dm_events", auth=auth, timeout=5)
    assert response.status_code == 403
    assert response.json() == example("errors/403_forbidden.observed.json")
    me = requests.get(
        live.base_url + "/2/users/me", auth=oauth1(live, dm_permission=False), timeout=5
    )
    assert me.status_code == 200


def test_pkce_flow_over_http(small: Sandbox) -> None:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    redirect_uri = "http://127.0.0.1:8976/callback"
    authorize = requests.get(
        small.base_url + "/i/oauth2/authorize",
        params={
            "response_type": "code",
            "client_id": small.auth.public_client_id,
            "redirect_uri": redirect_uri,
            "scope": "dm.read tweet.read users.read offline.access",
            "state": "xyz-state",
            "code_challenge": challenge.decode(),
            "code_challenge_method": "S256",
        },
        allow_redirects=False,
        timeout=5,
    )
    assert authorize.status_code == 302
    location = urlsplit(authorize.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == redirect_uri
    query = parse_qs(location.query)
    assert query["state"] == ["xyz-state"]
    token = requests.post(
        small.base_url + "/2/oauth2/token",
        data={
            "grant_type": "authorization_code",
            "code": query["code"][0],
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
            "client_id": small.auth.public_client_id,
        },
        timeout=5,
    )
    assert token.status_code == 200, token.text
    grant = token.json()
    assert grant["token_type"] == "bearer"
    assert grant["expires_in"] == 7200
    assert set(grant["scope"].split()) == {"dm.read", "tweet.read", "users.read", "offline.access"}
    assert get(small, "/2/dm_events", grant["access_token"], max_results=1).status_code == 200
    log = json.dumps(small.request_log)
    for secret in (query["code"][0], verifier, grant["access_token"], grant["refresh_token"]):
        assert secret not in log


def test_refresh_rotation_over_http(small: Sandbox) -> None:
    first = small.auth.issue_tokens(small.account.id)
    url = small.base_url + "/2/oauth2/token"
    form = {
        "grant_type": "refresh_token",
        "refresh_token": first["refresh_token"],
        "client_id": small.auth.public_client_id,
    }
    rotated = requests.post(url, data=form, timeout=5)
    assert rotated.status_code == 200
    assert rotated.json()["refresh_token"] != first["refresh_token"]
    assert rotated.headers["Cache-Control"] == "no-store"
    reused = requests.post(url, data=form, timeout=5)
    assert reused.status_code == 400
    assert reused.json() == example("errors/oauth2_token_400_spent_refresh_token.observed.json")
    missing = requests.post(url, data={"client_id": small.auth.public_client_id}, timeout=5)
    assert missing.status_code == 400
    assert missing.json() == example("errors/oauth2_token_400_missing_grant_type.observed.json")
    assert first["refresh_token"] not in json.dumps(small.request_log)


def test_expired_access_token_is_unauthorized(sandbox_factory: SandboxFactory) -> None:
    clock = ManualClock()
    sb = sandbox_factory(clock=clock, events=300, token_ttl=60)
    grant = sb.auth.issue_tokens(sb.account.id)
    assert grant["expires_in"] == 60
    assert get(sb, "/2/users/me", grant["access_token"]).status_code == 200
    clock.advance(61)
    assert get(sb, "/2/users/me", grant["access_token"]).status_code == 401
    assert get(sb, "/2/users/me").status_code == 200  # the demo token never expires


# -- request log and billing -----------------------------------------------------------------


def test_request_log_entries(sandbox_factory: SandboxFactory, tmp_path: Any) -> None:
    log_path = tmp_path / "logs" / "requests.jsonl"
    sb = sandbox_factory(events=300, rate_limit=10_000, request_log_path=str(log_path))
    first = get(sb, "/2/dm_events", max_results=5).json()
    get(sb, "/2/dm_events", max_results=5, pagination_token=first["meta"]["next_token"])
    get(sb, "/2/dm_events", "bad-token")
    entries = sb.request_log
    assert [e["status"] for e in entries] == [200, 200, 401]
    assert set(entries[0]) == {
        "time",
        "method",
        "path",
        "query",
        "status",
        "user",
        "billed_events",
        "billed",
        "billed_usd",
        "endpoint",
        "fault",
    }
    assert entries[0]["query"] == {"max_results": "5"}
    assert entries[1]["query"]["pagination_token"] == first["meta"]["next_token"]
    assert entries[0]["user"] == sb.account.id
    assert entries[2]["user"] is None
    assert entries[0]["endpoint"] == "dm_events"
    assert entries[0]["billed_events"] == 5
    assert entries[0]["billed"] == {"dm_events": 5, "users": 0, "tweets": 0, "media": 0}
    assert entries[0]["billed_usd"] == 0.05
    assert entries[2]["billed"]["dm_events"] == 0 and entries[2]["billed_usd"] == 0
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", entries[0]["time"])
    lines = [json.loads(line) for line in log_path.read_text(encoding="utf-8").splitlines()]
    assert lines == entries
    assert sb.access_token() not in log_path.read_text(encoding="utf-8")
    sb.clear_log()
    assert sb.request_log == []


def test_billing_once_per_app_per_utc_day(sandbox_factory: SandboxFactory) -> None:
    clock = ManualClock(start=PINNED_START)  # 14:13:20 UTC, far from midnight
    sb = sandbox_factory(clock=clock, events=600, rate_limit=10_000)
    first = get(sb, "/2/dm_events", max_results=10).json()
    assert sb.billed_events == 10
    get(sb, "/2/dm_events", max_results=10)
    assert sb.billed_events == 10
    assert sb.request_log[-1]["billed_events"] == 0
    get(sb, "/2/dm_events", max_results=15)  # five new ones
    assert sb.request_log[-1]["billed_events"] == 5
    get(sb, f"/2/dm_events/{first['data'][0]['id']}")  # lookups bill too, once
    assert sb.request_log[-1]["billed_events"] == 0
    # Another member reading the same event the same day: X tracks usage per app, billed once.
    event_id = first["data"][0]["id"]
    stored = sb.dataset.event(int(event_id))
    assert stored is not None
    conversation = stored["dm_conversation_id"]
    members = sb.dataset.conversation_members(conversation) or frozenset()
    member = min(members - {sb.account.id}, key=int)
    get(sb, f"/2/dm_events/{event_id}", sb.access_token(member))
    assert sb.request_log[-1]["status"] == 200
    assert sb.request_log[-1]["billed_events"] == 0
    clock.advance(86_400)  # the next UTC day
    get(sb, "/2/dm_events", max_results=10)
    assert sb.request_log[-1]["billed_events"] == 10
    assert sb.billed_events == 10 + 5 + 10
    get(sb, "/2/users/me")
    assert sb.request_log[-1]["billed_events"] == 0
    sb.reset_billing()
    assert sb.billed_events == 0


# -- the facade ------------------------------------------------------------------------------


def test_facade(sandbox: Sandbox) -> None:
    assert isinstance(sandbox.clock, ManualClock)
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", sandbox.base_url)
    assert sandbox.account is sandbox.users[0] is sandbox.dataset.users[0]
    assert sandbox.access_token() == sandbox.auth.demo_access_token(sandbox.account.id)
    empty = sandbox.empty_user_id()
    assert sandbox.visible_events(empty) == []
    events = sandbox.visible_events(window_days=None)
    assert len(events) > len(sandbox.visible_events())
    assert all(set(e) >= {"id", "event_type", "dm_conversation_id", "created_at"} for e in events)
    added = sandbox.add_events(2, text="hello")
    assert [e["text"] for e in added] == ["hello", "hello"]
    assert sandbox.visible_events()[:2] == list(reversed(added))


def test_stop_is_quick_and_closes_the_port(sandbox_factory: SandboxFactory) -> None:
    sb = sandbox_factory(events=300)
    session = requests.Session()  # keeps an idle keep-alive connection open
    assert session.get(
        sb.base_url + "/2/users/me",
        headers={"Authorization": f"Bearer {sb.access_token()}"},
        timeout=5,
    ).ok
    started = time.monotonic()
    sb.stop()
    assert time.monotonic() - started < 1.0
    with pytest.raises(requests.ConnectionError):
        session.get(sb.base_url + "/2/users/me", timeout=2)
    with pytest.raises(RuntimeError):
        Sandbox().base_url  # noqa: B018


def test_events_file_round_trip(sandbox_factory: SandboxFactory, tmp_path: Any) -> None:
    clock = pinned_clock()
    source = sandbox_factory(clock=clock, events=400, users=10, conversations=20)
    path = tmp_path / "inbox.json"
    path.write_text(json.dumps(source.dataset.to_json()), encoding="utf-8")
    loaded = sandbox_factory(clock=clock, events_file=str(path), rate_limit=10_000)
    assert loaded.account == source.account
    expected = [e["id"] for e in source.visible_events()]
    walked = [e["id"] for p in walk(loaded, "/2/dm_events") for e in p.get("data", [])]
    assert walked == expected


def test_now_ms_anchors_the_history(sandbox_factory: SandboxFactory) -> None:
    anchor_ms = int(PINNED_START * 1000) - 5 * 86_400_000  # history ends five days ago
    sb = sandbox_factory(clock=pinned_clock(), events=600, now_ms=anchor_ms)
    events = sb.visible_events(window_days=None)
    newest = max(events, key=lambda e: int(e["id"]))["created_at"]
    anchor = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(anchor_ms / 1000))
    assert newest <= anchor + ".999Z"


def test_parallel_clients_get_consistent_answers(small: Sandbox) -> None:
    from concurrent.futures import ThreadPoolExecutor

    expected = [e["id"] for e in small.visible_events()]

    def full_walk(_: int) -> list[str]:
        return [e["id"] for p in walk(small, "/2/dm_events", max_results=25) for e in p["data"]]

    with ThreadPoolExecutor(max_workers=6) as pool:
        walks = list(pool.map(full_walk, range(6)))
    assert all(w == expected for w in walks)
    pages = -(-len(expected) // 25)
    assert len(small.request_log) == 6 * pages
    assert small.billed_events == len(expected)  # one user, one day: billed once
