"""Acceptance tests of the sandbox's HTTP API against X's OpenAPI document and examples.

Every JSON answer of the DM and users endpoints is validated against the 2.166
response schemas (the whole document in one registry, `$ref`s resolved in place).
"""

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

ALL_DM_FIELDS = (
    "attachments,created_at,dm_conversation_id,entities,event_type,id,participant_ids,"
    "referenced_tweets,sender_id,text"
)
ALL_EXPANSIONS = "attachments.media_keys,participant_ids,referenced_tweets.id,sender_id"
USER_FIELDS = (
    "created_at,description,id,location,name,profile_image_url,protected,url,username,verified"
)
TWEET_FIELDS = (
    "attachments,author_id,conversation_id,created_at,edit_history_tweet_ids,id,lang,text"
)
MEDIA_FIELDS = "alt_text,duration_ms,height,media_key,preview_image_url,type,url,variants,width"
EVERYTHING = {
    "dm_event.fields": ALL_DM_FIELDS,
    "expansions": ALL_EXPANSIONS,
    "user.fields": USER_FIELDS,
    "tweet.fields": TWEET_FIELDS,
    "media.fields": MEDIA_FIELDS,
}
SPEC_PATHS = {
    "dm_events": "/2/dm_events",
    "conversation": "/2/dm_conversations/{id}/dm_events",
    "participant": "/2/dm_conversations/with/{participant_id}/dm_events",
}
EXAMPLE_PREFIX = {
    "dm_events": "GET_dm_events",
    "conversation": "GET_dm_conversations_dm_conversation_id_dm_events",
    "participant": "GET_dm_conversations_with_participant_id_dm_events",
}
DEFAULT_KEYS = {
    "MessageCreate": {"id", "event_type", "text"},
    "ParticipantsJoin": {"id", "event_type", "participant_ids"},
    "ParticipantsLeave": {"id", "event_type", "participant_ids"},
}


@pytest.fixture
def small(sandbox_factory: SandboxFactory) -> Sandbox:
    """A quick sandbox with a roomy rate limit."""
    return sandbox_factory(
        clock=pinned_clock(), rate_limit=10_000, events=1500, conversations=60, users=20
    )


@pytest.fixture
def live(sandbox_factory: SandboxFactory) -> Sandbox:
    """A sandbox whose clock starts at real time, as OAuth 1.0a timestamps require."""
    return sandbox_factory(rate_limit=10_000, events=300)


def busiest(sb: Sandbox, *, group: bool) -> str:
    """The account's conversation (group or 1:1) with the most events."""
    account = sb.account.id
    convs = [c for c in sb.dataset.conversations_of(account) if ("-" not in c) == group]
    return max(convs, key=lambda c: len(sb.visible_events(conversation_id=c, window_days=None)))


def other_member(sb: Sandbox, one_to_one: str) -> str:
    low, high = one_to_one.split("-")
    return high if low == sb.account.id else low


def endpoint_path(sb: Sandbox, kind: str) -> str:
    if kind == "dm_events":
        return "/2/dm_events"
    if kind == "conversation":
        return f"/2/dm_conversations/{busiest(sb, group=True)}/dm_events"
    one_to_one = busiest(sb, group=False)
    return f"/2/dm_conversations/with/{other_member(sb, one_to_one)}/dm_events"


def response_schema(openapi: OpenAPI, kind: str) -> str:
    return openapi.response_schema(SPEC_PATHS[kind])


def find_event(sb: Sandbox, predicate: Any) -> dict[str, Any]:
    return next(e for e in sb.visible_events(window_days=None) if predicate(e))


def deleted_tweet_event(sb: Sandbox) -> dict[str, Any]:
    return find_event(
        sb,
        lambda e: any(sb.dataset.tweet(r["id"]) is None for r in e.get("referenced_tweets", [])),
    )


# -- schemas of the list endpoints ----------------------------------------------------------


