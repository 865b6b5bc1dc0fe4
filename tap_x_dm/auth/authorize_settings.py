"""`tap-x-dm-auth`'s settings: environment, the tap's config files, then flags.

`client_secret` is never a flag (it would show in the process list).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from typing_extensions import override

from tap_x_dm.auth.signers import AUTH_SCOPES
from tap_x_dm.auth.token_endpoint import token_url_for
from tap_x_dm.auth.urls import transport_problem
from tap_x_dm.errors import TapXDMError
from tap_x_dm.paths import home_problem

DEFAULT_AUTHORIZE_URL = "https://x.com/i/oauth2/authorize"
DEFAULT_API_URL = "https://api.x.com"
DEFAULT_PORT = 8765
CALLBACK_HOST = "127.0.0.1"
CALLBACK_PATH = "/callback"
ENV_PREFIX = "TAP_X_DM_"
#: Settings read from the environment and from --config files.
SETTINGS = (
    "client_id",
    "client_secret",
    "token_store_path",
    "token_url",
    "api_url",
    "authorize_url",
    "request_timeout",
)


class AuthorizeError(TapXDMError):
    """The authorisation cannot be completed; the message says why and what to do."""


@dataclass(frozen=True)
class AuthSettings:
    """Everything one authorisation needs."""

    client_id: str
    client_secret: str | None
    token_store_path: Path
    token_url: str
    api_url: str
    authorize_url: str
    port: int
    scopes: tuple[str, ...]
    callback_timeout: float
    request_timeout: float

    @override
    def __repr__(self) -> str:
        return f"AuthSettings(client_id={self.client_id!r}, store={str(self.token_store_path)!r})"


def parser() -> argparse.ArgumentParser:
    """The command line of `tap-x-dm-auth`."""
    parser = argparse.ArgumentParser(
        prog="tap-x-dm-auth",
        description=(
            "Authorise tap-x-dm to read one X account's DMs (OAuth 2.0 with PKCE) and save "
            "the tokens to the token store the tap refreshes. Settings come from TAP_X_DM_* "
            "environment variables, then --config files, then these flags; client_secret "
            "only from the environment or a config file."
        ),
    )
    parser.add_argument(
        "--config",
        action="append",
        default=[],
        metavar="PATH",
        help="the tap's JSON config file (repeatable); 'ENV' is accepted and does nothing "
        "more, as TAP_X_DM_* variables are always read",
    )
    parser.add_argument("--client-id", help="OAuth 2.0 Client ID of the X app")
    parser.add_argument(
        "--token-store",
        metavar="PATH",
        help="the token store file to write (the tap's token_store_path)",
    )
    parser.add_argument("--api-url", help=f"X API base URL (default {DEFAULT_API_URL})")
    parser.add_argument("--token-url", help="token endpoint (default {api_url}/2/oauth2/token)")
    parser.add_argument("--authorize-url", help=f"consent page (default {DEFAULT_AUTHORIZE_URL})")
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"port of the local callback http://{CALLBACK_HOST}:PORT{CALLBACK_PATH}, which "
        f"must be registered in the X app exactly (default {DEFAULT_PORT})",
    )
    parser.add_argument(
        "--scopes",
        default=" ".join(AUTH_SCOPES),
        help=f"space-separated scopes (default: {' '.join(AUTH_SCOPES)})",
    )
    parser.add_argument("--no-browser", action="store_true", help="do not open a browser")
    parser.add_argument(
        "--headless",
        action="store_true",
        help="no local callback: paste the URL the browser was redirected to",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=300.0,
        help="seconds to wait for the browser's redirect (default 300)",
    )
    return parser


def _read_config_files(paths: Sequence[str]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for path in paths:
        if path == "ENV":
            continue
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            msg = f"Cannot read --config {path}: {exc.strerror or exc}."
            raise AuthorizeError(msg) from None
        except ValueError:
            msg = f"--config {path} is not valid JSON."
            raise AuthorizeError(msg) from None
        if not isinstance(data, dict):
            msg = f"--config {path} must hold a JSON object."
            raise AuthorizeError(msg)
        merged.update(data)
    return merged


def load_settings(args: argparse.Namespace, environ: Mapping[str, str]) -> AuthSettings:
    """Merge environment, config files and flags; one clear line per missing setting."""
    values: dict[str, Any] = {}
    for name in SETTINGS:
        env = environ.get(ENV_PREFIX + name.upper())
        if env:
            values[name] = env
    values.update({k: v for k, v in _read_config_files(args.config).items() if v not in ("", None)})
    for flag, name in (
        ("client_id", "client_id"),
        ("token_store", "token_store_path"),
        ("api_url", "api_url"),
        ("token_url", "token_url"),
        ("authorize_url", "authorize_url"),
    ):
        if getattr(args, flag):
            values[name] = getattr(args, flag)

    missing = []
    if not str(values.get("client_id") or "").strip():
        missing.append(
            "client_id is missing: pass --client-id or set TAP_X_DM_CLIENT_ID (the X app's "
            "OAuth 2.0 Client ID, developer portal, Keys and tokens)."
        )
    if not str(values.get("token_store_path") or "").strip():
        missing.append(
            "token_store_path is missing: pass --token-store PATH (the same file as the tap's "
            "token_store_path setting, on storage that outlives the tap's runs)."
        )
    elif home := home_problem("token_store_path", str(values["token_store_path"]).strip()):
        missing.append(home)
    if not 0 <= args.port <= 65535:
        missing.append(f"--port must be 0-65535 (got {args.port}).")
    if missing:
        raise AuthorizeError(" ".join(missing))
    api_url = str(values.get("api_url") or DEFAULT_API_URL).rstrip("/")
    token_url = token_url_for({**values, "api_url": api_url})
    authorize_url = str(values.get("authorize_url") or DEFAULT_AUTHORIZE_URL)
    insecure = [
        problem
        for name, url in (
            ("api_url", api_url),
            ("token_url", token_url),
            ("authorize_url", authorize_url),
        )
        if (problem := transport_problem(name, url, "https://..."))
    ]
    if insecure:
        raise AuthorizeError(" ".join(insecure))
    try:
        request_timeout = float(values.get("request_timeout") or 30)
    except (TypeError, ValueError):
        request_timeout = 30.0
    return AuthSettings(
        client_id=str(values["client_id"]).strip(),
        client_secret=str(values.get("client_secret") or "").strip() or None,
        token_store_path=Path(str(values["token_store_path"]).strip()).expanduser(),
        token_url=token_url,
        api_url=api_url,
        authorize_url=authorize_url,
        port=args.port,
        scopes=tuple(args.scopes.split()),
        callback_timeout=args.timeout,
        request_timeout=request_timeout,
    )
