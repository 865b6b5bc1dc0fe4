"""X as it answers in December 2026 (issue 21).

Missing resources, suspended and protected accounts, client-forbidden, the Basic plan and
today's prices.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from sandbox_helpers import OpenAPI, example, get, pinned_clock, walk
from tap_x_dm_sandbox import ManualClock, Sandbox
from tap_x_dm_sandbox.fixtures import SandboxFactory

SMALL = {"events": 1500, "conversations": 60, "users": 20}
PROBLEMS = "https://api.twitter.com/2/problems/"


def _foreign_conversation(sb: Sandbox) -> str:
    account = sb.account.id
    return next(
        c
        for c in sb.dataset.conversation_ids()
        if account not in (sb.dataset.conversation_members(c) or ())
    )


def _linked_post(sb: Sandbox) -> tuple[dict[str, Any], dict[str, Any]]:
    """An event of the account's last 30 days linking a post that exists, and that post."""
    for event in sb.visible_events():
        for ref in event.get("referenced_tweets", []):
            post = sb.dataset.tweet(ref["id"])
            if post is not None and post.get("author_id") != sb.account.id:
                return event, post
    raise AssertionError("no linked post")


# -- missing resources -------------------------------------------------------------------------


def test_a_foreign_conversation_is_a_200_with_only_errors(
    sandbox_factory: SandboxFactory, openapi: OpenAPI
) -> None:
    sb = sandbox_factory(clock=pinned_clock(), rate_limit=10_000, **SMALL)
    foreign = _foreign_conversation(sb)
    response = get(sb, f"/2/dm_conversations/{foreign}/dm_events", max_results=5)
    assert response.status_code == 200
    assert response.json() == {
        "errors": [
            {
                "value": foreign,
                "detail": f"Could not find dm_conversation with id: [{foreign}].",
                "title": "Not Found Error",
                "resource_type": "dm_conversation",
                "parameter": "id",
                "resource_id": foreign,
                "type": PROBLEMS + "resource-not-found",
            }
        ]
    }
    openapi.validate(response.json(), "Get2DmConversationsIdDmEventsResponse")
    # A member of that conversation reads it as before.
    member = min(sb.dataset.conversation_members(foreign) or (), key=int)
    pages = walk(sb, f"/2/dm_conversations/{foreign}/dm_events", sb.access_token(member))
    assert [e["id"] for p in pages for e in p.get("data", [])] == [
        e["id"] for e in sb.visible_events(member, conversation_id=foreign)
    ]
    assert sb.request_log[0]["billed"]["dm_events"] == 0


@pytest.mark.parametrize(
    ("answer", "status", "body_keys"),
    [("empty", 200, ["meta"]), ("404", 404, None), ("errors", 200, ["errors"])],
)
def test_the_older_answers_stay_available(
    sandbox_factory: SandboxFactory, answer: str, status: int, body_keys: list[str] | None
) -> None:
    sb = sandbox_factory(clock=pinned_clock(), unknown_conversation=answer, **SMALL)
    response = get(sb, "/2/dm_conversations/with/42/dm_events")
    assert response.status_code == status
    if body_keys is not None:
        assert list(response.json()) == body_keys
    else:
        assert response.json()["type"] == PROBLEMS + "resource-not-found"


def test_a_bad_unknown_conversation_answer_is_refused(sandbox_factory: SandboxFactory) -> None:
    with pytest.raises(ValueError, match="unknown_conversation must be one of errors, empty, 404"):
        sandbox_factory(unknown_conversation="410", **SMALL)


# -- suspended and protected accounts ----------------------------------------------------------


def test_a_suspended_user_is_a_forbidden_partial_error(sandbox_factory: SandboxFactory) -> None:
    sb = sandbox_factory(clock=pinned_clock(), rate_limit=10_000, **SMALL)
    customer = sb.users[1].id
    sb.suspend_user(customer)
    body = get(sb, "/2/users", ids=f"{sb.account.id},{customer}").json()
    assert [u["id"] for u in body["data"]] == [sb.account.id]
    assert body["errors"] == [
        {
            "value": customer,
            "detail": f"User has been suspended: [{customer}].",
            "title": "Forbidden",
            "resource_type": "user",
            "parameter": "ids",
            "resource_id": customer,
            "type": PROBLEMS + "resource-not-found",
        }
    ]
    assert sb.billed["users"] == 1  # only the user returned


