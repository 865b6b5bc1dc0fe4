"""Fixtures for the sandbox tests: a sandbox per test and X's OpenAPI documents."""

from __future__ import annotations

import pytest

from sandbox_helpers import OPENAPI_2_166, X_API, OpenAPI

# Also registered by the tap's tests/conftest.py; registering a plugin twice is harmless.
# The fixtures of the split test modules live in their support modules.
pytest_plugins = ["tap_x_dm_sandbox.fixtures", "api_support", "data_support", "oauth_support"]


@pytest.fixture(scope="session")
def openapi() -> OpenAPI:
    return OpenAPI(OPENAPI_2_166, "urn:x-api:openapi:2.166")


@pytest.fixture(scope="session")
def openapi_167() -> OpenAPI:
    return OpenAPI(X_API / "openapi-v2.167.json", "urn:x-api:openapi:2.167")
