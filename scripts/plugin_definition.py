"""Write the Meltano plugin definition of tap-x-dm from the tap's own `--about`.

Two places declare the extractor for Meltano: `plugin/extractors/tap-x-dm.yml`, in Meltano
Hub's syntax, for `meltano add extractor tap-x-dm --from-ref ...` in any project; and this
repository's `meltano.yml`. Both settings lists are generated here from the settings the tap
declares (the SDK's built-in ones included), so neither can drift from the tap:
`tests/test_plugin_definition.py` fails until this script is run again.

    .venv/bin/python scripts/plugin_definition.py
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
PLUGIN_FILE = REPO / "plugin" / "extractors" / "tap-x-dm.yml"
MELTANO_YML = REPO / "meltano.yml"
REPOSITORY_URL = "https://github.com/tap-x-dm/tap-x-dm"
#: What `meltano add --from-ref` installs when nothing else is said (see the README).
PIP_URL = f"git+{REPOSITORY_URL}.git"
#: The streams a new project selects. conversation_events sends nothing (no SCHEMA either)
#: until dm_conversation_ids or participant_ids is set. XChat's metadata streams too: X moves
#: new DMs there, so a DM warehouse without them misses most new conversations (a bare
#: `tap-x-dm` without a catalog still syncs none of them: docs/xchat.md).
SELECT = ["dm_events.*", "conversation_events.*", "users.*", "tweets.*", "media.*"]
SELECT += ["chat_conversations.*", "chat_events.*"]
#: One of these sets of settings must be complete (OAuth 2.0 token, refreshing OAuth 2.0,
#: OAuth 1.0a).
SETTINGS_GROUP_VALIDATION = [
    ["access_token"],
    ["client_id", "token_store_path"],
    ["consumer_key", "consumer_secret", "access_token", "access_token_secret"],
]
COMMANDS = {
    "auth": {
        "executable": "tap-x-dm-auth",
        "args": "--config ENV",
        "description": (
            "Authorise tap-x-dm for one X account (OAuth 2.0 with PKCE) and write token_store_path."
        ),
    }
}
#: The order in which Meltano writes a setting's keys (`SettingDefinition.__init__`).
MELTANO_SETTING_KEYS = ("name", "kind", "value", "label", "description", "options", "sensitive")
#: Labels of option values that say more than the value itself.
OPTION_LABELS = {
    "by_id": "By id (each user and tweet once, on its own endpoint)",
    "expansions": "Expansions (on every DM page)",
}
#: JSON Schema types to Meltano's setting kinds.
KINDS = {
    "string": "string",
    "integer": "integer",
    "number": "decimal",
    "boolean": "boolean",
    "array": "array",
    "object": "object",
}


def about() -> dict[str, Any]:
    """What `tap-x-dm --about --format json` prints."""
    output = subprocess.run(
        [sys.executable, "-m", "tap_x_dm", "--about", "--format", "json"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    return dict(json.loads(output))


def _kind(prop: dict[str, Any]) -> str:
    if "enum" in prop:
        return "options"
    if prop.get("format") in {"date-time", "date"}:
        return "date_iso8601"
    types = prop.get("type") or ["string"]
    types = [types] if isinstance(types, str) else types
    (json_type,) = (t for t in types if t != "null")
    return KINDS[json_type]


def setting(name: str, prop: dict[str, Any]) -> dict[str, Any]:
    """One Meltano setting from one config property, keys in Meltano's order.

    Only scalar defaults become `value`: a list default (the field lists) written into a
    project would hold that project to this version's list after an upgrade.
    """
    kind = _kind(prop)
    entry: dict[str, Any] = {"name": name, "kind": kind}
    default = prop.get("default")
    if default is not None and not isinstance(default, (list, dict)):
        entry["value"] = default
    entry["label"] = prop.get("title") or name
    if prop.get("description"):
        entry["description"] = prop["description"]
    if kind == "options":
        entry["options"] = [
            {"label": OPTION_LABELS.get(value, str(value).capitalize()), "value": value}
            for value in prop["enum"]
            if value is not None
        ]
    if prop.get("secret"):
        entry["sensitive"] = True
    return {key: entry[key] for key in MELTANO_SETTING_KEYS if key in entry}


def settings(info: dict[str, Any]) -> list[dict[str, Any]]:
    """Every setting the tap declares, the SDK's built-in ones included, in its order."""
    return [setting(name, prop) for name, prop in info["settings"]["properties"].items()]


