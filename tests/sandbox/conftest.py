"""Fixtures for the sandbox tests: a sandbox per test and X's OpenAPI documents."""

from __future__ import annotations

import pytest

# Imported (not listed in pytest_plugins, which only a root conftest may do) so these
# tests also run alone; registering the plugin at the root as well is harmless.
from tap_x_dm.sandbox.fixtures import sandbox, sandbox_factory  # noqa: F401

from .helpers import SHARED, OpenAPI


@pytest.fixture(scope="session")
def openapi() -> OpenAPI:
    return OpenAPI(SHARED / "openapi.json", "urn:x-api:openapi:2.166")


@pytest.fixture(scope="session")
def openapi_167() -> OpenAPI:
    return OpenAPI(SHARED / "openapi-v2.167.json", "urn:x-api:openapi:2.167")
