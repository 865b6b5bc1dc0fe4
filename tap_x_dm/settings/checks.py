"""Checks of a config beyond its JSON Schema: rules across settings, and the input itself.

Each problem is one line that names the setting and never a secret's value: a
credential set that is incomplete, a URL that would carry tokens in clear text,
a config file that is missing or not JSON, a typo in a setting's name, a number
that is not finite (`NaN`, `Infinity`, `1e999`: JSON Schema's `minimum` lets NaN
through, and the SDK's parser refuses the first two with a traceback).
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tap_x_dm.api.costs import WORST_PER_EVENT, CostLedger
from tap_x_dm.auth.urls import transport_problem
from tap_x_dm.chat.key_settings import key_problems
from tap_x_dm.ids_and_times import parse_timestamp
from tap_x_dm.paths import PATH_SETTINGS, home_problem
from tap_x_dm.settings.config_schema import OAUTH1_SETTINGS, SECRET_SETTINGS


def text_setting(config: Mapping[str, Any], name: str) -> str:
    """A string setting, stripped; "" when unset (Meltano passes empty strings)."""
    return str(config.get(name) or "").strip()


def credential_problems(config: Mapping[str, Any]) -> list[str]:
    """Check that one credential set is complete; name missing settings, never a value.

    `consumer_key` selects OAuth 1.0a. Otherwise OAuth 2.0: an `access_token`
    alone (used as is), or `client_id` + `token_store_path` (the tap refreshes
    and keeps the rotating tokens in the store), seeded by `refresh_token`
    and/or `access_token`, or by a store written by `tap-x-dm-auth`.
    """
    names = (*OAUTH1_SETTINGS, "refresh_token", "client_id", "client_secret", "token_store_path")
    has = {name: bool(text_setting(config, name)) for name in names}
    if has["consumer_key"]:
        missing = [name for name in OAUTH1_SETTINGS if not has[name]]
        if missing:
            return [
                f"consumer_key selects OAuth 1.0a, which also needs {', '.join(missing)} "
                f"(set {', '.join('TAP_X_DM_' + name.upper() for name in missing)})."
            ]
        return []
    problems: list[str] = []
    stray = [name for name in ("consumer_secret", "access_token_secret") if has[name]]
    if stray:
        problems.append(
            f"{' and '.join(stray)} {'is' if len(stray) == 1 else 'are'} set but consumer_key "
            "is missing: OAuth 1.0a needs consumer_key, consumer_secret, access_token and "
            "access_token_secret."
        )
    store_path = text_setting(config, "token_store_path")
    store_exists = bool(store_path) and Path(store_path).expanduser().is_file()
    if has["refresh_token"] and not store_path:
        problems.append(
            "refresh_token needs token_store_path: X's refresh tokens work once, so the tap "
            "must save each new one; set token_store_path to a file on storage that outlives "
            "the run (not a throwaway container's disk)."
        )
    if (has["refresh_token"] or store_path or has["client_secret"]) and not has["client_id"]:
        problems.append(
            "client_id is missing: refreshing OAuth 2.0 tokens needs the X app's Client ID "
            "(developer portal, Keys and tokens; set TAP_X_DM_CLIENT_ID)."
        )
    if (
        store_path
        and has["client_id"]
        and not (store_exists or has["refresh_token"] or has["access_token"])
    ):
        problems.append(
            f"token_store_path {store_path} does not exist yet and there is no refresh_token "
            f"to seed it: run `tap-x-dm-auth --token-store {store_path}` once to authorise."
        )
    if not (has["access_token"] or has["refresh_token"] or store_path):
        problems.append(
            "access_token is missing: set TAP_X_DM_ACCESS_TOKEN (an OAuth 2.0 user access "
            "token with dm.read tweet.read users.read); or run `tap-x-dm-auth` and set "
            "token_store_path and client_id so the tap refreshes its own tokens; or set "
            "consumer_key, consumer_secret, access_token and access_token_secret (OAuth 1.0a)."
        )
    return problems


class _OddNumber(str):
    """A number as the config file spells it, when it is not a finite one."""


def _odd_constant(text: str) -> _OddNumber:
    return _OddNumber(text)


def _number(text: str) -> float | _OddNumber:
    value = float(text)
    return value if math.isfinite(value) else _OddNumber(text)


def odd_number_problems(data: Any, path: str = "") -> list[str]:
    """A line per value that is not a finite number (NaN, Infinity, 1e999), naming its setting."""
    if isinstance(data, Mapping):
        items: Any = ((f"{path}.{key}" if path else str(key), value) for key, value in data.items())
    elif isinstance(data, list):
        items = ((f"{path}[{index}]", value) for index, value in enumerate(data))
    else:
        odd = isinstance(data, _OddNumber) or (isinstance(data, float) and not math.isfinite(data))
        return [f"{path} must be a finite number (got {data})."] if odd else []
    return [line for key, value in items for line in odd_number_problems(value, key)]


def cross_setting_problems(config: Mapping[str, Any]) -> list[str]:
    """The rules JSON Schema cannot say; one line per problem, never a secret's value."""
    problems = odd_number_problems(config)
    homeless = path_problems(config)
    if homeless:  # the checks below would expand `~` to read those paths
        return problems + homeless
    problems.extend(credential_problems(config))
    api_url = str(config.get("api_url", ""))
    api_problem = transport_problem("api_url", api_url, "https://api.x.com")
    if api_problem:
        problems.append(api_problem)
    if text_setting(config, "token_url"):
        token_problem = transport_problem(
            "token_url", text_setting(config, "token_url"), "https://api.x.com/2/oauth2/token"
        )
        if token_problem:
            problems.append(token_problem)
    problems.extend(archive_problems(config))
    problems.extend(key_problems(config))
    if not problems:
        cap_problem = cost_cap_problem(config)
        if cap_problem:
            problems.append(cap_problem)
    if config.get("start_date"):
        try:
            parse_timestamp(str(config["start_date"]))
        except ValueError:
            problems.append(
                "start_date must be an ISO 8601 date or timestamp, e.g. 2026-01-31 or "
                f"2026-01-31T00:00:00Z (got {config['start_date']!r})."
            )
    return problems


