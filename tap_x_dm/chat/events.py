"""`chat_events`: each moved XChat conversation's new events, a child of `chat_conversations`.

One read per conversation (`tap_x_dm.chat.reading`: either page order, resumable,
at most one page read again after a kill), one request per page through the run's
authenticator, rate budget, retries and cost ledger. Each page goes first to the run's
page consumers (`ChatRun.end_page`: `chat_messages`, `chat_conversation_keys`), then
its records are written, then its STATE.
"""

from __future__ import annotations

import typing as t
from collections.abc import Iterable
from typing import Any

from singer_sdk.pagination import SinglePagePaginator
from typing_extensions import override

from tap_x_dm.chat.conversations import (
    PARTITION_KEY,
    ChatConversationsStream,
    ChatStream,
    is_no_access,
    no_access_line,
)
from tap_x_dm.chat.envelope import Envelope, EnvelopeError, read_envelope
from tap_x_dm.chat.reading import BOOKMARK_KEY, OLDEST_FIRST, ConversationRead
from tap_x_dm.chat.records import EVENT_FIELDS, ServedValueError, event_record
from tap_x_dm.chat.run import ChatPage
from tap_x_dm.chat.schemas import chat_events_schema
from tap_x_dm.errors import StopRunError, XAPIError, XNotFoundError

if t.TYPE_CHECKING:
    from collections.abc import Mapping

    import requests
    from singer_sdk.helpers.types import Context


#: The first page of an incremental read from the newest event (X bills each event returned).
INCREMENTAL_FIRST_PAGE = 10


class _Gone(Exception):  # noqa: N818  # a signal, not an error
    """X answered 200 with only errors: the conversation is not (or no longer) the account's."""


