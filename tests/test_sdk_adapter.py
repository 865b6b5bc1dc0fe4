"""Contract tests of `tap_x_dm.sdk_adapter`: what it relies on in singer-sdk still holds.

Each test names the private or final SDK part the adapter uses. When an SDK
upgrade changes one, the test that fails says which adapter piece to rework.
"""

from __future__ import annotations

import inspect
import json
import logging
from typing import Any

import pytest
from singer_sdk import RESTStream, Stream, Tap
from singer_sdk.streams import _state

from tap_x_dm import sdk_adapter
from tap_x_dm.auth.authenticator import BearerToken
from tests.conftest import run_tap


def test_the_sdk_has_the_private_hooks_the_adapter_overrides_or_calls() -> None:
    assert list(inspect.signature(Stream._write_schema_message).parameters) == ["self"]
    assert list(inspect.signature(Stream._write_record_message).parameters) == ["self", "record"]
    increment = inspect.signature(_state.StreamStateManager.increment_state).parameters
    assert list(increment) == ["self", "latest_record", "context", "replication_key"]
    assert increment["context"].kind is inspect.Parameter.KEYWORD_ONLY
    manager = inspect.signature(_state.StreamStateManager.__init__).parameters
    assert {"tap_name", "stream_name", "tap_state", "state_partitioning_keys"} <= set(manager)


def test_the_sdk_signs_each_request_as_it_sends_it(
    sandbox_factory: Any, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `XStream.build_prepared_request` leaves the authenticator out of the session (which
    # would sign as it prepares): the SDK's private `_request` signs, once per try.
    assert "self.authenticator(prepared_request)" in inspect.getsource(RESTStream._request)
    assert "self.requests_session.auth = self.authenticator" in inspect.getsource(
        RESTStream.build_prepared_request
    )
    signed: list[str] = []
    sign = BearerToken.__call__

    def counting(self: BearerToken, request: Any) -> Any:
        signed.append(request.path_url)
        return sign(self, request)

    monkeypatch.setattr(BearerToken, "__call__", counting)
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000, events=300)

    run_tap(sandbox, clock=clock)

    sent = [entry["path"] for entry in sandbox.request_log]
    assert len(sent) > 3 and len(signed) == len(sent)
    assert [path.split("?")[0] for path in signed] == sent


def test_the_sdk_advances_bookmarks_only_through_the_state_manager() -> None:
    # `_increment_stream_state` is the one place the SDK moves a bookmark per record.
    source = inspect.getsource(Stream._increment_stream_state)
    assert "self.state_manager.increment_state(" in source
    assert "state_manager" in dict(inspect.getmembers(Stream))


def test_sync_all_is_still_the_final_entry_point_the_run_scope_wraps() -> None:
    assert getattr(Tap.sync_all, "__final__", False) is True
    assert "stream.sync()" in inspect.getsource(Tap.sync_all)
    assert sdk_adapter.RunScopedTap.sync_all is not Tap.sync_all


def test_sync_sends_schema_through_the_private_hook_the_adapter_overrides() -> None:
    assert "self._write_schema_message()" in inspect.getsource(Stream.sync)


def test_out_of_band_records_go_through_stream_maps_and_one_schema(
    sandbox_factory: Any, clock: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="singer_sdk.metrics")
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000, events=1500)
    run = run_tap(
        sandbox,
        clock=clock,
        stream_maps={"users": {"name": "__NULL__", "name_hash": "md5(record['name'])"}},
    )

    users = run.records("users")
    assert users
    assert all("name" not in u and len(u["name_hash"]) == 32 for u in users)
    for stream in ("users", "tweets", "media"):
        assert len(run.schemas(stream)) == 1, stream
        schema_at = next(i for i, m in enumerate(run.messages) if m.get("stream") == stream)
        assert run.messages[schema_at]["type"] == "SCHEMA"
    counts = {
        point["tags"]["stream"]: point["value"]
        for point in (
            json.loads(r.getMessage().removeprefix("METRIC: "))
            for r in caplog.records
            if r.getMessage().startswith("METRIC: ") and '"record_count"' in r.getMessage()
        )
        if point["tags"]["stream"] in {"users", "tweets", "media"}
    }
    assert counts == {
        "users": len(users),
        "tweets": len(run.records("tweets")),
        "media": len(run.records("media")),
    }


def test_lean_record_messages_equal_the_sdk_ones_when_nothing_is_deselected() -> None:
    # `LeanRecordMessages` overrides the private `Stream._generate_record_messages`.
    assert list(inspect.signature(Stream._generate_record_messages).parameters) == [
        "self",
        "record",
    ]
    from singer_sdk.helpers.conform import TypeConformanceLevel

    from tap_x_dm.tap import TapXDM
    from tap_x_dm_sandbox import ManualClock

    tap = TapXDM(
        config={"access_token": "unused", "api_url": "http://127.0.0.1:9"},
        state={"account": {"id": "944480690", "username": "FloodSocial"}},
        clock=ManualClock(),
    )
    stream = tap.streams["dm_events"]
    assert isinstance(stream, sdk_adapter.LeanRecordMessages)
    assert stream.TYPE_CONFORMANCE_LEVEL is TypeConformanceLevel.NONE
    assert stream._nothing_to_conform()
    record = {"id": "1", "event_type": "MessageCreate", "text": "hi", "account_id": "9"}
    (lean,) = stream._generate_record_messages(dict(record))
    (sdk,) = Stream._generate_record_messages(stream, dict(record))
    assert (lean.stream, lean.record, lean.version) == (sdk.stream, sdk.record, sdk.version)
    assert lean.time_extracted is not None and lean.time_extracted.tzinfo is not None


