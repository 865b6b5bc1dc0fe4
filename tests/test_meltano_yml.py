"""meltano.yml declares exactly the tap's settings, secrets marked sensitive."""

from __future__ import annotations

from pathlib import Path

import yaml

from tap_x_dm.tap import TapXDM

REPO = Path(__file__).resolve().parents[1]
SDK_BUILT_INS = {"stream_maps", "stream_map_config", "faker_config"}


def extractor() -> dict:
    project = yaml.safe_load((REPO / "meltano.yml").read_text())
    return next(e for e in project["plugins"]["extractors"] if e["name"] == "tap-x-dm")


def test_settings_match_the_tap() -> None:
    properties = TapXDM.config_jsonschema["properties"]
    declared = {s["name"]: s for s in extractor()["settings"]}
    ours = {
        name
        for name in properties
        if name not in SDK_BUILT_INS and not name.startswith("flattening_")
    }
    assert set(declared) == ours
    for name, prop in properties.items():
        if name in declared:
            assert declared[name].get("sensitive", False) == bool(prop.get("secret")), name
            assert "kind" in declared[name], name
            assert declared[name].get("kind") != "password", name


def test_project_is_offline_ready() -> None:
    project = yaml.safe_load((REPO / "meltano.yml").read_text())
    assert project["send_anonymous_usage_stats"] is False
    plugins = project["plugins"]["extractors"] + project["plugins"]["loaders"]
    for plugin in plugins:
        assert {"namespace", "pip_url", "executable"} <= set(plugin), plugin["name"]
        assert "variant" not in plugin, plugin["name"]
    assert extractor()["namespace"] == "tap_x_dm"
    assert extractor()["pip_url"] == "-e ."
