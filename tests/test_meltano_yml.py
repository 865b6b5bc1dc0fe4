"""meltano.yml declares exactly the tap's settings, secrets marked sensitive."""

from __future__ import annotations

import copy
from pathlib import Path

import yaml

from tap_x_dm.tap import TapXDM

REPO = Path(__file__).resolve().parents[1]


def extractor() -> dict:
    project = yaml.safe_load((REPO / "meltano.yml").read_text())
    return next(e for e in project["plugins"]["extractors"] if e["name"] == "tap-x-dm")


def test_settings_match_the_tap() -> None:
    """Every setting, the SDK's built-in ones (maps, flattening, faker) included."""
    schema = copy.deepcopy(TapXDM.config_jsonschema)
    TapXDM.append_builtin_config(schema)
    properties = schema["properties"]
    declared = {s["name"]: s for s in extractor()["settings"]}
    assert set(declared) == set(properties)
    for name in ("stream_maps", "stream_map_config", "faker_config"):
        assert declared[name]["kind"] == "object", name
    for name, prop in properties.items():
        if name in declared:
            assert declared[name].get("sensitive", False) == bool(prop.get("secret")), name
            assert "kind" in declared[name], name
            assert declared[name].get("kind") != "password", name


def test_project_is_offline_ready() -> None:
    project = yaml.safe_load((REPO / "meltano.yml").read_text())
    assert project["send_anonymous_usage_stats"] is False
    plugins = [plugin for kind in project["plugins"].values() for plugin in kind]
    assert {plugin["name"] for plugin in plugins} >= {"tap-x-dm", "target-postgres", "dbt-postgres"}
    for plugin in plugins:
        assert {"namespace", "pip_url", "executable"} <= set(plugin), plugin["name"]
        assert "variant" not in plugin, plugin["name"]
    assert extractor()["namespace"] == "tap_x_dm"
    assert extractor()["pip_url"] == "-e .[xchat]"  # chat_messages needs chatxdk


def project() -> dict:
    return yaml.safe_load((REPO / "meltano.yml").read_text())


def dbt_utility() -> dict:
    return next(u for u in project()["plugins"]["utilities"] if u["name"] == "dbt-postgres")


def test_dbt_utility_is_declared_in_full_from_the_package_registry() -> None:
    dbt = dbt_utility()
    assert "variant" not in dbt
    assert dbt["namespace"] == "dbt_postgres"
    assert dbt["executable"] == "dbt_invoker"
    # dbt-core 1.12 pulls a parser that downloads from GitHub while it builds.
    assert dbt["pip_url"] == "dbt-core~=1.11.0 dbt-postgres~=1.11.0 meltano-dbt-ext==0.5.0"
    settings = {s["name"]: s for s in dbt["settings"]}
    assert settings["type"] == {**settings["type"], "env": "DBT_EXT_TYPE", "value": "postgres"}
    assert settings["password"]["sensitive"] is True
    assert settings["password"]["kind"] != "password"
    assert "password" not in dbt.get("config", {})
    assert dbt["env"]["DBT_SEND_ANONYMOUS_USAGE_STATS"] == "false"
    assert {"build", "run", "test"} <= set(dbt["commands"])
    for name in ("project_dir", "profiles_dir"):
        path = settings[name]["value"].replace("$MELTANO_PROJECT_ROOT/", "")
        assert (REPO / path).is_dir(), name


def test_dbt_profile_reads_the_utility_settings_and_nothing_is_downloaded() -> None:
    dbt = dbt_utility()
    profiles_dir = REPO / "transform" / "profiles" / "postgres"
    text = (profiles_dir / "profiles.yml").read_text()
    for setting in ("host", "port", "user", "password", "dbname", "schema"):
        assert setting in {s["name"] for s in dbt["settings"]}
        assert f"env_var('DBT_POSTGRES_{setting.upper()}')" in text, setting
    profile = yaml.safe_load(text)
    dbt_project = yaml.safe_load((REPO / "transform" / "dbt_project.yml").read_text())
    assert dbt_project["profile"] in profile
    assert dbt_project["flags"]["send_anonymous_usage_stats"] is False
    assert not (REPO / "transform" / "packages.yml").exists()
    assert not (REPO / "transform" / "dependencies.yml").exists()
    sources = (REPO / "transform" / "models" / "sources.yml").read_text()
    assert "env_var('DBT_POSTGRES_SOURCE_SCHEMA', 'x_dm')" in sources
    loader = next(p for p in project()["plugins"]["loaders"] if p["name"] == "target-postgres")
    assert loader["config"]["default_target_schema"] == dbt["config"]["source_schema"]
    assert dbt["config"]["schema"] != dbt["config"]["source_schema"]


def test_jobs_load_with_and_without_the_models() -> None:
    jobs = {job["name"]: job["tasks"] for job in project()["jobs"]}
    assert jobs["x-dm-to-postgres"] == ["tap-x-dm target-postgres"]
    assert jobs["x-dm-to-postgres-models"] == ["tap-x-dm target-postgres dbt-postgres:build"]
    schedules = {s["name"]: s for s in project()["schedules"]}
    assert schedules["x-dm-daily"]["job"] == "x-dm-to-postgres"
