"""The only places where tap-x-dm relies on a private or final part of singer-sdk.

Each exists because no public hook does the job (singer-sdk 0.54):

* `OutOfBandRecordsStream`: one stream's pages produce another stream's
  records (the users, tweets and media of a page of events), written as the
  page arrives. The SDK writes records only from a stream's own
  `get_records`, and its `sync()` always sends SCHEMA; here SCHEMA goes out
  once, before the first record, whoever triggers it.
* `PassStateManager`: the SDK's state manager without per-record bookmarks.
  The SDK would promote the highest `created_at` seen when a partition ends,
  even when a pass stopped early; only a completed pass may move a bookmark.
* `RunScopedTap`: `Tap.sync_all` is final; the run lock and the account check
  must surround it.
* `LeanRecordMessages`: the SDK's `_generate_record_messages` walks every record
  twice (selection, type conformance) even when neither can change it; with every
  property selected and conformance off (the tap's streams drop unknown properties
  themselves, `tap_x_dm.api.answers`) it builds the RECORD messages directly. Its
  `_process_record` skips the child-stream machinery of a stream without children.
  Every record it writes has every top-level property of the schema (null when absent),
  and is counted in the Tap's run tally (`services.tally`, the run summary's).
* `OptInStream`: a stream synced only when a catalog selects it. The SDK's
  `selected_by_default = False` also deselects every property, so a catalog that selects
  the stream alone would load rows without columns; this deselects the stream only,
  when no catalog was given (the SDK's private `_tap_input_catalog`).
* `cli_setting`: `Tap.invoke` gets the config as the SDK's private `_ConfigInput`;
  `run_summary_path` must be read from it when the run fails before a Tap exists.
* `LineWriter`: the SDK's msgspec writer flushes stdout after every message, one
  system call per RECORD; this one flushes at every other message (STATE, SCHEMA...),
  so a STATE still reaches the target at once, after the records it covers. It
  encodes STATE and SCHEMA from their fields, without the SDK's deep copy
  (`Message.to_dict` through `dataclasses.asdict`). A RECORD that UTF-8 cannot
  encode (a lone surrogate, `tap_x_dm.surrogates`) is repaired and counted there,
  the one place every record passes, at no cost to the others. A write that fails
  (the target exited, stdout closed or full) is one `TargetGoneError` line.

`tests/test_sdk_adapter.py` checks each assumption against the installed SDK
and fails loudly when an upgrade changes one (the pin is `<0.55`).
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import datetime as dt
import logging
import os
import sys
import typing as t
from collections.abc import Generator, Iterator
from typing import Any

from singer_sdk import Stream, Tap
from singer_sdk import singerlib as singer
from singer_sdk.contrib.msgspec import MsgSpecWriter, serialize_jsonl
from singer_sdk.helpers import types
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.mapper import SameRecordTransform
from singer_sdk.streams._state import StreamStateManager
from typing_extensions import override

from tap_x_dm.run.target import reason_of, target_gone
from tap_x_dm.surrogates import repaired


class _RecordTally(t.Protocol):
    @property
    def records(self) -> collections.Counter[str]: ...


class _RunServices(t.Protocol):
    @property
    def tally(self) -> _RecordTally: ...


class _CountingTap(t.Protocol):
    """The Tap `LeanRecordMessages` streams belong to: its run tally counts their records."""

    @property
    def services(self) -> _RunServices: ...


class LeanRecordMessages(Stream):
    """The SDK's RECORD messages, without the walks that cannot change the record.

    Every RECORD carries every top-level property of the stream's schema, null when X
    left it out: targets that take their columns from the first record (singer-io
    target-csv) or from each batch (target-parquet) see the same columns every time.
    """

    _all_selected: tuple[object, bool] | None = None
    #: The stream's schema and its properties, each None, in the schema's order.
    _template: tuple[object, dict[str, None]] | None = None

    def _with_every_property(self, record: types.Record) -> types.Record:
        """A copy of `record` with each property it lacks set to None (one C-level merge)."""
        schema = self.schema
        if self._template is None or self._template[0] is not schema:
            self._template = (schema, dict.fromkeys(schema.get("properties") or ()))
        return {**self._template[1], **record}

    def _nothing_to_conform(self) -> bool:
        if self.TYPE_CONFORMANCE_LEVEL is not TypeConformanceLevel.NONE:
            return False
        mask = self.mask
        if self._all_selected is None or self._all_selected[0] is not mask:
            self._all_selected = (mask, all(mask.values()))
        return self._all_selected[1]

    @override
    def _generate_record_messages(
        self, record: types.Record
    ) -> Generator[singer.RecordMessage, None, None]:
        """Override an SDK private: the same messages, built directly when nothing to do.

        With every property selected, `pop_deselected_record_properties` removes
        nothing; with `TypeConformanceLevel.NONE`, conformance returns the record.
        """
        if not self._nothing_to_conform():
            yield from super()._generate_record_messages(record)
            return
        yield from self._lean_record_messages(record)

    def _lean_record_messages(self, record: types.Record) -> list[singer.RecordMessage]:
        time_extracted = dt.datetime.now(dt.timezone.utc)
        messages = []
        for stream_map in self.stream_maps:
            mapped_record = stream_map.transform(record)
            if mapped_record is not None:
                messages.append(
                    singer.RecordMessage(
                        stream=stream_map.stream_alias,
                        record=mapped_record,
                        version=self._stream_version,
                        time_extracted=time_extracted,
                    )
                )
        return messages

    def _repaired_for_maps(self, record: types.Record) -> types.Record:
        """Lone surrogates out before a stream map (`sha256(text)`) encodes the text."""
        fixed, count = repaired(record)
        writer = self._tap.message_writer
        if count and isinstance(writer, LineWriter):
            writer.replaced_surrogates += count
            writer.repaired_records += 1
        return t.cast("types.Record", fixed)

    @override
    def _write_record_message(self, record: types.Record) -> None:
        """Override an SDK private: the SDK's loop, without a generator when nothing to do.

        Every record any stream writes passes here: the run summary counts it here, once.
        """
        t.cast("_CountingTap", self._tap).services.tally.records[self.name] += 1
        record = self._with_every_property(record)
        if any(not isinstance(m, SameRecordTransform) for m in self.stream_maps):
            record = self._repaired_for_maps(record)
        if not self._nothing_to_conform():
            super()._write_record_message(record)
            return
        write = self._tap.write_message
        for message in self._lean_record_messages(record):
            write(message)
        self.state_manager.is_flushed = False

    @override
    def _increment_stream_state(
        self, latest_record: types.Record, *, context: types.Context | None = None
    ) -> None:
        """Override an SDK private: a `PassStateManager` records nothing per record."""
        if isinstance(self.state_manager, PassStateManager):
            return
        super()._increment_stream_state(latest_record, context=context)

    @override
    def _process_record(
        self,
        record: types.Record,
        child_context: types.Context | None = None,
        partition_context: types.Context | None = None,
    ) -> None:
        """Override an SDK private: without child streams, only the partition keys remain."""
        if self.child_streams:
            super()._process_record(record, child_context, partition_context)
            return
        for key, val in (partition_context or {}).items():
            if key not in record:
                record[key] = val


#: The dataclass fields of each message class `LineWriter` encodes itself.
_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


class LineWriter(MsgSpecWriter):
    """The SDK's msgspec writer, flushing stdout at every message but RECORD.

    STATE and SCHEMA lines are encoded from the message's fields directly: the SDK's
    `Message.to_dict` first deep-copies the whole state (once a page) or schema
    through `dataclasses.asdict`; the bytes are the same.
    """

    #: Lone surrogates replaced by U+FFFD in this writer's records, and in how many records.
    replaced_surrogates = 0
    repaired_records = 0

    @override
    def serialize_message(self, message: singer.Message) -> bytearray:
        """The SDK's line, without the deep copy for STATE and SCHEMA."""
        kind = type(message)
        if kind is singer.RecordMessage:
            try:
                return serialize_jsonl(message.to_dict())
            except UnicodeEncodeError:  # only then is the record walked
                return serialize_jsonl(self._repaired(t.cast("singer.RecordMessage", message)))
        if kind is singer.StateMessage or kind is singer.SchemaMessage:
            # `asdict(message, dict_factory=exclude_null_dict)`, minus the copy: the
            # factory drops the message's own None fields only, never nested ones.
            fields = _FIELD_NAMES.get(kind)
            if fields is None:
                fields = _FIELD_NAMES[kind] = tuple(f.name for f in dataclasses.fields(kind))
            return serialize_jsonl(
                {name: value for name in fields if (value := getattr(message, name)) is not None}
            )
        return super().serialize_message(message)

    def _repaired(self, message: singer.RecordMessage) -> dict[str, Any]:
        """The message with each lone surrogate of its record replaced by U+FFFD (counted)."""
        message.record, count = repaired(message.record)
        if count:
            self.replaced_surrogates += count
            self.repaired_records += 1
        return message.to_dict()

    def log_repairs(self, logger: logging.Logger) -> None:
        """One line for the run, if any record's text held a lone surrogate."""
        if self.replaced_surrogates:
            logger.info(
                "Replaced %d lone surrogate(s) (half of an emoji, as in a message cut in the "
                "middle of one) by U+FFFD in the text of %d record(s): UTF-8 cannot hold them.",
                self.replaced_surrogates,
                self.repaired_records,
            )

    @override
    def write_message(self, message: singer.Message) -> None:
        """Write one line; flush unless it is a RECORD (the next STATE flushes it).

        Raises:
            TargetGoneError: stdout is closed, full, or the target exited.
        """
        line = self.format_message(message)
        out = sys.stdout
        try:
            out.buffer.write(line)
            if not isinstance(message, singer.RecordMessage):
                out.flush()
        except (OSError, ValueError, AttributeError) as exc:  # AttributeError: stdout is None
            raise target_gone(reason_of(exc)) from None