@pytest.mark.parametrize("kind", list(SPEC_PATHS))
def test_default_fields_match_the_schema_and_the_example(
    small: Sandbox, openapi: OpenAPI, kind: str
) -> None:
    response = get(small, endpoint_path(small, kind))
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    openapi.validate(body, response_schema(openapi, kind))
    assert set(body) == {"data", "meta"}
    assert body["meta"]["result_count"] == len(body["data"])
    for event in body["data"]:
        assert set(event) == DEFAULT_KEYS[event["event_type"]]
    reference = example(f"{EXAMPLE_PREFIX[kind]}.api_reference.default_fields.json")
    assert set(reference) <= set(body)
    message = next(e for e in body["data"] if e["event_type"] == "MessageCreate")
    assert set(message) == set(reference["data"][0])


@pytest.mark.parametrize("kind", list(SPEC_PATHS))
def test_all_fields_and_expansions_match_the_schema(
    small: Sandbox, openapi: OpenAPI, kind: str
) -> None:
    pages = walk(small, endpoint_path(small, kind), **EVERYTHING)
    schema = response_schema(openapi, kind)
    for page in pages:
        openapi.validate(page, schema)
    data = [e for page in pages for e in page.get("data", [])]
    assert data
    assert all("created_at" in e and "dm_conversation_id" in e for e in data)
    included = {key for page in pages for key in page.get("includes", {})}
    assert "users" in included
    if kind == "dm_events":
        assert included == {"users", "tweets", "media"}
        gone = {
            r["id"]
            for e in small.visible_events()
            for r in e.get("referenced_tweets", [])
            if small.dataset.tweet(r["id"]) is None
        }
        reported = {err["resource_id"] for page in pages for err in page.get("errors", [])}
        assert reported == gone


def test_optional_fields_example_shape(small: Sandbox, openapi: OpenAPI) -> None:
    reference = example("GET_dm_events.api_reference.optional_fields.json")["data"][0]
    fields = ",".join(reference)
    body = get(small, "/2/dm_events", **{"dm_event.fields": fields}).json()
    openapi.validate(body, "Get2DmEventsResponse")
    plain = [e for e in body["data"] if e["event_type"] == "MessageCreate" and e.get("sender_id")]
    assert plain
    assert all(set(e) == set(reference) for e in plain)


def test_data_dictionary_sample_shape(small: Sandbox, openapi: OpenAPI) -> None:
    reference = example(
        "GET_dm_conversations_with_participant_id_dm_events.data_dictionary_sample.json"
    )
    event = find_event(
        small,
        lambda e: (
            "-" in e["dm_conversation_id"]
            and e.get("referenced_tweets")
            and small.dataset.tweet(e["referenced_tweets"][0]["id"]) is not None
            and "attachments" not in e
        ),
    )
    participant = other_member(small, event["dm_conversation_id"])
    params = {
        "dm_event.fields": (
            "id,sender_id,text,referenced_tweets,created_at,event_type,dm_conversation_id"
        ),
        "expansions": "sender_id,referenced_tweets.id",
        "user.fields": "description",
        "tweet.fields": "created_at,author_id",
        "max_results": 100,
    }
    path = f"/2/dm_conversations/with/{participant}/dm_events"
    pages = walk(small, path, **params)
    for page in pages:
        openapi.validate(page, "Get2DmConversationsWithParticipantIdDmEventsResponse")
    page = next(p for p in pages if any(e["id"] == event["id"] for e in p["data"]))
    assert set(page) == set(reference)
    assert set(page["includes"]) >= set(reference["includes"])
    mine = next(e for e in page["data"] if e["id"] == event["id"])
    theirs = next(e for e in reference["data"] if "referenced_tweets" in e)
    assert set(mine) - {"urls"} == set(theirs)  # entities come only with dm_event.fields=entities
    assert set(page["includes"]["tweets"][0]) == set(reference["includes"]["tweets"][0])
    described = [u for u in page["includes"]["users"] if "description" in u]
    assert described
    assert set(described[0]) == set(reference["includes"]["users"][0])


@pytest.mark.parametrize("event_type", ["MessageCreate", "ParticipantsJoin", "ParticipantsLeave"])
def test_all_fields_event_examples(small: Sandbox, event_type: str) -> None:
    reference = example(f"events/{event_type}.all_fields.json")
    event = find_event(
        small,
        lambda e: (
            e["event_type"] == event_type
            and not {"attachments", "referenced_tweets", "urls", "hashtags", "mentions", "cashtags"}
            & set(e)
            and (event_type != "ParticipantsJoin" or "sender_id" in e)
        ),
    )
    body = get(small, f"/2/dm_events/{event['id']}", **{"dm_event.fields": ALL_DM_FIELDS}).json()
    assert set(body["data"]) == set(reference)


