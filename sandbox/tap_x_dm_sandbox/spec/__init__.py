"""X's OpenAPI documents 2.166 and 2.167, the sandbox's own copies.

The oracle must not share the tap's, and the sandbox reads nothing outside its package.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

#: The same bytes as X publishes (and as the tap ships in `tap_x_dm/schemas/`).
OPENAPI_PATH = Path(__file__).with_name("openapi.json")
#: X's production spec since 2026-07 ("post" for "tweet"), the same bytes as the docs' copy.
OPENAPI_2167_PATH = Path(__file__).with_name("openapi-v2.167.json")
_PATHS = {"2.166": OPENAPI_PATH, "2.167": OPENAPI_2167_PATH}


@cache
def openapi(version: str = "2.166") -> dict[str, Any]:
    """Return the parsed document of one version (read once, on first use)."""
    document: dict[str, Any] = json.loads(_PATHS[version].read_text(encoding="utf-8"))
    return document


def parameter_values(name: str, version: str = "2.166") -> tuple[str, ...]:
    """Return the values X's spec allows for a list parameter, e.g. `DmEventFieldsParameter`."""
    schema = openapi(version)["components"]["parameters"][name]["schema"]
    # 2.167 lists `attachments.media_keys` twice: keep the first of each.
    return tuple(dict.fromkeys(schema["items"]["enum"]))
