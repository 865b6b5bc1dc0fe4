"""Options for the tap's next issues: tokens that expire, X's timestamps, other orders."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox_helpers import OpenAPI, example, get, pinned_clock, walk
from tap_x_dm_sandbox.fixtures import SandboxFactory

SMALL = {"users": 12, "conversations": 30, "events": 400, "rate_limit": 10_000}


def invalid_token_body(token: str) -> dict[str, Any]:
    """X's 400 for a pagination token it does not accept (REFERENCE.md 3.3)."""
    return {
        "errors": [
            {
                "parameters": {"pagination_token": [token]},
                "message": f"The `pagination_token` query parameter value [{token}] is not valid",
            }
        ],
        "title": "Invalid Request",
        "detail": "One or more parameters to your request was invalid.",
        "type": "https://api.twitter.com/2/problems/invalid-request",
    }


# -- pagination_token_ttl and expire_pagination_tokens() ------------------------------------


def test_tokens_never_expire_by_default(sandbox_factory: SandboxFactory) -> None:
    clock = pinned_clock()
    sb = sandbox_factory(clock=clock, **SMALL)
    token = get(sb, "/2/dm_events", max_results=5).json()["meta"]["next_token"]
    assert len(token) == 24  # today's tokens, unchanged
    clock.advance(86_400 * 365)
    assert get(sb, "/2/dm_events", max_results=5, pagination_token=token).status_code == 200


def test_a_token_older_than_the_ttl_gets_x_400(
    sandbox_factory: SandboxFactory, openapi: OpenAPI
) -> None:
    clock = pinned_clock()
    sb = sandbox_factory(clock=clock, pagination_token_ttl=60, **SMALL)
    first = get(sb, "/2/dm_events", max_results=5).json()
    token = first["meta"]["next_token"]
    clock.advance(60)
    fresh = get(sb, "/2/dm_events", max_results=5, pagination_token=token)
    assert fresh.status_code == 200  # exactly at the TTL: still valid
    clock.advance(0.5)
    expired = get(sb, "/2/dm_events", max_results=5, pagination_token=token)
    assert expired.status_code == 400
    assert expired.json() == invalid_token_body(token)
    assert expired.headers["Content-Type"].startswith("application/problem+json")
    assert "x-rate-limit-remaining" in expired.headers
    openapi.validate(expired.json(), "InvalidRequestProblem")
    shape = example("errors/400_invalid_request.observed_on_a_tweets_endpoint.json")
    assert set(expired.json()) == set(shape)
    # The next token of a fresh page is valid again, and a whole walk still completes.
    pages = walk(sb, "/2/dm_events", max_results=50)
    walked = [e["id"] for p in pages for e in p.get("data", [])]
    assert walked == [e["id"] for e in sb.visible_events()]


def test_ttl_applies_to_previous_tokens_and_conversation_endpoints(
    sandbox_factory: SandboxFactory,
) -> None:
    clock = pinned_clock()
    sb = sandbox_factory(clock=clock, pagination_token_ttl=10, **SMALL)
    conv = sb.dataset.conversations_of(sb.account.id)[0]
    path = f"/2/dm_conversations/{conv}/dm_events"
    page1 = get(sb, "/2/dm_events", max_results=5).json()
    page2 = get(sb, "/2/dm_events", max_results=5, pagination_token=page1["meta"]["next_token"])
    previous = page2.json()["meta"]["previous_token"]
    conv_page = get(sb, path, max_results=1).json()
    clock.advance(11)
    assert get(sb, "/2/dm_events", pagination_token=previous).status_code == 400
    if "next_token" in conv_page["meta"]:
        token = conv_page["meta"]["next_token"]
        assert get(sb, path, pagination_token=token).json() == invalid_token_body(token)


def test_expire_pagination_tokens_invalidates_every_token_issued_so_far(
    sandbox_factory: SandboxFactory,
) -> None:
    sb = sandbox_factory(clock=pinned_clock(), **SMALL)
    first = get(sb, "/2/dm_events", max_results=5).json()
    old = first["meta"]["next_token"]
    second = get(sb, "/2/dm_events", max_results=5, pagination_token=old).json()
    old_next, old_previous = second["meta"]["next_token"], second["meta"]["previous_token"]
    sb.expire_pagination_tokens()
    for token in (old, old_next, old_previous):
        response = get(sb, "/2/dm_events", max_results=5, pagination_token=token)
        assert response.status_code == 400
        assert response.json() == invalid_token_body(token)
    # Tokens issued afterwards work, even for the same position as an expired one.
    again = get(sb, "/2/dm_events", max_results=5).json()["meta"]["next_token"]
    assert again != old
    page = get(sb, "/2/dm_events", max_results=5, pagination_token=again)
    assert page.status_code == 200
    assert page.json()["data"] == second["data"]


def test_pagination_token_ttl_is_a_cli_flag() -> None:
    from tap_x_dm_sandbox.cli import build_parser, config_from_args

    args = build_parser().parse_args(["--pagination-token-ttl", "90"])
    assert config_from_args(args).pagination_token_ttl == 90.0
    assert config_from_args(build_parser().parse_args([])).pagination_token_ttl is None
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--pagination-token-ttl", "-1"])