def test_deleted_tweet_is_a_partial_error(
    sandbox_factory: SandboxFactory, openapi: OpenAPI
) -> None:
    small = sandbox_factory(clock=pinned_clock(), rate_limit=10_000)  # 6000 events
    event = deleted_tweet_event(small)
    tweet_id = event["referenced_tweets"][0]["id"]
    body = get(small, f"/2/dm_events/{event['id']}", expansions="referenced_tweets.id").json()
    openapi.validate(body, "Get2DmEventsEventIdResponse")
    assert body["errors"] == [
        {
            "value": tweet_id,
            "detail": f"Could not find tweet with referenced_tweets.id: [{tweet_id}].",
            "title": "Not Found Error",
            "resource_type": "tweet",
            "parameter": "referenced_tweets.id",
            "resource_id": tweet_id,
            "type": "https://api.twitter.com/2/problems/resource-not-found",
        }
    ]
    openapi.validate(body["errors"][0], "ResourceNotFoundProblem")
    assert "includes" not in body or "tweets" not in body["includes"]
    # The same in a list page.
    conv = event["dm_conversation_id"]
    pages = walk(small, f"/2/dm_conversations/{conv}/dm_events", expansions="referenced_tweets.id")
    page = next(p for p in pages if any(e["id"] == event["id"] for e in p["data"]))
    openapi.validate(page, "Get2DmConversationsIdDmEventsResponse")
    assert any(err["resource_id"] == tweet_id for err in page["errors"])


def test_empty_inbox_is_a_meta_only_page(small: Sandbox, openapi: OpenAPI) -> None:
    token = small.access_token(small.empty_user_id())
    body = get(small, "/2/dm_events", token).json()
    assert body == {"meta": {"result_count": 0}}
    openapi.validate(body, "Get2DmEventsResponse")


def test_meta_only_last_page(sandbox_factory: SandboxFactory, openapi: OpenAPI) -> None:
    sb = sandbox_factory(
        clock=pinned_clock(), rate_limit=10_000, events=600, meta_only_last_page=True
    )
    conv = busiest(sb, group=False)
    total = len(sb.visible_events(conversation_id=conv, window_days=None))
    assert 1 < total <= 100
    path = f"/2/dm_conversations/{conv}/dm_events"
    full = get(sb, path, max_results=total).json()
    assert full["meta"]["result_count"] == total
    assert "next_token" in full["meta"]  # advertised although nothing follows
    last = get(sb, path, max_results=total, pagination_token=full["meta"]["next_token"]).json()
    openapi.validate(last, "Get2DmConversationsIdDmEventsResponse")
    reference = example("pagination.last_page_empty.generic_v2.json")
    assert set(last) == set(reference) == {"meta"}
    assert set(last["meta"]) == set(reference["meta"])
    assert last["meta"]["result_count"] == 0
    # Without the flag an exactly full last page ends the walk.
    plain = sandbox_factory(clock=pinned_clock(), rate_limit=10_000, events=600)
    assert "next_token" not in get(plain, path, max_results=total).json()["meta"]


def test_nested_entities_match_spec_2167(
    sandbox_factory: SandboxFactory, openapi_167: OpenAPI
) -> None:
    sb = sandbox_factory(clock=pinned_clock(), rate_limit=10_000, events=1500, nested_entities=True)
    pages = walk(sb, "/2/dm_events", **{"dm_event.fields": "entities,text"})
    data = [e for p in pages for e in p.get("data", [])]
    with_entities = [e for e in data if "entities" in e]
    assert with_entities
    assert not any(k in e for e in data for k in ("urls", "hashtags", "mentions", "cashtags"))
    assert "urls" in with_entities[0]["entities"]
    for page in pages:
        openapi_167.validate(page, openapi_167.response_schema("/2/dm_events"))