def test_the_lean_record_path_overrides_match_the_sdk_hooks_they_replace() -> None:
    # `LeanRecordMessages._write_record_message` repeats the SDK's loop (write each message,
    # then mark the state unflushed); `_increment_stream_state` skips a `PassStateManager`.
    source = inspect.getsource(Stream._write_record_message)
    assert "self._generate_record_messages(record)" in source
    assert "self._tap.write_message(" in source
    assert "self.state_manager.is_flushed = False" in source
    assert list(inspect.signature(Stream._increment_stream_state).parameters) == [
        "self",
        "latest_record",
        "context",
    ]
    # The entry a pass's state lives in exists before the first record is emitted.
    assert "_write_starting_replication_value" in inspect.getsource(Stream._sync_records)


def test_line_writer_writes_the_sdks_bytes_for_every_message_kind() -> None:
    # `LineWriter.serialize_message` skips `Message.to_dict` (asdict, a deep copy) for
    # STATE and SCHEMA; the line must stay byte for byte the SDK's.
    import datetime as dt

    from singer_sdk import singerlib as singer
    from singer_sdk.contrib.msgspec import MsgSpecWriter

    state = {"bookmarks": {"dm_events": {"passes": [1, 2], "x": None, "y": {"z": "1"}}}}
    schema = {"type": "object", "properties": {"id": {"type": ["string", "null"]}}}
    messages = [
        singer.StateMessage(value=state),
        singer.SchemaMessage("users", schema, ["account_id", "id"], None),
        singer.SchemaMessage("dm_events", schema, ("id",), ["created_at"]),
        singer.RecordMessage(
            stream="dm_events",
            record={"id": "1", "n": None, "nested": [{"a": None}]},
            version=None,
            time_extracted=dt.datetime(2026, 12, 1, 22, 55, 57, 70000, tzinfo=dt.timezone.utc),
        ),
        singer.ActivateVersionMessage(stream="dm_events", version=3),
    ]
    ours, sdk = sdk_adapter.LineWriter(), MsgSpecWriter()
    for message in messages:
        assert bytes(ours.format_message(message)) == bytes(sdk.format_message(message))


def test_invoke_gets_the_config_as_the_private_input_cli_setting_reads(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from singer_sdk.plugin_base import _ConfigInput

    assert "config" in inspect.signature(Tap.invoke).parameters
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps({"run_summary_path": "/tmp/a.json"}))
    from_file = _ConfigInput.from_cli_args(str(config_file))
    assert sdk_adapter.cli_setting(from_file, "run_summary_path", "TAP_X_DM_") == "/tmp/a.json"
    monkeypatch.setenv("TAP_X_DM_RUN_SUMMARY_PATH", "/tmp/b.json")
    from_env = _ConfigInput.from_cli_args("ENV")
    assert sdk_adapter.cli_setting(from_env, "run_summary_path", "TAP_X_DM_") == "/tmp/b.json"
    assert sdk_adapter.cli_setting(None, "run_summary_path", "TAP_X_DM_") is None


def test_opt_in_streams_are_left_out_without_a_catalog_and_keep_their_properties(
    sandbox: Any,
) -> None:
    """`OptInStream` reads the SDK's private `_tap_input_catalog` (None: no catalog given)."""
    from tap_x_dm.tap import TapXDM
    from tests.conftest import tap_config

    tap = TapXDM(config=tap_config(sandbox), validate_config=False)
    chat = tap.streams["chat_events"]
    assert isinstance(chat, sdk_adapter.OptInStream)
    assert chat._tap_input_catalog is None
    assert not chat.selected and tap.streams["dm_events"].selected
    entry = next(s for s in tap.catalog_dict["streams"] if s["tap_stream_id"] == "chat_events")
    by_breadcrumb = {tuple(m["breadcrumb"]): m["metadata"] for m in entry["metadata"]}
    assert by_breadcrumb[()]["selected-by-default"] is False
    assert by_breadcrumb[("properties", "sequence_id")].get("selected-by-default", True)


def test_the_state_manager_method_the_markerless_manager_silences_exists() -> None:
    written = inspect.signature(_state.StreamStateManager.write_starting_replication_value)
    assert {"context", "replication_method", "replication_key"} <= set(written.parameters)
    assert "write_starting_replication_value" in inspect.getsource(
        Stream._write_starting_replication_value
    )
