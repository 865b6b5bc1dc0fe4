"""The DM read endpoints: what each answers, as a body and the event ids it bills.

Authentication, caps, rate limits and faults are done by `app.SandboxApp` before a
handler runs; a handler raises `InvalidRequestError` (400) or `NotFoundError` (404).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from tap_x_dm_sandbox import errors
from tap_x_dm_sandbox.clock import Clock
from tap_x_dm_sandbox.config import SandboxConfig
from tap_x_dm_sandbox.data import Dataset
from tap_x_dm_sandbox.model import DAY_MS, DM_EVENTS_WINDOW_DAYS, one_to_one_conversation_id
from tap_x_dm_sandbox.paging import (
    CreatedAtOrder,
    Pager,
    TokenKind,
    select_ordered_page,
    select_page,
)
from tap_x_dm_sandbox.params import (
    CONVERSATION_ID,
    EVENT_ID,
    MAX_ID,
    USER_ID,
    InvalidRequestError,
    check_path,
    invalid_token,
    parse_list_params,
    parse_lookup_params,
    parse_users_me_params,
)
from tap_x_dm_sandbox.render import Expander, shape_event
from tap_x_dm_sandbox.standing import Standing
from tap_x_dm_sandbox.tokens import Cursor, Direction, TokenCodec
from tap_x_dm_sandbox.vocabulary import Vocabulary


class NotFoundError(Exception):
    """Raised with X's resource-not-found problem for a 404 answer."""

    def __init__(self, body: dict[str, Any]) -> None:
        super().__init__(body.get("detail", "not found"))
        self.body = body


