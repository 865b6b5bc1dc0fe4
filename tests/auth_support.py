"""Helpers of the authentication tests: token requests, credentials, the store, error lines.

Everything goes over HTTP to the sandbox with a ManualClock; assertions are on the
records, the sandbox's request log and the token store, never on wall time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tap_x_dm.auth.tokenstore import StoredTokens, TokenStore
from tests.conftest import TapRun

TOKEN_PATH = "/2/oauth2/token"


def token_requests(sandbox: Any) -> list[dict[str, Any]]:
    return [e for e in sandbox.request_log if e["path"] == TOKEN_PATH]


def statuses(sandbox: Any, path: str | None = None) -> list[Any]:
    """Statuses of API requests to `path` (default: every request but the token endpoint)."""
    return [
        e["status"]
        for e in sandbox.request_log
        if (e["path"] == path if path else not e["path"].startswith("/2/oauth2/"))
    ]


def refresh_config(
    sandbox: Any,
    store: Path,
    *,
    tokens: dict[str, Any] | None = None,
    confidential: bool = False,
    with_access_token: bool = True,
) -> dict[str, Any]:
    """Config of a refreshing OAuth 2.0 client, seeded with freshly issued tokens."""
    auth = sandbox.auth
    client_id = auth.confidential_client_id if confidential else auth.public_client_id
    tokens = tokens or auth.issue_tokens(sandbox.account.id, client_id=client_id)
    config = {
        "access_token": tokens["access_token"] if with_access_token else "",
        "refresh_token": tokens["refresh_token"],
        "client_id": client_id,
        "token_store_path": str(store),
    }
    if confidential:
        config["client_secret"] = auth.confidential_client_secret
    return config


def read_store(store: Path) -> StoredTokens:
    tokens = TokenStore(store).read()
    assert tokens is not None
    return tokens


def error_line(run: TapRun) -> str:
    assert run.error is not None, "the run should have failed"
    line = str(run.error)
    assert "\n" not in line
    return line


def oauth1_config(sandbox: Any, *, dm_permission: bool = True) -> dict[str, Any]:
    return dict(sandbox.auth.oauth1_credentials(sandbox.account.id, dm_permission=dm_permission))
