"""X's answers read into the streams' schemas: a page's shape, 2.167's names, unknown fields.

Whichever OpenAPI vocabulary a run asks in (`tap_x_dm.api.vocabulary`), X's answers
come back in either, and every stream keeps one schema, in 2.166 names. Here:

* `page_shape_problem`: whether a 200's body is a page of events at all, before any
  of its events is used.
* `flat_entities`, `shipped_names`: 2.167's nested `entities` flattened, and its keys
  (`referenced_posts`...) renamed to the schema's 2.166 names.
* `KnownProperties`: keep only what a stream's schema knows, at every depth, in a few
  microseconds a record.

X sends JSON, so its values already have JSON types: the only thing the SDK's
recursive type conformance (79 µs a DM event) does for us is drop properties the
schema does not know, nested ones included. The tap's streams switch it off
(`TYPE_CONFORMANCE_LEVEL = NONE`, 1 µs) and drop unknown properties here instead,
with a plan compiled once per schema: which names are known at each level, and
which of them hold objects (or arrays of objects) to look inside.

The plan follows the SDK's own rules (singer-sdk 0.54, `_conform_record_data_types`):
a property is descended into when its schema is an object with `properties` (or an
array whose `items` is one); `additionalProperties: true` keeps unknown names;
anything else (strings, `anyOf`, arrays of strings) is kept as it is.
`tests/test_conform.py` checks that both give the same records.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from typing import Any, Final

_DIGITS = re.compile(r"^[0-9]{1,19}$")
#: The entity kinds spec 2.167 nests under `entities` and 2.166 puts at the top level.
ENTITY_KINDS: Final = ("cashtags", "hashtags", "mentions", "urls")
#: Keys of 2.167 answer objects, and the 2.166 names the streams' schemas use.
_KEYS_2166: Final[Mapping[str, str]] = {
    "referenced_posts": "referenced_tweets",
    "edit_history_post_ids": "edit_history_tweet_ids",
    "note_post": "note_tweet",
    "most_recent_post_id": "most_recent_tweet_id",
    "pinned_post_id": "pinned_tweet_id",
}


def page_shape_problem(payload: object, *, single: bool) -> str | None:
    """What is wrong with a 200's body, in a few words, or None when it is a page of events."""
    if not isinstance(payload, dict):
        return "not a JSON object"
    data = payload.get("data")
    if single:
        events = [data] if data is not None else []
    else:
        if not isinstance(payload.get("meta"), dict):
            return "no meta"
        if data is not None and not isinstance(data, list):
            return "data is not a list"
        events = data or []
    for event in events:
        if not isinstance(event, dict) or "id" not in event:
            return "an event without id"
        if not isinstance(event["id"], str) or not _DIGITS.match(event["id"]):
            return f"an event id that is not a string of digits ({str(event['id'])[:30]!r})"
    return None


def flat_entities(row: dict[str, Any]) -> dict[str, Any]:
    """Move, in place, the entities spec 2.167 nests under `entities` to the top level (2.166)."""
    nested = row.pop("entities", None)
    if isinstance(nested, dict):
        for kind in ENTITY_KINDS:
            if nested.get(kind) and kind not in row:
                row[kind] = nested[kind]
    return row


def shipped_names(obj: dict[str, Any]) -> dict[str, Any]:
    """Rename, in place, the 2.167 keys of an answer object to the 2.166 names of the schema."""
    for new, old in _KEYS_2166.items():
        if new in obj:
            value = obj.pop(new)
            obj.setdefault(old, value)
    return obj


#: Called with the dotted path of each dropped property (`attachments.card_ids`).
OnDrop = Callable[[str], None]


class WarnOnce:
    """An `OnDrop` that says once per run and field that X sent what the schema does not know."""

    def __init__(self, logger: logging.Logger, stream_name: str) -> None:
        self._logger = logger
        self._stream_name = stream_name
        self._seen: set[str] = set()

    def __call__(self, name: str) -> None:
        """Warn about `name` unless this stream already did in this run."""
        if name not in self._seen:
            self._seen.add(name)
            self._logger.warning(
                "X sent a field %r in %s that the schema does not know; it is not "
                "loaded (upgrade tap-x-dm to get it).",
                name,
                self._stream_name,
            )


def _types(schema: dict[str, Any]) -> list[Any]:
    kind = schema.get("type")
    return kind if isinstance(kind, list) else [kind]


def _is_object(schema: dict[str, Any]) -> bool:
    return isinstance(schema, dict) and "object" in _types(schema) and "properties" in schema


def _is_object_list(schema: dict[str, Any]) -> bool:
    items = schema.get("items") if isinstance(schema, dict) else None
    return (
        "array" in _types(schema)
        and "prefixItems" not in schema
        and isinstance(items, dict)
        and _is_object(items)
    )


class KnownProperties:
    """The properties one object schema knows, and the plans of its nested objects.

    Each plan knows its own dotted path, so pruning builds no string unless it drops
    a property; a level with nothing nested to look inside returns after one set test.
    """

    __slots__ = ("_keep_unknown", "_known", "_lists", "_nested", "_objects", "_path")

    def __init__(self, schema: dict[str, Any], path: str = "") -> None:
        properties: dict[str, Any] = schema.get("properties") or {}
        self._path = path
        self._known = frozenset(properties)
        self._keep_unknown = bool(schema.get("additionalProperties"))
        self._objects = tuple(
            (name, KnownProperties(sub, f"{path}{name}."))
            for name, sub in properties.items()
            if _is_object(sub)
        )
        self._lists = tuple(
            (name, KnownProperties(sub["items"], f"{path}{name}."))
            for name, sub in properties.items()
            if _is_object_list(sub)
        )
        self._nested = frozenset(name for name, _ in (*self._objects, *self._lists))

    def prune(self, obj: dict[str, Any], on_drop: OnDrop) -> None:
        """Delete, in place, every property of `obj` (at any depth) the schema does not know."""
        if not self._keep_unknown and not self._known.issuperset(obj):
            unknown = [name for name in obj if name not in self._known]
            for name in unknown:
                del obj[name]
                on_drop(self._path + name)
        if self._nested.isdisjoint(obj):  # most DM events: nothing nested to look inside
            return
        for name, plan in self._objects:
            value = obj.get(name)
            if isinstance(value, dict):
                plan.prune(value, on_drop)
        for name, plan in self._lists:
            value = obj.get(name)
            if isinstance(value, list):
                for item in value:
                    if isinstance(item, dict):
                        plan.prune(item, on_drop)