def cost_cap_problem(config: Mapping[str, Any]) -> str | None:
    """A `max_cost_usd` below one event's worst case would stop every run before a page."""
    cap = config.get("max_cost_usd")
    if cap is None:
        return None
    prices = {k: v for k, v in (config.get("prices_usd") or {}).items() if v is not None}
    ledger = CostLedger(prices)
    kinds = set(WORST_PER_EVENT)
    worst = max(ledger.per_event_worst(kinds, kind) for kind in ("dm_events", "chat_events"))
    if float(cap) >= worst:
        return None
    return (
        f"max_cost_usd {cap} is below what one event can cost with the users, post and media "
        f"it may bring (${worst:.3f} at these prices): every run would stop before its first "
        "page. Raise it, or remove it for no cap."
    )


def path_problems(config: Mapping[str, Any]) -> list[str]:
    """A line per path setting whose `~user` names no user of this machine."""
    problems = []
    for name in PATH_SETTINGS:
        problem = home_problem(name, text_setting(config, name), secret=name in SECRET_SETTINGS)
        if problem:
            problems.append(problem)
    return problems


def archive_problems(config: Mapping[str, Any]) -> list[str]:
    """Rules of the archive settings, before the first request; one line each."""
    problems: list[str] = []
    path = str(config.get("archive_path") or "").strip()
    if path and not Path(path).expanduser().exists():
        problems.append(
            f"archive_path {path} does not exist: give the zip X sent (twitter-....zip) or the "
            "folder it unpacks to."
        )
    if config.get("archive_only") and not path:
        problems.append("archive_only needs archive_path: the archive to read instead of the API.")
    given = config.get("api_covered_from")
    if given:
        try:
            parse_timestamp(str(given))
        except ValueError:
            problems.append(
                "api_covered_from must be an ISO 8601 timestamp, e.g. 2026-01-31T00:00:00Z "
                f"(got {given!r})."
            )
    return problems


_CONFIG_PATH = re.compile(r"config\['(?P<name>[a-z_]+)'\]")


def redact_secret_errors(errors: Sequence[str]) -> list[str]:
    """Replace schema errors about a secret (which quote its value) by a line that does not."""
    redacted = []
    for error in errors:
        match = _CONFIG_PATH.search(error)
        if match and match["name"] in SECRET_SETTINGS:
            redacted.append(
                f"{match['name']} must be a string (the value is not shown: it is a secret)."
            )
        else:
            redacted.append(error)
    return redacted


def unknown_setting_lines(config: Mapping[str, Any], schema: Mapping[str, Any]) -> list[str]:
    """A warning per setting the tap does not know (a typo), naming the closest known one."""
    known = list(schema.get("properties", {}))
    lines = []
    for name in sorted(set(config) - set(known)):
        closest = difflib.get_close_matches(name, known, n=1)
        hint = f" (did you mean {closest[0]}?)" if closest else ""
        lines.append(f"Setting {name} is not a tap-x-dm setting{hint}; it is ignored.")
    return lines


def config_file_problem(path: str) -> str | None:
    """Why a `--config` file cannot be read, in one line without its content, or None."""
    if path == "ENV":
        return None
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return f"The config file {path} does not exist: check the --config path."
    except OSError as exc:
        return f"The config file {path} cannot be read: {exc.strerror or exc}."
    try:
        data = json.loads(text, parse_constant=_odd_constant, parse_float=_number)
    except ValueError as exc:
        line, column = getattr(exc, "lineno", "?"), getattr(exc, "colno", "?")
        return f"The config file {path} is not valid JSON (line {line}, column {column})."
    if not isinstance(data, dict):
        return f"The config file {path} must hold a JSON object of settings."
    odd = odd_number_problems(data)
    return odd[0] if odd else None
