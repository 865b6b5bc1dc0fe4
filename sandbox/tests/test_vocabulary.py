"""The four vocabulary modes (2.166 only, 2.167 only, both, as asked) and `api-version`."""

from __future__ import annotations

from typing import Any

import pytest

from api_support import EVERYTHING, deleted_tweet_event
from sandbox_helpers import OpenAPI, get, pinned_clock, walk
from tap_x_dm_sandbox import Sandbox
from tap_x_dm_sandbox.fixtures import SandboxFactory

#: What a client speaking 2.167 asks: no sender_id in dm_event.fields, posts by expansion.
ASKED_2167 = {
    "dm_event.fields": "attachments,created_at,dm_conversation_id,entities,event_type,id,text",
    "expansions": "attachments.media_keys,participant_ids,referenced_posts,sender_id",
    "user.fields": "id,name,username,verified",
    "post.fields": "attachments,created_at,id,text",
    "media.fields": "media_key,type,url",
}
SMALL = {"rate_limit": 10_000, "events": 1500, "conversations": 60, "users": 20}


def _sandbox(sandbox_factory: SandboxFactory, vocabulary: str, **options: Any) -> Sandbox:
    return sandbox_factory(clock=pinned_clock(), vocabulary=vocabulary, **SMALL, **options)


def _events(pages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for p in pages for e in p.get("data", [])]


def _included(pages: list[dict[str, Any]], kind: str) -> set[str]:
    return {o["id"] for p in pages for o in p.get("includes", {}).get(kind, [])}


def _rejected(sb: Sandbox, **params: str) -> list[dict[str, Any]]:
    response = get(sb, "/2/dm_events", **params)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["type"] == "https://api.twitter.com/2/problems/invalid-request"
    errors: list[dict[str, Any]] = body["errors"]
    return errors


def test_both_is_the_default_and_answers_either_request_in_2166_names(
    sandbox_factory: SandboxFactory, openapi: OpenAPI
) -> None:
    sb = sandbox_factory(clock=pinned_clock(), **SMALL)
    old = walk(sb, "/2/dm_events", **EVERYTHING)
    new = walk(sb, "/2/dm_events", **ASKED_2167)
    expected = [e["id"] for e in sb.visible_events()]
    assert [e["id"] for e in _events(old)] == [e["id"] for e in _events(new)] == expected
    for pages in (old, new):
        for page in pages:
            openapi.validate(page, "Get2DmEventsResponse")
            assert "posts" not in page.get("includes", {})
    # The expansions bring their source fields: every sender, every linked post.
    by_id = {e["id"]: e for e in sb.visible_events()}
    for event in _events(new):
        full = by_id[event["id"]]
        assert event.get("sender_id") == full.get("sender_id")
        assert event.get("referenced_tweets") == full.get("referenced_tweets")
    assert _included(new, "tweets") == _included(old, "tweets") != set()
    assert _included(new, "users") == _included(old, "users") != set()
    assert get(sb, "/2/dm_events", **ASKED_2167).headers["api-version"] == "2.166"


def test_2167_only_rejects_the_2166_names_and_the_dropped_values(
    sandbox_factory: SandboxFactory,
) -> None:
    sb = _sandbox(sandbox_factory, "2.167")
    (error,) = _rejected(sb, **{"tweet.fields": "id"})
    assert error["parameters"] == {"tweet.fields": ["id"]}
    assert error["message"].startswith("The query parameter [tweet.fields] is not one of [")
    assert "post.fields" in error["message"]
    for parameter, value in (
        ("expansions", "referenced_tweets.id"),
        ("dm_event.fields", "sender_id"),
        ("dm_event.fields", "participant_ids"),
        ("dm_event.fields", "referenced_tweets"),
        ("post.fields", "author_id"),
        ("post.fields", "referenced_tweets"),
        ("post.fields", "edit_history_tweet_ids"),
        ("post.fields", "in_reply_to_user_id"),
        ("post.fields", "note_tweet"),
        ("user.fields", "affiliation"),
        ("user.fields", "most_recent_tweet_id"),
        ("user.fields", "pinned_tweet_id"),
    ):
        (error,) = _rejected(sb, **{parameter: f"id,{value}" if "fields" in parameter else value})
        assert error["parameters"] == {parameter: [value]}, value
        assert f"`{parameter}` query parameter value [{value}] is not one of" in error["message"]
    # Every mistake at once, and the 400 says which version it speaks.
    both = get(sb, "/2/dm_events", **{"tweet.fields": "id", "expansions": "referenced_tweets.id"})
    assert len(both.json()["errors"]) == 2
    assert both.headers["api-version"] == "2.167"


