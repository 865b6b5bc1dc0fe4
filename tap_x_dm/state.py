"""The tap's state: one versioned shape, upgraded from every earlier one, checked on load.

Version history (the README documents the current shape):

* 1 (tap-x-dm 0.1): no `version`; a bookmark is `replication_key_value`
  (`created_at`) with `replication_key_id` as tie-break; no pass in flight.
* 2 (0.2): `version`; the bookmark proper is `replication_key_id` (the highest
  event id of the last completed pass); `pass` holds the pass in flight and
  `passes_completed` ties it to its bookmark.
* 3 (0.3): `bookmarks.dm_events.covered_from_id` (the lowest id of the first
  full pass: how far back the API read) and `bookmarks.dm_events.archive_imports`
  (`ranges`: per event type, merged `[from, to]` times imported from X archives;
  `checksums`: archives fully imported; `fingerprints`: their files' identities, so a
  known archive is not read again), see `tap_x_dm.archive_import`;
  `bookmarks.dm_events.api_gaps` (`[[from_id, to_id], ...]`, exclusive: events
  `/2/dm_events` no longer served when a pass from an old bookmark ran, for the
  archive to fill; absent means none, see `tap_x_dm.archive_gaps`);
  `covered_to_id` (everything below it has been read; a quiet conversation's
  bookmark lags behind it); `bookmarks.conversation_events.via_dm_events` holds the
  routing pass (`tap_x_dm.routing`); a pass in flight has `top_id` and may be
  `routed_by` an account-wide pass. Nothing to convert: without `covered_to_id` the
  bookmark is what is known to be read; a version-2 bookmark has no
  `covered_from_id`, which the archive import treats as unknown (it asks for
  `api_covered_from`) rather than guess. XChat (issue 23, keys added within version 3):
  `bookmarks.chat_events.partitions[]` (`context.conversation_id`, `sequence_id`,
  `cursor`, `pass_top_id`, `updated_at`: `tap_x_dm.chat.reading`) and
  `bookmarks.chat_conversations.xchat_checked_on`.

Every value the tap reads is checked before the first request; a bad one is
one line naming its key and how to fix it, never a traceback.
"""

from __future__ import annotations

import copy
import json
import logging
import re
from collections.abc import Iterator, Mapping
from typing import IO, Any

from tap_x_dm.archive_gaps import GAPS_KEY
from tap_x_dm.archive_import import COVERED_FROM_KEY, IMPORTS_KEY
from tap_x_dm.errors import TapXDMError
from tap_x_dm.ids import TWEPOCH_MS, snowflake_ms
from tap_x_dm.passes import (
    ARRIVALS_KEY,
    BOOKMARK_ID_KEY,
    COVERED_KEY,
    IN_FLIGHT_KEY,
    PASSES_COMPLETED_KEY,
)
from tap_x_dm.routing import ROUTING_STATE_KEY
from tap_x_dm.times import parse_timestamp

STATE_VERSION = 3
#: A bookmark further ahead than this (clocks disagree a little) is an error, not a silent no-op.
FUTURE_TOLERANCE_MS = 86_400_000
_DIGITS = re.compile(r"^[0-9]{1,19}$")
_CHECKSUM = re.compile(r"^sha256:[0-9a-f]{64}$")
_FINGERPRINT = re.compile(r"^files:[0-9a-f]{64}$")
_DAY = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_FIX = "fix or clear the state (`meltano state clear <state id>`), then run again"


class StateError(TapXDMError):
    """The state cannot be used as it is; the message names the key."""


def _fail(key: str, problem: str) -> StateError:
    return StateError(f"State key {key} {problem}: {_FIX}.")


def _max_id_at(created_at: str) -> str:
    """The highest snowflake X could have minted in the millisecond of `created_at`."""
    ms = int(parse_timestamp(created_at).timestamp() * 1000)
    return str(((ms - TWEPOCH_MS) << 22) | ((1 << 22) - 1))


