"""Query and path parameter validation, with X's invalid-request messages.

The enums come from the sandbox's own copies of X's OpenAPI documents, those of the
vocabularies the sandbox accepts (`vocabulary`). Every problem in a request is reported at
once, as X does, so a client sees all its mistakes in one 400. Valid 2.167 values are mapped
onto the 2.166 names the endpoints work in.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from tap_x_dm_sandbox.errors import param_error
from tap_x_dm_sandbox.model import EVENT_TYPES
from tap_x_dm_sandbox.spec import parameter_values
from tap_x_dm_sandbox.vocabulary import EXPANSION_SOURCES, Context, Vocabulary, to_2166

DM_EVENT_FIELDS = parameter_values("DmEventFieldsParameter")
DM_EXPANSIONS = parameter_values("DmEventExpansionsParameter")
USER_EXPANSIONS = parameter_values("UserExpansionsParameter")
USER_FIELDS = parameter_values("UserFieldsParameter")
TWEET_FIELDS = parameter_values("TweetFieldsParameter")
MEDIA_FIELDS = parameter_values("MediaFieldsParameter")

#: Path parameter patterns from the spec (UserId, DmConversationId, DmEventId).
USER_ID = re.compile(r"^[0-9]{1,19}$")
CONVERSATION_ID = re.compile(r"^([0-9]{1,19}-[0-9]{1,19}|[0-9]{15,19})$")
EVENT_ID = USER_ID
MAX_ID = (1 << 63) - 1

#: The default server: both vocabularies, answered in 2.166 names.
BOTH = Vocabulary()
_FIELD_PARAMS = ("dm_event.fields", "expansions", "media.fields", "user.fields", "tweet.fields")
LIST_PARAMS = ("max_results", "pagination_token", "event_types", *_FIELD_PARAMS)
LOOKUP_PARAMS = _FIELD_PARAMS
USERS_ME_PARAMS = ("user.fields", "expansions", "tweet.fields")


def accepted_params(base: Sequence[str], vocab: Vocabulary) -> tuple[str, ...]:
    """Return `base` with its post parameter as the vocabulary accepts it (tweet/post.fields)."""
    out: list[str] = []
    for name in base:
        if name == "tweet.fields":
            out.extend(p for p in vocab.field_params() if p in ("tweet.fields", "post.fields"))
        else:
            out.append(name)
    return tuple(out)


class InvalidRequestError(Exception):
    """Raised with the `errors[]` entries of a 400 invalid-request answer."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__("; ".join(str(e.get("message")) for e in errors))
        self.errors = errors


@dataclass(frozen=True)
class FieldParams:
    """What to show: `None` fields mean "the object's defaults"."""

    dm_event_fields: frozenset[str] | None = None
    expansions: frozenset[str] = frozenset()
    user_fields: frozenset[str] | None = None
    tweet_fields: frozenset[str] | None = None
    media_fields: frozenset[str] | None = None
    #: Event fields the expansions bring along (their source fields).
    implied_fields: frozenset[str] = frozenset()


@dataclass(frozen=True)
class ListParams:
    """The validated parameters of a list endpoint."""

    max_results: int
    pagination_token: str | None
    event_types: frozenset[str]
    fields: FieldParams


def parse_query(raw: str) -> dict[str, str]:
    """Decode a query string; a repeated parameter is a client bug, so it is refused."""
    out: dict[str, str] = {}
    errors: list[dict[str, Any]] = []
    for key, value in parse_qsl(raw, keep_blank_values=True):
        if key in out:
            errors.append(param_error(key, value, f"Duplicate parameters are not allowed: [{key}]"))
            continue
        out[key] = value
    if errors:
        raise InvalidRequestError(errors)
    return out


def unknown_params(
    query: Mapping[str, str], allowed: Sequence[str], errors: list[dict[str, Any]]
) -> None:
    """Report every query parameter the endpoint does not know."""
    for key, value in query.items():
        if key not in allowed:
            message = f"The query parameter [{key}] is not one of [{','.join(allowed)}]"
            errors.append(param_error(key, value, message))


def enum_list(
    query: Mapping[str, str], name: str, allowed: Sequence[str], errors: list[dict[str, Any]]
) -> frozenset[str] | None:
    """Validate a comma list against the spec's enum; None when absent or invalid."""
    raw = query.get(name)
    if raw is None:
        return None
    items = raw.split(",")
    bad = [item for item in items if item not in allowed]
    if bad:
        for item in bad:
            message = (
                f"The `{name}` query parameter value [{item}] is not one of [{','.join(allowed)}]"
            )
            errors.append(param_error(name, item, message))
        return None
    return frozenset(items)


