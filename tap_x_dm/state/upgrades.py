"""Upgrades of every earlier state shape to the current one (see `tap_x_dm.state.loading`).

Upgrades run before the schema check: they move what they recognise and leave
any other value where it lands, for the check to name.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from tap_x_dm.errors import TapXDMError
from tap_x_dm.ids_and_times import max_snowflake_at, timestamp_ms

#: X's DM event types: a bookmark without `event_types` covers them all (state version 4).
ALL_EVENT_TYPES = ["MessageCreate", "ParticipantsJoin", "ParticipantsLeave"]
#: Keys of a pass in flight of versions 2 and 3 that version 4 derives or drops.
_DROPPED_PASS_KEYS = ("number", "pages", "newest_created_at", "oldest_ms")


def pass_states(state: Mapping[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every stream, partition and routing pass state that may hold passes, with its key."""
    bookmarks = state.get("bookmarks")
    if not isinstance(bookmarks, dict):
        return
    for stream in ("dm_events", "conversation_events"):
        stream_state = bookmarks.get(stream)
        if not isinstance(stream_state, dict):
            continue
        yield f"bookmarks.{stream}", stream_state
        via = stream_state.get("via_dm_events")
        if isinstance(via, dict):
            yield f"bookmarks.{stream}.via_dm_events", via
        partitions = stream_state.get("partitions")
        for index, partition in enumerate(partitions if isinstance(partitions, list) else []):
            if isinstance(partition, dict):
                yield f"bookmarks.{stream}.partitions[{index}]", partition


def upgrade(state: dict[str, Any], version: int) -> None:
    """Upgrade `state`, of `version`, in place to the current shape."""
    if version < 2:
        _upgrade_1_to_2(state)
    if version < 4:
        _upgrade_3_to_4(state)


def _max_id_at(created_at: str) -> str:
    """The highest snowflake X could have minted in the millisecond of `created_at`."""
    return str(max_snowflake_at(timestamp_ms(created_at)))


def _upgrade_1_to_2(state: dict[str, Any]) -> None:
    """0.1 bookmarks ordered by (`created_at`, id); the id alone is the bookmark now."""
    for key, bookmark in pass_states(state):
        value = bookmark.get("replication_key_value")
        if value and bookmark.get("replication_key_id") is None:
            # A bookmark written by hand without its id counted the whole millisecond as seen.
            try:
                bookmark["replication_key_id"] = _max_id_at(str(value))
            except ValueError:
                msg = (
                    f"State key {key}.replication_key_value is not a timestamp ({value!r}): fix "
                    "or clear the state (`meltano state clear <state id>`), then run again."
                )
                raise TapXDMError(msg) from None


def _upgrade_3_to_4(state: dict[str, Any]) -> None:
    """Versions 2 and 3 to 4: the same facts in fewer keys.

    * `passes_completed` and a pass's `number`, `pages` and `newest_created_at` go: a pass
      is tied to its bookmark and event types, has read a page once it has a `top_id`, and
      its newest event's time comes from its id. A pass that version 3 would not have
      resumed (its number was not the next) is dropped; one that read pages before
      `top_id` existed (0.2) gets its bookmark as `top_id`, so it claims nothing more.
    * `covered_to_id` is `read_below_id`; `pass: null` and empty `pending_ids` go.
    * `event_types` listing all three types goes (absent means all).
    * dm_events: `looked_up_event_ids` and `not_found_event_ids` become `dm_event_ids`;
      `covered_from_id` and `api_gaps` become `archive.api_missing_ids`; `archive_imports`
      becomes `archive.imported_times` (one range, its types) and `archive.imported_files`
      (an archive of 0.3.0, imported before files were fingerprinted, is kept by its
      checksum under a stand-in fingerprint, so it is still known).
    * `via_dm_events` keeps only its arrival rate and pass; a partition's `routed_by`
      names its feeding pass as version 4 does (`_feed_marks`).
    """
    marks = _feed_marks(state)
    for _, entry in pass_states(state):
        saved = entry.get("pass")
        if isinstance(saved, dict) and saved.get("routed_by") in marks:
            saved["routed_by"] = marks[saved["routed_by"]]
        _upgrade_passes(entry)
    bookmarks = state.get("bookmarks")
    if not isinstance(bookmarks, dict):
        return
    via = (bookmarks.get("conversation_events") or {}).get("via_dm_events")
    if isinstance(via, dict):
        for key in ("replication_key", "replication_key_value", "replication_key_id"):
            via.pop(key, None)
        via.pop("read_below_id", None)
        via.pop("event_types", None)
    dm_events = bookmarks.get("dm_events")
    if isinstance(dm_events, dict):
        _upgrade_dm_event_ids(dm_events)
        _upgrade_archive(dm_events)
    for stream in ("users", "tweets"):
        lookups = bookmarks.get(stream)
        if isinstance(lookups, dict) and lookups.get("pending_ids") == []:
            del lookups["pending_ids"]
    chat_events = bookmarks.get("chat_events")
    if isinstance(chat_events, dict) and isinstance(chat_events.get("partitions"), list):
        for partition in chat_events["partitions"]:
            if isinstance(partition, dict):
                _upgrade_chat_partition(partition)