def test_expanded_suspended_senders_are_errors_in_the_includes_section(
    sandbox_factory: SandboxFactory,
) -> None:
    sb = sandbox_factory(clock=pinned_clock(), rate_limit=10_000, **SMALL)
    event = next(
        e for e in sb.visible_events() if e.get("sender_id", sb.account.id) != sb.account.id
    )
    sender = event["sender_id"]
    sb.suspend_user(sender)
    pages = walk(sb, "/2/dm_events", expansions="sender_id")
    users = {u["id"] for p in pages for u in p.get("includes", {}).get("users", [])}
    errors = [e for p in pages for e in p.get("errors", []) if e["resource_id"] == sender]
    assert sender not in users and errors
    assert all(
        (e["title"], e["parameter"], e["section"]) == ("Forbidden", "sender_id", "includes")
        for e in errors
    )
    assert sender in {e.get("sender_id") for p in pages for e in p["data"]}  # the id stays


def test_a_protected_accounts_post_is_an_authorization_error(
    sandbox_factory: SandboxFactory,
) -> None:
    sb = sandbox_factory(clock=pinned_clock(), rate_limit=10_000)
    event, post = _linked_post(sb)
    author = str(post["author_id"])
    sb.protect_user(author)
    body = get(sb, "/2/tweets", ids=post["id"]).json()
    assert "data" not in body
    assert body["errors"] == [
        {
            "value": post["id"],
            "detail": f"Sorry, you are not authorized to see the Tweet with ids: [{post['id']}].",
            "title": "Authorization Error",
            "resource_type": "tweet",
            "parameter": "ids",
            "resource_id": post["id"],
            "type": PROBLEMS + "not-authorized-for-resource",
        }
    ]
    expanded = get(sb, f"/2/dm_events/{event['id']}", expansions="referenced_tweets.id").json()
    refused = [e for e in expanded["errors"] if e["resource_id"] == post["id"]]
    assert [(e["title"], e["section"]) for e in refused] == [("Authorization Error", "includes")]
    assert post["id"] not in {t["id"] for t in expanded.get("includes", {}).get("tweets", [])}
    # The author sees their own post; a protected user's profile is still shown.
    mine = get(sb, "/2/tweets", sb.access_token(author), ids=post["id"]).json()
    assert [t["id"] for t in mine["data"]] == [post["id"]]
    assert get(sb, "/2/users", ids=author).json()["data"][0]["id"] == author
    assert sb.billed["tweets"] == 1


def test_suspended_and_protected_from_config_and_events_file(
    sandbox_factory: SandboxFactory, tmp_path: Any
) -> None:
    sb = sandbox_factory(clock=pinned_clock(), suspended_user_ids=("5",), **SMALL)
    assert sb.standing.suspended == {"5"}
    data = sb.dataset.to_json()
    data["users"][2]["suspended"] = True
    path = tmp_path / "data.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    loaded = sandbox_factory(clock=pinned_clock(), events_file=str(path))
    assert loaded.standing.suspended == {data["users"][2]["id"]}
    assert loaded.dataset.to_json()["users"][2]["suspended"] is True


# -- client-forbidden --------------------------------------------------------------------------


def test_client_not_enrolled_is_xs_403(sandbox_factory: SandboxFactory) -> None:
    sb = sandbox_factory(clock=pinned_clock(), client_not_enrolled=True, **SMALL)
    response = get(sb, "/2/dm_events")
    assert response.status_code == 403
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json() == example("errors/403_client_forbidden.docs_example.json")
    assert response.headers["x-rate-limit-remaining"] == "15"  # nothing spent
    sb.client_not_enrolled = False
    assert get(sb, "/2/dm_events").status_code == 200


def test_client_forbidden_as_a_queued_fault(sandbox_factory: SandboxFactory) -> None:
    sb = sandbox_factory(clock=pinned_clock(), **SMALL)
    sb.faults.inject("client_forbidden")
    first, second = get(sb, "/2/dm_events"), get(sb, "/2/dm_events")
    assert (first.status_code, second.status_code) == (403, 200)
    assert first.json()["reason"] == "client-not-enrolled"
    assert [e["fault"] for e in sb.request_log] == ["client_forbidden", None]
    assert second.headers["x-rate-limit-remaining"] == "14"  # the fault spent nothing


# -- the Basic plan ------------------------------------------------------------------------------


