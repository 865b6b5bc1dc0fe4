"""Fault injection, through HTTP with a ManualClock (no real waits)."""

from __future__ import annotations

import json
import time

import pytest
import requests

from sandbox_helpers import RATE_HEADERS, example, get, pinned_clock, rate
from tap_x_dm_sandbox import Sandbox
from tap_x_dm_sandbox.clock import ManualClock
from tap_x_dm_sandbox.faults import EveryK, FaultInjector
from tap_x_dm_sandbox.fixtures import SandboxFactory


@pytest.fixture
def clock() -> ManualClock:
    return pinned_clock()


@pytest.fixture
def sb(sandbox_factory: SandboxFactory, clock: ManualClock) -> Sandbox:
    return sandbox_factory(clock=clock, events=300, rate_limit=100)


def test_server_error(sb: Sandbox) -> None:
    sb.faults.inject("server_error", count=2)
    assert sb.faults.pending == [{"kind": "server_error", "remaining": 2, "path_prefix": None}]
    first = get(sb, "/2/dm_events")
    assert first.status_code == 503
    assert first.json() == {
        "title": "Service Unavailable",
        "detail": "Service Unavailable",
        "type": "about:blank",
        "status": 503,
    }
    assert not any(h in first.headers for h in RATE_HEADERS)
    assert get(sb, "/2/users/me").status_code == 503
    ok = get(sb, "/2/dm_events")
    assert ok.status_code == 200
    assert rate(ok)[1] == 99  # the faulted requests never reached the API
    sb.faults.inject("server_error", status=500)
    assert get(sb, "/2/dm_events").status_code == 500
    assert [e["status"] for e in sb.request_log] == [503, 503, 200, 500]
    assert [e["fault"] for e in sb.request_log] == [
        "server_error",
        "server_error",
        None,
        "server_error",
    ]
    assert sb.request_log[0]["user"] is None
    assert sb.request_log[0]["billed_events"] == 0


def test_path_prefix(sb: Sandbox) -> None:
    sb.faults.inject("server_error", path_prefix="/2/dm_events")
    assert get(sb, "/2/users/me").status_code == 200
    assert get(sb, "/2/dm_events").status_code == 503
    assert sb.faults.pending == []


def test_rate_limit_without_headers(sb: Sandbox) -> None:
    sb.faults.inject("rate_limit_no_headers")
    response = get(sb, "/2/dm_events")
    assert response.status_code == 429
    assert response.json() == example("errors/429_rate_limit.v2_problem.observed.json")
    assert not any(h in response.headers for h in RATE_HEADERS)
    assert all(h in get(sb, "/2/dm_events").headers for h in RATE_HEADERS)


def test_drop_connection(sb: Sandbox) -> None:
    sb.faults.inject("drop_connection")
    with pytest.raises(requests.ConnectionError):
        get(sb, "/2/dm_events", timeout=2)
    assert sb.request_log[-1]["status"] == "dropped"
    assert sb.request_log[-1]["fault"] == "drop_connection"
    assert get(sb, "/2/dm_events").status_code == 200


def test_drop_on_a_keep_alive_connection(sb: Sandbox) -> None:
    session = requests.Session()
    headers = {"Authorization": f"Bearer {sb.access_token()}"}
    assert session.get(sb.base_url + "/2/users/me", headers=headers, timeout=2).ok
    sb.faults.inject("drop_connection")
    with pytest.raises(requests.ConnectionError):
        session.get(sb.base_url + "/2/users/me", headers=headers, timeout=2)
    assert session.get(sb.base_url + "/2/users/me", headers=headers, timeout=2).ok


def test_slow(sb: Sandbox) -> None:
    sb.faults.inject("slow", seconds=0.3)
    with pytest.raises(requests.ReadTimeout):
        get(sb, "/2/dm_events", timeout=0.1)
    sb.faults.inject("slow", seconds=0.15)
    started = time.monotonic()
    response = get(sb, "/2/dm_events", timeout=5)
    assert response.status_code == 200
    assert time.monotonic() - started >= 0.15
    time.sleep(0.25)  # let the first (timed-out) answer finish before reading the log
    assert [e["fault"] for e in sb.request_log] == ["slow", "slow"]


def test_truncated_json(sb: Sandbox) -> None:
    sb.faults.inject("truncated_json")
    response = get(sb, "/2/dm_events")
    assert response.status_code == 200
    assert int(response.headers["Content-Length"]) == len(response.content)
    with pytest.raises(ValueError):  # requests' JSONDecodeError
        response.json()
    assert sb.request_log[-1]["billed_events"] > 0  # the API did answer
    sb.faults.inject("truncated_json", short_read=True, fraction=0.3)
    with pytest.raises(requests.RequestException):
        get(sb, "/2/dm_events").json()