def _upgrade_chat_partition(partition: dict[str, Any]) -> None:
    """Issue 23's first XChat keys (written under version 3) in version 4's names.

    `sequence_id` is `replication_key_id`; a read in flight (`pass_top_id`, its `cursor`)
    is `pass`; a null `cursor` goes (absent: the next read starts at the newest page).
    """
    if "sequence_id" in partition:
        partition.setdefault("replication_key_id", partition.pop("sequence_id"))
    top = partition.pop("pass_top_id", None)
    if top is not None:
        in_flight = {"top_id": top}
        if partition.get("cursor") is not None:
            in_flight["cursor"] = partition.pop("cursor")
        partition["pass"] = in_flight
    if partition.get("cursor", "") is None:
        del partition["cursor"]


def _feed_marks(state: Mapping[str, Any]) -> dict[str, str]:
    """Version 3's `routed_by` of the passes feeding partitions now, and version 4's for them.

    Version 3 marked a fed partition with the feeding pass's number, `top_id` and pages
    read; version 4 with its `top_id` and cursor (`tap_x_dm.sync.routing.feed_mark`).
    """
    marks = {}
    bookmarks = state.get("bookmarks")
    stream = bookmarks.get("dm_events") if isinstance(bookmarks, dict) else None
    events = bookmarks.get("conversation_events") if isinstance(bookmarks, dict) else None
    via = events.get("via_dm_events") if isinstance(events, dict) else None
    for name, entry in (("dm_events", stream), ("via_dm_events", via)):
        saved = entry.get("pass") if isinstance(entry, dict) else None
        if isinstance(saved, dict) and saved.get("top_id") is not None:
            old = f"{name}#{saved.get('number')}:{saved['top_id']}:{saved.get('pages')}"
            marks[old] = f"{name}:{saved['top_id']}:{saved.get('cursor') or ''}"
    return marks


def _upgrade_passes(entry: dict[str, Any]) -> None:
    completed = entry.pop("passes_completed", 0)
    if "covered_to_id" in entry:
        entry["read_below_id"] = entry.pop("covered_to_id")
    if isinstance(entry.get("event_types"), list) and sorted(entry["event_types"]) == sorted(
        ALL_EVENT_TYPES
    ):
        del entry["event_types"]
    saved = entry.get("pass")
    if saved is None:
        entry.pop("pass", None)
        return
    if not isinstance(saved, dict):
        return  # for the schema check to name
    number = saved.get("number")
    if isinstance(number, int) and isinstance(completed, int) and number != completed + 1:
        del entry["pass"]  # stale: version 3 would have started a new pass
        return
    if saved.get("pages") and saved.get("top_id") is None:
        saved["top_id"] = saved.get("since_id") or saved.get("ceiling_id") or "0"
    for key in _DROPPED_PASS_KEYS:
        saved.pop(key, None)
    entry["pass"] = {k: v for k, v in saved.items() if v not in (None, [], 0)}


def _upgrade_dm_event_ids(dm_events: dict[str, Any]) -> None:
    done = dm_events.pop("looked_up_event_ids", None)
    missing = dm_events.pop("not_found_event_ids", None)
    asked: dict[str, Any] = {}
    for ids, outcome in ((done, "fetched"), (missing, "not_found")):
        if ids is not None and not isinstance(ids, list):
            dm_events["dm_event_ids"] = ids  # for the schema check to name
            return
        for event_id in ids or []:
            asked[str(event_id)] = outcome
    if asked:  # in the order of the ids as numbers
        dm_events["dm_event_ids"] = dict(sorted(asked.items(), key=lambda kv: (len(kv[0]), kv)))


def _upgrade_archive(dm_events: dict[str, Any]) -> None:
    archive: dict[str, Any] = {}
    floor = dm_events.pop("covered_from_id", None)
    gaps = dm_events.pop("api_gaps", None)
    missing: Any = [] if floor is None else [["0", floor]]
    missing = missing + gaps if isinstance(gaps, list) else gaps or missing  # bad: for the check
    if missing:
        archive["api_missing_ids"] = missing
    imports = dm_events.pop("archive_imports", None)
    if imports is not None and not isinstance(imports, dict):
        archive["imported_times"] = imports  # for the schema check to name
    if isinstance(imports, dict):
        times: Any = {}
        ranges = imports.get("ranges", {})
        if not isinstance(ranges, dict):
            times = ranges  # for the schema check to name
        for kind, pairs in sorted(ranges.items()) if isinstance(ranges, dict) else []:
            for pair in pairs if isinstance(pairs, list) else []:
                span = "/".join(str(end) for end in pair) if isinstance(pair, list) else str(pair)
                times.setdefault(span, []).append(kind)
        archive["imported_times"] = times
        checksums = imports.get("checksums") or []
        fingerprints = imports.get("fingerprints") or {}
        files = {k: v for k, v in fingerprints.items() if v in checksums}
        for checksum in checksums:
            if checksum not in files.values() and isinstance(checksum, str):
                files["files:" + checksum.removeprefix("sha256:")] = checksum
        archive["imported_files"] = files
    if archive:
        dm_events["archive"] = archive