def test_flat_entities_by_default(small: Sandbox) -> None:
    pages = walk(small, "/2/dm_events", **{"dm_event.fields": "entities"})
    data = [e for p in pages for e in p.get("data", [])]
    assert any("urls" in e for e in data)
    assert not any("entities" in e for e in data)
    plain = walk(small, "/2/dm_events")
    assert not any("urls" in e for p in plain for e in p.get("data", []))


# -- lookup and users/me ---------------------------------------------------------------------


def test_dm_event_lookup(small: Sandbox, openapi: OpenAPI) -> None:
    event = find_event(small, lambda e: "attachments" in e)
    body = get(small, f"/2/dm_events/{event['id']}").json()
    openapi.validate(body, "Get2DmEventsEventIdResponse")
    assert body == {"data": {k: event[k] for k in ("id", "event_type", "text")}}
    full = get(small, f"/2/dm_events/{event['id']}", **EVERYTHING).json()
    openapi.validate(full, "Get2DmEventsEventIdResponse")
    assert full["data"] == event
    assert set(full["includes"]) >= {"users", "media"}
    assert full["includes"]["media"][0]["media_key"] == event["attachments"]["media_keys"][0]


def test_dm_event_lookup_of_an_unknown_or_foreign_event(small: Sandbox, openapi: OpenAPI) -> None:
    account = small.account.id
    hidden = next(
        c
        for c in small.dataset.conversation_ids()
        if account not in (small.dataset.conversation_members(c) or ())
    )
    member = sorted(small.dataset.conversation_members(hidden) or (), key=int)[0]
    foreign = small.visible_events(member, conversation_id=hidden, window_days=None)[0]["id"]
    for event_id in (foreign, "1"):
        body = get(small, f"/2/dm_events/{event_id}").json()
        openapi.validate(body, "Get2DmEventsEventIdResponse")
        assert "data" not in body
        assert body["errors"][0]["resource_id"] == event_id
        assert body["errors"][0]["type"].endswith("/resource-not-found")
    # The member sees it.
    assert get(small, f"/2/dm_events/{foreign}", small.access_token(member)).status_code == 200


def test_users_me(small: Sandbox, openapi: OpenAPI) -> None:
    body = get(small, "/2/users/me").json()
    openapi.validate(body, openapi.response_schema("/2/users/me"))
    account = small.account
    assert body == {"data": {"id": account.id, "name": account.name, "username": account.username}}
    rich = get(small, "/2/users/me", **{"user.fields": USER_FIELDS}).json()
    openapi.validate(rich, "Get2UsersMeResponse")
    assert {"created_at", "description", "verified", "profile_image_url"} <= set(rich["data"])


def test_user_fields_default_is_configurable(sandbox_factory: SandboxFactory) -> None:
    sb = sandbox_factory(events=300, user_fields_default=("id", "name", "username", "verified"))
    assert "verified" in get(sb, "/2/users/me").json()["data"]


# -- error bodies ----------------------------------------------------------------------------


def test_unauthorized_bodies(small: Sandbox, openapi: OpenAPI) -> None:
    for token in ("", "not-a-token"):
        response = get(small, "/2/dm_events", token)
        assert response.status_code == 401
        assert response.json() == example("errors/401_unauthorized.observed.json")
        openapi.validate(response.json(), "Problem")
        assert "x-rate-limit-limit" not in response.headers


def test_app_only_token_is_unsupported_authentication(small: Sandbox, openapi: OpenAPI) -> None:
    response = get(small, "/2/dm_events", small.auth.app_only_bearer_token)
    assert response.status_code == 403
    assert response.json() == example("errors/403_unsupported_authentication.observed.json")
    openapi.validate(response.json(), "UnsupportedAuthenticationProblem")


def test_missing_dm_scope_is_forbidden(small: Sandbox, openapi: OpenAPI) -> None:
    token = small.auth.issue_tokens(small.account.id, scopes=["tweet.read", "users.read"])
    response = get(small, "/2/dm_events", token["access_token"])
    assert response.status_code == 403
    assert response.json() == example("errors/403_forbidden.observed.json")
    openapi.validate(response.json(), "Problem")
    assert get(small, "/2/users/me", token["access_token"]).status_code == 200