def test_basic_plan_allows_one_request_per_day_per_dm_endpoint(
    sandbox_factory: SandboxFactory,
) -> None:
    clock = ManualClock(start=1_790_000_000.0)
    sb = sandbox_factory(clock=clock, plan="basic", **SMALL)
    first = get(sb, "/2/dm_events", max_results=5)
    assert first.status_code == 200
    assert first.headers["x-rate-limit-limit"] == "1"
    assert first.headers["x-rate-limit-remaining"] == "0"
    assert first.headers["x-rate-limit-reset"] == str(1_790_000_000 + 86_400)
    assert get(sb, "/2/dm_events", max_results=5).status_code == 429
    conversation = sb.dataset.conversations_of(sb.account.id)[0]
    path = f"/2/dm_conversations/{conversation}/dm_events"
    assert [get(sb, path).status_code for _ in range(2)] == [200, 429]  # a budget of its own
    event_id = first.json()["data"][0]["id"]
    statuses = [get(sb, f"/2/dm_events/{event_id}").status_code for _ in range(6)]
    assert statuses == [200] * 5 + [429]
    assert get(sb, "/2/users/me").headers["x-rate-limit-limit"] == "15"  # not a DM endpoint
    clock.advance(86_399)
    assert get(sb, "/2/dm_events", max_results=5).status_code == 429
    clock.advance(1)
    assert get(sb, "/2/dm_events", max_results=5).status_code == 200
    # Another user has budgets of their own.
    assert get(sb, "/2/dm_events", sb.access_token(sb.users[1].id)).status_code == 200


def test_a_bad_plan_is_refused(sandbox_factory: SandboxFactory) -> None:
    with pytest.raises(ValueError, match="plan must be one of pay-per-use, basic"):
        sandbox_factory(plan="pro", **SMALL)


# -- today's prices ------------------------------------------------------------------------------


def _media_pages(sb: Sandbox) -> list[dict[str, Any]]:
    return walk(sb, "/2/dm_events", expansions="attachments.media_keys")


def test_media_are_counted_but_unpriced_by_default(sandbox_factory: SandboxFactory) -> None:
    sb = sandbox_factory(clock=pinned_clock(), rate_limit=10_000, **SMALL)
    pages = _media_pages(sb)
    media = {m["media_key"] for p in pages for m in p.get("includes", {}).get("media", [])}
    events = sum(len(p.get("data", [])) for p in pages)
    assert media and sb.billed["media"] == len(media)
    assert sb.billed_usd == pytest.approx(events * 0.010)


def test_a_media_price_can_be_set(sandbox_factory: SandboxFactory) -> None:
    sb = sandbox_factory(clock=pinned_clock(), rate_limit=10_000, media_price_usd=0.005, **SMALL)
    pages = _media_pages(sb)
    events = sum(len(p.get("data", [])) for p in pages)
    assert sb.billed_usd == pytest.approx(events * 0.010 + sb.billed["media"] * 0.005)
    logged = sum(e["billed_usd"] for e in sb.request_log)
    assert logged == pytest.approx(sb.billed_usd)
    with pytest.raises(ValueError, match="media_price_usd"):
        sandbox_factory(media_price_usd=-1.0, **SMALL)


def test_a_same_day_repeat_is_billed_once_per_app_whoever_reads(
    sandbox_factory: SandboxFactory,
) -> None:
    clock = ManualClock(start=1_790_000_000.0)  # 14:13:20 UTC
    sb = sandbox_factory(clock=clock, rate_limit=10_000, **SMALL)
    conversation = next(c for c in sb.dataset.conversations_of(sb.account.id) if "-" not in c)
    member = min(
        (sb.dataset.conversation_members(conversation) or frozenset()) - {sb.account.id}, key=int
    )
    path = f"/2/dm_conversations/{conversation}/dm_events"
    mine = walk(sb, path, expansions="sender_id")
    billed = dict(sb.billed)
    assert billed["dm_events"] == sum(len(p.get("data", [])) for p in mine) > 0
    theirs = walk(sb, path, sb.access_token(member), expansions="sender_id")
    assert [e["id"] for p in theirs for e in p["data"]] == [
        e["id"] for p in mine for e in p["data"]
    ]
    assert sb.billed == billed  # the same resources, the same app, the same UTC day
    clock.advance(86_400)
    walk(sb, path, sb.access_token(member), expansions="sender_id")
    assert sb.billed["dm_events"] == 2 * billed["dm_events"]
