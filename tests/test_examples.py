"""X's own example payloads pass through the tap into records its schema accepts."""

from __future__ import annotations

import copy
import json
from typing import Any

import jsonschema
import pytest

from tap_x_dm.tap import TapXDM
from tap_x_dm_sandbox import ManualClock
from tap_x_dm_sandbox.spec import OPENAPI_PATH
from tests.conftest import EXAMPLES


def example_events() -> list[tuple[str, dict[str, Any]]]:
    found: list[tuple[str, dict[str, Any]]] = []
    for path in sorted(EXAMPLES.glob("*.json")):
        payload = json.loads(path.read_text())
        found += [(path.name, e) for e in payload.get("data", [])]
    found += [
        (p.name, json.loads(p.read_text())) for p in sorted((EXAMPLES / "events").glob("*.json"))
    ]
    return found


@pytest.fixture
def tap() -> TapXDM:
    return TapXDM(
        config={"access_token": "unused", "api_url": "http://127.0.0.1:9"},
        state={"account": {"id": "944480690", "username": "FloodSocial"}},
        clock=ManualClock(),
    )


@pytest.mark.parametrize(
    ("name", "event"), example_events(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_example_events_fit_the_dm_events_schema(
    tap: TapXDM, name: str, event: dict[str, Any]
) -> None:
    stream = tap.streams["dm_events"]
    record = stream.post_process(copy.deepcopy(event))
    assert record["account_id"] == "944480690"
    assert record["source"] == "api"
    assert {k: v for k, v in record.items() if k not in {"account_id", "source"}} == event
    jsonschema.validate(record, stream.schema)


def test_nested_entities_of_spec_2_167_are_flattened(tap: TapXDM) -> None:
    stream = tap.streams["dm_events"]
    url = {
        "start": 14,
        "end": 37,
        "url": "https://t.co/J5KotyeIyd",
        "expanded_url": "https://x.com/a/status/1",
    }
    nested = {
        "id": "1",
        "event_type": "MessageCreate",
        "text": "Another photo https://t.co/J5KotyeIyd",
        "entities": {"urls": [url]},
        "referenced_posts": [{"id": "2"}],
        "brand_new_field": 1,
    }
    record = stream.post_process(nested)
    assert record["urls"] == [url]
    assert record["referenced_tweets"] == [{"id": "2"}]
    assert "entities" not in record and "brand_new_field" not in record
    jsonschema.validate(record, stream.schema)


def test_data_dictionary_includes_fit_their_streams(tap: TapXDM) -> None:
    sample = json.loads(
        (
            EXAMPLES
            / "GET_dm_conversations_with_participant_id_dm_events.data_dictionary_sample.json"
        ).read_text()
    )
    for stream_name in ("users", "tweets"):
        schema = tap.streams[stream_name].schema
        for obj in sample["includes"][stream_name]:
            jsonschema.validate({**obj, "account_id": "944480690"}, schema)


def test_schemas_come_from_x_openapi_document(tap: TapXDM) -> None:
    spec = json.loads(OPENAPI_PATH.read_text())
    dm_event = spec["components"]["schemas"]["DmEvent"]
    schema = tap.streams["dm_events"].schema
    assert set(schema["properties"]) == set(dm_event["properties"]) | {
        "account_id",
        "source",
        "media_urls",
    }
    assert schema["properties"]["created_at"]["format"] == "date-time"
    assert "string" in schema["properties"]["id"]["type"]
    media = tap.streams["media"].schema["properties"]
    assert {"url", "alt_text", "duration_ms", "preview_image_url", "variants"} <= set(media)
