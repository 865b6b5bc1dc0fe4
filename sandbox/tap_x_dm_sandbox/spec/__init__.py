"""X's OpenAPI document v2.166, the sandbox's own copy: the oracle must not share the tap's."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

#: The same bytes as X publishes (and as the tap ships in `tap_x_dm/schemas/`).
OPENAPI_PATH = Path(__file__).with_name("openapi.json")


@cache
def openapi() -> dict[str, Any]:
    """Return the parsed document (read once)."""
    document: dict[str, Any] = json.loads(OPENAPI_PATH.read_text(encoding="utf-8"))
    return document


def parameter_values(name: str) -> tuple[str, ...]:
    """Return the values X's spec allows for a list parameter, e.g. `DmEventFieldsParameter`."""
    schema = openapi()["components"]["parameters"][name]["schema"]
    return tuple(schema["items"]["enum"])