def test_unknown_route_is_a_404_problem(small: Sandbox, openapi: OpenAPI) -> None:
    for path in ("/2/nothing", "/2/dm_events/1/extra", "/1.1/direct_messages/events/list.json"):
        response = get(small, path)
        assert response.status_code == 404
        openapi.validate(response.json(), "Problem")
    assert requests.delete(small.base_url + "/2/dm_events/1", timeout=5).status_code == 404


@pytest.mark.parametrize(
    ("params", "parameter", "value", "message"),
    [
        (
            {"max_results": "0"},
            "max_results",
            "0",
            "The `max_results` query parameter value [0] is not between 1 and 100",
        ),
        (
            {"max_results": "101"},
            "max_results",
            "101",
            "The `max_results` query parameter value [101] is not between 1 and 100",
        ),
        (
            {"max_results": "ten"},
            "max_results",
            "ten",
            "The `max_results` query parameter value [ten] is not between 1 and 100",
        ),
        (
            {"pagination_token": "x"},
            "pagination_token",
            "x",
            "The `pagination_token` query parameter value [x] is not valid",
        ),
        (
            {"pagination_token": "ZZZZZZZZZZZZZZZZZZZZZZZZ"},
            "pagination_token",
            "ZZZZZZZZZZZZZZZZZZZZZZZZ",
            "The `pagination_token` query parameter value [ZZZZZZZZZZZZZZZZZZZZZZZZ] is not valid",
        ),
        (
            {"event_types": "MessageCreate,Typing"},
            "event_types",
            "Typing",
            "The `event_types` query parameter value [Typing] is not one of "
            "[MessageCreate,ParticipantsJoin,ParticipantsLeave]",
        ),
        (
            {"expansions": "author_id"},
            "expansions",
            "author_id",
            "The `expansions` query parameter value [author_id] is not one of "
            "[attachments.media_keys,participant_ids,referenced_tweets.id,sender_id]",
        ),
        (
            {"since_id": "1"},
            "since_id",
            "1",
            "The query parameter [since_id] is not one of [max_results,pagination_token,"
            "event_types,dm_event.fields,expansions,media.fields,user.fields,tweet.fields]",
        ),
    ],
)
def test_invalid_request_bodies(
    small: Sandbox,
    openapi: OpenAPI,
    params: dict[str, str],
    parameter: str,
    value: str,
    message: str,
) -> None:
    response = get(small, "/2/dm_events", **params)
    assert response.status_code == 400
    body = response.json()
    openapi.validate(body, "InvalidRequestProblem")
    openapi.validate(body, "Problem")
    reference = example("errors/400_invalid_request.observed_on_a_tweets_endpoint.json")
    assert set(body) == set(reference)
    assert {k: body[k] for k in ("title", "detail", "type")} == {
        k: reference[k] for k in ("title", "detail", "type")
    }
    assert body["errors"] == [{"parameters": {parameter: [value]}, "message": message}]


def test_every_invalid_parameter_is_reported(small: Sandbox, openapi: OpenAPI) -> None:
    body = get(
        small, "/2/dm_events", max_results="0", **{"dm_event.fields": "id,color"}, foo="1"
    ).json()
    openapi.validate(body, "InvalidRequestProblem")
    assert {next(iter(e["parameters"])) for e in body["errors"]} == {
        "max_results",
        "dm_event.fields",
        "foo",
    }


@pytest.mark.parametrize(
    ("path", "name", "value"),
    [
        ("/2/dm_conversations/abc/dm_events", "id", "abc"),
        ("/2/dm_conversations/123/dm_events", "id", "123"),  # groups have 15-19 digits
        ("/2/dm_conversations/with/@someone/dm_events", "participant_id", "@someone"),
        ("/2/dm_events/12345678901234567890", "event_id", "12345678901234567890"),
    ],
)
def test_path_ids_are_validated(
    small: Sandbox, openapi: OpenAPI, path: str, name: str, value: str
) -> None:
    response = get(small, path)
    assert response.status_code == 400
    body = response.json()
    openapi.validate(body, "InvalidRequestProblem")
    assert body["errors"][0]["parameters"] == {name: [value]}
    assert body["errors"][0]["message"].startswith(f"The `{name}` query parameter value [{value}]")


