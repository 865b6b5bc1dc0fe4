"""Helpers for the sandbox tests: X's OpenAPI schemas, example payloads, HTTP shortcuts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import requests
from jsonschema import Draft4Validator  # type: ignore[import-untyped]
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from tap_x_dm_sandbox import Sandbox
from tap_x_dm_sandbox.clock import ManualClock
from tap_x_dm_sandbox.spec import OPENAPI_PATH

#: X's example payloads and the 2.167 spec, copied into this folder (see x_api/README.md).
X_API = Path(__file__).resolve().parent / "x_api"
EXAMPLES = X_API / "examples"
#: X's spec 2.166: the sandbox's own package copy.
OPENAPI_2_166 = OPENAPI_PATH
#: Generated content derives from (seed, now): pin "now" so data-dependent tests are stable.
#: 2026-09-21T14:13:20Z. OAuth 1.0a tests need a clock near real time instead.
PINNED_START = 1_790_000_000.0


def pinned_clock() -> ManualClock:
    return ManualClock(start=PINNED_START)


def denullable(node: Any) -> Any:
    """Rewrite OpenAPI 3.0 `nullable: true` as JSON Schema (a "null" type or an anyOf)."""
    if isinstance(node, list):
        return [denullable(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: denullable(value) for key, value in node.items()}
    if out.pop("nullable", False) is True:
        if isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
            if "enum" in out:
                out["enum"] = [*out["enum"], None]
        else:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


class OpenAPI:
    """Validate answers against `#/components/schemas/<name>` of an OpenAPI 3.0 document.

    The whole document is one resource in a `referencing.Registry`, so every `$ref`
    resolves inside it. OpenAPI 3.0 schemas are draft-4 style apart from `nullable`,
    which is translated (2.166 has none; 2.167 does).
    """

    def __init__(self, path: Path, uri: str) -> None:
        self.document = denullable(json.loads(path.read_text(encoding="utf-8")))
        resource = Resource.from_contents(self.document, default_specification=DRAFT4)
        self.registry: Registry[Any] = Registry().with_resource(uri, resource)
        self.uri = uri

    def validator(self, name: str) -> Draft4Validator:
        assert name in self.document["components"]["schemas"], name
        schema = {"$ref": f"{self.uri}#/components/schemas/{name}"}
        return Draft4Validator(
            schema, registry=self.registry, format_checker=Draft4Validator.FORMAT_CHECKER
        )

    def validate(self, instance: Any, name: str) -> None:
        errors = sorted(self.validator(name).iter_errors(instance), key=lambda e: list(e.path))
        assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:10])

    def response_schema(
        self, path: str, status: str = "200", media: str = "application/json"
    ) -> str:
        """Name the schema the spec gives for an operation's answer."""
        operation = self.document["paths"][path]["get"]
        ref: str = operation["responses"][status]["content"][media]["schema"]["$ref"]
        return ref.rsplit("/", 1)[-1]


def example(name: str) -> Any:
    return json.loads((EXAMPLES / name).read_text(encoding="utf-8"))


def get(sb: Sandbox, path: str, token: str | None = None, /, **params: Any) -> requests.Response:
    """GET `path` with the account's demo token (or `token`; "" sends no Authorization).

    Keyword arguments are query parameters, except `timeout` (seconds, default 10).
    """
    timeout = float(params.pop("timeout", 10))
    token = sb.access_token() if token is None else token
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.get(sb.base_url + path, params=params, headers=headers, timeout=timeout)


def walk(
    sb: Sandbox, path: str, token: str | None = None, /, **params: Any
) -> list[dict[str, Any]]:
    """Follow next_token to the end; return every page body."""
    pages = []
    while True:
        response = get(sb, path, token, **params)
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append(body)
        next_token = body["meta"].get("next_token")
        if not next_token:
            return pages
        params["pagination_token"] = next_token


RATE_HEADERS = ("x-rate-limit-limit", "x-rate-limit-remaining", "x-rate-limit-reset")


def rate(response: requests.Response) -> tuple[int, int, int]:
    """An answer's `x-rate-limit-*` headers: limit, remaining, reset."""
    limit, remaining, reset = (int(response.headers[h]) for h in RATE_HEADERS)
    return limit, remaining, reset
