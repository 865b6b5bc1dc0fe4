"""`tap-x-dm-auth xchat-export`: the owner's one-time export of their XChat keys.

Run by the account's owner, on their own machine: it asks for the XChat PIN once
(never a flag, never stored, never sent anywhere but X's key backup), recovers
the keys from X's key backup, and writes the blob `chat_messages` decrypts with
to a new file of mode 0600. X deletes the backup after 20 wrong PINs, so it
guesses exactly once per run and says how many guesses remain.

Against X the backup is Juicebox, reached by chatxdk itself
(`Chat(juicebox_config).unlock(PIN)`, the config from `GET /2/users/{id}/public_keys`).
Against any other `api_url` (the sandbox) it is the sandbox's stand-in,
`POST {api_url}/sandbox/juicebox/recover`, with the same guess budget and wording.
The X path passes X's `juicebox_config` to chatxdk as served; it is untested against X.
"""

from __future__ import annotations

import argparse
import base64
import getpass
import json
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

import requests

from tap_x_dm.auth.authenticator import build_signer
from tap_x_dm.chat import crypto
from tap_x_dm.chat.key_settings import BLOB_SETTING, VERSION_SETTING
from tap_x_dm.clock import SystemClock
from tap_x_dm.errors import TapXDMError
from tap_x_dm.paths import user_path

X_API_URL = "https://api.x.com"
ENV_PREFIX = "TAP_X_DM_"
_CREDENTIALS = (
    "api_url",
    "access_token",
    "refresh_token",
    "client_id",
    "client_secret",
    "token_store_path",
    "token_url",
    "consumer_key",
    "consumer_secret",
    "access_token_secret",
    "request_timeout",
)
WARNING = (
    "X deletes your XChat key backup after 20 wrong PINs, for good: this tries the PIN you "
    "type once. Keep the file it writes like a password (a secret manager): anyone holding "
    "it can read your encrypted chats, and revoking the app's access on X does not revoke it."
)


class ExportError(TapXDMError):
    """The export failed; nothing was written."""


def parser() -> argparse.ArgumentParser:
    """The command line of `tap-x-dm-auth xchat-export`."""
    parser = argparse.ArgumentParser(
        prog="tap-x-dm-auth xchat-export",
        description="Export your own XChat keys once (PIN asked once, never stored) to a 0600 "
        "file for the tap's xchat_key_blob. Credentials come from TAP_X_DM_* variables and "
        "--config files, as for the tap.",
    )
    parser.add_argument("--out", required=True, metavar="PATH", help="the key file to create")
    parser.add_argument("--config", action="append", default=[], metavar="PATH")
    parser.add_argument("--api-url", help=f"X API base URL (default {X_API_URL})")
    return parser


