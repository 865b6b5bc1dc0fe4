"""Rate limits and usage caps, through HTTP with a ManualClock (no real waits)."""

from __future__ import annotations

import math

import pytest

from sandbox_helpers import RATE_HEADERS, OpenAPI, example, get, pinned_clock, rate
from tap_x_dm_sandbox import Sandbox
from tap_x_dm_sandbox.clock import ManualClock
from tap_x_dm_sandbox.fixtures import SandboxFactory
from tap_x_dm_sandbox.limits import RateLimiter


def list_paths(sb: Sandbox) -> list[str]:
    account = sb.account.id
    convs = sb.dataset.conversations_of(account)
    group = next(c for c in convs if "-" not in c)
    one_to_one = next(c for c in convs if "-" in c)
    other = next(u for u in one_to_one.split("-") if u != account)
    return [
        "/2/dm_events",
        f"/2/dm_conversations/{group}/dm_events",
        f"/2/dm_conversations/with/{other}/dm_events",
    ]


@pytest.fixture
def clock() -> ManualClock:
    return pinned_clock()


# -- the limiter itself ----------------------------------------------------------------------


def test_limiter_window_opens_at_first_request(clock: ManualClock) -> None:
    limiter = RateLimiter(clock=clock, limit=3, window=10.0)
    clock.advance(0.5)
    start = clock.time()
    assert limiter.peek("u", "dm_events").remaining == 3  # peeking spends nothing
    decisions = [limiter.hit("u", "dm_events") for _ in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert [d.remaining for d in decisions] == [2, 1, 0, 0]
    assert {d.reset for d in decisions} == {int(start + 10.0 + 0.5)}  # ceil(start + window)
    assert limiter.hit("v", "dm_events").allowed  # another user
    assert limiter.hit("u", "users_me").allowed  # another endpoint
    clock.advance(9.25)
    assert not limiter.hit("u", "dm_events").allowed
    clock.advance(0.75)  # start + window: a new window
    fresh = limiter.hit("u", "dm_events")
    assert fresh.allowed
    assert fresh.remaining == 2
    assert fresh.reset == math.ceil(clock.time() + 10.0)


def test_limiter_shared_budget(clock: ManualClock) -> None:
    limiter = RateLimiter(clock=clock, limit=2, window=60.0, shared=True)
    assert limiter.hit("u", "dm_events").allowed
    assert limiter.hit("u", "dm_conversation_events").allowed
    assert not limiter.hit("u", "dm_conversation_with_events").allowed
    assert limiter.hit("u", "users_me").allowed
    assert limiter.hit("u", "dm_event").allowed
    limiter.configure(2, 60.0, shared=False)
    assert limiter.hit("u", "dm_conversation_with_events").allowed
    with pytest.raises(ValueError, match="limit"):
        limiter.configure(0, 60.0)


# -- rate limits through HTTP ----------------------------------------------------------------


def test_fifteen_then_429_then_a_new_window(
    sandbox_factory: SandboxFactory, clock: ManualClock
) -> None:
    sb = sandbox_factory(clock=clock, events=300)  # X's default: 15 per 900 s
    started = clock.time()
    answers = [get(sb, "/2/dm_events", max_results=1) for _ in range(15)]
    assert [a.status_code for a in answers] == [200] * 15
    assert [rate(a)[1] for a in answers] == list(range(14, -1, -1))
    assert {rate(a)[0] for a in answers} == {15}
    assert {rate(a)[2] for a in answers} == {int(started) + 900}
    refused = get(sb, "/2/dm_events", max_results=1)
    assert refused.status_code == 429
    assert refused.json() == example("errors/429_rate_limit.v2_problem.observed.json")
    assert rate(refused) == (15, 0, int(started) + 900)
    assert sb.request_log[-1]["status"] == 429
    assert sb.request_log[-1]["billed_events"] == 0
    clock.advance(900)
    again = get(sb, "/2/dm_events", max_results=1)
    assert again.status_code == 200
    assert rate(again) == (15, 14, int(clock.time()) + 900)


def test_tiny_window_and_reset_header(sandbox_factory: SandboxFactory, clock: ManualClock) -> None:
    sb = sandbox_factory(clock=clock, events=300, rate_limit=2, rate_window=5.0)
    assert get(sb, "/2/users/me").status_code == 200
    clock.advance(1.25)
    assert get(sb, "/2/users/me").status_code == 200
    refused = get(sb, "/2/users/me")
    assert refused.status_code == 429
    reset = rate(refused)[2]
    clock.advance(reset - clock.time())  # sleep until the advertised reset
    assert get(sb, "/2/users/me").status_code == 200


def test_per_endpoint_budgets(sandbox_factory: SandboxFactory, clock: ManualClock) -> None:
    sb = sandbox_factory(clock=clock, events=600, rate_limit=3, rate_window=60.0)
    first, group, participant = list_paths(sb)
    for _ in range(3):
        assert get(sb, first, max_results=1).status_code == 200
    assert get(sb, first, max_results=1).status_code == 429
    for path in (group, participant):
        response = get(sb, path, max_results=1)
        assert response.status_code == 200
        assert rate(response)[1] == 2
    event_id = sb.visible_events()[0]["id"]
    assert rate(get(sb, f"/2/dm_events/{event_id}"))[1] == 2
    assert rate(get(sb, "/2/users/me"))[1] == 2
    # Another user has budgets of their own.
    member = next(
        u for u in sb.dataset.conversation_members(group.split("/")[3]) or () if u != sb.account.id
    )
    assert get(sb, first, sb.access_token(member), max_results=1).status_code == 200


def test_shared_budget(sandbox_factory: SandboxFactory, clock: ManualClock) -> None:
    sb = sandbox_factory(clock=clock, events=600, rate_limit=3, shared_budget=True)
    paths = list_paths(sb)
    answers = [get(sb, path, max_results=1) for path in paths]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert [rate(a)[1] for a in answers] == [2, 1, 0]
    assert all(get(sb, path, max_results=1).status_code == 429 for path in paths)
    me = get(sb, "/2/users/me")  # users/me keeps its own budget
    assert me.status_code == 200
    assert rate(me)[1] == 2
    sb.set_rate_limit(5, 60.0, shared=False)
    assert get(sb, paths[0], max_results=1).status_code == 200
    assert rate(get(sb, paths[1], max_results=1))[:2] == (5, 4)  # its own budget again


def test_rate_headers_on_every_authenticated_answer(
    sandbox_factory: SandboxFactory, clock: ManualClock
) -> None:
    sb = sandbox_factory(clock=clock, events=300, rate_limit=100)
    scoped = sb.auth.issue_tokens(sb.account.id, scopes=["tweet.read", "users.read"])
    answers = {
        "200": get(sb, "/2/dm_events", max_results=1),
        "400": get(sb, "/2/dm_events", max_results=0),
        "403": get(sb, "/2/dm_events", scoped["access_token"]),
        "lookup-miss": get(sb, "/2/dm_events/1"),
    }
    for name, response in answers.items():
        assert all(h in response.headers for h in RATE_HEADERS), name
    assert rate(answers["400"])[1] == 98  # a refused parameter still spends a request
    for response in (get(sb, "/2/dm_events", ""), get(sb, "/2/nope")):
        assert not any(h in response.headers for h in RATE_HEADERS)


def test_usage_capped_and_credits_depleted(
    sandbox_factory: SandboxFactory, clock: ManualClock, openapi: OpenAPI
) -> None:
    sb = sandbox_factory(clock=clock, events=300, usage_capped=True)
    capped = get(sb, "/2/dm_events")
    assert capped.status_code == 429
    assert capped.json() == example("errors/429_usage_capped.observed.json")
    openapi.validate(capped.json(), "UsageCapExceededProblem")
    assert rate(capped)[1] == 15  # refused before the rate limiter, so nothing is spent
    sb.usage_capped = False
    sb.credits_depleted = True
    depleted = get(sb, "/2/users/me")
    assert depleted.status_code == 402
    assert depleted.json() == example("errors/402_credits_depleted.observed.json")
    openapi.validate(depleted.json(), "Problem")
    assert all(h in depleted.headers for h in RATE_HEADERS)
    sb.credits_depleted = False
    assert get(sb, "/2/dm_events").status_code == 200
    assert sb.billed_events == sb.request_log[-1]["billed_events"] > 0
    flagged = sandbox_factory(clock=clock, events=300, credits_depleted=True)
    assert get(flagged, "/2/dm_events").status_code == 402
    assert flagged.billed_events == 0


def test_client_not_enrolled_and_a_revoked_grant(
    sandbox_factory: SandboxFactory, clock: ManualClock, openapi: OpenAPI
) -> None:
    sb = sandbox_factory(clock=clock, events=300, client_not_enrolled=True)
    forbidden = get(sb, "/2/dm_events")
    assert forbidden.status_code == 403
    assert forbidden.json() == example("errors/403_client_forbidden.docs_example.json")
    openapi.validate(forbidden.json(), "ClientForbiddenProblem")
    assert sb.billed_events == 0
    sb.client_not_enrolled = False
    token = sb.access_token()
    assert get(sb, "/2/users/me", token).status_code == 200
    other = sb.users[1].id
    sb.revoke_tokens()
    assert get(sb, "/2/users/me", token).status_code == 401
    assert get(sb, "/2/users/me", sb.access_token(other)).status_code == 200


# -- faults ----------------------------------------------------------------------------------
