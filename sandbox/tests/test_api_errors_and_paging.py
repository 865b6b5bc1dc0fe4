"""The sandbox's error bodies and pagination, as X's."""

from __future__ import annotations

import re

import pytest
import requests

from api_support import (
    ALL_DM_FIELDS,
    busiest,
)
from sandbox_helpers import OpenAPI, example, get, pinned_clock, walk
from tap_x_dm_sandbox import Sandbox
from tap_x_dm_sandbox.fixtures import SandboxFactory

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
            # The default server takes both vocabularies: 2.166's values, then 2.167's.
            "The `expansions` query parameter value [author_id] is not one of "
            "[attachments.media_keys,participant_ids,referenced_tweets.id,sender_id,"
            "referenced_posts]",
        ),
        (
            {"since_id": "1"},
            "since_id",
            "1",
            "The query parameter [since_id] is not one of [max_results,pagination_token,"
            "event_types,dm_event.fields,expansions,media.fields,user.fields,tweet.fields,"
            "post.fields]",
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


def test_unknown_conversation_and_stranger_are_x_not_found_errors(
    small: Sandbox, openapi: OpenAPI
) -> None:
    # X's usual answer for a missing resource: 200 with only `errors` (no data, no meta).
    empty = small.empty_user_id()
    for path, resource_type, parameter, value in (
        ("/2/dm_conversations/123456789012345678/dm_events", "dm_conversation", "id", None),
        ("/2/dm_conversations/1-2/dm_events", "dm_conversation", "id", "1-2"),
        (f"/2/dm_conversations/with/{empty}/dm_events", "dm_conversation", "participant_id", None),
        ("/2/dm_conversations/with/42/dm_events", "user", "participant_id", "42"),
    ):
        value = value or path.split("/")[-2]
        response = get(small, path)
        assert response.status_code == 200, path
        body = response.json()
        assert list(body) == ["errors"], path
        (error,) = body["errors"]
        assert error["type"].endswith("/resource-not-found")
        assert (error["resource_type"], error["parameter"], error["value"]) == (
            resource_type,
            parameter,
            value,
        )
        openapi.validate(body, "Get2DmConversationsIdDmEventsResponse")


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