def test_unknown_conversation_and_stranger_are_empty(small: Sandbox, openapi: OpenAPI) -> None:
    for path in (
        "/2/dm_conversations/123456789012345678/dm_events",
        "/2/dm_conversations/1-2/dm_events",
        f"/2/dm_conversations/with/{small.empty_user_id()}/dm_events",
        "/2/dm_conversations/with/42/dm_events",
    ):
        response = get(small, path)
        assert response.status_code == 200, path
        assert response.json() == {"meta": {"result_count": 0}}
        openapi.validate(response.json(), "Get2DmConversationsIdDmEventsResponse")


# -- pagination ------------------------------------------------------------------------------


def test_full_walks_return_exactly_the_visible_events(small: Sandbox) -> None:
    pages = walk(small, "/2/dm_events", **{"dm_event.fields": ALL_DM_FIELDS}, max_results=37)
    got = [e for p in pages for e in p.get("data", [])]
    assert got == small.visible_events()  # 30 days, newest first, every field
    ids = [int(e["id"]) for e in got]
    assert ids == sorted(ids, reverse=True)
    assert all(p["meta"]["result_count"] == len(p.get("data", [])) <= 37 for p in pages)
    assert "previous_token" not in pages[0]["meta"]
    assert all("previous_token" in p["meta"] for p in pages[1:])
    conv = busiest(small, group=True)
    conv_pages = walk(small, f"/2/dm_conversations/{conv}/dm_events", max_results=50)
    conv_ids = [e["id"] for p in conv_pages for e in p.get("data", [])]
    expected = small.visible_events(conversation_id=conv, window_days=None)
    assert conv_ids == [e["id"] for e in expected]


def test_max_results_defaults_to_100(sandbox_factory: SandboxFactory) -> None:
    sb = sandbox_factory(clock=pinned_clock(), events=3000, rate_limit=10_000)
    assert get(sb, "/2/dm_events").json()["meta"]["result_count"] == 100
    assert get(sb, "/2/dm_events", max_results=1).json()["meta"]["result_count"] == 1


def test_tokens_are_opaque_and_checked(small: Sandbox) -> None:
    first = get(small, "/2/dm_events", max_results=5).json()
    token = first["meta"]["next_token"]
    assert len(token) >= 16
    assert re.fullmatch(r"[0-9A-V]+", token)
    assert get(small, "/2/dm_events", max_results=5, pagination_token=token).status_code == 200
    forged = token[:-3] + ("AAA" if token[-3:] != "AAA" else "BBB")
    garbled = token[:10] + "!" + token[11:]
    conv = busiest(small, group=True)
    other_user = small.access_token(sorted(small.dataset.conversation_members(conv) or ())[0])
    for bad in (forged, garbled, token.lower(), token + "A"):
        response = get(small, "/2/dm_events", max_results=5, pagination_token=bad)
        assert response.status_code == 400
        assert response.json()["errors"][0]["message"] == (
            f"The `pagination_token` query parameter value [{bad}] is not valid"
        )
    # A token only works where it was issued: same endpoint, same path id, same user.
    assert (
        get(small, f"/2/dm_conversations/{conv}/dm_events", pagination_token=token).status_code
        == 400
    )
    if other_user != small.access_token():
        assert get(small, "/2/dm_events", other_user, pagination_token=token).status_code == 400


def test_new_events_between_pages_neither_shift_nor_duplicate(small: Sandbox) -> None:
    before = [e["id"] for e in small.visible_events()]
    first = get(small, "/2/dm_events", max_results=20).json()
    new = small.add_events(7)
    rest = walk(small, "/2/dm_events", max_results=20, pagination_token=first["meta"]["next_token"])
    walked = [e["id"] for e in first["data"]] + [e["id"] for p in rest for e in p.get("data", [])]
    assert walked == before
    fresh = get(small, "/2/dm_events", max_results=7).json()
    assert [e["id"] for e in fresh["data"]] == [e["id"] for e in reversed(new)]


