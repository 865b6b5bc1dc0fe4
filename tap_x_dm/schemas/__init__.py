"""Record schemas, taken from X's own OpenAPI document (v2.166) shipped in this folder.

`openapi.json` is X's whole document (815 KB, 446 schemas). A run reads only
`openapi-dm.json`, the part of it the tap uses (`dm_subset`: the components the
record schemas reach, the list parameters, the parameters of `GET /2/dm_events` and of the
lookups by id, `GET /2/users` and `GET /2/tweets`):
parsing and resolving the whole document cost about 25 ms of CPU per run.
`scripts/trim_openapi.py` writes it; `tests/test_schemas.py` fails when it is not
the subset of `openapi.json` or resolves to other schemas.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from functools import cache
from importlib import resources
from typing import Any

from singer_sdk.schema.source import OpenAPISchema
from typing_extensions import override

#: X's media union: the `media` stream holds the properties of them all.
MEDIA_VARIANTS = ("Photo", "Video", "AnimatedGif")

ACCOUNT_ID_SCHEMA = {
    "type": "string",
    "description": "Id of the authenticated X user whose DMs these are "
    "(from GET /2/users/me); tells accounts, and inbound from outbound, apart.",
}


#: Where an event row came from: the API, or the account's X archive (`archive_path`).
SOURCE_SCHEMA = {
    "type": "string",
    "enum": ["api", "archive"],
    "description": "Where the event came from: api (X API v2) or archive (the account's X "
    "archive, for history older than the API serves).",
}
#: The archive's links to a message's media (the API's `attachments` holds media keys instead).
MEDIA_URLS_SCHEMA = {
    "type": ["array", "null"],
    "items": {"type": "string"},
    "description": "Links to the message's media, from the X archive (API rows: null).",
}


class XSchemaSource(OpenAPISchema[str]):
    """Schemas taken from X's own OpenAPI document (v2.166), vendored in the package.

    Adds `account_id` to every stream, and flattens X's media union (Photo,
    Video, AnimatedGif share the `media` stream) into one object.
    """

    @override
    def fetch_schema(self, key: str) -> dict[str, Any]:
        """Resolve `key` from the spec and add what every warehouse row carries."""
        schema = copy.deepcopy(super().fetch_schema(key))
        if key == "Media":
            schema.pop("discriminator", None)
            for variant in MEDIA_VARIANTS:
                for part in self.resolve_schema(variant).get("allOf", []):
                    for name, prop in part.get("properties", {}).items():
                        schema["properties"].setdefault(name, prop)
        schema["properties"]["account_id"] = dict(ACCOUNT_ID_SCHEMA)
        if key == "DmEvent":
            schema["properties"]["source"] = copy.deepcopy(SOURCE_SCHEMA)
            schema["properties"]["media_urls"] = copy.deepcopy(MEDIA_URLS_SCHEMA)
        return schema


#: The components the streams' records are typed by (`XStream.schema_key`).
RECORD_SCHEMA_KEYS = ("DmEvent", "User", "Tweet", "Media")
FULL_SPEC = resources.files("tap_x_dm") / "schemas" / "openapi.json"
DM_SPEC = resources.files("tap_x_dm") / "schemas" / "openapi-dm.json"


def _component_refs(node: object) -> Iterator[tuple[str, str]]:
    """The (section, name) of every `#/components/...` reference in `node`, at any depth."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/"):
            section, _, name = ref.removeprefix("#/components/").partition("/")
            yield section, name
        for value in node.values():
            yield from _component_refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _component_refs(value)


#: The endpoints whose parameters the tap reads: the DM list, and the lookups by id.
KEPT_PATHS = ("/2/dm_events", "/2/tweets", "/2/users")


def dm_subset(spec: dict[str, Any]) -> dict[str, Any]:
    """The part of X's OpenAPI document the tap reads (see the module's docstring)."""
    components = spec["components"]
    paths = {
        path: {"get": {"parameters": spec["paths"][path]["get"]["parameters"]}}
        for path in KEPT_PATHS
    }
    kept: dict[str, dict[str, Any]] = {"parameters": dict(components["parameters"])}
    todo = [("schemas", key) for key in (*RECORD_SCHEMA_KEYS, *MEDIA_VARIANTS)]
    todo += list(_component_refs(kept["parameters"]))
    todo += list(_component_refs(paths))
    while todo:
        section, name = todo.pop()
        if name in kept.setdefault(section, {}):
            continue
        kept[section][name] = components[section][name]
        todo += _component_refs(components[section][name])
    return {
        "openapi": spec["openapi"],
        "info": spec["info"],
        "paths": paths,
        "components": {section: dict(sorted(kept[section].items())) for section in sorted(kept)},
    }


X_SCHEMAS = XSchemaSource(DM_SPEC)


@cache
def parameter_values(name: str) -> tuple[str, ...]:
    """The values X's spec allows for a list parameter, e.g. `DmEventFieldsParameter`.

    What the tap requests and accepts in settings comes from here, so no list is
    copied by hand (the sandbox reads its own copy of the spec: it is the oracle).
    """
    schema = X_SCHEMAS.spec["components"]["parameters"][name]["schema"]
    return tuple(schema["items"]["enum"])


@cache
def event_types() -> tuple[str, ...]:
    """The `event_types` X's spec allows on the DM event lists (MessageCreate, ...)."""
    for parameter in X_SCHEMAS.spec["paths"]["/2/dm_events"]["get"]["parameters"]:
        if parameter.get("name") == "event_types":
            return tuple(sorted(parameter["schema"]["items"]["enum"]))
    msg = "X's spec has no event_types parameter on /2/dm_events"
    raise LookupError(msg)
