"""`chat_messages`: the decrypted content of the `chat_events` pages, no second read.

`chat_events` hands each page to `ChatMessagesStream.take_page` before the
page's records and STATE; this stream decrypts it with the owner's key blob
(`crypto`), verifies every signature against keys from `GET /2/users/public_keys`
(`signing_keys`) and writes one row per event (`messages`). It reads nothing
itself and keeps no state, so content is never passed over: when X does not serve
the signing keys, the run stops before the page (read again next run); without the
`xchat` extra or without a key blob, one WARNING, no SCHEMA, and the chat streams
read nothing (the other streams run). Nothing decrypted, and no key, is ever
logged: lines carry counts and statuses only.
"""

from __future__ import annotations

import typing as t
from collections.abc import Iterable, Mapping
from typing import Any

from singer_sdk.helpers.conform import TypeConformanceLevel
from typing_extensions import override

from tap_x_dm.chat import key_settings as keys
from tap_x_dm.chat.crypto import INSTALL_HINT, Decryptor, KeyBlobError, chatxdk_installed
from tap_x_dm.chat.envelope import Envelope, EnvelopeError, read_envelope
from tap_x_dm.chat.messages import SCHEMA, chat_message_row
from tap_x_dm.chat.run import ChatPage, ChatRun
from tap_x_dm.chat.signing_keys import PublicKeysStream, SigningKeys
from tap_x_dm.sdk_adapter import OutOfBandRecordsStream

if t.TYPE_CHECKING:
    from singer_sdk import Tap
    from singer_sdk.helpers.types import Context

    from tap_x_dm.services import RunServices


class ChatMessagesStream(OutOfBandRecordsStream):
    """Decrypted chat events: text, entities, attachments, replies, reactions, edits, deletes."""

    name = "chat_messages"
    primary_keys: t.ClassVar[list[str]] = ["account_id", "id"]
    #: Decrypted words are stored only when asked for (X's policy: the users' consent).
    selected_by_default = False
    #: Rows are built here from chatxdk's JSON: nothing to convert.
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE

    def __init__(self, tap: Tap, services: RunServices, chat: ChatRun) -> None:
        super().__init__(tap=tap, schema=SCHEMA)
        self._services = services
        self._chat = chat
        self._owner = tap
        self._decryptor: Decryptor | None = None
        self._signing: SigningKeys | None = None

    # -- readiness ------------------------------------------------------------------------

    def _why_disabled(self) -> str | None:
        if not chatxdk_installed():
            return f"chatxdk is not installed ({INSTALL_HINT})"
        if not keys.configured(self.config):
            return (
                f"no key blob is configured ({keys.BLOB_SETTING}, {keys.VERSION_SETTING}; "
                "tap-x-dm-auth xchat-export makes it)"
            )
        return None

    def why_not_decrypting(self) -> str | None:
        """A `ChatRun` precondition: the line when selected but unable to decrypt.

        The chat streams then read nothing (their bookmarks stay): had `chat_events` gone
        on, the next run, with the key, would never see the content of what it passed.
        """
        why = self._why_disabled() if self.selected else None
        if why is None:
            return None
        return (
            f"chat_messages is selected but {why}: the chat streams read nothing in this run, "
            "so that no bookmark passes events it could not decrypt; the other streams run. "
            "Fix it, or deselect chat_messages."
        )

    @property
    def decrypting(self) -> bool:
        """Whether this run decrypts (selected, the extra installed, a blob configured)."""
        return self.selected and self._why_disabled() is None

    def _decryptor_now(self) -> Decryptor:
        if self._decryptor is None:
            blob = keys.read_blob(str(self.config[keys.BLOB_SETTING]))
            try:
                self._decryptor = Decryptor(blob, str(self.config[keys.VERSION_SETTING]))
            except KeyBlobError as exc:
                msg = f"{keys.BLOB_SETTING}: chatxdk refused the key blob ({exc})."
                raise keys.KeySettingError(msg) from None
        return self._decryptor

    def _signing_now(self) -> SigningKeys:
        if self._signing is None:
            self._signing = SigningKeys(PublicKeysStream(self._owner, self._services))
        return self._signing

    # -- pages ----------------------------------------------------------------------------

    def take_page(self, page: ChatPage) -> None:
        """A `chat_events` page consumer: rows for the page's new events."""
        if page.raw_events:
            self.write_page(page.payload, page.raw_events)

    def write_page(
        self, page: Mapping[str, Any], emitted: Iterable[Mapping[str, Any]] | None = None
    ) -> None:
        """Write the rows of one `chat_events` page (of `emitted`, its events written now).

        The page is decrypted whole (oldest first, after its key-change events), so
        keys and replies resolve as X's clients resolve them; rows are written only
        for `emitted` (all of the page's events when None).
        """
        if not self.decrypting:
            return
        served = [e for e in page.get("data") or [] if isinstance(e, dict) and e.get("id")]
        if not served:
            return
        wanted = None if emitted is None else {str(e["id"]) for e in emitted}
        ordered = sorted(served, key=_sequence_of)
        meta = page.get("meta") or {}
        key_events = [k for k in meta.get("conversation_key_events") or [] if isinstance(k, str)]
        signing = self._signing_now()
        senders = {str(e["sender_id"]) for e in ordered if e.get("sender_id")}
        opened = self._decryptor_now().open_page(
            key_events,
            [str(e.get("encoded_event") or "") for e in ordered],
            signing.for_users(sorted(senders, key=_as_int)),
        )
        account_id = self._services.account.id
        version = str(self.config[keys.VERSION_SETTING])
        for event, result in zip(ordered, opened, strict=True):
            if wanted is not None and str(event["id"]) not in wanted:
                continue
            signature = event.get("message_event_signature") or {}
            envelope = _envelope(event)
            row = chat_message_row(
                event,
                result,
                sequence_id=envelope.sequence_id,
                legacy_group_upgrade=envelope.is_legacy_group_upgrade,
                account_id=account_id,
                key_version=version,
                signer_served=signing.served(
                    str(event.get("sender_id")), signature.get("public_key_version")
                ),
            )
            self.write_out_of_band(row)

    @override
    def schema_wanted(self) -> bool:
        """No SCHEMA when this run cannot decrypt (the one WARNING is `ChatRun.held`'s)."""
        self._chat.held()
        return self.decrypting

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """Nothing of its own: its rows are written with `chat_events`' pages."""
        return iter(())


def _envelope(event: Mapping[str, Any]) -> Envelope:
    """The event's plaintext framing (an empty one when it cannot be read)."""
    try:
        return read_envelope(str(event.get("encoded_event") or ""))
    except EnvelopeError:
        return Envelope()


def _sequence_of(event: Mapping[str, Any]) -> int:
    """Oldest first: sequence ids grow with time (message ids are UUIDs, never compared)."""
    sequence = _envelope(event).sequence_id
    return _as_int(sequence) if sequence else 0


def _as_int(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        return 0
