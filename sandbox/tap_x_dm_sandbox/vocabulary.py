"""X's two field vocabularies, OpenAPI 2.166 ("tweet") and 2.167 ("post").

Which names the live API takes is unconfirmed (CHANGES-2026.md §1), so the sandbox can be
each server a client may meet:

- `2.166`: only the 2.166 names (`tweet.fields`, `referenced_tweets.id`, ...), answered in them;
- `2.167`: only the 2.167 names (`post.fields`, `referenced_posts`, no `sender_id` or
  `participant_ids` in `dm_event.fields`, fewer enum values), answered in them;
- `both` (the default, the only behaviour observed): either, answered in 2.166 names;
- `as-asked`: either, answered in the vocabulary the request used.

The endpoints work in 2.166 names inside; `to_2166` maps 2.167 request values onto them
and `to_2167` turns a finished 2.166 answer into a 2.167 one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, Final, Literal

from tap_x_dm_sandbox.spec import parameter_values

VocabularyMode = Literal["2.166", "2.167", "both", "as-asked"]
MODES: Final = ("2.166", "2.167", "both", "as-asked")
VERSIONS: Final = ("2.166", "2.167")
#: The object context of an `expansions` parameter: DM events, users, posts.
Context = Literal["dm", "user", "post"]

#: Query parameter -> the spec component that lists its values, per version.
_FIELD_COMPONENTS: Final[Mapping[str, Mapping[str, str]]] = {
    "2.166": {
        "dm_event.fields": "DmEventFieldsParameter",
        "user.fields": "UserFieldsParameter",
        "media.fields": "MediaFieldsParameter",
        "tweet.fields": "TweetFieldsParameter",
    },
    "2.167": {
        "dm_event.fields": "DmEventFieldsParameter",
        "user.fields": "UserFieldsParameter",
        "media.fields": "MediaFieldsParameter",
        "post.fields": "PostFieldsParameter",
    },
}
_EXPANSION_COMPONENTS: Final[Mapping[str, Mapping[Context, str]]] = {
    "2.166": {
        "dm": "DmEventExpansionsParameter",
        "user": "UserExpansionsParameter",
        "post": "TweetExpansionsParameter",
    },
    "2.167": {
        "dm": "DmEventExpansionsParameter",
        "user": "UserExpansionsParameter",
        "post": "PostExpansionsParameter",
    },
}
#: 2.167 value -> its 2.166 name, for every renamed value (fields and expansions).
POST_TO_TWEET: Final[Mapping[str, str]] = {
    "post.fields": "tweet.fields",
    "referenced_posts": "referenced_tweets.id",
    "note_post": "note_tweet",
    "edit_history_post_ids": "edit_history_tweet_ids",
    "most_recent_post_id": "most_recent_tweet_id",
    "pinned_post_id": "pinned_tweet_id",
    "affiliation": "affiliation.user_id",
}
#: Values only a 2.167 request can carry (how `as-asked` tells the vocabularies apart).
_ONLY_2167: Final = frozenset({"referenced_posts", "edit_history_post_ids"}) | frozenset(
    {"most_recent_post_id", "pinned_post_id", "note_post"}
)
#: Keys of answer objects renamed by 2.167.
_KEYS_2167: Final[Mapping[str, str]] = {
    "referenced_tweets": "referenced_posts",
    "edit_history_tweet_ids": "edit_history_post_ids",
    "note_tweet": "note_post",
    "most_recent_tweet_id": "most_recent_post_id",
    "pinned_tweet_id": "pinned_post_id",
}
#: 2.166 puts these arrays directly on a DM event; 2.167 nests them under `entities`.
ENTITY_KEYS: Final = ("urls", "hashtags", "mentions", "cashtags")
#: An expansion puts its source field on the event even when `dm_event.fields` lacks it
#: (2.167 has no other way to ask for `sender_id` and `participant_ids`).
EXPANSION_SOURCES: Final[Mapping[str, str]] = {
    "sender_id": "sender_id",
    "participant_ids": "participant_ids",
    "referenced_tweets.id": "referenced_tweets",
}


@dataclass(frozen=True)
class Vocabulary:
    """What one sandbox accepts and how it answers (see the module docstring)."""

    mode: VocabularyMode = "both"

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"vocabulary must be one of {', '.join(MODES)}, got {self.mode!r}")

    @property
    def accepted(self) -> tuple[str, ...]:
        """The spec versions whose names requests may use."""
        return VERSIONS if self.mode in ("both", "as-asked") else (self.mode,)

    def field_params(self) -> tuple[str, ...]:
        """The `*.fields` parameters accepted, in spec order."""
        names: dict[str, None] = {}
        for version in self.accepted:
            names.update(dict.fromkeys(_FIELD_COMPONENTS[version]))
        return tuple(names)

    def field_values(self, param: str) -> tuple[str, ...]:
        """The values a `*.fields` parameter takes (a union when both versions are accepted)."""
        return _union(self.accepted, tuple(_FIELD_COMPONENTS[v].get(param) for v in self.accepted))

    def expansion_values(self, context: Context) -> tuple[str, ...]:
        """The values `expansions` takes on endpoints returning `context` objects."""
        return _union(
            self.accepted, tuple(_EXPANSION_COMPONENTS[v][context] for v in self.accepted)
        )

    def answer_version(self, query: Mapping[str, str]) -> str:
        """The vocabulary of the answer to a request with this query."""
        if self.mode == "as-asked":
            return asked_version(query)
        return "2.167" if self.mode == "2.167" else "2.166"


@cache
def _union(versions: tuple[str, ...], components: tuple[str | None, ...]) -> tuple[str, ...]:
    """The values of each version's component (None: the version lacks the parameter)."""
    values: dict[str, None] = {}
    for version, component in zip(versions, components, strict=True):
        if component is not None:
            values.update(dict.fromkeys(parameter_values(component, version)))
    return tuple(values)