def _settings(args: argparse.Namespace, environ: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in _CREDENTIALS:
        if environ.get(ENV_PREFIX + name.upper()):
            values[name] = environ[ENV_PREFIX + name.upper()]
    for path in args.config:
        if path == "ENV":
            continue
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            msg = f"--config {path} cannot be read as a JSON object."
            raise ExportError(msg) from None
        if not isinstance(data, dict):
            raise ExportError(f"--config {path} must hold a JSON object.")
        values.update({k: v for k, v in data.items() if k in _CREDENTIALS and v not in ("", None)})
    if args.api_url:
        values["api_url"] = args.api_url
    values["api_url"] = str(values.get("api_url") or X_API_URL).rstrip("/")
    values["request_timeout"] = float(values.get("request_timeout") or 30)
    return values


def _call(session: requests.Session, method: str, url: str, **kwargs: Any) -> requests.Response:
    try:
        return session.request(method, url, **kwargs)
    except requests.exceptions.RequestException as exc:
        msg = f"{method} {url.split('?')[0]} failed: {type(exc).__name__}; nothing was written."
        raise ExportError(msg) from None


def _me(session: requests.Session, api_url: str, timeout: float) -> str:
    response = _call(session, "GET", f"{api_url}/2/users/me", timeout=timeout)
    user = (response.json() if response.ok else {}).get("data") or {}
    if not user.get("id"):
        hint = " (run tap-x-dm-auth first)" if response.status_code in (401, 403) else ""
        msg = f"GET /2/users/me answered {response.status_code}{hint}; nothing was written."
        raise ExportError(msg)
    return str(user["id"])


def _wrong_pin(remaining: int | None) -> ExportError:
    left = "an unknown number of" if remaining is None else str(remaining)
    return ExportError(
        f"Wrong PIN: {left} guess(es) remain before X deletes the key backup. Nothing was "
        "written; check the PIN before trying again."
    )


def _from_sandbox(
    session: requests.Session, api_url: str, pin: str, timeout: float
) -> tuple[str, bytes]:
    url = f"{api_url}/sandbox/juicebox/recover"
    response = _call(session, "POST", url, json={"pin": pin}, timeout=timeout)
    try:
        body = response.json()
    except ValueError:
        body = {}
    body = body if isinstance(body, dict) else {}
    if response.status_code == 401:
        raise _wrong_pin(body.get("guesses_remaining"))
    if response.status_code == 404:
        raise ExportError("The key backup is gone (20 wrong PINs): nothing can recover these keys.")
    data = body.get("data") or {}
    if not response.ok or not data.get("key_blob"):
        raise ExportError(f"POST /sandbox/juicebox/recover answered {response.status_code}.")
    return str(data["public_key_version"]), base64.b64decode(data["key_blob"])


def _from_x(
    session: requests.Session, api_url: str, user_id: str, pin: str, timeout: float
) -> tuple[str, bytes]:
    url = f"{api_url}/2/users/{user_id}/public_keys"
    params = {"public_key.fields": "public_key_version,juicebox_config"}
    response = _call(session, "GET", url, params=params, timeout=timeout)
    data = (response.json() if response.ok else {}).get("data")
    keys = data if isinstance(data, list) else [data] if isinstance(data, dict) else []
    keys = [k for k in keys if isinstance(k, dict) and k.get("juicebox_config")]
    if not keys:
        msg = f"GET /2/users/{user_id}/public_keys gave no key backup: is XChat set up with a PIN?"
        raise ExportError(msg)
    latest = max(keys, key=lambda k: int(str(k.get("public_key_version") or 0)))
    try:
        blob = crypto.unlock_and_export(json.dumps(latest["juicebox_config"]), pin)
    except crypto.WrongPinError as exc:
        raise _wrong_pin(exc.remaining) from None
    except crypto.KeyBlobError as exc:
        raise ExportError(f"X's key backup could not be unlocked ({exc}).") from None
    return str(latest.get("public_key_version")), blob


def _write_new(path: Path, blob: bytes) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ExportError(
            f"{path} exists: choose another --out (nothing was overwritten)."
        ) from None
    except OSError as exc:
        raise ExportError(f"{path} cannot be created ({exc.strerror}).") from None
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(base64.b64encode(blob).decode("ascii") + "\n")


def export(
    args: argparse.Namespace,
    environ: Mapping[str, str],
    *,
    read_pin: Callable[[str], str],
    out: TextIO,
) -> None:
    """Recover the keys with the PIN once, and write them to a new 0600 file."""
    if not crypto.chatxdk_installed():
        raise ExportError(f"xchat-export needs chatxdk: {crypto.INSTALL_HINT}.")
    settings = _settings(args, environ)
    path = user_path("--out", args.out)
    if path.exists():
        raise ExportError(f"{path} exists: choose another --out (nothing was overwritten).")
    api_url, timeout = settings["api_url"], settings["request_timeout"]
    session = requests.Session()
    session.auth = build_signer(
        settings, clock=SystemClock(), logger=logging.getLogger("tap-x-dm-auth")
    )
    user_id = _me(session, api_url, timeout)
    print(WARNING, file=out, flush=True)
    pin = read_pin("XChat PIN (not shown, not stored): ")
    if api_url == X_API_URL:
        version, blob = _from_x(session, api_url, user_id, pin, timeout)
    else:
        version, blob = _from_sandbox(session, api_url, pin, timeout)
    del pin
    _write_new(path, blob)
    print(
        f"Wrote the XChat keys of user {user_id} (key version {version}) to {path} (mode "
        f"0600). Configure the tap with:\n  {BLOB_SETTING}: {path}\n  {VERSION_SETTING}: "
        f"{version}\nA key reset on X (a new PIN setup, a new device key) makes newer "
        "conversations unreadable with this file: export again then.",
        file=out,
        flush=True,
    )


def main(
    argv: Sequence[str],
    *,
    environ: Mapping[str, str] | None = None,
    read_pin: Callable[[str], str] = getpass.getpass,
    out: TextIO,
    err: TextIO,
) -> int:
    """Run the export; 0 on success, 1 with one line on stderr otherwise."""
    args = parser().parse_args(argv)
    try:
        export(args, os.environ if environ is None else environ, read_pin=read_pin, out=out)
    except TapXDMError as exc:
        print(f"tap-x-dm-auth xchat-export: {exc}", file=err, flush=True)
        return 1
    except (KeyboardInterrupt, EOFError):
        print("tap-x-dm-auth xchat-export: interrupted; nothing was written.", file=err, flush=True)
        return 130
    return 0