def test_previous_token_walks_back(small: Sandbox) -> None:
    page1 = get(small, "/2/dm_events", max_results=10).json()
    page2 = get(
        small, "/2/dm_events", max_results=10, pagination_token=page1["meta"]["next_token"]
    ).json()
    page3 = get(
        small, "/2/dm_events", max_results=10, pagination_token=page2["meta"]["next_token"]
    ).json()
    back2 = get(
        small, "/2/dm_events", max_results=10, pagination_token=page3["meta"]["previous_token"]
    ).json()
    assert back2["data"] == page2["data"]
    back1 = get(
        small, "/2/dm_events", max_results=10, pagination_token=page2["meta"]["previous_token"]
    ).json()
    assert back1["data"] == page1["data"]
    assert "previous_token" not in back1["meta"]  # nothing newer
    assert back1["meta"]["next_token"]
    again = get(
        small, "/2/dm_events", max_results=10, pagination_token=back1["meta"]["next_token"]
    ).json()
    assert again["data"] == page2["data"]
    # New events arrive: walking back from page 1 shows them.
    new = small.add_events(3)
    newer = get(
        small, "/2/dm_events", max_results=10, pagination_token=back2["meta"]["previous_token"]
    ).json()
    assert newer["data"] == page1["data"]
    assert "previous_token" in newer["meta"]
    top = get(
        small, "/2/dm_events", max_results=10, pagination_token=newer["meta"]["previous_token"]
    ).json()
    assert [e["id"] for e in top["data"]] == [e["id"] for e in reversed(new)]


def test_thirty_day_window_moves_with_the_clock(sandbox_factory: SandboxFactory) -> None:
    clock = pinned_clock()
    sb = sandbox_factory(clock=clock, events=1500, rate_limit=10_000)
    before = [e["id"] for p in walk(sb, "/2/dm_events") for e in p.get("data", [])]
    clock.advance(10 * 86_400)
    after = walk(sb, "/2/dm_events", **{"dm_event.fields": "created_at"})
    after_ids = [e["id"] for p in after for e in p.get("data", [])]
    assert after_ids == before[: len(after_ids)]
    assert 0 < len(after_ids) < len(before)
    assert after_ids == [e["id"] for e in sb.visible_events()]
    conv = busiest(sb, group=True)
    full = walk(sb, f"/2/dm_conversations/{conv}/dm_events")
    assert sum(p["meta"]["result_count"] for p in full) == len(
        sb.visible_events(conversation_id=conv, window_days=None)
    )


def test_conversation_history_days(sandbox_factory: SandboxFactory) -> None:
    sb = sandbox_factory(
        clock=pinned_clock(), events=1500, rate_limit=10_000, conversation_history_days=7
    )
    conv = busiest(sb, group=True)
    got = [
        e["id"]
        for p in walk(sb, f"/2/dm_conversations/{conv}/dm_events")
        for e in p.get("data", [])
    ]
    assert got == [e["id"] for e in sb.visible_events(conversation_id=conv)]
    assert len(got) < len(sb.visible_events(conversation_id=conv, window_days=None))


def test_event_types_filter(small: Sandbox) -> None:
    conv = busiest(small, group=True)
    path = f"/2/dm_conversations/{conv}/dm_events"
    joins = walk(small, path, event_types="ParticipantsJoin,ParticipantsLeave")
    types = {e["event_type"] for p in joins for e in p.get("data", [])}
    assert types and types <= {"ParticipantsJoin", "ParticipantsLeave"}
    messages = walk(small, path, event_types="MessageCreate")
    assert {e["event_type"] for p in messages for e in p.get("data", [])} == {"MessageCreate"}


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


def test_billing_once_per_user_per_utc_day(sandbox_factory: SandboxFactory) -> None:
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
    # Another member reading the same event pays for it too.
    event_id = first["data"][0]["id"]
    stored = sb.dataset.event(int(event_id))
    assert stored is not None
    conversation = stored["dm_conversation_id"]
    members = sb.dataset.conversation_members(conversation) or frozenset()
    member = min(members - {sb.account.id}, key=int)
    get(sb, f"/2/dm_events/{event_id}", sb.access_token(member))
    assert sb.request_log[-1]["billed_events"] == 1
    clock.advance(86_400)  # the next UTC day
    get(sb, "/2/dm_events", max_results=10)
    assert sb.request_log[-1]["billed_events"] == 10
    assert sb.billed_events == 10 + 5 + 1 + 10
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
