"""The tap's state: one versioned shape, described by `schemas/state.schema.json`.

A state of any earlier version is upgraded, then checked against the schema
before the first request; a bad value is one line naming its key and the fix,
never a traceback. Only what a schema cannot say is checked here: a bookmark in
the future, and ranges whose start must come before their end.

Version history (the schema and docs/state.md document the current shape):

* 1 (tap-x-dm 0.1): no `version`; a bookmark is `replication_key_value`
  (`created_at`) with `replication_key_id` as tie-break.
* 2 (0.2): `version`; `replication_key_id` is the bookmark proper; `pass` (the
  pass in flight) and `passes_completed`.
* 3 (0.3): `covered_to_id`, `covered_from_id`, `api_gaps`, `archive_imports`,
  `via_dm_events`, `not_found_event_ids`, lookups' `pending_ids`; a pass has `top_id`
  and `routed_by`. (Version 3 only added keys to version 2.)
* 4 (after 0.3): the same facts in fewer keys (`state.upgrades._upgrade_3_to_4`).

Issue 21 added the top-level `vocabulary` (`tap_x_dm.api.vocabulary`), only while X takes
OpenAPI 2.167 names and not 2.166 ones: `{"asks": "2.167", "decided_on": "2026-12-06"}`;
absent means 2.166 names. Conversation partitions may hold `archive.api_missing_ids`
(`tap_x_dm.sync.history_gaps`).
"""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Iterable, Mapping
from functools import cache
from importlib import resources
from typing import IO, Any

import jsonschema

from tap_x_dm.errors import TapXDMError
from tap_x_dm.ids_and_times import parse_timestamp, snowflake_ms
from tap_x_dm.state.upgrades import pass_states, upgrade

STATE_VERSION = 4
#: A bookmark further ahead than this (clocks disagree a little) is an error, not a silent no-op.
FUTURE_TOLERANCE_MS = 86_400_000
_FIX = "fix or clear the state (`meltano state clear <state id>`), then run again"


class StateError(TapXDMError):
    """The state cannot be used as it is; the message names the key."""


def _fail(key: str, problem: str) -> StateError:
    return StateError(f"State key {key} {problem}: {_FIX}.")


@cache
def schema() -> dict[str, Any]:
    """The JSON Schema of the current state version (shipped in the package)."""
    text = resources.files("tap_x_dm.schemas").joinpath("state.schema.json").read_text()
    loaded: dict[str, Any] = json.loads(text)
    return loaded


@cache
def _validator() -> jsonschema.protocols.Validator:
    return jsonschema.Draft202012Validator(schema(), format_checker=jsonschema.FormatChecker())