class ChatEventsStream(ChatStream):
    """`GET /2/chat/conversations/{id}/events`: the new events of one conversation."""

    name = "chat_events"
    path = "/2/chat/conversations/{conversation_id}/events"
    parent_stream_type = ChatConversationsStream
    state_partitioning_keys: t.ClassVar[list[str]] = [PARTITION_KEY]
    primary_keys: t.ClassVar[list[str]] = ["account_id", "id"]
    replication_key = "created_at"
    data_kind = "chat_events"

    _token: str | None = None
    _page_payload: Mapping[str, Any] | None = None
    #: `max_results` of the next request (None: `page_size`).
    _size: int | None = None

    @override
    def record_schema(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """`chat_events`, with the ciphertext columns under `xchat_ciphertext`."""
        return chat_events_schema(ciphertext=bool(config.get("xchat_ciphertext")))

    @override
    def get_new_paginator(self) -> SinglePagePaginator:
        """One request per call: `get_records` pages itself (state between pages)."""
        return SinglePagePaginator()

    @override
    def get_url_params(
        self, context: Context | None, next_page_token: str | None
    ) -> dict[str, Any]:
        """`page_size` events (fewer under `max_cost_usd`), the fields X takes, the cursor."""
        size = min(self._size or int(self.config["page_size"]), int(self.config["page_size"]))
        cap = self.config.get("max_cost_usd")
        if cap is not None:
            costs = self.services.costs
            size = costs.page_size_under(float(cap), set(), size) or 1
            costs.check_next_page(size, float(cap), set(), kind="chat_events")
        params: dict[str, Any] = {
            "max_results": size,
            "chat_message_event.fields": ",".join(EVENT_FIELDS[self.chat.vocabulary.version]),
        }
        if self._token:
            params["pagination_token"] = self._token
        return params

    @override
    def parse_response(self, response: requests.Response) -> Iterable[dict[str, Any]]:
        """The page's events (checked whole, before any is written)."""
        payload = self.payload(response)
        if not isinstance(payload, dict):
            raise XAPIError(f"GET {self.path} answered 200 with a body that is not an object")
        data = payload.get("data")
        if data is None and payload.get("errors"):
            raise _Gone(self._describe(response))
        if data is not None and not isinstance(data, list):
            raise XAPIError(f"GET {self.path} answered 200 with a `data` that is not a list")
        self._page_payload = payload
        return list(data or [])

    def _page(self, context: Context) -> list[dict[str, Any]]:
        """One page at `self._token`, asked again in 2.166's names if X refuses 2.167's."""
        self._page_payload = None
        try:
            return list(self.request_records(context))
        except XAPIError as exc:
            if not self.chat.vocabulary.switch_after(exc.status, exc.parameters):
                raise
            return list(self.request_records(context))

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """The conversation's new events, one page at a time; STATE after each page."""
        if not context or self.skipping:
            return
        conversation_id = str(context[PARTITION_KEY])
        label = f"chat_events[{conversation_id}]"
        read = ConversationRead(self.get_context_state(context), self.chat.order)
        try:
            yield from self._read(context, conversation_id, read, label)
        except (_Gone, XNotFoundError) as exc:
            # The inbox answered, so the app has Chat access: this conversation is gone.
            self.logger.warning(
                "%s: %s; the conversation is skipped and its bookmark kept.", label, exc
            )
        except XAPIError as exc:
            if not is_no_access(exc):
                raise
            self.chat.deny(no_access_line(exc))
        except StopRunError as exc:
            self.services.stop.stop(exc)  # the saved cursor lets the next run go on

    def _read(
        self, context: Context, conversation_id: str, read: ConversationRead, label: str
    ) -> Iterable[dict[str, Any]]:
        account = self.services.account.id
        ciphertext = bool(self.config.get("xchat_ciphertext"))
        # X bills every event a page returns: an incremental read from the newest event first
        # asks for a few; more new ones than that, and it reads again at `page_size`.
        small = (
            int(self.config["page_size"]) > INCREMENTAL_FIRST_PAGE
            and read.bookmark is not None
            and read.cursor is None
            and read.order != OLDEST_FIRST
        )
        while True:
            self._token = read.cursor
            self._size = INCREMENTAL_FIRST_PAGE if small else None
            try:
                rows = self._page(context)
            except XAPIError as exc:
                if read.cursor is None or "pagination_token" not in exc.parameters:
                    raise
                self.logger.warning(
                    "%s: X no longer accepts the saved cursor (%s); reading again from the first "
                    "page (events above the bookmark are emitted once).",
                    label,
                    exc,
                )
                read.restart()
                continue
            payload = self._page_payload or {}
            records = [
                self._record(row, account, conversation_id, ciphertext=ciphertext) for row in rows
            ]
            new = read.admit(records)
            if self.chat.order is None:
                self.chat.order = read.order
            by_id = {str(row.get("id")): row for row in rows}
            # The consumers first: one that stops the run leaves nothing of the page written.
            self.chat.end_page(
                ChatPage(
                    conversation_id,
                    payload,
                    records=new,
                    raw_events=[by_id[r["id"]] for r in new if r["id"] in by_id],
                )
            )
            yield from new
            meta = payload.get("meta")
            next_token = meta.get("next_token") if isinstance(meta, dict) else None
            if small and next_token and not read.stops_here():
                # Tokens may count pages: never follow a small page's cursor at another size.
                small = False
                self.logger.info(
                    "%s: more new events than a first page of %d; reading again from the top, "
                    "%d a page (those already emitted are skipped).",
                    label,
                    INCREMENTAL_FIRST_PAGE,
                    int(self.config["page_size"]),
                )
                continue
            small = False
            done = read.end_page(self._token, str(next_token) if next_token else None)
            self.services.checkpoint()
            if done:
                break
        self.chat.read_whole.add(conversation_id)
        self.services.tally.conversation("xchat", conversation_id, read.new_events)
        gap = read.gap()
        if gap is not None:
            self.logger.warning(
                "%s: the last run read up to sequence id %d, but the oldest event the Chat API "
                "still serves is %d: the events in between are lost from the API (X keeps "
                "limited XChat history), and no archive holds XChat. Run the tap more often "
                "than X forgets.",
                label,
                gap.after_id,
                gap.before_id,
            )
        self.logger.info(
            "%s: %d new event(s) in %d page(s) (%s); bookmark sequence id %s.",
            label,
            read.new_events,
            read.pages,
            (read.order or "order not seen").replace("_", " "),
            read.state.get(BOOKMARK_KEY, "not set"),
        )

    def _record(
        self, row: dict[str, Any], account: str, conversation_id: str, *, ciphertext: bool
    ) -> dict[str, Any]:
        """The `chat_events` record of one served event; refused if it has no sequence id."""
        envelope = Envelope()
        encoded = row.get("encoded_event")
        if isinstance(encoded, str):
            try:
                envelope = read_envelope(encoded)
            except EnvelopeError as exc:
                event_id = row.get("id")
                msg = f"GET {self.path}: event {event_id} has an unreadable encoded_event ({exc})"
                raise XAPIError(msg) from None
        try:
            record = event_record(row, envelope, account, ciphertext=ciphertext)
        except ServedValueError as exc:
            path = self.path.format(conversation_id=conversation_id)
            msg = (
                f"GET {path} answered 200 with a body tap-x-dm cannot read: event "
                f"{row.get('id')}: {exc}; the state is kept as it was."
            )
            raise XAPIError(msg) from None
        if record["sequence_id"] is None:
            msg = (
                f"GET {self.path} answered an event without a sequence id ({row.get('id')}): "
                "the tap cannot order it; the state is kept as it was. Report it."
            )
            raise XAPIError(msg)
        return record

    @override
    def post_process(self, row: dict[str, Any], context: Context | None = None) -> dict[str, Any]:
        """Records are built per page (`_record`), before the page is admitted."""
        return row
