"""X's Chat API read endpoints, as XCHAT.md and the OpenAPI documents describe them.

- `GET /2/chat/conversations`, `GET /2/chat/conversations/{id}`: the inbox.
- `GET /2/chat/conversations/{id}/events`: messages and key changes, paged, with
  `meta.conversation_key_events` (the key changes a page's events need).
- `GET /2/users/public_keys?ids=`, `GET /2/users/{id}/public_keys`: signing keys.
- `GET /2/chat/media/{id}/{media_hash_key}`: encrypted media bytes.
- `POST /sandbox/juicebox/recover`: the key-backup stand-in (`xchat_backup`).

What X does not document is a setting: the page order (newest first by default,
as X's clients fetch "the latest page" of a conversation), the vocabulary (2.167:
`created_at`, `previous_id`, `message_ttl_ms`; 2.166: `created_at_msec`,
`sequence_id`, `previous_sequence_id`, `message_ttl_msec`), and the answer for an
app without Chat access. Every field is sent when a `*.fields` parameter is absent
(X documents no defaults; a client should always ask).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from tap_x_dm_sandbox import errors
from tap_x_dm_sandbox.model import iso_ms
from tap_x_dm_sandbox.params import InvalidRequestError
from tap_x_dm_sandbox.tokens import Cursor, Direction, TokenCodec
from tap_x_dm_sandbox.xchat_backup import KeyBackup
from tap_x_dm_sandbox.xchat_keys import media, public_keys, recover
from tap_x_dm_sandbox.xchat_params import ChatAnswer, field_set, max_results, query_params
from tap_x_dm_sandbox.xchat_store import ChatConversation, XChatLoader

ENDPOINTS = frozenset(
    {
        "chat_conversations",
        "chat_conversation",
        "chat_events",
        "chat_media",
        "users_public_keys",
        "user_public_keys",
        "xchat_key_backup",
    }
)
_READ = frozenset({"dm.read", "tweet.read", "users.read"})
#: OAuth 2.0 scopes each endpoint needs (the spec's; the inbox list omits `tweet.read`).
SCOPES: dict[str, frozenset[str]] = {
    **dict.fromkeys(ENDPOINTS, _READ),
    "chat_conversations": frozenset({"dm.read", "users.read"}),
}
#: Routes for app.ROUTES: (method, path pattern, endpoint name).
ROUTES: tuple[tuple[str, re.Pattern[str], str], ...] = (
    ("GET", re.compile(r"^/2/chat/conversations$"), "chat_conversations"),
    ("GET", re.compile(r"^/2/chat/conversations/([^/]+)/events$"), "chat_events"),
    ("GET", re.compile(r"^/2/chat/conversations/([^/]+)$"), "chat_conversation"),
    ("GET", re.compile(r"^/2/chat/media/([^/]+)/([^/]+)$"), "chat_media"),
    ("GET", re.compile(r"^/2/users/public_keys$"), "users_public_keys"),
    ("GET", re.compile(r"^/2/users/([0-9]+)/public_keys$"), "user_public_keys"),
    ("POST", re.compile(r"^/sandbox/juicebox/recover$"), "xchat_key_backup"),
)
_PATH_ID = re.compile(r"^([0-9]{1,19}|[0-9]{1,19}-[0-9]{1,19}|g[0-9]{1,19})$")
_CONVERSATION_FIELDS = (
    "created_at",
    "group_avatar_url",
    "group_name",
    "id",
    "is_muted",
    "screen_capture_blocking_enabled",
    "screen_capture_detection_enabled",
    "type",
    "updated_at",
)
_ID_LISTS = ("admin_ids", "member_ids", "participant_ids")
_EVENT_FIELDS = (
    "conversation_id",
    "conversation_token",
    "encoded_event",
    "id",
    "is_trusted",
    "message_event_signature",
    "previous_id",
    "sender_id",
)


class XChatEndpoints:
    """Answers the Chat API from the loaded XChat world."""

    def __init__(
        self,
        *,
        loader: XChatLoader,
        backup: KeyBackup,
        tokens: TokenCodec,
        users: Mapping[str, Any],
        vocabulary: str,
        oldest_first: bool,
    ) -> None:
        if vocabulary not in ("2.166", "2.167"):
            raise ValueError(f"chat_vocabulary must be '2.166' or '2.167', got {vocabulary!r}")
        self.loader = loader
        self.backup = backup
        self.tokens = tokens
        self.users = users
        self.vocabulary = vocabulary
        self.oldest_first = oldest_first

    # -- parameters -----------------------------------------------------------------------

    def _cursor(self, query: Mapping[str, str], scope: str) -> int | None:
        token = query.get("pagination_token")
        if token is None:
            return None
        cursor = self.tokens.decode(token, scope=scope)
        if cursor is None:
            message = f"The `pagination_token` query parameter value [{token}] is not valid"
            raise InvalidRequestError([errors.param_error("pagination_token", token, message)])
        return cursor.id

    def _token(self, position: int, scope: str) -> str:
        return self.tokens.encode(Cursor(Direction.NEXT, position), scope=scope)

    @staticmethod
    def _gone(value: str) -> ChatAnswer:
        problem = errors.resource_not_found(
            resource_type="chat_conversation", parameter="id", value=value
        )
        return ChatAnswer(200, {"errors": [problem]})

    # -- conversations ----------------------------------------------------------------------

    @property
    def _ttl_field(self) -> str:
        return "message_ttl_msec" if self.vocabulary == "2.166" else "message_ttl_ms"

    def _conversation_fields(self) -> tuple[str, ...]:
        fields = (*_CONVERSATION_FIELDS, self._ttl_field)
        return tuple(sorted((*fields, *_ID_LISTS) if self.vocabulary == "2.166" else fields))

    def _render_conversations(
        self, convs: list[ChatConversation], query: Mapping[str, str], answer: ChatAnswer
    ) -> list[dict[str, Any]]:
        allowed = self._conversation_fields()
        chosen = field_set(query, "chat_conversation.fields", allowed, frozenset(allowed))
        expansions = field_set(query, "expansions", _ID_LISTS, frozenset())
        show = chosen | {"id"} | expansions
        out = []
        for conv in convs:
            full = conv.as_json(self._ttl_field)
            out.append({k: v for k, v in full.items() if k in show})
            for name in expansions:
                answer.user_ids.extend(u for u in full.get(name, []) if u not in answer.user_ids)
        return out

    def _includes(self, answer: ChatAnswer, query: Mapping[str, str]) -> dict[str, Any]:
        if not answer.user_ids:
            return {}
        wanted = frozenset((query.get("user.fields") or "").split(","))
        users = [self.users[u].as_json(wanted) for u in answer.user_ids if u in self.users]
        return {"includes": {"users": users}}

    def conversations(self, user_id: str, raw: Mapping[str, str]) -> ChatAnswer:
        """`GET /2/chat/conversations`: the inbox, most recently updated first."""
        query = query_params(
            raw,
            (
                "max_results",
                "pagination_token",
                "chat_conversation.fields",
                "expansions",
                "user.fields",
            ),
        )
        limit = max_results(query)
        scope = f"chat_conversations\0{user_id}"
        start = self._cursor(query, scope) or 0
        convs = self.loader.get().conversations_of(user_id)
        page = convs[start : start + limit]
        answer = ChatAnswer(200, {})
        meta: dict[str, Any] = {
            "has_message_requests": False,
            "has_more": start + limit < len(convs),
            "result_count": len(page),
        }
        if meta["has_more"]:
            meta["next_token"] = self._token(start + limit, scope)
        body: dict[str, Any] = {}
        if page:
            body["data"] = self._render_conversations(page, query, answer)
        answer.body = {**body, **self._includes(answer, query), "meta": meta}
        return answer

    def conversation(self, user_id: str, path_id: str, raw: Mapping[str, str]) -> ChatAnswer:
        """`GET /2/chat/conversations/{id}`: one conversation, or errors-only if not theirs."""
        query = query_params(raw, ("chat_conversation.fields", "expansions", "user.fields"))
        conv = self.loader.get().find(user_id, path_id)
        if conv is None:
            return self._gone(path_id)
        answer = ChatAnswer(200, {})
        data = self._render_conversations([conv], query, answer)[0]
        answer.body = {"data": data, **self._includes(answer, query)}
        return answer

    # -- events -----------------------------------------------------------------------------

    def _event_fields(self) -> tuple[str, ...]:
        created = "created_at_msec" if self.vocabulary == "2.166" else "created_at"
        return tuple(sorted((*_EVENT_FIELDS, created)))

    def _render_event(self, event: Any, show: frozenset[str]) -> dict[str, Any]:
        legacy = self.vocabulary == "2.166"
        full: dict[str, Any] = {
            "id": event.id,
            "conversation_id": event.conversation_id,
            "sender_id": event.sender_id,
            "is_trusted": True,
            "message_event_signature": event.signature,
            "encoded_event": event.encoded_event,
        }
        if legacy:
            full["created_at_msec"] = str(event.created_ms)
        else:
            full["created_at"] = iso_ms(event.created_ms)
        out = {k: v for k, v in full.items() if k in show}
        if legacy and "id" in show:
            out["sequence_id"] = event.sequence_id
        if "previous_id" in show and event.previous_sequence_id is not None:
            out["previous_sequence_id" if legacy else "previous_id"] = event.previous_sequence_id
        return out

    def events(self, user_id: str, path_id: str, raw: Mapping[str, str]) -> ChatAnswer:
        """`GET /2/chat/conversations/{id}/events`: one page and its key-change events."""
        query = query_params(raw, ("max_results", "pagination_token", "chat_message_event.fields"))
        if not _PATH_ID.match(path_id):
            message = f"The `id` path parameter value [{path_id}] is not valid"
            raise InvalidRequestError([errors.param_error("id", path_id, message)])
        limit = max_results(query)
        allowed = self._event_fields()
        show = field_set(query, "chat_message_event.fields", allowed, frozenset(allowed)) | {"id"}
        conv = self.loader.get().find(user_id, path_id)
        if conv is None:
            return self._gone(path_id)
        scope = f"chat_events\0{conv.id}\0{user_id}\0{int(self.oldest_first)}"
        cursor = self._cursor(query, scope)
        history = conv.events
        if self.oldest_first:
            start = cursor or 0
            page = history[start : start + limit]
            rest, nxt = len(history) - start - len(page), start + limit
        else:
            end = len(history) if cursor is None else cursor
            page = list(reversed(history[max(0, end - limit) : end]))
            rest, nxt = max(0, end - limit), max(0, end - limit)
        versions = {e.key_version for e in page if e.key_version is not None}
        meta: dict[str, Any] = {
            "conversation_key_events": [
                conv.key_events[v] for v in sorted(versions, key=int) if v in conv.key_events
            ],
            "has_more": rest > 0,
            "result_count": len(page),
        }
        if rest > 0:
            meta["next_token"] = self._token(nxt, scope)
        body: dict[str, Any] = {"meta": meta}
        if page:
            body = {"data": [self._render_event(e, show) for e in page], "meta": meta}
        return ChatAnswer(200, body, chat_event_ids=[e.id for e in page])

    # -- keys, media, backup ----------------------------------------------------------------

    def answer(
        self,
        endpoint: str,
        user_id: str,
        groups: Sequence[str],
        raw: Mapping[str, str],
        body: bytes,
    ) -> ChatAnswer:
        """Dispatch one Chat API request (raises `InvalidRequestError` for a 400)."""
        if endpoint == "chat_conversations":
            return self.conversations(user_id, raw)
        if endpoint == "chat_conversation":
            return self.conversation(user_id, groups[0], raw)
        if endpoint == "chat_events":
            return self.events(user_id, groups[0], raw)
        if endpoint == "chat_media":
            return media(self.loader.get(), user_id, groups[0], groups[1])
        if endpoint == "users_public_keys":
            return public_keys(self.loader.get(), None, raw)
        if endpoint == "user_public_keys":
            return public_keys(self.loader.get(), groups[0], raw)
        return recover(self.backup, user_id, body)
