"""The senders' signing keys, from `GET /2/users/public_keys?ids=`: batched, once per run.

`decrypt_events` verifies each event against its sender's signing key of the
version the signature names. X serves every key version of a user who is on
XChat; a member who left a group, or an unknown id, is an `errors` entry: their
events are then rows whose signature could not be verified (`departed_signer`),
never a failure. A lookup X refuses stops the run before the page instead, so
that no event is written unchecked. Requests go through the run's budget,
authenticator, retries and cost ledger (public keys are not billed), like the
lookups by id.
"""

from __future__ import annotations

import typing as t
from collections.abc import Iterable
from typing import Any

from typing_extensions import override

from tap_x_dm.api.costs import PRICES_USD
from tap_x_dm.errors import StopRunError, XAPIError
from tap_x_dm.objects.lookups import ObjectLookupStream

if t.TYPE_CHECKING:
    import requests
    from singer_sdk.helpers.types import Context

#: X's spec: up to 100 ids per request.
BATCH = 100
#: What `decrypt_events` needs of a key (X's names; `juicebox_config` is never asked for).
KEY_FIELDS = "public_key,public_key_version,signing_public_key,identity_public_key_signature"


def signing_key_entry(user_id: str, key: dict[str, Any]) -> dict[str, str] | None:
    """One served key as chatxdk's `signing_keys` entry, or None when incomplete."""
    try:
        return {
            "user_id": user_id,
            "public_key_version": str(key["public_key_version"]),
            "public_key": str(key["signing_public_key"]),
            "identity_public_key": str(key["public_key"]),
            "identity_public_key_signature": str(key["identity_public_key_signature"]),
        }
    except KeyError:
        return None


class PublicKeysStream(ObjectLookupStream):
    """`GET /2/users/public_keys?ids=`: a helper stream (not in the catalog).

    Its answers are read raw, never written as records; the `User` schema only
    satisfies the base class.
    """

    name = "users_public_keys"
    path = "/2/users/public_keys"
    schema_key = "User"
    fields_param = "public_key.fields"

    @override
    def fields(self) -> str:
        """The key fields chatxdk needs (not a setting)."""
        return KEY_FIELDS

    @override
    def ids_per_request(self) -> int:
        """X's spec: up to 100 ids (the endpoint is not in the trimmed spec a run reads)."""
        return BATCH

    @override
    def calculate_sync_cost(
        self,
        request: requests.PreparedRequest,
        response: requests.Response,
        context: Context | None,
    ) -> dict[str, int]:
        """A request, and nothing billed (X does not bill public keys)."""
        self.services.costs.add(self.name, dict.fromkeys(PRICES_USD, 0))
        return {"requests": 1}

    @override
    def log_partial_errors(self, errors: object) -> None:
        """A user without keys is expected (a member who left): `SigningKeys` says so once."""

    def fetch(self, user_ids: list[str]) -> list[dict[str, Any]]:
        """Every served key of `user_ids` (one request per 100 ids), each with its user id."""
        found: list[dict[str, Any]] = []
        for key in self.look_up(user_ids):
            user = key.get("user_id") or key.get("member_id")
            if user is None and len(user_ids) == 1:
                user = user_ids[0]  # X's spec shows one key object without its user
            if user is not None:
                found.append({**key, "user_id": str(user)})
        return found


class SigningKeys:
    """The run's cache of signing keys: each user asked at most once per run."""

    def __init__(self, stream: PublicKeysStream) -> None:
        self._stream = stream
        self._entries: dict[str, list[dict[str, str]]] = {}

    def served(self, user_id: str, version: str | None) -> bool | None:
        """Whether X serves `user_id`'s signing key of `version` (None: X was not asked)."""
        if user_id not in self._entries:
            return None
        entries = self._entries[user_id]
        return any(version is None or e["public_key_version"] == version for e in entries)

    def for_users(self, user_ids: Iterable[str]) -> list[dict[str, str]]:
        """The signing keys of `user_ids`, asking X only for users not asked this run.

        A lookup X refuses (after the retries) stops the run (`StopRunError`, as a too-long
        rate-limit wait does) before the page's rows and STATE: a row that could not be
        checked now would be a row whose content is lost, since the bookmark moves past it.

        Raises:
            StopRunError: X did not serve the keys (retries spent: a failure that may heal).
            XAPIError: X refused them for good (a 4xx).
        """
        wanted = list(dict.fromkeys(str(u) for u in user_ids))
        new = [u for u in wanted if u not in self._entries]
        if new:
            fetched: dict[str, list[dict[str, str]]] = {user: [] for user in new}
            try:
                keys = self._stream.fetch(new)  # all batches, or nothing is remembered
            except XAPIError as exc:
                if exc.status is not None and exc.status < 500:
                    raise  # refused for good (400, 401, 403, 404): not a stop to retry
                msg = (
                    f"chat_messages: the senders' signing keys could not be read ({exc}); the "
                    "run stops before that page of chat events, and the next run reads it again."
                )
                raise StopRunError(msg) from None
            for key in keys:
                entry = signing_key_entry(key["user_id"], key)
                if entry is not None and key["user_id"] in fetched:
                    fetched[key["user_id"]].append(entry)
            self._entries.update(fetched)
        return [entry for user in wanted for entry in self._entries.get(user, [])]
