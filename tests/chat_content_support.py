"""Helpers of the XChat content tests (issue 24): the owner's blob, roles, secrets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import requests

from tap_x_dm_sandbox import Sandbox
from tap_x_dm_sandbox.model import one_to_one_conversation_id

#: What each decrypted kind is called in `chat_messages` (the sandbox's `expect.kind`).
KINDS = {
    "key_change": "key_change",
    "group_create": "group_change",
    "group_member_add": "group_change",
    "message": "message",
    "reply": "reply",
    "reaction": "reaction",
    "edit": "edit",
    "delete": "delete",
}


def blob_file(sb: Sandbox, folder: Path, version: str = "1") -> Path:
    """The account's exported blob in a 0600 file, as xchat-export writes it."""
    import base64

    path = folder / f"xchat-keys-v{version}.b64"
    path.write_text(base64.b64encode(sb.xchat.blob(sb.account.id, version)).decode() + "\n")
    path.chmod(0o600)
    return path


def roles(sb: Sandbox) -> dict[str, str]:
    """The sandbox's XChat conversations by the part they play."""
    cast = sb.xchat.cast
    assert cast is not None
    convs = sb.xchat.conversations(sb.account.id)
    upgraded = next(c.id for c in convs if c.legacy_id is not None)
    return {
        "both_systems": one_to_one_conversation_id(sb.account.id, cast["peers"][0]),
        "tampered": one_to_one_conversation_id(sb.account.id, cast["peers"][1]),
        "upgraded_group": upgraded,
        "new_group": next(c.id for c in convs if c.type == "group" and c.id != upgraded),
        "unopenable": one_to_one_conversation_id(sb.account.id, cast["others"][1]),
    }


def event_pages(sb: Sandbox, conversation: str, page_size: int = 4) -> list[dict[str, Any]]:
    """Every page of a conversation's events, as the Chat API serves them."""
    headers = {"Authorization": f"Bearer {sb.access_token()}"}
    url = f"{sb.base_url}/2/chat/conversations/{conversation}/events"
    pages: list[dict[str, Any]] = []
    token = None
    while True:
        params: dict[str, Any] = {"max_results": page_size}
        if token:
            params["pagination_token"] = token
        response = requests.get(url, headers=headers, params=params, timeout=10)
        assert response.status_code == 200, response.text
        pages.append(response.json())
        token = pages[-1]["meta"].get("next_token")
        if not token:
            return pages


def secrets_of(sb: Sandbox) -> list[str]:
    """Every plaintext the sandbox's XChat holds, and the account's key blobs."""
    import base64

    found: set[str] = set()
    for conversation in roles(sb).values():
        for event in sb.xchat.events(conversation):
            for key in ("text",):
                if event["expect"].get(key):
                    found.add(event["expect"][key])
    found.update({"Launch team", "Partners", "receipt.png"})
    for version in ("1", "2"):
        blob = sb.xchat.blob(sb.account.id, version)
        found.add(base64.b64encode(blob).decode())
        found.add(blob.hex())
    return sorted(found)
