"""The plugin definition and meltano.yml declare exactly the settings the tap prints.

Both are written by `scripts/plugin_definition.py` from `tap-x-dm --about --format json`
(the SDK's built-in settings included): a setting added to the tap fails here until the
script is run again.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from scripts.plugin_definition import (
    MELTANO_YML,
    PLUGIN_FILE,
    about,
    plugin_file_text,
    render_meltano_yml,
)

RUN_AGAIN = "run: .venv/bin/python scripts/plugin_definition.py"
SDK_SETTINGS = {
    "stream_maps": "object",
    "stream_map_config": "object",
    "faker_config": "object",
    "flattening_enabled": "boolean",
    "flattening_max_depth": "integer",
}


@pytest.fixture(scope="module")
def info() -> dict[str, Any]:
    return about()


def plugin() -> dict[str, Any]:
    return dict(yaml.safe_load(PLUGIN_FILE.read_text()))


def test_plugin_file_is_generated_from_the_tap(info: dict[str, Any]) -> None:
    assert PLUGIN_FILE.read_text() == plugin_file_text(info), RUN_AGAIN


def test_meltano_yml_settings_are_generated_from_the_tap(info: dict[str, Any]) -> None:
    text = MELTANO_YML.read_text()
    assert render_meltano_yml(text, info) == text, RUN_AGAIN


def test_plugin_declares_every_setting_the_sdk_included(info: dict[str, Any]) -> None:
    declared = {s["name"]: s for s in plugin()["settings"]}
    properties = info["settings"]["properties"]
    assert list(declared) == list(properties)
    for name, kind in SDK_SETTINGS.items():
        assert declared[name]["kind"] == kind, name
    # The SDK declares batch_config only for taps with the BATCH capability.
    assert ("batch_config" in declared) == ("batch" in info["capabilities"])
    for name, prop in properties.items():
        assert declared[name].get("sensitive", False) == bool(prop.get("secret")), name
        assert declared[name]["kind"] != "password", name
    assert declared["start_date"]["kind"] == "date_iso8601"
    assert declared["max_cost_usd"]["kind"] == "decimal"
    assert [o["value"] for o in declared["object_lookups"]["options"]] == ["by_id", "expansions"]


def test_plugin_is_in_hub_syntax_with_the_streams_to_select(info: dict[str, Any]) -> None:
    definition = plugin()
    assert definition["name"] == "tap-x-dm"
    assert definition["namespace"] == "tap_x_dm"
    assert definition["executable"] == "tap-x-dm"
    assert definition["capabilities"] == sorted(info["capabilities"])
    assert definition["select"] == [
        "dm_events.*",
        "conversation_events.*",
        "users.*",
        "tweets.*",
        "media.*",
        "chat_conversations.*",  # XChat's metadata: opt-in in the tap, selected here
        "chat_events.*",
    ]
    assert definition["pip_url"].startswith("git+https://")
    assert definition["commands"]["auth"]["executable"] == "tap-x-dm-auth"
    assert list(definition) == sorted(definition)  # the Hub's files sort their keys


def test_meltano_yml_extractor_is_the_plugin_installed_from_this_checkout() -> None:
    project = yaml.safe_load(MELTANO_YML.read_text())
    (extractor,) = (e for e in project["plugins"]["extractors"] if e["name"] == "tap-x-dm")
    definition = plugin()
    assert extractor["pip_url"] == "-e .[xchat]"  # chat_messages needs chatxdk
    for key in ("namespace", "executable", "settings", "settings_group_validation", "commands"):
        assert extractor[key] == definition[key], key
    assert sorted(extractor["capabilities"]) == definition["capabilities"]
    assert extractor["select"] == definition["select"]
