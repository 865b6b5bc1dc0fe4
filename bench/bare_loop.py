"""The hand-written baseline: `requests` + `json`, one Singer RECORD line per DM event.

It asks `GET /2/dm_events` for the same fields and expansions as the tap, pages with
`meta.next_token`, and writes `{"type":"RECORD","stream":"dm_events","record":...}` to
stdout. Nothing else: no schema, no state, no includes, no retries.

    python bench/bare_loop.py BASE_URL ACCESS_TOKEN PARAMS_JSON > /dev/null

PARAMS_JSON is the tap's query (`bench.run.tap_params()`): the harness passes it so this
process imports nothing but `requests` and `json`.
"""

from __future__ import annotations

import json
import sys

import requests


def main(base_url: str, token: str, params: dict[str, str]) -> int:
    """Page through `/2/dm_events`; return the number of events written."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    out = sys.stdout
    count = 0
    while True:
        response = session.get(f"{base_url}/2/dm_events", params=params, timeout=30)
        response.raise_for_status()
        page = json.loads(response.content)
        for event in page.get("data", ()):
            out.write(json.dumps({"type": "RECORD", "stream": "dm_events", "record": event}))
            out.write("\n")
            count += 1
        token_ = page.get("meta", {}).get("next_token")
        if not token_:
            return count
        params["pagination_token"] = token_


if __name__ == "__main__":
    written = main(sys.argv[1], sys.argv[2], json.loads(sys.argv[3]))
    print(f"bare loop: {written} events", file=sys.stderr)