def _key_path(path: Iterable[Any]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


#: Schema keywords followed by a property name or an index: a step into the state.
_NAMED_STEPS = ("properties", "patternProperties", "prefixItems")


def _explain(error: jsonschema.ValidationError) -> tuple[int, str | None]:
    """How many steps into the state the error's line names, and its `x-error` text.

    The deepest schema node with `x-error` explains the error, unless one above it
    says `x-whole` (maps and pairs are named whole, with how they must look).
    """
    node: Any = schema()
    depth, found, whole = 0, None, False
    previous: Any = None
    for segment in [*error.absolute_schema_path, None]:
        while True:  # `$ref` is not in the error's schema path: follow it where it leads
            if isinstance(node, dict) and "x-error" in node and not whole:
                found, whole = (depth, node["x-error"]), bool(node.get("x-whole"))
            if not (isinstance(node, dict) and "$ref" in node and segment not in node):
                break
            node = _resolve(node["$ref"])
        if segment is None or not isinstance(node, (dict, list)):
            break
        if previous in _NAMED_STEPS or segment in ("items", "additionalProperties"):
            depth += 1  # a step into the state, not only into the schema
        node = node[segment] if isinstance(node, dict) else node[int(segment)]
        previous = segment
    return found if found is not None else (len(error.absolute_path), None)


def _resolve(ref: str) -> Any:
    node: Any = schema()
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def _schema_problem(state: Mapping[str, Any]) -> StateError | None:
    """The first violation of the schema (in key order), as one line naming its key."""
    errors = sorted(_validator().iter_errors(state), key=lambda e: [str(p) for p in e.path])
    if not errors:
        return None
    error = errors[0]
    depth, problem = _explain(error)
    path = list(error.absolute_path)[:depth]
    key = _key_path(path) or "(the whole state)"
    if problem is None:
        problem = "is not valid: " + error.message[:120]
    elif depth == len(error.absolute_path):
        instance = error.instance
        if not isinstance(instance, (dict, list)) and len(repr(instance)) <= 80:
            problem += f" ({instance!r})"
    return _fail(key, problem)


def _check_ranges(state: Mapping[str, Any]) -> None:
    """Ranges the schema lets through with their ends the wrong way round."""
    dm_events = state.get("bookmarks", {}).get("dm_events") or {}
    archive = dm_events.get("archive") or {}
    key = "bookmarks.dm_events.archive"
    for pair in archive.get("api_missing_ids") or []:
        if int(pair[0]) >= int(pair[1]):
            raise _fail(f"{key}.api_missing_ids", f"has a pair with from >= to ({pair!r})")
    for span in archive.get("imported_times") or {}:
        try:
            lo, hi = (parse_timestamp(end) for end in span.split("/"))
            backwards = lo > hi
        except ValueError:
            backwards = True
        if backwards:
            raise _fail(f"{key}.imported_times", f'has a bad "from/to" range ({span!r})')


def _check_not_ahead(state: Mapping[str, Any], now_ms: int) -> None:
    """A bookmark past now (plus a day) would make every run load nothing, silently."""
    for key, bookmark in pass_states(state):
        for name in ("replication_key_id", "read_below_id"):
            value = bookmark.get(name)
            if value is not None and snowflake_ms(str(value)) > now_ms + FUTURE_TOLERANCE_MS:
                raise StateError(
                    f"State key {key}.{name} is in the future (an id minted after now plus a "
                    f"day): every run would load nothing; {_FIX}."
                )


def read_file(handle: IO[str]) -> str:
    """The text of a `--state` file, refused in one line when empty or not JSON."""
    name = getattr(handle, "name", "given")
    text = handle.read()
    if not text.strip():
        raise StateError(
            f"The state file {name} is empty: pass a JSON object (or no --state at all for a "
            "first run)."
        )
    try:
        json.loads(text)
    except ValueError as exc:
        line, column = getattr(exc, "lineno", "?"), getattr(exc, "colno", "?")
        raise StateError(
            f"The state file {name} is not valid JSON (line {line}, column {column}): {_FIX}."
        ) from None
    return text


def load(
    state: Mapping[str, Any], *, now_ms: int | None = None, logger: logging.Logger | None = None
) -> dict[str, Any]:
    """Upgrade `state` to the current version and check it against the schema.

    Raises:
        StateError: naming the key that is wrong and how to fix it.
    """
    if not isinstance(state, Mapping):
        raise StateError(f"The state must be a JSON object, not {type(state).__name__}: {_FIX}.")
    if state.get("type") == "STATE" and isinstance(state.get("value"), Mapping):
        (logger or logging.getLogger("tap-x-dm")).info(
            "The state given is a Singer STATE message; its value is read as the state."
        )
        state = state["value"]
    upgraded: dict[str, Any] = copy.deepcopy(dict(state))
    version = upgraded.get("version", 1)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise _fail("version", f"must be a whole number ({version!r})")
    if version > STATE_VERSION:
        msg = (
            f"The state was written by a newer tap-x-dm (state version {version}; this one "
            f"reads up to {STATE_VERSION}): upgrade tap-x-dm rather than let it misread the state."
        )
        raise StateError(msg)
    try:
        upgrade(upgraded, version)  # leaves what it does not know as it is, for the schema
    except TapXDMError as exc:
        raise StateError(str(exc)) from None
    upgraded["version"] = STATE_VERSION
    problem = _schema_problem(upgraded)
    if problem is not None:
        if version < STATE_VERSION:
            raise StateError(f"{problem} (The state was upgraded from version {version}.)")
        raise problem
    _check_ranges(upgraded)
    if now_ms is not None:
        _check_not_ahead(upgraded, now_ms)
    return upgraded
