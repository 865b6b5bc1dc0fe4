"""GET /2/users and GET /2/tweets by ids: X's shapes, their own budgets, billed per object."""

from __future__ import annotations

import pytest

from sandbox_helpers import OpenAPI, get, pinned_clock
from tap_x_dm_sandbox import Sandbox
from tap_x_dm_sandbox.data import Dataset
from tap_x_dm_sandbox.fixtures import SandboxFactory

SMALL = {"users": 12, "conversations": 30, "events": 1200}


@pytest.fixture
def sb(sandbox_factory: SandboxFactory) -> Sandbox:
    return sandbox_factory(clock=pinned_clock(), **SMALL)


def tweet_ids(sb: Sandbox) -> list[str]:
    found = []
    for event in sb.visible_events(window_days=None):
        found += [ref["id"] for ref in event.get("referenced_tweets", [])]
    return list(dict.fromkeys(found))


def test_users_by_ids(sb: Sandbox, openapi: OpenAPI) -> None:
    ids = [u.id for u in sb.users[:5]]
    response = get(
        sb, "/2/users", ids=",".join([*ids, "1"]), **{"user.fields": "created_at,verified"}
    )
    assert response.status_code == 200
    body = response.json()
    openapi.validate(body, openapi.response_schema("/2/users"))
    assert [u["id"] for u in body["data"]] == ids
    assert set(body["data"][0]) == {"id", "name", "username", "created_at", "verified"}
    assert body["errors"] == [
        {
            "value": "1",
            "detail": "Could not find user with ids: [1].",
            "title": "Not Found Error",
            "resource_type": "user",
            "parameter": "ids",
            "resource_id": "1",
            "type": "https://api.twitter.com/2/problems/resource-not-found",
        }
    ]
    assert sb.billed == {"dm_events": 0, "users": 5, "tweets": 0, "media": 0}
    plain = get(sb, "/2/users", ids=ids[0]).json()["data"][0]
    assert set(plain) == {"id", "name", "username"}


def test_tweets_by_ids_with_deleted_ones(sb: Sandbox, openapi: OpenAPI) -> None:
    ids = tweet_ids(sb)[:20]
    deleted = [t for t in ids if sb.dataset.is_deleted_tweet(t)]
    response = get(sb, "/2/tweets", ids=",".join(ids), **{"tweet.fields": "author_id,created_at"})
    assert response.status_code == 200
    body = response.json()
    openapi.validate(body, openapi.response_schema("/2/tweets"))
    assert [t["id"] for t in body["data"]] == [t for t in ids if t not in deleted]
    assert {"id", "text", "edit_history_tweet_ids", "author_id", "created_at"} == set(
        body["data"][0]
    )
    assert [e["resource_id"] for e in body.get("errors", [])] == deleted
    assert sb.billed["tweets"] == len(ids) - len(deleted)
    assert sb.billed_usd == pytest.approx(0.005 * (len(ids) - len(deleted)))


def test_tweets_expand_their_media(sandbox_factory: SandboxFactory, openapi: OpenAPI) -> None:
    data = {
        "users": [{"id": "111", "username": "brand", "name": "Brand"}],
        "events": [],
        "tweets": [
            {
                "id": "1900000000000000001",
                "text": "a photo",
                "edit_history_tweet_ids": ["1900000000000000001"],
                "attachments": {"media_keys": ["3_1899999999999999999"]},
            }
        ],
        "media": [
            {"media_key": "3_1899999999999999999", "type": "photo", "url": "https://x/1.jpg"}
        ],
    }
    sb = sandbox_factory(clock=pinned_clock(), dataset=Dataset.from_json(data))
    body = get(
        sb,
        "/2/tweets",
        ids="1900000000000000001",
        expansions="attachments.media_keys",
        **{"tweet.fields": "attachments", "media.fields": "url"},
    ).json()
    openapi.validate(body, openapi.response_schema("/2/tweets"))
    assert body["data"][0]["attachments"] == {"media_keys": ["3_1899999999999999999"]}
    assert body["includes"]["media"] == [
        {"media_key": "3_1899999999999999999", "type": "photo", "url": "https://x/1.jpg"}
    ]
    assert sb.billed == {"dm_events": 0, "users": 0, "tweets": 1, "media": 1}
    assert sb.request_log[-1]["billed_usd"] == pytest.approx(0.005)  # media: no price


@pytest.mark.parametrize(
    ("path", "params", "message"),
    [
        ("/2/users", {}, "The `ids` query parameter can not be empty"),
        (
            "/2/users",
            {"ids": ",".join(str(i) for i in range(1, 102))},
            "The number of values in the `ids` query parameter list [101] is not between 1 and 100",
        ),
        ("/2/tweets", {"ids": "12,abc"}, "The `ids` query parameter value [abc] does not match"),
        ("/2/users", {"ids": "12", "user.fields": "nope"}, "The `user.fields` query parameter"),
        ("/2/tweets", {"ids": "12", "max_results": "5"}, "The query parameter [max_results]"),
    ],
)
def test_bad_lookups_get_x_400(
    sb: Sandbox, openapi: OpenAPI, path: str, params: dict[str, str], message: str
) -> None:
    response = get(sb, path, **params)
    assert response.status_code == 400
    body = response.json()
    openapi.validate(body, "InvalidRequestProblem")
    assert body["errors"][0]["message"].startswith(message)


def test_lookups_have_their_own_budgets(sandbox_factory: SandboxFactory) -> None:
    sb = sandbox_factory(clock=pinned_clock(), rate_limit=2, lookup_rate_limit=3, **SMALL)
    user = sb.account.id
    for _ in range(2):
        assert get(sb, "/2/dm_events", max_results=1).status_code == 200
    assert get(sb, "/2/dm_events", max_results=1).status_code == 429
    answers = [get(sb, "/2/users", ids=user) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[0].headers["x-rate-limit-limit"] == "3"
    assert answers[0].headers["x-rate-limit-remaining"] == "2"
    tweets = get(sb, "/2/tweets", ids="1")
    assert tweets.status_code == 200  # a budget apart from /2/users
    assert tweets.headers["x-rate-limit-remaining"] == "2"
    assert [e["endpoint"] for e in sb.request_log[-2:]] == ["users_lookup", "tweets_lookup"]


def test_lookups_need_a_user_token(sb: Sandbox) -> None:
    assert get(sb, "/2/users", "", ids="12").status_code == 401