def test_2167_answers_in_post_names_with_senders_by_expansion(
    sandbox_factory: SandboxFactory, openapi_167: OpenAPI
) -> None:
    sb = _sandbox(sandbox_factory, "2.167")
    pages = walk(sb, "/2/dm_events", **ASKED_2167)
    events = _events(pages)
    full = {e["id"]: e for e in sb.visible_events()}
    assert [e["id"] for e in events] == list(full)
    for page in pages:
        openapi_167.validate(page, openapi_167.response_schema("/2/dm_events"))
        assert "tweets" not in page.get("includes", {})
    for event in events:
        original = full[event["id"]]
        assert event.get("sender_id") == original.get("sender_id")
        assert "referenced_tweets" not in event
        assert event.get("referenced_posts") == original.get("referenced_tweets")
        assert not {"urls", "hashtags", "mentions", "cashtags"} & set(event)
        if any(original.get(k) for k in ("urls", "hashtags", "mentions", "cashtags")):
            assert event["entities"]
    posts = [p for page in pages for p in page.get("includes", {}).get("posts", [])]
    assert posts and all("edit_history_post_ids" in p for p in posts)
    assert not any("edit_history_tweet_ids" in p for p in posts)
    senders = {e["sender_id"] for e in events if "sender_id" in e}
    assert senders <= _included(pages, "users")
    # X bills what the expansions return: the senders and the posts too.
    assert sb.billed["users"] == len(_included(pages, "users"))
    assert sb.billed["tweets"] == len({p["id"] for p in posts})
    assert get(sb, "/2/dm_events", max_results=1).headers["api-version"] == "2.167"


def test_2167_partial_errors_name_the_2167_parameter(sandbox_factory: SandboxFactory) -> None:
    sb = sandbox_factory(clock=pinned_clock(), vocabulary="2.167", rate_limit=10_000)  # 6000
    event = deleted_tweet_event(sb)
    body = get(sb, f"/2/dm_events/{event['id']}", expansions="referenced_posts").json()
    assert body["data"]["referenced_posts"] == event["referenced_tweets"]
    missing = [e for e in body["errors"] if e["type"].endswith("/resource-not-found")]
    assert missing and all(e["parameter"] == "referenced_posts" for e in missing)
    assert all(e["resource_type"] == "post" for e in missing)


def test_2166_only_rejects_the_2167_names(sandbox_factory: SandboxFactory) -> None:
    sb = _sandbox(sandbox_factory, "2.166")
    (error,) = _rejected(sb, **{"post.fields": "id"})
    assert error["parameters"] == {"post.fields": ["id"]}
    (error,) = _rejected(sb, expansions="referenced_posts")
    assert error["parameters"] == {"expansions": ["referenced_posts"]}
    (error,) = _rejected(sb, **{"user.fields": "subscribes_to_you"})
    assert error["parameters"] == {"user.fields": ["subscribes_to_you"]}
    ok = get(sb, "/2/dm_events", **EVERYTHING)
    assert ok.status_code == 200 and ok.headers["api-version"] == "2.166"
    assert "tweets" in ok.json()["includes"]


def test_as_asked_answers_in_the_vocabulary_of_the_request(
    sandbox_factory: SandboxFactory, openapi: OpenAPI, openapi_167: OpenAPI
) -> None:
    sb = _sandbox(sandbox_factory, "as-asked")
    old = get(sb, "/2/dm_events", **EVERYTHING)
    new = get(sb, "/2/dm_events", **ASKED_2167)
    assert (old.headers["api-version"], new.headers["api-version"]) == ("2.166", "2.167")
    openapi.validate(old.json(), "Get2DmEventsResponse")
    openapi_167.validate(new.json(), openapi_167.response_schema("/2/dm_events"))
    assert "tweets" in old.json()["includes"] and "posts" in new.json()["includes"]
    assert [e["id"] for e in old.json()["data"]] == [e["id"] for e in new.json()["data"]]


@pytest.mark.parametrize("vocabulary", ["2.167", "as-asked", "both"])
def test_lookups_take_post_fields(sandbox_factory: SandboxFactory, vocabulary: str) -> None:
    sb = _sandbox(sandbox_factory, vocabulary)
    event = next(
        e
        for e in sb.visible_events(window_days=None)
        if any(sb.dataset.tweet(r["id"]) for r in e.get("referenced_tweets", []))
    )
    post_id = next(r["id"] for r in event["referenced_tweets"] if sb.dataset.tweet(r["id"]))
    posts = get(sb, "/2/tweets", ids=post_id, **{"post.fields": "created_at"})
    assert posts.status_code == 200, posts.text
    (post,) = posts.json()["data"]
    history = "edit_history_tweet_ids" if vocabulary == "both" else "edit_history_post_ids"
    assert post[history] == [post_id] and "created_at" in post
    users = get(sb, "/2/users", ids=sb.account.id, **{"post.fields": "id"})
    assert users.status_code == 200 and users.json()["data"][0]["id"] == sb.account.id
    me = get(sb, "/2/users/me", **{"post.fields": "id", "expansions": "pinned_post_id"})
    assert me.status_code == 200 and me.json()["data"]["id"] == sb.account.id
    assert sb.billed["tweets"] == 1


def test_a_bad_vocabulary_is_refused(sandbox_factory: SandboxFactory) -> None:
    with pytest.raises(ValueError, match=r"vocabulary must be one of 2\.166, 2\.167, both"):
        sandbox_factory(vocabulary="2.168", **SMALL)


def test_api_version_is_on_api_answers_only(sandbox_factory: SandboxFactory) -> None:
    sb = _sandbox(sandbox_factory, "2.167")
    assert get(sb, "/2/users/me").headers["api-version"] == "2.167"
    assert get(sb, "/2/dm_events", "").headers["api-version"] == "2.167"  # a 401 too
    token = get(sb, "/2/oauth2/token", "")  # not an API v2 call
    assert "api-version" not in token.headers
