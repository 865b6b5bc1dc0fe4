"""Every use of X's Chat XDK (`chatxdk`, imported as `chat_xdk`) in the sandbox.

chatxdk is alpha and its API changed between 0.3 and 0.5, so it is pinned
(`tap-x-dm-sandbox[xchat]`) and only this module imports it: a new release means
reading its stubs again and changing this file alone. Key generation, export and
encryption run offline. The sandbox plays X's clients (they encrypt and sign) and
X's server (`xchat_thrift` frames what they send into history events).
"""

from __future__ import annotations

import base64
import importlib.metadata
from dataclasses import dataclass
from typing import Any

from tap_x_dm_sandbox.xchat_thrift import (
    mark_legacy_group_upgrade,
    message_create_detail,
    signature_struct,
)

CHATXDK_DISTRIBUTION = "chatxdk"
#: The version this module was written against (sandbox/pyproject.toml pins it).
CHATXDK_PINNED = "0.5.2"
INSTALL_HINT = "XChat needs chatxdk: pip install 'tap-x-dm-sandbox[xchat]'"


class XChatUnavailableError(RuntimeError):
    """chatxdk is not installed, and the seed's fixtures are not cached yet."""


def chatxdk_version() -> str | None:
    """Return the installed chatxdk version, or None when it is not installed."""
    try:
        return importlib.metadata.version(CHATXDK_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return None


def _chat() -> Any:
    try:
        from chat_xdk import Chat  # type: ignore[import-untyped]
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise XChatUnavailableError(INSTALL_HINT) from exc
    return Chat()


@dataclass(frozen=True)
class Identity:
    """One registered key version of a user: the private blob and what X publishes."""

    user_id: str
    version: str
    #: `export_keys()`: identity + signing private keys (64 bytes), base64.
    blob_b64: str
    #: SPKI base64, as X's public-keys endpoints serve them.
    public_key: str
    signing_public_key: str
    identity_public_key_signature: str

    def public_key_entry(self) -> dict[str, str]:
        """The `public_keys` argument entry chatxdk's key-change builders take."""
        return {
            "user_id": self.user_id,
            "public_key": self.public_key,
            "key_version": self.version,
            "signing_public_key": self.signing_public_key,
        }

    def signing_key_entry(self) -> dict[str, str]:
        """The `signing_keys` entry `decrypt_events` takes (from X's public-keys answer)."""
        return {
            "user_id": self.user_id,
            "public_key_version": self.version,
            "public_key": self.signing_public_key,
            "identity_public_key": self.public_key,
            "identity_public_key_signature": self.identity_public_key_signature,
        }

    def as_json(self) -> dict[str, str]:
        """The identity as the cache stores it."""
        return dict(self.__dict__)


def new_identity(user_id: str, version: str) -> Identity:
    """Generate a user's identity and signing keys, as a client registers them."""
    chat = _chat()
    registration = chat.generate_keypairs().public_key
    blob = chat.export_keys()
    return Identity(
        user_id=user_id,
        version=version,
        blob_b64=base64.b64encode(bytes(blob)).decode("ascii"),
        public_key=registration.public_key,
        signing_public_key=registration.signing_public_key,
        identity_public_key_signature=registration.identity_public_key_signature,
    )


@dataclass(frozen=True)
class Signed:
    """One signed client action, ready for X's server to frame into an event."""

    message_id: str
    #: A serialized `MessageEventDetail` (base64).
    detail_b64: str
    #: A serialized `MessageEventSignature` (base64).
    signature_b64: str


@dataclass(frozen=True)
class KeyChange:
    """A new conversation key and the signed events that announce it."""

    key: bytes
    version: str
    events: list[Signed]


def _from_action(action: dict[str, Any]) -> Signed:
    signature = signature_struct(
        action["signature"], action["public_key_version"], action["signature_version"]
    )
    return Signed(
        message_id=action["message_id"],
        detail_b64=action["encoded_message_event_detail"],
        signature_b64=base64.b64encode(signature).decode("ascii"),
    )


def _from_payload(payload: Any) -> Signed:
    detail = message_create_detail(base64.b64decode(payload.encrypted_content))
    return Signed(
        message_id=payload.message_id,
        detail_b64=base64.b64encode(detail).decode("ascii"),
        signature_b64=payload.encoded_event_signature,
    )


class Client:
    """One user's client: signs with `identity`, encrypts under conversation keys."""

    def __init__(self, identity: Identity) -> None:
        self.identity = identity
        self._chat = _chat()
        self._chat.import_keys(base64.b64decode(identity.blob_b64), identity.version)
        self._chat.set_identity(identity.user_id, identity.version)

    def key_change(self, conversation_id: str, members: list[Identity]) -> KeyChange:
        """Start or rotate a conversation's key for `members` (one key version each)."""
        result = self._chat.prepare_conversation_key_change(
            [m.public_key_entry() for m in members], conversation_id=conversation_id
        )
        return KeyChange(
            result["conversation_key"],
            result["conversation_key_version"],
            [_from_action(a) for a in result["action_signatures"]],
        )

    def group_create(
        self, conversation_id: str, members: list[Identity], admin_ids: list[str], title: str
    ) -> KeyChange:
        """Create a group: its first key and the signed group-create event."""
        result = self._chat.prepare_group_create(
            [m.public_key_entry() for m in members],
            conversation_id,
            [m.user_id for m in members],
            admin_ids,
            title=title,
        )
        return KeyChange(
            result["conversation_key"],
            result["conversation_key_version"],
            [_from_action(a) for a in result["action_signatures"]],
        )

    def legacy_group_upgrade(
        self, conversation_id: str, members: list[Identity], admin_ids: list[str], title: str
    ) -> KeyChange:
        """Create a group that upgrades a legacy one (`is_legacy_group_upgrade` set).

        chatxdk 0.5.2 has no parameter for the flag, so the group-create action is
        signed again over its payload with the flag's place (before the title) set to
        `true`, which is what chatxdk's verifier reads; its own tests check this.
        """
        result = self._chat.prepare_group_create(
            [m.public_key_entry() for m in members],
            conversation_id,
            [m.user_id for m in members],
            admin_ids,
            title=title,
        )
        key_change, group_create = result["action_signatures"]
        payload: str = group_create["signature_payload"]
        marker = f",null,{title},"
        at = payload.rindex(marker)
        payload = payload[:at] + f",true,{title}," + payload[at + len(marker) :]
        signature = base64.b64encode(bytes(self._chat.sign(payload.encode("utf-8"))))
        detail = mark_legacy_group_upgrade(
            base64.b64decode(group_create["encoded_message_event_detail"])
        )
        upgraded = {
            **group_create,
            "signature": signature.decode("ascii").rstrip("="),
            "encoded_message_event_detail": base64.b64encode(detail).decode("ascii"),
        }
        return KeyChange(
            result["conversation_key"],
            result["conversation_key_version"],
            [_from_action(key_change), _from_action(upgraded)],
        )

    def members_add(
        self,
        conversation_id: str,
        roster: list[Identity],
        new_member_ids: list[str],
        current_member_ids: list[str],
        admin_ids: list[str],
    ) -> KeyChange:
        """Add members to a group, which rotates its key."""
        result = self._chat.prepare_group_members_change(
            [m.public_key_entry() for m in roster],
            conversation_id,
            new_member_ids,
            current_member_ids,
            admin_ids,
            [],
        )
        return KeyChange(
            result["conversation_key"],
            result["conversation_key_version"],
            [_from_action(a) for a in result["action_signatures"]],
        )

    def message(
        self, conversation_id: str, text: str, key: KeyChange, attachments: list[dict[str, Any]]
    ) -> Signed:
        """A text message, with attachment descriptors when given."""
        payload = self._chat.encrypt_message(
            conversation_id,
            text,
            conversation_key=key.key,
            conversation_key_version=key.version,
            attachments=attachments or None,
        )
        return _from_payload(payload)

    def reply(self, conversation_id: str, text: str, target_event: str, key: KeyChange) -> Signed:
        """A reply; chatxdk embeds the raw target event for recipients to check the preview."""
        payload = self._chat.encrypt_reply(
            conversation_id,
            text,
            target_event,
            conversation_key=key.key,
            conversation_key_version=key.version,
        )
        return _from_payload(payload)

    def reaction(self, target_event: str, emoji: str, key: KeyChange) -> Signed:
        """A reaction to the target event."""
        payload = self._chat.encrypt_add_reaction(
            target_event, emoji, conversation_key=key.key, conversation_key_version=key.version
        )
        return _from_payload(payload)

    def edit(self, target_event: str, text: str, key: KeyChange) -> Signed:
        """An edit of the target event (the sender's own message)."""
        payload = self._chat.encrypt_edit(
            target_event, text, conversation_key=key.key, conversation_key_version=key.version
        )
        return _from_payload(payload)

    def delete(self, conversation_id: str, sequence_ids: list[str]) -> Signed:
        """A delete-for-all of the sender's own messages (signed, not encrypted)."""
        action = self._chat.prepare_message_delete(conversation_id, sequence_ids, True)
        return _from_action(action)

    def encrypt_media(self, data: bytes, key: KeyChange) -> bytes:
        """Media bytes as X stores them: secretstream under the conversation key."""
        return bytes(self._chat.encrypt_stream(data, key.key))

    def encrypt_text(self, text: str, key: KeyChange) -> str:
        """Metadata ciphertext (a group name), base64."""
        return str(self._chat.encrypt(text, key.key))


def decrypt_history(
    blob: bytes,
    key_version: str,
    encoded_events: list[str],
    signing_keys: list[dict[str, str]],
) -> dict[str, Any]:
    """Decrypt events as a user with an exported blob would (chatxdk's `decrypt_events`).

    Returns chatxdk's dict: `messages` (decrypted events), `errors` (index -> reason),
    `conversation_keys`. For the sandbox's own tests; the tap has its own module.
    """
    chat = _chat()
    chat.import_keys(blob, key_version)
    result: dict[str, Any] = chat.decrypt_events(encoded_events, signing_keys)
    return result


def decrypt_text(ciphertext_b64: str, conversation_key: bytes) -> str:
    """Decrypt metadata ciphertext (a group name) with a conversation key."""
    return str(_chat().decrypt(ciphertext_b64, conversation_key))


def decrypt_media(data: bytes, conversation_key: bytes) -> bytes:
    """Decrypt media bytes with a conversation key (for the sandbox's tests)."""
    return bytes(_chat().decrypt_stream(data, conversation_key))
