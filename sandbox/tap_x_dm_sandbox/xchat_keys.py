"""The Chat API's key and media endpoints, and the key-backup stand-in's HTTP side."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

from tap_x_dm_sandbox import errors
from tap_x_dm_sandbox.params import InvalidRequestError
from tap_x_dm_sandbox.xchat_backup import BackupDeletedError, KeyBackup, WrongPinError
from tap_x_dm_sandbox.xchat_params import ChatAnswer, field_set, query_params
from tap_x_dm_sandbox.xchat_store import XChatWorld

_KEY_FIELDS = (
    "identity_public_key_signature",
    "juicebox_config",
    "public_key",
    "public_key_version",
    "signing_public_key",
)
_DEFAULT_KEY_FIELDS = frozenset(_KEY_FIELDS) - {"juicebox_config"}


def _keys_of(world: XChatWorld, user_id: str, show: frozenset[str]) -> list[dict[str, Any]]:
    out = []
    for identity in world.public_keys(user_id):
        full = {
            "public_key": identity.public_key,
            "public_key_version": identity.version,
            "signing_public_key": identity.signing_public_key,
            "identity_public_key_signature": identity.identity_public_key_signature,
            "juicebox_config": {"max_guess_count": 20, "token_map": []},
        }
        out.append({"user_id": user_id, **{k: v for k, v in full.items() if k in show}})
    return out


def public_keys(world: XChatWorld, path_id: str | None, raw: Mapping[str, str]) -> ChatAnswer:
    """Both public-keys endpoints; users without keys are `errors` entries."""
    allowed = ("public_key.fields",) if path_id else ("ids", "public_key.fields")
    query = query_params(raw, allowed)
    show = field_set(query, "public_key.fields", _KEY_FIELDS, _DEFAULT_KEY_FIELDS)
    ids = [path_id] if path_id else [i for i in (query.get("ids") or "").split(",") if i]
    if not ids or len(ids) > 100 or not all(i.isdigit() for i in ids):
        value = query.get("ids", "")
        message = f"The `ids` query parameter value [{value}] is not 1 to 100 user ids"
        raise InvalidRequestError([errors.param_error("ids", value, message)])
    data, problems = [], []
    for user_id in ids:
        keys = _keys_of(world, user_id, show)
        data.extend(keys)
        if not keys:
            problems.append(
                errors.resource_not_found(resource_type="user", parameter="ids", value=user_id)
            )
    body: dict[str, Any] = {}
    if data:
        body["data"] = data
    if problems:
        body["errors"] = problems
    return ChatAnswer(200, body)


def media(world: XChatWorld, user_id: str, path_id: str, hash_key: str) -> ChatAnswer:
    """`GET /2/chat/media/{id}/{media_hash_key}`: the encrypted bytes."""
    conv = world.find(user_id, path_id)
    item = world.media.get(hash_key)
    if conv is None or item is None or item["conversation"] != conv.id:
        return ChatAnswer(404, dict(errors.NOT_FOUND))
    return ChatAnswer(200, base64.b64decode(item["data_b64"]))


def recover(backup: KeyBackup, user_id: str, body: bytes) -> ChatAnswer:
    """The key-backup stand-in: the blob for the right PIN (see `xchat_backup`)."""
    try:
        pin = str(json.loads(body or b"{}")["pin"])
    except (ValueError, KeyError, TypeError):
        return ChatAnswer(400, {"title": "Invalid Request", "detail": 'send {"pin": "…"}'})
    try:
        version, blob = backup.recover(user_id, pin)
    except WrongPinError as exc:
        detail = {"title": "Unauthorized", "detail": str(exc), "status": 401}
        return ChatAnswer(401, {**detail, "guesses_remaining": exc.remaining})
    except BackupDeletedError as exc:
        return ChatAnswer(404, {"title": "Not Found", "detail": str(exc), "status": 404})
    data = {
        "user_id": user_id,
        "public_key_version": version,
        "key_blob": base64.b64encode(blob).decode("ascii"),
    }
    return ChatAnswer(200, {"data": data})