def asked_version(query: Mapping[str, str]) -> str:
    """Return "2.167" when the request used a name only 2.167 has, else "2.166"."""
    if "post.fields" in query:
        return "2.167"
    for name in ("expansions", "tweet.fields", "user.fields"):
        if any(value in _ONLY_2167 for value in query.get(name, "").split(",")):
            return "2.167"
    return "2.166"


def to_2166(values: frozenset[str] | None) -> frozenset[str] | None:
    """Map 2.167 field or expansion values onto the 2.166 names the endpoints use."""
    if values is None:
        return None
    return frozenset(POST_TO_TWEET.get(value, value) for value in values)


def to_2167(body: dict[str, Any]) -> dict[str, Any]:
    """Return a 2.166 answer in 2.167 names: posts, `referenced_posts`, nested entities."""
    out = dict(body)
    data = body.get("data")
    if isinstance(data, list):
        out["data"] = [_object_2167(item) for item in data]
    elif isinstance(data, dict):
        out["data"] = _object_2167(data)
    includes = body.get("includes")
    if isinstance(includes, dict):
        renamed = {("posts" if k == "tweets" else k): v for k, v in includes.items()}
        out["includes"] = {
            k: [_object_2167(item) for item in v] if isinstance(v, list) else v
            for k, v in renamed.items()
        }
    if isinstance(body.get("errors"), list):
        out["errors"] = [_error_2167(error) for error in body["errors"]]
    return out


def _object_2167(obj: Any) -> Any:
    if not isinstance(obj, dict):
        return obj
    out: dict[str, Any] = {}
    entities: dict[str, Any] = {}
    is_event = "event_type" in obj
    for key, value in obj.items():
        if is_event and key in ENTITY_KEYS:
            entities[key] = value
        else:
            out[_KEYS_2167.get(key, key)] = value
    if entities:
        nested = dict(out.get("entities") or {})
        nested.update(entities)
        out["entities"] = nested
    return out


def _error_2167(error: Any) -> Any:
    if not isinstance(error, dict):
        return error
    out = dict(error)
    if out.get("parameter") == "referenced_tweets.id":
        out["parameter"] = "referenced_posts"
    if out.get("resource_type") == "tweet":
        out["resource_type"] = "post"
    detail = out.get("detail")
    if isinstance(detail, str):
        old, new = "tweet with referenced_tweets.id", "post with referenced_posts"
        out["detail"] = detail.replace(old, new)
    return out