def definition(info: dict[str, Any]) -> dict[str, Any]:
    """The plugin definition, in Meltano Hub's syntax."""
    return {
        "name": "tap-x-dm",
        "namespace": "tap_x_dm",
        "variant": "tap-x-dm",
        "label": "X Direct Messages",
        "description": info["description"],
        "keywords": ["meltano_sdk", "x", "twitter", "direct-messages"],
        "domain_url": "https://docs.x.com/x-api/direct-messages",
        "repo": REPOSITORY_URL,
        "docs": f"{REPOSITORY_URL}#readme",
        "maintenance_status": "active",
        "pip_url": PIP_URL,
        "executable": "tap-x-dm",
        "capabilities": sorted(info["capabilities"]),
        "settings_group_validation": SETTINGS_GROUP_VALIDATION,
        "settings": settings(info),
        "commands": COMMANDS,
        "select": SELECT,
    }


def plugin_file_text(info: dict[str, Any]) -> str:
    """The plugin file: Hub's layout (keys sorted, as the Hub's own files are)."""
    header = (
        "# tap-x-dm's plugin definition in Meltano Hub's syntax, written by\n"
        "# scripts/plugin_definition.py from `tap-x-dm --about`. In any Meltano project:\n"
        "#   meltano add extractor tap-x-dm --from-ref plugin/extractors/tap-x-dm.yml\n"
    )
    body = yaml.safe_dump(definition(info), sort_keys=True, allow_unicode=True, width=88)
    return header + body


#: A single-quoted scalar with an apostrophe in it, which Meltano (ruamel.yaml) double-quotes.
_APOSTROPHE = re.compile(r"^(\s*(?:- )?\w+: )'(.*'.*)'$")


def _meltano_quotes(line: str) -> str:
    match = _APOSTROPHE.match(line)
    if match is None:
        return line
    text = match.group(2).replace("''", "'").replace("\\", "\\\\").replace('"', '\\"')
    return f'{match.group(1)}"{text}"'


def settings_block(info: dict[str, Any]) -> str:
    """The extractor's `settings:` list as Meltano writes it into meltano.yml."""
    text = yaml.safe_dump(
        {"settings": settings(info)}, sort_keys=False, allow_unicode=True, width=1_000_000
    )
    return "".join(f"    {_meltano_quotes(line)}\n" for line in text.splitlines())


#: The extractor's settings list in meltano.yml: up to the next key of the plugin.
_SETTINGS = re.compile(r"(?ms)^(  - name: tap-x-dm\n.*?)^    settings:\n.*?(?=^    [a-z_]+:)")


def render_meltano_yml(text: str, info: dict[str, Any]) -> str:
    """meltano.yml with the extractor's settings list regenerated."""
    rendered, count = _SETTINGS.subn(lambda m: m.group(1) + settings_block(info), text, count=1)
    if count != 1:
        msg = "meltano.yml: no `settings:` list under the tap-x-dm extractor"
        raise ValueError(msg)
    return rendered


if __name__ == "__main__":
    tap_info = about()
    PLUGIN_FILE.parent.mkdir(parents=True, exist_ok=True)
    PLUGIN_FILE.write_text(plugin_file_text(tap_info))
    MELTANO_YML.write_text(render_meltano_yml(MELTANO_YML.read_text(), tap_info))
    print(f"Wrote {PLUGIN_FILE.relative_to(REPO)} and the settings in meltano.yml")
