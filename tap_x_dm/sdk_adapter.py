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

`tests/test_sdk_adapter.py` checks each assumption against the installed SDK
and fails loudly when an upgrade changes one (the pin is `<0.55`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from singer_sdk import Stream, Tap
from singer_sdk.helpers import types
from singer_sdk.streams._state import StreamStateManager


class OutOfBandRecordsStream(Stream):
    """A stream whose records are written while other streams sync."""

    _schema_sent = False

    def _write_schema_message(self) -> None:
        """Send SCHEMA once per run, before the first record (overrides an SDK private)."""
        if not self._schema_sent:
            self._schema_sent = True
            super()._write_schema_message()

    def write_out_of_band(self, record: types.Record) -> None:
        """Write one record now, through the SDK's stream maps and type conformance."""
        self._write_schema_message()
        self._write_record_message(record)


class PassStateManager(StreamStateManager):
    """The SDK's state manager, minus its per-record bookmark updates."""

    def increment_state(
        self,
        latest_record: types.Record,
        *,
        context: types.Context | None = None,
        replication_key: str,
    ) -> None:
        """Record nothing per record: bookmarks move when a pass completes."""
        self.get_context_state(context)  # the SDK relies on the entry existing


class RunScopedTap(Tap):
    """A Tap whose whole sync runs inside `run_scope()` (the run lock, the account check)."""

    @contextlib.contextmanager
    def run_scope(self) -> Iterator[None]:
        """Override: what must hold for the duration of `sync_all`."""
        yield

    def sync_all(self) -> None:  # type: ignore[misc]  # final in the SDK; only wrapped here
        """Run the SDK's `sync_all` inside `run_scope()`."""
        with self.run_scope():
            super().sync_all()


def new_state_manager(stream: Stream, **kwargs: Any) -> PassStateManager:
    """A `PassStateManager` for `stream`, built from its public properties."""
    return PassStateManager(
        tap_name=stream.tap_name,
        stream_name=stream.name,
        tap_state=stream.tap_state,
        state_partitioning_keys=stream.state_partitioning_keys,
        is_sorted=stream.is_sorted,
        check_sorted=stream.check_sorted,
        **kwargs,
    )