def check_path(name: str, value: str, pattern: re.Pattern[str]) -> list[dict[str, Any]]:
    """Validate a path parameter; X words these like query parameters."""
    if pattern.match(value):
        return []
    message = f"The `{name}` query parameter value [{value}] does not match {pattern.pattern}"
    return [param_error(name, value, message)]


def post_fields(
    query: Mapping[str, str], errors: list[dict[str, Any]], vocab: Vocabulary
) -> frozenset[str] | None:
    """Validate `tweet.fields` and `post.fields` (as accepted); their union in 2.166 names."""
    found: frozenset[str] | None = None
    for name in ("tweet.fields", "post.fields"):
        if name in vocab.field_params():
            values = to_2166(enum_list(query, name, vocab.field_values(name), errors))
            if values is not None:
                found = values | (found or frozenset())
    return found


def expansions(
    query: Mapping[str, str], errors: list[dict[str, Any]], vocab: Vocabulary, context: Context
) -> frozenset[str]:
    """Validate `expansions` for `context` objects; the values in 2.166 names."""
    return to_2166(enum_list(query, "expansions", vocab.expansion_values(context), errors)) or (
        frozenset()
    )


def _fields(
    query: Mapping[str, str], errors: list[dict[str, Any]], vocab: Vocabulary
) -> FieldParams:
    event_fields = enum_list(
        query, "dm_event.fields", vocab.field_values("dm_event.fields"), errors
    )
    expanded = expansions(query, errors, vocab, "dm")
    return FieldParams(
        dm_event_fields=event_fields,
        expansions=expanded,
        user_fields=enum_list(query, "user.fields", vocab.field_values("user.fields"), errors),
        tweet_fields=post_fields(query, errors, vocab),
        media_fields=enum_list(query, "media.fields", vocab.field_values("media.fields"), errors),
        implied_fields=frozenset(EXPANSION_SOURCES[e] for e in expanded if e in EXPANSION_SOURCES),
    )


def parse_list_params(
    query: Mapping[str, str],
    errors: list[dict[str, Any]] | None = None,
    vocab: Vocabulary = BOTH,
) -> ListParams:
    """Validate a list endpoint's query (plus path errors found by the caller)."""
    errors = list(errors or [])
    unknown_params(query, accepted_params(LIST_PARAMS, vocab), errors)
    max_results = 100
    raw_max = query.get("max_results")
    if raw_max is not None:
        if raw_max.isascii() and raw_max.isdigit() and 1 <= int(raw_max) <= 100:
            max_results = int(raw_max)
        else:
            message = (
                f"The `max_results` query parameter value [{raw_max}] is not between 1 and 100"
            )
            errors.append(param_error("max_results", raw_max, message))
    token = query.get("pagination_token")
    if token is not None and len(token) < 16:  # the spec's minLength
        errors.append(invalid_token(token))
    event_types = enum_list(query, "event_types", EVENT_TYPES, errors)
    fields = _fields(query, errors, vocab)
    if errors:
        raise InvalidRequestError(errors)
    return ListParams(
        max_results=max_results,
        pagination_token=token,
        event_types=event_types or frozenset(EVENT_TYPES),
        fields=fields,
    )


def invalid_token(token: str) -> dict[str, Any]:
    """Return the error entry for a pagination token the server did not issue."""
    message = f"The `pagination_token` query parameter value [{token}] is not valid"
    return param_error("pagination_token", token, message)


def parse_lookup_params(
    query: Mapping[str, str],
    errors: list[dict[str, Any]] | None = None,
    vocab: Vocabulary = BOTH,
) -> FieldParams:
    """Validate GET /2/dm_events/{event_id}: the list parameters minus paging and types."""
    errors = list(errors or [])
    unknown_params(query, accepted_params(LOOKUP_PARAMS, vocab), errors)
    fields = _fields(query, errors, vocab)
    if errors:
        raise InvalidRequestError(errors)
    return fields


def parse_users_me_params(query: Mapping[str, str], vocab: Vocabulary = BOTH) -> FieldParams:
    """Validate GET /2/users/me (its expansions point at Tweets the sandbox has none of)."""
    errors: list[dict[str, Any]] = []
    unknown_params(query, accepted_params(USERS_ME_PARAMS, vocab), errors)
    fields = FieldParams(
        expansions=expansions(query, errors, vocab, "user"),
        user_fields=enum_list(query, "user.fields", vocab.field_values("user.fields"), errors),
        tweet_fields=post_fields(query, errors, vocab),
    )
    if errors:
        raise InvalidRequestError(errors)
    return fields
