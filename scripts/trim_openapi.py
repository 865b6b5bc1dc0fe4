"""Write tap_x_dm/schemas/openapi-dm.json: the part of X's OpenAPI document the tap reads.

    .venv/bin/python scripts/trim_openapi.py

Run it after replacing tap_x_dm/schemas/openapi.json with a newer document of X's;
tests/test_schemas.py fails until it is run.
"""

from __future__ import annotations

import json
from pathlib import Path

from tap_x_dm.schemas import DM_SPEC, FULL_SPEC, dm_subset


def main() -> None:
    """Trim the whole document and write the subset next to it."""
    subset = dm_subset(json.loads(FULL_SPEC.read_text(encoding="utf-8")))
    target = Path(str(DM_SPEC))
    target.write_text(json.dumps(subset, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {target} ({target.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