class DmEndpoints:
    """The handlers of GET /2/users/me, /2/dm_events/:id and the three list endpoints."""

    def __init__(
        self,
        *,
        config: SandboxConfig,
        dataset: Dataset,
        clock: Clock,
        data_lock: threading.RLock,
        standing: Standing | None = None,
    ) -> None:
        self.dataset = dataset
        self.clock = clock
        self.data_lock = data_lock
        self.tokens = TokenCodec(config.seed)
        self.meta_only_last_page = config.meta_only_last_page
        self.token_kind: TokenKind = (
            "page"
            if config.page_number_pagination
            else "offset"
            if config.offset_pagination
            else "cursor"
        )
        self.pagination_token_ttl = config.pagination_token_ttl
        self.order_by = config.order_by
        self.unknown_conversation = (
            "404" if config.unknown_conversation_404 else config.unknown_conversation
        )
        self.standing = standing or Standing()
        self.nested_entities = config.nested_entities
        self.conversation_history_days = config.conversation_history_days
        self.user_fields_default = config.user_fields_default
        self.vocabulary = Vocabulary(config.vocabulary)

    def users_me(self, user_id: str, query: Mapping[str, str]) -> tuple[dict[str, Any], list[int]]:
        """Answer GET /2/users/me: the user object, nothing billed."""
        fields = parse_users_me_params(query, self.vocabulary)
        user = self.dataset.user(user_id)
        if user is None:
            missing = errors.resource_not_found(resource_type="user", parameter="id", value=user_id)
            return {"errors": [missing]}, []
        wanted = fields.user_fields if fields.user_fields is not None else self.user_fields_default
        return {"data": user.as_json(wanted)}, []

    def lookup(
        self, user_id: str, raw_id: str, query: Mapping[str, str]
    ) -> tuple[dict[str, Any], list[int]]:
        """Answer GET /2/dm_events/:event_id (any age): the event or a partial error."""
        fields = parse_lookup_params(
            query, check_path("event_id", raw_id, EVENT_ID), self.vocabulary
        )
        event_id = int(raw_id)
        with self.data_lock:
            full = None
            if event_id <= MAX_ID and self.dataset.can_see(user_id, event_id):
                full = self.dataset.event(event_id)
            if full is None:
                missing = errors.resource_not_found(
                    resource_type="dm_event", parameter="event_id", value=raw_id
                )
                return {"errors": [missing]}, []
            expander = Expander(
                self.dataset,
                fields,
                user_fields_default=self.user_fields_default,
                standing=self.standing,
                viewer_id=user_id,
            )
            expander.add([full])
            includes, partial = expander.result()
        body: dict[str, Any] = {
            "data": shape_event(
                full,
                fields.dm_event_fields,
                nested_entities=self.nested_entities,
                also=fields.implied_fields,
            )
        }
        if includes:
            body["includes"] = includes
        if partial:
            body["errors"] = partial
        return body, [event_id]

    def _issued_ms(self) -> int | None:
        """Stamp tokens with the clock only when they can expire (else: today's tokens)."""
        if self.pagination_token_ttl is None:
            return None
        return int(self.clock.time() * 1000)

    def _expired(self, cursor: Cursor) -> bool:
        if self.pagination_token_ttl is None:
            return False
        if cursor.issued_ms is None:  # issued before tokens could expire
            return True
        age_ms = int(self.clock.time() * 1000) - cursor.issued_ms
        return age_ms > self.pagination_token_ttl * 1000

    def _min_ms(self, endpoint: str) -> int | None:
        days: int | None = DM_EVENTS_WINDOW_DAYS
        if endpoint != "dm_events":
            days = self.conversation_history_days
        if days is None:
            return None
        return int(self.clock.time() * 1000) - days * DAY_MS

    def _missing_conversation(self, endpoint: str, path_value: str) -> dict[str, Any]:
        """Answer a conversation the user is not in, or a participant without one.

        X's usual answer for a missing resource is a 200 with only `errors` (no `data`, no
        `meta`); `unknown_conversation` can make it an empty page or a 404 instead.
        """
        if self.unknown_conversation == "empty":
            return {"meta": {"result_count": 0}}
        parameter = "id" if endpoint == "dm_conversation_events" else "participant_id"
        resource_type = "dm_conversation"
        if self.unknown_conversation == "404":
            missing = errors.resource_not_found(
                resource_type=resource_type, parameter=parameter, value=path_value
            )
            raise NotFoundError({**missing, "status": 404})
        if parameter == "participant_id" and self.dataset.user(path_value) is None:
            resource_type = "user"
        missing = errors.resource_not_found(
            resource_type=resource_type, parameter=parameter, value=path_value
        )
        return {"errors": [missing]}

    def list_events(
        self, user_id: str, endpoint: str, path_value: str, query: Mapping[str, str]
    ) -> tuple[dict[str, Any], list[int]]:
        """Answer one of the three list endpoints: a page, newest first, and its ids."""
        path_errors: list[dict[str, Any]] = []
        if endpoint == "dm_conversation_events":
            path_errors = check_path("id", path_value, CONVERSATION_ID)
        elif endpoint == "dm_conversation_with_events":
            path_errors = check_path("participant_id", path_value, USER_ID)
        params = parse_list_params(query, path_errors, self.vocabulary)
        scope = f"{endpoint}/{path_value}/{user_id}"
        cursor: Cursor | None = None
        if params.pagination_token is not None:
            cursor = self.tokens.decode(params.pagination_token, scope=scope)
            if cursor is not None and self._expired(cursor):
                cursor = None
            if cursor is None:
                raise InvalidRequestError([invalid_token(params.pagination_token)])
        conversation_id: str | None = None
        if endpoint == "dm_conversation_events":
            conversation_id = path_value
        elif endpoint == "dm_conversation_with_events":
            conversation_id = one_to_one_conversation_id(user_id, path_value)
        page = Pager(
            self.dataset,
            viewer_id=user_id,
            conversation_id=conversation_id,
            min_ms=self._min_ms(endpoint),
            event_types=params.event_types,
        )
        limit = params.max_results
        with self.data_lock:
            members = (
                None
                if conversation_id is None
                else (self.dataset.conversation_members(conversation_id))
            )
            if conversation_id is not None and (members is None or user_id not in members):
                return self._missing_conversation(endpoint, path_value), []
            if self.order_by == "created_at":
                chosen = select_ordered_page(
                    CreatedAtOrder(page, self.dataset),
                    cursor,
                    limit,
                    kind=self.token_kind,
                    meta_only_last_page=self.meta_only_last_page,
                )
            else:
                chosen = select_page(
                    page,
                    cursor,
                    limit,
                    kind=self.token_kind,
                    meta_only_last_page=self.meta_only_last_page,
                )
            ids = chosen.ids
            fulls = [e for e in map(self.dataset.event, ids) if e is not None]
            expander = Expander(
                self.dataset,
                params.fields,
                user_fields_default=self.user_fields_default,
                standing=self.standing,
                viewer_id=user_id,
            )
            expander.add(fulls)
            includes, partial = expander.result()
        fields = params.fields
        data = [
            shape_event(
                e,
                fields.dm_event_fields,
                nested_entities=self.nested_entities,
                also=fields.implied_fields,
            )
            for e in fulls
        ]
        body: dict[str, Any] = {}
        if data:
            body["data"] = data
        if includes:
            body["includes"] = includes
        if partial:
            body["errors"] = partial
        meta: dict[str, Any] = {"result_count": len(data)}
        if chosen.has_next and chosen.next_anchor is not None:
            meta["next_token"] = self.tokens.encode(
                Cursor(Direction.NEXT, chosen.next_anchor, self._issued_ms()), scope=scope
            )
        if chosen.previous_anchor is not None:
            meta["previous_token"] = self.tokens.encode(
                Cursor(chosen.previous_direction, chosen.previous_anchor, self._issued_ms()),
                scope=scope,
            )
        body["meta"] = meta
        return body, ids