def test_non_json_and_html_502(sb: Sandbox) -> None:
    sb.faults.inject("non_json")
    sb.faults.inject("html_502")
    plain = get(sb, "/2/dm_events")
    assert plain.status_code == 200
    assert plain.headers["Content-Type"] == "text/plain"
    with pytest.raises(ValueError):
        plain.json()
    page = get(sb, "/2/dm_events")
    assert page.status_code == 502
    assert page.headers["Content-Type"] == "text/html"
    assert "<title>502 Bad Gateway</title>" in page.text
    assert [e["status"] for e in sb.request_log] == [200, 502]


def test_token_drop_after_processing(sb: Sandbox) -> None:
    grant = sb.auth.issue_tokens(sb.account.id)
    url = sb.base_url + "/2/oauth2/token"
    form = {
        "grant_type": "refresh_token",
        "refresh_token": grant["refresh_token"],
        "client_id": sb.auth.public_client_id,
    }
    sb.faults.inject("server_error")  # API faults leave the token endpoint alone...
    sb.faults.inject("token_drop_after_processing")
    with pytest.raises(requests.ConnectionError):
        requests.post(url, data=form, timeout=2)
    # ...the grant was processed: the old refresh token is spent.
    retry = requests.post(url, data=form, timeout=2)
    assert retry.status_code == 400
    assert retry.json() == example("errors/oauth2_token_400_spent_refresh_token.observed.json")
    assert [e["status"] for e in sb.request_log] == ["dropped", 400]
    assert get(sb, "/2/users/me").status_code == 503
    assert json.dumps(sb.request_log).count(grant["refresh_token"]) == 0


def test_token_endpoint_faults_by_prefix(sb: Sandbox) -> None:
    sb.faults.inject("server_error", path_prefix="/2/oauth2/token")
    response = requests.post(sb.base_url + "/2/oauth2/token", data={}, timeout=2)
    assert response.status_code == 503


def test_every_k(sandbox_factory: SandboxFactory, clock: ManualClock) -> None:
    sb = sandbox_factory(clock=clock, events=300, rate_limit=100, fail_every=3, drop_every=4)

    def status() -> int | str:
        try:
            return get(sb, "/2/users/me", timeout=2).status_code
        except requests.ConnectionError:
            return "dropped"

    statuses = [status() for _ in range(8)]
    assert statuses == [200, 200, 503, "dropped", 200, 503, 200, "dropped"]
    assert [e["status"] for e in sb.request_log] == statuses


def test_every_k_other_kinds(sandbox_factory: SandboxFactory, clock: ManualClock) -> None:
    sb = sandbox_factory(
        clock=clock,
        events=300,
        rate_limit=100,
        html_502_every=2,
        non_json_every=3,
        rate_limit_no_headers_every=5,
        truncate_every=7,
        slow_every=1,
        slow_seconds=0.001,
    )
    codes = [get(sb, "/2/users/me").status_code for _ in range(7)]
    assert codes == [200, 502, 200, 502, 429, 502, 200]
    assert [e["fault"] for e in sb.request_log] == [
        "slow",
        "slow,html_502",
        "slow,non_json",
        "slow,html_502",
        "slow,rate_limit_no_headers",
        "slow,html_502",
        "slow,truncated_json",
    ]


def test_inject_validates(sb: Sandbox) -> None:
    with pytest.raises(ValueError, match="unknown fault kind"):
        sb.faults.inject("meteor")
    with pytest.raises(ValueError, match="takes no parameter"):
        sb.faults.inject("slow", secs=1)
    with pytest.raises(ValueError, match="5xx"):
        sb.faults.inject("server_error", status=404)
    with pytest.raises(ValueError, match="count"):
        sb.faults.inject("server_error", count=0)
    sb.faults.inject("html_502", count=3)
    sb.faults.clear()
    assert sb.faults.pending == []


def test_injector_unit() -> None:
    slept: list[float] = []
    injector = FaultInjector(EveryK(slow_every=2, slow_seconds=0.5), sleep=slept.append)
    injector.inject("non_json")
    first = injector.take("GET", "/2/dm_events")
    second = injector.take("GET", "/2/dm_events")
    assert [f.kind for f in first] == ["non_json"]
    assert [f.kind for f in second] == ["slow"]
    assert second[0].param("seconds") == 0.5
    assert injector.take("POST", "/2/oauth2/token") == []  # not counted as an API request
    assert [f.kind for f in injector.take("GET", "/2/users/me")] == []