def bookmark_states(state: Mapping[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every stream and partition bookmark, with the key that names it in messages."""
    bookmarks = state.get("bookmarks")
    if bookmarks is None:
        return
    if not isinstance(bookmarks, dict):
        raise _fail("bookmarks", "must be an object of stream names")
    for stream, stream_state in bookmarks.items():
        if not isinstance(stream_state, dict):
            raise _fail(f"bookmarks.{stream}", "must be an object")
        yield f"bookmarks.{stream}", stream_state
        routing = stream_state.get(ROUTING_STATE_KEY)
        if routing is not None:
            if not isinstance(routing, dict):
                raise _fail(f"bookmarks.{stream}.{ROUTING_STATE_KEY}", "must be an object")
            yield f"bookmarks.{stream}.{ROUTING_STATE_KEY}", routing
        partitions = stream_state.get("partitions")
        if partitions is None:
            continue
        if not isinstance(partitions, list):
            raise _fail(f"bookmarks.{stream}.partitions", "must be a list")
        for index, partition in enumerate(partitions):
            key = f"bookmarks.{stream}.partitions[{index}]"
            if not isinstance(partition, dict) or not isinstance(partition.get("context"), dict):
                raise _fail(key, 'must be an object with a "context" object')
            yield key, partition


def _check_bookmark(key: str, bookmark: dict[str, Any]) -> None:
    value = bookmark.get("replication_key_value")
    if value is not None:
        try:
            parse_timestamp(str(value))
        except ValueError:
            raise _fail(f"{key}.replication_key_value", f"is not a timestamp ({value!r})") from None
    for name in (BOOKMARK_ID_KEY, COVERED_KEY, COVERED_FROM_KEY):
        if bookmark.get(name) is not None and not _DIGITS.match(str(bookmark[name])):
            raise _fail(f"{key}.{name}", f"is not an X id ({bookmark[name]!r})")
    for name in ("event_types",):
        listed = bookmark.get(name)
        if listed is not None and not (
            isinstance(listed, list) and all(isinstance(v, str) for v in listed)
        ):
            raise _fail(f"{key}.{name}", "must be a list of strings")
    for name in ("looked_up_event_ids", "not_found_event_ids", "pending_ids"):
        listed = bookmark.get(name)
        if listed is not None and not (
            isinstance(listed, list) and all(_DIGITS.match(str(v)) for v in listed)
        ):
            raise _fail(f"{key}.{name}", "must be a list of X ids")
    rate = bookmark.get(ARRIVALS_KEY)
    if rate is not None and (not isinstance(rate, int) or isinstance(rate, bool) or rate < 0):
        raise _fail(f"{key}.{ARRIVALS_KEY}", "must be a whole number")
    loaded = bookmark.get("loaded_by_day")  # tap_x_dm.lookups.LOADED_KEY
    if loaded is not None and not (
        isinstance(loaded, dict)
        and all(_DAY.match(str(day)) for day in loaded)
        and all(
            isinstance(v, list) and all(isinstance(i, str) and _DIGITS.match(i) for i in v)
            for v in loaded.values()
        )
    ):
        raise _fail(f"{key}.loaded_by_day", 'must map UTC days ("2026-12-01") to lists of X ids')
    completed = bookmark.get(PASSES_COMPLETED_KEY)
    if completed is not None and (not isinstance(completed, int) or completed < 0):
        raise _fail(f"{key}.{PASSES_COMPLETED_KEY}", "must be a whole number")
    _check_chat(key, bookmark)
    _check_in_flight(f"{key}.{IN_FLIGHT_KEY}", bookmark.get(IN_FLIGHT_KEY))
    _check_archive_imports(f"{key}.{IMPORTS_KEY}", bookmark.get(IMPORTS_KEY))
    _check_gaps(f"{key}.{GAPS_KEY}", bookmark.get(GAPS_KEY))


def _check_chat(key: str, bookmark: dict[str, Any]) -> None:
    """The XChat keys (`tap_x_dm.chat.reading`, `tap_x_dm.chat.conversations`)."""
    if not key.startswith(("bookmarks.chat_events", "bookmarks.chat_conversations")):
        return
    for name in ("sequence_id", "pass_top_id"):
        if bookmark.get(name) is not None and not _DIGITS.match(str(bookmark[name])):
            raise _fail(f"{key}.{name}", f"is not a sequence id ({bookmark[name]!r})")
    if bookmark.get("cursor") is not None and not isinstance(bookmark["cursor"], str):
        raise _fail(f"{key}.cursor", "must be null or a string")
    updated = bookmark.get("updated_at")
    if updated is not None and not _is_time(updated):
        raise _fail(f"{key}.updated_at", f"is not a timestamp ({updated!r})")
    checked = bookmark.get("xchat_checked_on")
    if checked is not None and not _DAY.match(str(checked)):
        raise _fail(f"{key}.xchat_checked_on", f'is not a UTC day ("2026-12-01"), {checked!r}')


def _is_time(value: object) -> bool:
    try:
        parse_timestamp(str(value))
    except ValueError:
        return False
    return True


def _check_gaps(key: str, saved: object) -> None:
    if saved is None:
        return
    if not isinstance(saved, list):
        raise _fail(key, "must be a list of [from_id, to_id] pairs (X ids as strings)")
    for pair in saved:
        if not (
            isinstance(pair, list)
            and len(pair) == 2
            and all(isinstance(v, str) and _DIGITS.match(v) for v in pair)
            and int(pair[0]) < int(pair[1])
        ):
            problem = f"has a bad [from_id, to_id] pair ({pair!r}; X ids as strings, from < to)"
            raise _fail(key, problem)


def _check_archive_imports(key: str, saved: object) -> None:
    if saved is None:
        return
    if not isinstance(saved, dict):
        raise _fail(key, 'must be an object with "ranges" and "checksums"')
    checksums = saved.get("checksums", [])
    if not isinstance(checksums, list) or not all(
        isinstance(v, str) and _CHECKSUM.match(v) for v in checksums
    ):
        raise _fail(f"{key}.checksums", "must be a list of sha256:<64 hex digits>")
    fingerprints = saved.get("fingerprints", {})
    if not isinstance(fingerprints, dict) or not all(
        isinstance(k, str) and _FINGERPRINT.match(k) and isinstance(v, str) and _CHECKSUM.match(v)
        for k, v in fingerprints.items()
    ):
        raise _fail(
            f"{key}.fingerprints", "must map files:<64 hex digits> to sha256:<64 hex digits>"
        )
    ranges = saved.get("ranges", {})
    if not isinstance(ranges, dict):
        raise _fail(f"{key}.ranges", "must be an object of event types")
    for kind, pairs in ranges.items():
        if not isinstance(pairs, list):
            raise _fail(f"{key}.ranges.{kind}", "must be a list of [from, to] timestamps")
        for pair in pairs:
            if not _is_time_range(pair):
                raise _fail(f"{key}.ranges.{kind}", f"has a bad [from, to] pair ({pair!r})")


def _is_time_range(pair: object) -> bool:
    if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(v, str) for v in pair)):
        return False
    try:
        return parse_timestamp(pair[0]) <= parse_timestamp(pair[1])
    except ValueError:
        return False


def _check_in_flight(key: str, saved: object) -> None:
    if saved is None:
        return
    if not isinstance(saved, dict) or not isinstance(saved.get("number"), int):
        raise _fail(key, 'must be null or an object with a "number"')
    for name in ("since_id", "ceiling_id", "newest_id", "top_id"):
        if saved.get(name) is not None and not _DIGITS.match(str(saved[name])):
            raise _fail(f"{key}.{name}", f"is not an X id ({saved[name]!r})")
    frontier = saved.get("frontier_ids") or []
    if not isinstance(frontier, list) or not all(_DIGITS.match(str(v)) for v in frontier):
        raise _fail(f"{key}.frontier_ids", "must be a list of X ids")
    for name in ("cursor", "routed_by"):
        if saved.get(name) is not None and not isinstance(saved[name], str):
            raise _fail(f"{key}.{name}", "must be null or a string")
    for name in ("emitted", "pages", "page_size"):
        if saved.get(name) is not None and not isinstance(saved[name], int):
            raise _fail(f"{key}.{name}", "must be a whole number")


def _upgrade_1_to_2(state: dict[str, Any]) -> None:
    """0.1 bookmarks ordered by (`created_at`, id); the id alone is the bookmark now."""
    for _, bookmark in bookmark_states(state):
        value = bookmark.get("replication_key_value")
        if value and bookmark.get(BOOKMARK_ID_KEY) is None:
            # A bookmark written by hand without its id counted the whole millisecond as seen.
            bookmark[BOOKMARK_ID_KEY] = _max_id_at(str(value))


def _upgrade_2_to_3(state: dict[str, Any]) -> None:
    """3 only adds keys; a 0.2 bookmark's missing `covered_from_id` means "unknown"."""


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
    """Upgrade `state` to the current version and check every value the tap reads.

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
    account = upgraded.get("account")
    if account is not None and not (
        isinstance(account, dict) and _DIGITS.match(str(account.get("id", "")))
    ):
        raise _fail("account", 'must be an object whose "id" is an X user id')
    for key, bookmark in bookmark_states(upgraded):
        _check_bookmark(key, bookmark)
    if version < 2:
        _upgrade_1_to_2(upgraded)
    if version < 3:
        _upgrade_2_to_3(upgraded)
    if now_ms is not None:
        _check_not_ahead(upgraded, now_ms)
    upgraded["version"] = STATE_VERSION
    return upgraded


def _check_not_ahead(state: Mapping[str, Any], now_ms: int) -> None:
    """A bookmark past now (plus a day) would make every run load nothing, silently."""
    for key, bookmark in bookmark_states(state):
        for name in (BOOKMARK_ID_KEY, COVERED_KEY):
            value = bookmark.get(name)
            if value is not None and snowflake_ms(str(value)) > now_ms + FUTURE_TOLERANCE_MS:
                raise StateError(
                    f"State key {key}.{name} is in the future (an id minted after now plus a "
                    f"day): every run would load nothing; {_FIX}."
                )