class OutOfBandRecordsStream(LeanRecordMessages):
    """A stream whose records are written while other streams sync."""

    _schema_sent = False

    def schema_wanted(self) -> bool:
        """Whether this run writes the stream at all (False: not even its SCHEMA)."""
        return True

    @override
    def _write_schema_message(self) -> None:
        """Send SCHEMA once per run, before the first record (overrides an SDK private)."""
        if not self._schema_sent and self.schema_wanted():
            self._schema_sent = True
            super()._write_schema_message()

    def write_out_of_band(self, record: types.Record) -> None:
        """Write one record now, through the SDK's stream maps and type conformance."""
        self._write_schema_message()
        self._write_record_message(record)


class OptInStream(Stream):
    """A stream left out unless the catalog selects it; its properties are selected by default."""

    @property
    @override
    def metadata(self) -> singer.MetadataMapping:
        """The SDK's metadata, with the stream itself not selected by default."""
        metadata = super().metadata
        root = metadata.root
        if self._tap_input_catalog is None:
            root.selected = False
        root.selected_by_default = False
        return metadata


class PassStateManager(StreamStateManager):
    """The SDK's state manager, minus its per-record bookmark updates."""

    @override
    def increment_state(
        self,
        latest_record: types.Record,
        *,
        context: types.Context | None = None,
        replication_key: str,
    ) -> None:
        """Record nothing per record: bookmarks move when a pass completes.

        (`LeanRecordMessages._increment_stream_state` does not even call this; the
        stream's entry in state exists from the partition's start.)
        """
        self.get_context_state(context)  # the SDK relies on the entry existing


