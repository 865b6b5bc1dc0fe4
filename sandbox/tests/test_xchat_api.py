"""The Chat API's shape and rules: vocabularies, page order, access, limits, billing, keys."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
import requests

from tap_x_dm_sandbox import xchat_world
from tap_x_dm_sandbox.xchat_backup import MAX_GUESSES
from tap_x_dm_sandbox.xchat_crypto import CHATXDK_PINNED, chatxdk_version
from xchat_support import ChatSandbox, chat_sandbox, conversation_ids, get, pages, xchat_cache

__all__ = ["chat_sandbox", "xchat_cache"]

NOW_MS = 1_796_000_000_000


def events_path(conversation: str) -> str:
    return f"/2/chat/conversations/{conversation}/events"


def test_nothing_is_built_at_start_and_the_cache_serves_the_next_sandbox(
    chat_sandbox: ChatSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert chatxdk_version() == CHATXDK_PINNED
    first = chat_sandbox(xchat_cache_dir=str(tmp_path), now_ms=NOW_MS)
    assert list(tmp_path.iterdir()) == []  # start-up made no crypto
    inbox = get(first, "/2/chat/conversations").json()
    (cached,) = tmp_path.iterdir()
    assert cached.name.startswith(f"xchat-seed7-chatxdk{CHATXDK_PINNED}-")

    def no_crypto(*args: object) -> None:
        raise AssertionError("the cache should have served this seed")

    monkeypatch.setattr(xchat_world, "build", no_crypto)
    second = chat_sandbox(xchat_cache_dir=str(tmp_path), now_ms=NOW_MS)
    assert get(second, "/2/chat/conversations").json() == inbox
    conversation = inbox["data"][0]["id"]
    assert get(second, events_path(conversation)).json() == (
        get(first, events_path(conversation)).json()
    )
    assert second.xchat.blob(second.account.id) == first.xchat.blob(first.account.id)
    # Another clock (legacy ids and times move with it): the same cache, times follow.
    later = chat_sandbox(xchat_cache_dir=str(tmp_path), now_ms=NOW_MS + 3_600_000)
    moved = get(later, "/2/chat/conversations").json()["data"]
    assert [c["id"] for c in moved] == [c["id"] for c in inbox["data"]]
    assert moved[0]["updated_at"] > inbox["data"][0]["updated_at"]
    assert len(list(tmp_path.iterdir())) == 1
    upgraded = next(c for c in later.xchat.conversations(later.account.id) if c.legacy_id)
    assert upgraded.legacy_id in later.dataset.conversations_of(later.account.id)
    assert (
        upgraded.legacy_id
        != next(c for c in first.xchat.conversations(first.account.id) if c.legacy_id).legacy_id
    )


def test_the_inbox_pages_most_recently_updated_first(chat_sandbox: ChatSandbox) -> None:
    sb = chat_sandbox(now_ms=NOW_MS)
    walked = pages(sb, "/2/chat/conversations", max_results=2)
    assert [p["meta"]["result_count"] for p in walked] == [2, 2, 1]
    assert [p["meta"]["has_more"] for p in walked] == [True, True, False]
    convs = [c for p in walked for c in p["data"]]
    assert [c["id"] for c in convs] == [c.id for c in sb.xchat.conversations(sb.account.id)]
    updated = [c["updated_at"] for c in convs]
    assert updated == sorted(updated, reverse=True)
    assert all(p["meta"]["has_message_requests"] is False for p in walked)
    assert {c["type"] for c in convs} == {"direct", "group"}
    assert all("message_ttl_ms" in c and "message_ttl_msec" not in c for c in convs)


def test_events_come_newest_first_by_default_and_oldest_first_when_set(
    chat_sandbox: ChatSandbox,
) -> None:
    sb = chat_sandbox(now_ms=NOW_MS)
    conversation = conversation_ids(sb)["both_systems"]
    expected = [e["id"] for e in sb.xchat.events(conversation)]
    newest = [
        e["id"] for p in pages(sb, events_path(conversation), max_results=4) for e in p["data"]
    ]
    assert newest == expected[::-1]
    sb.xchat.oldest_first = True
    walked = pages(sb, events_path(conversation), max_results=4)
    assert [e["id"] for p in walked for e in p["data"]] == expected
    assert [p["meta"]["result_count"] for p in walked] == [4, 4, 3]
    flagged = chat_sandbox(now_ms=NOW_MS, chat_oldest_first=True)
    first = get(flagged, events_path(conversation), max_results=1).json()
    assert first["data"][0]["id"] == expected[0]


def test_2167_and_2166_names(chat_sandbox: ChatSandbox) -> None:
    new = chat_sandbox(now_ms=NOW_MS)
    conversation = conversation_ids(new)["both_systems"]
    event = get(new, events_path(conversation), max_results=1).json()["data"][0]
    last = new.xchat.events(conversation)[-1]
    assert set(event) == {
        "id",
        "conversation_id",
        "sender_id",
        "created_at",
        "previous_id",
        "is_trusted",
        "message_event_signature",
        "encoded_event",
    }
    assert event["created_at"].endswith("Z") and event["previous_id"] == last["previous_id"]
    assert event["conversation_id"] == conversation.replace("-", ":")
    old = chat_sandbox(now_ms=NOW_MS, chat_vocabulary="2.166")
    event = get(old, events_path(conversation), max_results=1).json()["data"][0]
    assert event["created_at_msec"] == str(last["created_ms"])
    assert event["sequence_id"] == last["sequence_id"]
    assert event["previous_sequence_id"] == last["previous_id"]
    assert "created_at" not in event and "previous_id" not in event
    inbox = get(old, "/2/chat/conversations").json()["data"]
    assert all(c["message_ttl_msec"] == "0" for c in inbox)
    asked = get(old, events_path(conversation), **{"chat_message_event.fields": "created_at"})
    assert asked.status_code == 400
    assert "created_at_msec" in asked.json()["errors"][0]["message"]


def test_fields_are_chosen_and_bad_parameters_get_400(chat_sandbox: ChatSandbox) -> None:
    sb = chat_sandbox(now_ms=NOW_MS)
    conversation = conversation_ids(sb)["tampered"]
    picked = get(sb, events_path(conversation), **{"chat_message_event.fields": "sender_id"})
    assert set(picked.json()["data"][0]) == {"id", "sender_id"}
    for params in (
        {"max_results": "101"},
        {"pagination_token": "not-a-token"},
        {"chat_message_event.fields": "text"},
        {"since_id": "1"},
    ):
        response = get(sb, events_path(conversation), **params)
        assert response.status_code == 400, params
        assert response.json()["title"] == "Invalid Request"


def test_path_forms_and_a_conversation_that_is_not_theirs(chat_sandbox: ChatSandbox) -> None:
    sb = chat_sandbox(now_ms=NOW_MS)
    cast = sb.xchat.cast
    assert cast is not None
    conversation = conversation_ids(sb)["both_systems"]
    by_pair = get(sb, events_path(conversation)).json()
    assert get(sb, events_path(cast["peers"][0])).json() == by_pair
    gone = get(sb, events_path("g123"))
    assert gone.status_code == 200
    assert "data" not in gone.json()
    assert gone.json()["errors"][0]["type"].endswith("resource-not-found")
    assert get(sb, "/2/chat/conversations/g123").json()["errors"][0]["value"] == "g123"


@pytest.mark.parametrize("status", [403, 404])
def test_an_app_without_chat_access_still_reads_legacy_dms(
    chat_sandbox: ChatSandbox, status: int
) -> None:
    sb = chat_sandbox(now_ms=NOW_MS, chat_access_denied=status)
    for path in ("/2/chat/conversations", "/2/users/public_keys?ids=1"):
        response = get(sb, path)
        assert response.status_code == status
        assert "x-rate-limit-remaining" in response.headers
    assert get(sb, "/2/dm_events").status_code == 200
    sb.chat_access_denied = None
    assert get(sb, "/2/chat/conversations").status_code == 200


def test_chat_endpoints_have_their_own_rate_limit(chat_sandbox: ChatSandbox) -> None:
    sb = chat_sandbox(now_ms=NOW_MS, chat_rate_limit=2)
    assert [get(sb, "/2/chat/conversations").status_code for _ in range(3)] == [200, 200, 429]
    limited = get(sb, "/2/chat/conversations")
    assert limited.headers["x-rate-limit-limit"] == "2"
    assert limited.headers["x-rate-limit-remaining"] == "0"
    conversation = conversation_ids(sb)["tampered"]
    assert get(sb, events_path(conversation)).status_code == 200  # a budget of its own
    assert get(sb, "/2/dm_events").headers["x-rate-limit-limit"] == "15"


def test_chat_events_are_billed_like_dm_events_once_a_day(chat_sandbox: ChatSandbox) -> None:
    sb = chat_sandbox(now_ms=NOW_MS)
    conversation = conversation_ids(sb)["both_systems"]
    pages(sb, events_path(conversation), max_results=4)
    assert sb.billed["chat_events"] == 11
    assert sb.billed_usd == pytest.approx(0.11)
    pages(sb, events_path(conversation), max_results=5)
    assert sb.billed["chat_events"] == 11  # the same day: free
    log = [e for e in sb.request_log if e["endpoint"] == "chat_events"]
    assert [e["billed"]["chat_events"] for e in log] == [4, 4, 3, 0, 0, 0]
    cheaper = chat_sandbox(now_ms=NOW_MS, chat_event_price_usd=0.005)
    pages(cheaper, events_path(conversation), max_results=100)
    assert cheaper.billed_usd == pytest.approx(0.055)
    get(cheaper, "/2/chat/conversations", expansions="participant_ids")
    assert cheaper.billed["users"] == len(
        {u for c in cheaper.xchat.conversations(cheaper.account.id) for u in c.member_ids}
    )


def test_public_keys_serve_every_key_version_of_each_user(chat_sandbox: ChatSandbox) -> None:
    sb = chat_sandbox(now_ms=NOW_MS)
    cast = sb.xchat.cast
    assert cast is not None
    account, peer = sb.account.id, cast["peers"][0]
    body = get(sb, "/2/users/public_keys", ids=f"{account},{peer},1").json()
    assert [(k["user_id"], k["public_key_version"]) for k in body["data"]] == [
        (account, "1"),
        (account, "2"),
        (peer, "1"),
    ]
    assert set(body["data"][0]) == {
        "user_id",
        "public_key",
        "public_key_version",
        "signing_public_key",
        "identity_public_key_signature",
    }
    assert [e["value"] for e in body["errors"]] == ["1"]
    one = get(sb, f"/2/users/{peer}/public_keys").json()
    assert one["data"] == body["data"][2:]
    assert get(sb, "/2/users/public_keys").status_code == 400


def test_the_key_backup_gives_the_blob_for_the_pin_and_dies_after_20_wrong(
    chat_sandbox: ChatSandbox,
) -> None:
    sb = chat_sandbox(now_ms=NOW_MS)
    account = sb.account.id
    url = sb.base_url + "/sandbox/juicebox/recover"
    headers = {"Authorization": f"Bearer {sb.access_token()}"}
    pin = sb.xchat.pin(account)
    wrong = "0000" if pin != "0000" else "1111"
    answer = requests.post(url, json={"pin": wrong}, headers=headers, timeout=10)
    assert answer.status_code == 401
    assert answer.json()["detail"] == f"Invalid PIN: guesses_remaining={MAX_GUESSES - 1}"
    right = requests.post(url, json={"pin": pin}, headers=headers, timeout=10).json()["data"]
    assert right["public_key_version"] == "1"
    assert right["user_id"] == account
    assert base64.b64decode(right["key_blob"]) == sb.xchat.blob(account)
    assert sb.xchat.key_backup.guesses_remaining(account) == MAX_GUESSES  # reset by success
    for left in range(MAX_GUESSES - 1, -1, -1):
        answer = requests.post(url, json={"pin": wrong}, headers=headers, timeout=10)
        assert answer.json()["guesses_remaining"] == left
    gone = requests.post(url, json={"pin": pin}, headers=headers, timeout=10)
    assert gone.status_code == 404
    assert "deleted after 20 wrong PINs" in gone.json()["detail"]


def test_a_world_too_small_for_the_cast_has_an_empty_inbox(chat_sandbox: ChatSandbox) -> None:
    sb = chat_sandbox(users=4, conversations=3, events=30)
    assert sb.xchat.cast is None
    assert get(sb, "/2/chat/conversations").json() == {
        "meta": {"has_message_requests": False, "has_more": False, "result_count": 0}
    }


def test_scopes_are_the_specs(chat_sandbox: ChatSandbox) -> None:
    sb = chat_sandbox(now_ms=NOW_MS)
    grant = sb.auth.issue_tokens(sb.account.id, scopes=("dm.read", "users.read"))
    headers = {"Authorization": f"Bearer {grant['access_token']}"}
    inbox = requests.get(sb.base_url + "/2/chat/conversations", headers=headers, timeout=10)
    assert inbox.status_code == 200
    conversation = inbox.json()["data"][0]["id"]
    path = sb.base_url + events_path(conversation)
    assert requests.get(path, headers=headers, timeout=10).status_code == 403
