"""Options for the tap's next issues: tokens that expire, X's timestamps, other orders."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from sandbox_helpers import OpenAPI, example, get, pinned_clock, walk
from tap_x_dm_sandbox.cli import build_parser, config_from_args
from tap_x_dm_sandbox.data import iso_ms, parse_iso_ms, snowflake_ms
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
    args = build_parser().parse_args(["--pagination-token-ttl", "90"])
    assert config_from_args(args).pagination_token_ttl == 90.0
    assert config_from_args(build_parser().parse_args([])).pagination_token_ttl is None
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--pagination-token-ttl", "-1"])


# -- created_at_precision and created_at_skew_seconds ------------------------------------


def _ms(created_at: str) -> int:
    return parse_iso_ms(created_at)


def test_created_at_is_x_whole_seconds_by_default(sandbox_factory: SandboxFactory) -> None:
    sb = sandbox_factory(clock=pinned_clock(), **SMALL)
    events = sb.visible_events(window_days=None)
    assert all(e["created_at"].endswith(".000Z") for e in events)
    offsets = [_ms(e["created_at"]) - snowflake_ms(int(e["id"])) for e in events]
    assert all(-1000 <= offset <= 1000 for offset in offsets)  # up to a second off the id
    assert min(offsets) < -500 and max(offsets) > 500
    again = sandbox_factory(clock=pinned_clock(), **SMALL)  # seeded: the same each time
    assert [e["created_at"] for e in again.visible_events(window_days=None)] == [
        e["created_at"] for e in events
    ]


def test_created_at_is_the_ids_millisecond_on_request(sandbox_factory: SandboxFactory) -> None:
    options = {"created_at_precision": "ms", "created_at_skew_seconds": 0.0}
    sb = sandbox_factory(clock=pinned_clock(), **SMALL, **options)
    events = sb.visible_events(window_days=None)
    assert all(e["created_at"] == iso_ms(snowflake_ms(int(e["id"]))) for e in events)
    assert any(not e["created_at"].endswith(".000Z") for e in events)


def test_whole_seconds_and_a_skew_as_x_sends_them(
    sandbox_factory: SandboxFactory, openapi: OpenAPI
) -> None:
    options = {"created_at_precision": "s", "created_at_skew_seconds": 2.0}
    sb = sandbox_factory(clock=pinned_clock(), **SMALL, **options)
    events = sb.visible_events(window_days=None)
    assert all(e["created_at"].endswith(".000Z") for e in events)
    offsets = [_ms(e["created_at"]) - snowflake_ms(int(e["id"])) for e in events]
    assert all(-2500 <= offset <= 2500 for offset in offsets)
    assert min(offsets) < -1000 and max(offsets) > 1000  # skews of both signs, up to 2 s
    # Events less than a second apart by id can carry inverted created_at (ids: newest first).
    inverted = [
        (a, b)
        for a, b in itertools.pairwise(events)
        if snowflake_ms(int(a["id"])) - snowflake_ms(int(b["id"])) < 1000
        and _ms(a["created_at"]) < _ms(b["created_at"])
    ]
    assert inverted
    # Deterministic, and the API says the same as the oracle.
    again = sandbox_factory(clock=pinned_clock(), **SMALL, **options)
    assert [e["created_at"] for e in again.visible_events(window_days=None)] == [
        e["created_at"] for e in events
    ]
    pages = walk(sb, "/2/dm_events", max_results=100, **{"dm_event.fields": "created_at"})
    api = {e["id"]: e["created_at"] for p in pages for e in p.get("data", [])}
    assert api == {e["id"]: e["created_at"] for e in sb.visible_events()}
    for page in pages:
        openapi.validate(page, "Get2DmEventsResponse")
    one = events[0]
    lookup = get(sb, f"/2/dm_events/{one['id']}", **{"dm_event.fields": "created_at"}).json()
    assert lookup["data"]["created_at"] == one["created_at"]


def test_added_events_follow_the_same_rule(sandbox_factory: SandboxFactory) -> None:
    sb = sandbox_factory(clock=pinned_clock(), created_at_precision="s", **SMALL)
    added = sb.add_events(3)
    assert all(e["created_at"].endswith(".000Z") for e in added)
    assert [e["created_at"] for e in sb.visible_events()[:3]] == [
        e["created_at"] for e in reversed(added)
    ]


def test_skew_without_rounding_keeps_milliseconds(sandbox_factory: SandboxFactory) -> None:
    sb = sandbox_factory(
        clock=pinned_clock(), created_at_precision="ms", created_at_skew_seconds=0.5, **SMALL
    )
    events = sb.visible_events(window_days=None)
    offsets = [_ms(e["created_at"]) - snowflake_ms(int(e["id"])) for e in events]
    assert all(-500 <= offset <= 500 for offset in offsets)
    assert len(set(offsets)) > 50


def test_bad_created_at_options_are_refused(sandbox_factory: SandboxFactory) -> None:
    with pytest.raises(ValueError, match="created_at_precision"):
        sandbox_factory(created_at_precision="us", **SMALL)
    with pytest.raises(ValueError, match="created_at_skew_seconds"):
        sandbox_factory(created_at_skew_seconds=-1.0, **SMALL)


# -- order_by ----------------------------------------------------------------------------

X_TIMES = {"created_at_precision": "s", "created_at_skew_seconds": 2.0}
#: Busy enough that events share seconds (and some a millisecond).
DENSE = {"users": 12, "conversations": 30, "events": 3000, "days": 1, "rate_limit": 10_000}


def _walk_ids(sb: Any, path: str = "/2/dm_events", **params: Any) -> list[str]:
    pages = walk(sb, path, **{"dm_event.fields": "created_at", **params})
    return [e["id"] for p in pages for e in p.get("data", [])]


def test_order_by_id_is_the_default(sandbox_factory: SandboxFactory) -> None:
    sb = sandbox_factory(clock=pinned_clock(), **SMALL, **X_TIMES)
    ids = _walk_ids(sb, max_results=37)
    assert ids == sorted(ids, key=int, reverse=True)


@pytest.mark.parametrize("offset", [False, True], ids=["cursor", "offset"])
def test_order_by_created_at_pages_newest_created_at_first(
    sandbox_factory: SandboxFactory, offset: bool
) -> None:
    sb = sandbox_factory(
        clock=pinned_clock(), order_by="created_at", offset_pagination=offset, **DENSE, **X_TIMES
    )
    expected = sb.visible_events()
    stamps = [_ms(e["created_at"]) for e in expected]
    assert stamps == sorted(stamps, reverse=True)
    ids = [e["id"] for e in expected]
    assert ids != sorted(ids, key=int, reverse=True)  # the two orders differ here
    # Within one created_at second the order is a shuffle, not the id order.
    by_second: dict[int, list[int]] = {}
    for event in expected:
        by_second.setdefault(_ms(event["created_at"]), []).append(int(event["id"]))
    groups = [g for g in by_second.values() if len(g) > 1]
    assert groups and any(g != sorted(g, reverse=True) for g in groups)
    for size in (7, 100):
        assert _walk_ids(sb, max_results=size) == ids
    # Same seed, same order.
    again = sandbox_factory(clock=pinned_clock(), order_by="created_at", **DENSE, **X_TIMES)
    assert [e["id"] for e in again.visible_events()] == ids


def test_order_by_created_at_in_a_conversation_and_backwards(
    sandbox_factory: SandboxFactory,
) -> None:
    sb = sandbox_factory(
        clock=pinned_clock(), order_by="created_at", meta_only_last_page=True, **SMALL, **X_TIMES
    )
    conv = max(
        sb.dataset.conversations_of(sb.account.id),
        key=lambda c: len(sb.visible_events(conversation_id=c)),
    )
    expected = [e["id"] for e in sb.visible_events(conversation_id=conv)]
    path = f"/2/dm_conversations/{conv}/dm_events"
    assert _walk_ids(sb, path, max_results=3) == expected
    # previous_token walks back over the same order.
    page1 = get(sb, path, max_results=3).json()
    page2 = get(sb, path, max_results=3, pagination_token=page1["meta"]["next_token"]).json()
    back = get(sb, path, max_results=3, pagination_token=page2["meta"]["previous_token"]).json()
    assert [e["id"] for e in back["data"]] == [e["id"] for e in page1["data"]]
    assert "previous_token" not in back["meta"]
    # The meta-only page after an exactly full last page points back at that page.
    if len(expected) % 3 == 0:
        pages = walk(sb, path, max_results=3)
        last = pages[-1]
        assert last["meta"] == {"result_count": 0, "previous_token": last["meta"]["previous_token"]}
        tail = get(sb, path, max_results=3, pagination_token=last["meta"]["previous_token"])
        assert [e["id"] for e in tail.json()["data"]] == expected[-3:]


def test_order_by_created_at_and_arrivals_between_pages(sandbox_factory: SandboxFactory) -> None:
    sb = sandbox_factory(clock=pinned_clock(), order_by="created_at", **DENSE, **X_TIMES)
    before = [e["id"] for e in sb.visible_events()]
    first = get(sb, "/2/dm_events", max_results=20).json()
    sb.add_events(5)
    rest = walk(sb, "/2/dm_events", max_results=20, pagination_token=first["meta"]["next_token"])
    walked = [e["id"] for e in first["data"]] + [e["id"] for p in rest for e in p.get("data", [])]
    assert walked == before  # a cursor keeps its place while new events arrive above it


def test_order_by_is_checked(sandbox_factory: SandboxFactory) -> None:
    with pytest.raises(ValueError, match="order_by"):
        sandbox_factory(order_by="sender", **SMALL)


# -- page_number_pagination -------------------------------------------------------------


def test_page_number_tokens_with_a_constant_page_size_walk_everything(
    sandbox_factory: SandboxFactory,
) -> None:
    sb = sandbox_factory(clock=pinned_clock(), page_number_pagination=True, **SMALL)
    expected = [e["id"] for e in sb.visible_events()]
    assert _walk_ids(sb, max_results=9) == expected
    first = get(sb, "/2/dm_events", max_results=9).json()
    assert "previous_token" not in first["meta"]


def test_a_small_page_then_a_large_one_silently_skips_events(
    sandbox_factory: SandboxFactory,
) -> None:
    sb = sandbox_factory(clock=pinned_clock(), page_number_pagination=True, **SMALL)
    expected = [e["id"] for e in sb.visible_events()]
    first = get(sb, "/2/dm_events", max_results=5).json()
    assert [e["id"] for e in first["data"]] == expected[:5]
    # The token says "page 1"; with max_results=100 that is events 100..199, not 5..104.
    second = get(
        sb, "/2/dm_events", max_results=100, pagination_token=first["meta"]["next_token"]
    ).json()
    assert len(expected) > 100
    assert [e["id"] for e in second["data"]] == expected[100:200]
    assert not set(expected[5:100]) & {e["id"] for e in second["data"]}  # 95 never seen


@pytest.mark.parametrize("order_by", ["id", "created_at"])
def test_page_numbers_follow_the_order_and_the_end(
    sandbox_factory: SandboxFactory, order_by: str
) -> None:
    sb = sandbox_factory(
        clock=pinned_clock(), page_number_pagination=True, order_by=order_by, **SMALL, **X_TIMES
    )
    expected = [e["id"] for e in sb.visible_events()]
    pages = walk(sb, "/2/dm_events", max_results=len(expected) // 3 + 1)
    assert len(pages) == 3
    assert [e["id"] for p in pages for e in p.get("data", [])] == expected
    assert "next_token" not in pages[-1]["meta"]


def test_page_number_wins_over_offset(sandbox_factory: SandboxFactory) -> None:
    sb = sandbox_factory(
        clock=pinned_clock(), page_number_pagination=True, offset_pagination=True, **SMALL
    )
    expected = [e["id"] for e in sb.visible_events()]
    first = get(sb, "/2/dm_events", max_results=3).json()
    second = get(
        sb, "/2/dm_events", max_results=10, pagination_token=first["meta"]["next_token"]
    ).json()
    assert [e["id"] for e in second["data"]] == expected[10:20]


# -- billing as X bills ------------------------------------------------------------------

EXPANDED = {
    "dm_event.fields": "attachments,referenced_tweets,sender_id,participant_ids",
    "expansions": "attachments.media_keys,participant_ids,referenced_tweets.id,sender_id",
}


def test_every_resource_returned_is_billed_once_per_app_and_day(
    sandbox_factory: SandboxFactory,
) -> None:
    clock = pinned_clock()
    sb = sandbox_factory(clock=clock, **SMALL)
    pages = walk(sb, "/2/dm_events", max_results=100, **EXPANDED)
    events = [e["id"] for p in pages for e in p.get("data", [])]
    kinds = {
        "users": {u["id"] for p in pages for u in p.get("includes", {}).get("users", [])},
        "tweets": {t["id"] for p in pages for t in p.get("includes", {}).get("tweets", [])},
        "media": {m["media_key"] for p in pages for m in p.get("includes", {}).get("media", [])},
    }
    assert kinds["users"] and kinds["tweets"] and kinds["media"]
    expected = {"dm_events": len(events), **{k: len(v) for k, v in kinds.items()}}
    assert sb.billed == expected
    assert sb.billed_events == len(events)
    # Media are counted but have had no price since 2026-06-18.
    usd = (10 * expected["dm_events"] + 10 * expected["users"] + 5 * expected["tweets"]) / 1000
    assert sb.billed_usd == pytest.approx(usd)
    # The log says the same, request by request.
    logged = [e for e in sb.request_log if e["path"] == "/2/dm_events"]
    for kind in expected:
        assert sum(e["billed"][kind] for e in logged) == expected[kind]
    assert sum(e["billed_usd"] for e in logged) == pytest.approx(usd)
    # The same resources again the same UTC day: free; the next day: billed again.
    walk(sb, "/2/dm_events", max_results=100, **EXPANDED)
    assert sb.billed == expected
    clock.advance(86_400)
    walk(sb, "/2/dm_events", max_results=100, **EXPANDED)
    assert sb.billed["users"] == 2 * expected["users"]
    sb.reset_billing()
    assert sb.billed == {"dm_events": 0, "users": 0, "tweets": 0, "media": 0}
    assert sb.billed_usd == 0


def test_users_me_and_the_event_lookup_are_billed(sandbox_factory: SandboxFactory) -> None:
    sb = sandbox_factory(clock=pinned_clock(), **SMALL)
    get(sb, "/2/users/me")
    assert sb.billed == {"dm_events": 0, "users": 1, "tweets": 0, "media": 0}
    event = sb.visible_events()[0]
    get(sb, f"/2/dm_events/{event['id']}", **{"expansions": "sender_id"})
    assert sb.billed["dm_events"] == 1
    assert sb.billed["users"] == len({sb.account.id, event.get("sender_id", sb.account.id)})
    assert sb.request_log[-1]["billed_usd"] == pytest.approx(
        0.01 + 0.01 * (event.get("sender_id", sb.account.id) != sb.account.id)
    )
