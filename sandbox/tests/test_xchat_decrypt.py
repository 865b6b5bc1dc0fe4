"""The served XChat history decrypts with chatxdk and the account's own blob, as expected.

Read over HTTP like a client (pages, `meta.conversation_key_events`, signing keys
from `/2/users/public_keys`), then decrypted with `chatxdk`: which events open,
which must not, and why.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from tap_x_dm_sandbox import Sandbox
from tap_x_dm_sandbox.xchat_builder import PNG_16X8
from tap_x_dm_sandbox.xchat_crypto import decrypt_history, decrypt_media, decrypt_text
from xchat_support import ChatSandbox, chat_sandbox, conversation_ids, get, pages, xchat_cache

__all__ = ["chat_sandbox", "xchat_cache"]

#: What the account's blob (key version 1) makes of each conversation.
OUTCOMES = {
    "both_systems": {"ok": 11},
    "tampered": {"ok": 4, "bad_signature": 1},
    "upgraded_group": {"ok": 6, "departed_signer": 3},
    "new_group": {"ok": 8},
    "unopenable": {"unknown_key_version": 3},
}
#: The decrypted shape of each kind of event: (type, content_type).
SHAPES = {
    "key_change": ("KeyChange", None),
    "group_create": ("GroupChange", None),
    "group_member_add": ("GroupChange", None),
    "message": ("Message", "Text"),
    "reply": ("Message", "Text"),
    "reaction": ("Message", "Reaction"),
    "edit": ("Message", "Edit"),
    "delete": ("MessageDeleted", None),
}


def served_history(sb: Sandbox, conversation: str) -> tuple[list[str], list[str]]:
    """(key-change events from meta, every event oldest first) as a client reads them."""
    key_events: list[str] = []
    events: list[dict[str, Any]] = []
    for page in pages(sb, f"/2/chat/conversations/{conversation}/events", max_results=4):
        key_events += [k for k in page["meta"]["conversation_key_events"] if k not in key_events]
        events += page.get("data", [])
    events.reverse()  # pages come newest first
    return key_events, [e["encoded_event"] for e in events]


def signing_keys(sb: Sandbox, user_ids: list[str]) -> list[dict[str, str]]:
    """The senders' signing keys as `decrypt_events` takes them, from X's endpoint."""
    body = get(sb, "/2/users/public_keys", ids=",".join(user_ids)).json()
    return [
        {
            "user_id": k["user_id"],
            "public_key_version": k["public_key_version"],
            "public_key": k["signing_public_key"],
            "identity_public_key": k["public_key"],
            "identity_public_key_signature": k["identity_public_key_signature"],
        }
        for k in body.get("data", [])
    ]


def decrypt(
    sb: Sandbox, conversation: str, *, version: str = "1"
) -> tuple[dict[str, dict[str, Any]], dict[str, str], dict[str, Any]]:
    """Decrypt a conversation's served history with the account's blob of `version`.

    Returns (decrypted events by sequence id, errors by sequence id, chatxdk's result).
    """
    key_events, events = served_history(sb, conversation)
    expected = sb.xchat.events(conversation)
    assert len(events) == len(expected)
    assert set(key_events) <= set(events)  # meta repeats the history's key changes
    senders = sorted({e["sender_id"] for e in expected}, key=int)
    result = decrypt_history(
        sb.xchat.blob(sb.account.id, version), version, events, signing_keys(sb, senders)
    )
    opened = {m["event"]["sequence_id"]: m["event"] for m in result["messages"]}
    failed = {expected[int(i)]["sequence_id"]: why for i, why in result["errors"].items()}
    return opened, failed, result


def test_every_event_opens_or_fails_for_its_own_reason(chat_sandbox: ChatSandbox) -> None:
    sb = chat_sandbox()
    roles = conversation_ids(sb)
    assert sorted(c.id for c in sb.xchat.conversations(sb.account.id)) == sorted(roles.values())
    for role, conversation in roles.items():
        opened, failed, _ = decrypt(sb, conversation)
        expected = sb.xchat.events(conversation)
        outcomes = Counter(e["expect"]["outcome"] for e in expected)
        assert outcomes == OUTCOMES[role], role
        assert len(opened) + len(failed) == len(expected), role
        for event in expected:
            want, seq = event["expect"], event["sequence_id"]
            if want["outcome"] != "ok":
                assert seq in failed and seq not in opened, (role, want)
                continue
            got = opened[seq]
            assert got["verified"] is True
            assert got["id"] == event["id"] and got["sender_id"] == event["sender_id"]
            kind, content_type = SHAPES[want["kind"]]
            assert got["type"] == kind, (role, want)
            if content_type is not None:
                assert got["content"]["content_type"] == content_type
            if want["kind"] in ("message", "reply"):
                assert got["content"]["text"] == want["text"]


def test_each_failure_names_its_cause(chat_sandbox: ChatSandbox) -> None:
    sb = chat_sandbox()
    roles = conversation_ids(sb)
    _, failed, _ = decrypt(sb, roles["tampered"])
    assert len(failed) == 1
    assert "Signature verification failed" in next(iter(failed.values()))
    assert "ECDSA mismatch" in next(iter(failed.values()))
    _, failed, _ = decrypt(sb, roles["upgraded_group"])
    assert len(failed) == 3
    assert all("no matching signing key" in why for why in failed.values())
    opened, failed, _ = decrypt(sb, roles["unopenable"])
    assert not opened and len(failed) == 3
    assert any("no matching key found" in why for why in failed.values())


def test_the_key_version_2_blob_opens_what_version_1_cannot(chat_sandbox: ChatSandbox) -> None:
    sb = chat_sandbox()
    opened, failed, _ = decrypt(sb, conversation_ids(sb)["unopenable"], version="2")
    assert failed == {}
    texts = [e["content"]["text"] for e in opened.values() if e["type"] == "Message"]
    assert texts == ["Can you confirm my new address?", "Confirmed."]


def test_one_page_opens_alone_with_its_key_change_events(chat_sandbox: ChatSandbox) -> None:
    sb = chat_sandbox()
    conversation = conversation_ids(sb)["both_systems"]
    path = f"/2/chat/conversations/{conversation}/events"
    first = get(sb, path, max_results=3).json()
    second = get(sb, path, max_results=3, pagination_token=first["meta"]["next_token"]).json()
    keys = second["meta"]["conversation_key_events"]
    assert len(keys) == 1  # the page's events all use the first key version
    events = [e["encoded_event"] for e in second["data"]]
    result = decrypt_history(
        sb.xchat.blob(sb.account.id), "1", keys + events, sb.xchat.signing_keys()
    )
    assert result["errors"] == {}
    page_ids = [e["id"] for e in second["data"]]
    assert [m["event"]["id"] for m in result["messages"][1:]] == page_ids


def test_replies_reactions_edits_and_deletes_point_at_their_targets(
    chat_sandbox: ChatSandbox,
) -> None:
    sb = chat_sandbox()
    conversation = conversation_ids(sb)["both_systems"]
    opened, _, _ = decrypt(sb, conversation)
    by_kind = {e["expect"]["kind"]: e for e in reversed(sb.xchat.events(conversation))}
    reply = opened[by_kind["reply"]["sequence_id"]]["content"]
    assert reply["replying_to_preview"]["message_text"] == "Great, here is my receipt."
    reaction = opened[by_kind["reaction"]["sequence_id"]]["content"]
    assert reaction["emoji"] == "\N{THUMBS UP SIGN}"
    assert reaction["target_message_id"] == by_kind["reaction"]["expect"]["target"]
    edit = opened[by_kind["edit"]["sequence_id"]]["content"]
    assert edit["new_text"] == "Hi, we moved this support chat to XChat."
    assert edit["target_message_id"] == by_kind["edit"]["expect"]["target"]
    delete = opened[by_kind["delete"]["sequence_id"]]
    assert delete["message_ids"] == by_kind["delete"]["expect"]["targets"]
    assert delete["delete_for_all"] is True


def test_attachments_are_encrypted_media_served_by_the_media_endpoint(
    chat_sandbox: ChatSandbox,
) -> None:
    sb = chat_sandbox()
    roles = conversation_ids(sb)
    opened, _, result = decrypt(sb, roles["both_systems"])
    (with_media,) = [e for e in opened.values() if (e.get("content") or {}).get("attachments")]
    media = with_media["content"]["attachments"][0]["media"]
    assert (media["filename"], media["dimensions"]) == ("receipt.png", {"width": 16, "height": 8})
    path = f"/2/chat/media/{roles['both_systems']}/{media['media_hash_key']}"
    response = get(sb, path)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert len(response.content) > media["filesize_bytes"]  # ciphertext, not the image
    key = result["conversation_keys"]["keys"][with_media["key_version"]]
    assert decrypt_media(response.content, key) == PNG_16X8 + bytes(64)
    elsewhere = f"/2/chat/media/{roles['tampered']}/{media['media_hash_key']}"
    assert get(sb, elsewhere).status_code == 404


def test_the_upgraded_group_continues_a_legacy_group_and_a_member_left(
    chat_sandbox: ChatSandbox,
) -> None:
    sb = chat_sandbox()
    cast = sb.xchat.cast
    assert cast is not None
    upgraded = conversation_ids(sb)["upgraded_group"]
    legacy = cast["legacy_group"]
    assert sb.account.id in (sb.dataset.conversation_members(legacy) or ())
    assert sb.xchat.world.conversations[upgraded].legacy_id == legacy
    create = next(e for e in sb.xchat.events(upgraded) if e["expect"]["kind"] == "group_create")
    assert create["expect"]["legacy_group_upgrade"] is True
    opened, _, _ = decrypt(sb, upgraded)
    change = opened[create["sequence_id"]]["change"]
    leaver = cast["group_members"][2]
    assert change["change_type"] == "Created"
    assert change["member_ids"] == [sb.account.id, *cast["group_members"]]
    body = get(sb, f"/2/chat/conversations/{upgraded}", expansions="member_ids").json()
    assert leaver not in body["data"]["member_ids"]
    keys = get(sb, "/2/users/public_keys", ids=leaver).json()
    assert "data" not in keys and keys["errors"][0]["value"] == leaver
    assert upgraded not in [c.id for c in sb.xchat.conversations(leaver)]


def test_messages_added_now_decrypt_and_move_updated_at(chat_sandbox: ChatSandbox) -> None:
    sb = chat_sandbox()
    roles = conversation_ids(sb)
    conversation = roles["both_systems"]
    path = f"/2/chat/conversations/{conversation}/events"
    first = get(sb, path, max_results=4).json()
    before = get(sb, f"/2/chat/conversations/{conversation}").json()["data"]["updated_at"]
    sb.clock.advance(60)  # type: ignore[attr-defined]
    added = sb.xchat.add_messages(conversation, 2, text="Any news?")
    assert [e["expect"] for e in added] == [
        {"kind": "message", "text": "Any news?", "outcome": "ok"}
    ] * 2
    assert added[1]["previous_id"] == added[0]["sequence_id"]
    # A walk begun before the additions goes on without repeats; a new one starts with them.
    rest = get(sb, path, max_results=100, pagination_token=first["meta"]["next_token"]).json()
    assert not {e["id"] for e in rest["data"]} & {e["id"] for e in first["data"]}
    assert len(first["data"]) + len(rest["data"]) == 11
    newest = get(sb, path, max_results=2).json()["data"]
    assert [e["id"] for e in newest] == [added[1]["id"], added[0]["id"]]
    after = get(sb, f"/2/chat/conversations/{conversation}").json()["data"]["updated_at"]
    assert after > before
    opened, failed, _ = decrypt(sb, conversation)
    assert failed == {}
    assert [opened[e["sequence_id"]]["content"]["text"] for e in added] == ["Any news?"] * 2
    unopenable = roles["unopenable"]
    (late,) = sb.xchat.add_messages(unopenable, sender_id=sb.account.id, text="Still there?")
    assert late["expect"]["outcome"] == "unknown_key_version"
    opened, failed, _ = decrypt(sb, unopenable, version="2")
    assert failed == {} and opened[late["sequence_id"]]["content"]["text"] == "Still there?"


def test_group_names_are_ciphertext_under_the_latest_key(chat_sandbox: ChatSandbox) -> None:
    sb = chat_sandbox()
    roles = conversation_ids(sb)
    for role, title in (("upgraded_group", "Launch team"), ("new_group", "Partners")):
        body = get(sb, f"/2/chat/conversations/{roles[role]}").json()["data"]
        assert body["group_name"] != title
        _, _, result = decrypt(sb, roles[role])
        keys = result["conversation_keys"]
        assert decrypt_text(body["group_name"], keys["keys"][keys["latest_version"]]) == title
