"""The trimmed OpenAPI document a run reads is exactly the part of X's document it needs."""

from __future__ import annotations

import json

import pytest

from tap_x_dm.schemas import (
    DM_SPEC,
    FULL_SPEC,
    RECORD_SCHEMA_KEYS,
    X_SCHEMAS,
    XSchemaSource,
    dm_subset,
    event_types,
    parameter_values,
)

FULL = json.loads(FULL_SPEC.read_text(encoding="utf-8"))


def test_the_trimmed_document_is_the_subset_of_xs_document() -> None:
    # Fails after openapi.json is replaced until `scripts/trim_openapi.py` is run.
    assert json.loads(DM_SPEC.read_text(encoding="utf-8")) == dm_subset(FULL)


@pytest.mark.parametrize("key", RECORD_SCHEMA_KEYS)
def test_every_record_schema_resolves_as_from_the_whole_document(key: str) -> None:
    whole = XSchemaSource(FULL_SPEC)
    assert X_SCHEMAS.get_schema(key, key_properties=["id"]) == whole.get_schema(
        key, key_properties=["id"]
    )


def test_list_parameters_and_event_types_are_those_of_the_whole_document() -> None:
    for name, parameter in FULL["components"]["parameters"].items():
        if parameter.get("schema", {}).get("items", {}).get("enum"):
            assert parameter_values(name) == tuple(parameter["schema"]["items"]["enum"]), name
    (declared,) = (
        p
        for p in FULL["paths"]["/2/dm_events"]["get"]["parameters"]
        if p.get("name") == "event_types"
    )
    assert event_types() == tuple(sorted(declared["schema"]["items"]["enum"]))


def test_the_trimmed_document_is_much_smaller() -> None:
    assert len(DM_SPEC.read_bytes()) * 5 < len(FULL_SPEC.read_bytes())