class RunScopedTap(Tap):
    """A Tap whose whole sync runs inside `run_scope()` (the run lock, the account check)."""

    @contextlib.contextmanager
    def run_scope(self) -> Iterator[None]:
        """Override: what must hold for the duration of `sync_all`."""
        yield

    @override  # type: ignore[misc]  # final in the SDK; only wrapped here
    def sync_all(self) -> None:
        """Run the SDK's `sync_all` inside `run_scope()`."""
        with self.run_scope():
            super().sync_all()

    def write_state_now(self) -> None:
        """Emit STATE now (after a page): the SDK writes it only after a record or a finalize."""
        self.state_writer.write_state(self.state)


def cli_setting(config_input: object, name: str, env_prefix: str) -> object:
    """A setting as `Tap.invoke` receives the config, before any Tap exists.

    The SDK hands `invoke` a private `_ConfigInput` (`config`: the merged
    `--config` files; `parse_env`: `--config ENV`); this reads one value from it,
    from the environment (`TAP_X_DM_<NAME>`) when the files lack it.
    """
    values = getattr(config_input, "config", None)
    if isinstance(values, dict) and name in values:
        return values[name]
    if getattr(config_input, "parse_env", False):
        return os.environ.get(f"{env_prefix}{name.upper()}")
    return None


class MarkerlessStateManager(PassStateManager):
    """A `PassStateManager` that writes no `starting_replication_value` either.

    The SDK writes it into every stream and partition state as a sync starts and removes it
    at the end; the XChat streams' bookmarks are their own keys, so it would only add a
    key to every STATE in between.
    """

    @override
    def write_starting_replication_value(self, *args: Any, **kwargs: Any) -> None:
        """Write nothing (overrides an SDK method the stream calls at each partition start)."""


def new_state_manager(
    stream: Stream, manager: type[PassStateManager] = PassStateManager
) -> PassStateManager:
    """A `manager` (a `PassStateManager`) for `stream`, built from its public properties."""
    return manager(
        tap_name=stream.tap_name,
        stream_name=stream.name,
        tap_state=stream.tap_state,
        state_partitioning_keys=stream.state_partitioning_keys,
        is_sorted=stream.is_sorted,
        check_sorted=stream.check_sorted,
    )
