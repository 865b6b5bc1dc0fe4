"""The sandbox's answers against X's OpenAPI document and examples: list pages and lookups."""

from __future__ import annotations

import pytest

from api_support import (
    ALL_DM_FIELDS,
    DEFAULT_KEYS,
    EVERYTHING,
    EXAMPLE_PREFIX,
    SPEC_PATHS,
    USER_FIELDS,
    busiest,
    deleted_tweet_event,
    endpoint_path,
    find_event,
    other_member,
    response_schema,
)
from sandbox_helpers import OpenAPI, example, get, pinned_clock, walk
from tap_x_dm_sandbox import Sandbox
from tap_x_dm_sandbox.fixtures import SandboxFactory

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
