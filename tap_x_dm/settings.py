"""The tap's settings: a JSON Schema for what one value must be, code for rules across values.

The SDK validates the schema before the tap does anything, with one line per
problem that names the setting (`500 is greater than the maximum of 100 in
config['page_size']`). Enums come from X's own spec, so a field X does not know
is refused before the first request. Secrets carry no pattern: a schema error
would echo the value (see `redact_secret_errors`).
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from singer_sdk import typing as th

from tap_x_dm.schemas import event_types, parameter_values
from tap_x_dm.times import parse_timestamp
from tap_x_dm.urls import transport_problem

EVENT_TYPES = event_types()

#: Object fields that need no permission beyond `dm.read tweet.read users.read`.
DEFAULT_USER_FIELDS = (
    "created_at", "description", "id", "location", "name", "profile_image_url",
    "protected", "url", "username", "verified", "verified_type",
)  # fmt: skip
DEFAULT_TWEET_FIELDS = (
    "attachments", "author_id", "conversation_id", "created_at", "edit_history_tweet_ids",
    "entities", "id", "in_reply_to_user_id", "lang", "possibly_sensitive",
    "referenced_tweets", "text",
)  # fmt: skip
DEFAULT_MEDIA_FIELDS = (
    "alt_text", "duration_ms", "height", "media_key", "preview_image_url", "type", "url",
    "variants", "width",
)  # fmt: skip

#: X's id patterns (OpenAPI `UserId`, `DmConversationId`, `DmEventId`).
USER_ID_PATTERN = r"^[0-9]{1,19}$"
CONVERSATION_ID_PATTERN = r"^([0-9]{1,19}-[0-9]{1,19}|[0-9]{15,19})$"

OAUTH1_SETTINGS = ("consumer_key", "consumer_secret", "access_token", "access_token_secret")
SECRET_SETTINGS = (
    "access_token", "refresh_token", "client_secret", "consumer_secret", "access_token_secret",
)  # fmt: skip


class StringList(th.ArrayType[th.StringType]):
    """A list of strings with the constraints X puts on its list parameters."""

    def __init__(
        self,
        *,
        enum: Sequence[str] | None = None,
        pattern: str | None = None,
        non_empty: bool = False,
        unique: bool = False,
    ) -> None:
        super().__init__(
            th.StringType(allowed_values=list(enum) if enum else None, pattern=pattern)
        )
        self._non_empty = non_empty
        self._unique = unique

    @property
    def type_dict(self) -> dict[str, Any]:
        """The array schema plus `uniqueItems` and `minItems` where X demands them."""
        schema = dict(super().type_dict)
        if self._unique:
            schema["uniqueItems"] = True
        if self._non_empty:
            schema["minItems"] = 1
        return schema


CONFIG_SCHEMA: dict[str, Any] = th.PropertiesList(
    th.Property(
        "api_url",
        th.StringType,
        default="https://api.x.com",
        title="API URL",
        description="Base URL of the X API (the sandbox's URL when developing).",
    ),
    th.Property(
        "access_token",
        th.StringType,
        secret=True,
        title="Access token",
        description="OAuth 2.0 user-context access token with dm.read tweet.read users.read "
        "(used as is, or as the first token when the tap refreshes), or the OAuth 1.0a access "
        "token when consumer_key is set.",
    ),
    th.Property(
        "refresh_token",
        th.StringType,
        secret=True,
        title="Refresh token",
        description="OAuth 2.0 refresh token (scope offline.access). It only seeds the token "
        "store: X's refresh tokens work once, so the tap keeps each new one in "
        "token_store_path. Needs client_id and token_store_path.",
    ),
    th.Property(
        "client_id",
        th.StringType,
        title="Client ID",
        description="OAuth 2.0 Client ID of the X app (developer portal, Keys and tokens); "
        "needed to refresh tokens.",
    ),
    th.Property(
        "client_secret",
        th.StringType,
        secret=True,
        title="Client secret",
        description="OAuth 2.0 Client Secret, for a confidential client only (Web App, "
        "Automated App or bot: sent with HTTP Basic). Leave empty for a public client "
        "(Native App).",
    ),
    th.Property(
        "token_url",
        th.StringType,
        title="Token URL",
        description="OAuth 2.0 token endpoint; default {api_url}/2/oauth2/token.",
    ),
    th.Property(
        "token_store_path",
        th.StringType,
        title="Token store path",
        description="JSON file (mode 0600) holding the rotating OAuth 2.0 tokens, written by "
        "tap-x-dm-auth and after every refresh; required to refresh. Once it exists it wins "
        "over access_token/refresh_token. Keep it on storage that outlives the run, one file "
        "per X account.",
    ),
    th.Property(
        "consumer_key",
        th.StringType,
        title="Consumer key",
        description="OAuth 1.0a API key of the X app; setting it selects OAuth 1.0a (with "
        "consumer_secret, access_token, access_token_secret).",
    ),
    th.Property(
        "consumer_secret",
        th.StringType,
        secret=True,
        title="Consumer secret",
        description="OAuth 1.0a API key secret of the X app.",
    ),
    th.Property(
        "access_token_secret",
        th.StringType,
        secret=True,
        title="Access token secret",
        description="OAuth 1.0a access token secret of the user.",
    ),
    th.Property(
        "user_agent",
        # HTTP headers are ASCII: anything else cannot be sent as X would read it.
        th.StringType(pattern=r"^[ -~]*$"),
        title="User agent",
        description="User-Agent header sent to X.",
    ),
    th.Property(
        "start_date",
        th.DateTimeType,
        title="Start date",
        description="Nothing older is emitted, and paging stops once past it.",
    ),
    th.Property(
        "event_types",
        StringList(enum=EVENT_TYPES, non_empty=True, unique=True),
        default=list(EVENT_TYPES),
        title="Event types",
        description=f"Subset of {', '.join(EVENT_TYPES)}.",
    ),
    th.Property(
        "page_size",
        th.IntegerType(minimum=1, maximum=100),
        default=100,
        title="Page size",
        description="Events per request (1-100), sent as max_results; 100 spends the fewest "
        "requests.",
    ),
    th.Property(
        "dm_conversation_ids",
        StringList(pattern=CONVERSATION_ID_PATTERN),
        default=[],
        title="Conversation ids",
        description="Conversations whose full history goes to conversation_events (quoted "
        'strings: "944480690-906948460078698496", or a 15-19 digit group id).',
    ),
    th.Property(
        "participant_ids",
        StringList(pattern=USER_ID_PATTERN),
        default=[],
        title="Participant ids",
        description="Users whose one-to-one conversation with the account goes to "
        "conversation_events (quoted strings).",
    ),
    th.Property(
        "user_fields",
        StringList(enum=parameter_values("UserFieldsParameter"), non_empty=True, unique=True),
        default=list(DEFAULT_USER_FIELDS),
        title="User fields",
        description="user.fields requested for the users stream.",
    ),
    th.Property(
        "tweet_fields",
        StringList(enum=parameter_values("TweetFieldsParameter"), non_empty=True, unique=True),
        default=list(DEFAULT_TWEET_FIELDS),
        title="Tweet fields",
        description="tweet.fields requested for the tweets stream.",
    ),
    th.Property(
        "media_fields",
        StringList(enum=parameter_values("MediaFieldsParameter"), non_empty=True, unique=True),
        default=list(DEFAULT_MEDIA_FIELDS),
        title="Media fields",
        description="media.fields requested for the media stream.",
    ),
    th.Property(
        "dm_event_ids",
        StringList(pattern=USER_ID_PATTERN),
        default=[],
        title="DM event ids",
        description="Specific events to fetch into dm_events, each once ever (remembered in "
        "state), without moving the bookmark: repairs a known gap.",
    ),
    th.Property(
        "request_timeout",
        th.NumberType(minimum=1),
        default=30,
        title="Request timeout",
        description="Seconds before a request is abandoned and retried.",
    ),
    th.Property(
        "max_retries",
        th.IntegerType(minimum=0),
        default=6,
        title="Max retries",
        description="Retries of one request after a 429, 5xx, timeout or dropped connection "
        "before the run fails.",
    ),
    th.Property(
        "max_rate_limit_wait_seconds",
        th.NumberType(minimum=0),
        default=1200,
        title="Max rate-limit wait",
        description="A single wait longer than this stops the run cleanly, keeping the state "
        "of finished work.",
    ),
    th.Property(
        "run_lock_dir",
        th.StringType,
        title="Run lock folder",
        description="Folder of the per-account run locks that stop two overlapping runs of one "
        "account (default: the system's temp folder).",
    ),
).to_dict()


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
    has = {name: bool(text_setting(config, name)) for name in (
        *OAUTH1_SETTINGS, "refresh_token", "client_id", "client_secret", "token_store_path",
    )}  # fmt: skip
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


def cross_setting_problems(config: Mapping[str, Any]) -> list[str]:
    """The rules JSON Schema cannot say; one line per problem, never a secret's value."""
    problems = credential_problems(config)
    api_problem = transport_problem(
        "api_url", str(config.get("api_url", "")), "https://api.x.com"
    )  # fmt: skip
    if api_problem:
        problems.append(api_problem)
    if text_setting(config, "token_url"):
        token_problem = transport_problem(
            "token_url", text_setting(config, "token_url"), "https://api.x.com/2/oauth2/token"
        )
        if token_problem:
            problems.append(token_problem)
    if config.get("start_date"):
        try:
            parse_timestamp(str(config["start_date"]))
        except ValueError:
            problems.append(
                "start_date must be an ISO 8601 date or timestamp, e.g. 2026-01-31 or "
                f"2026-01-31T00:00:00Z (got {config['start_date']!r})."
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
        data = json.loads(text)
    except ValueError as exc:
        line, column = getattr(exc, "lineno", "?"), getattr(exc, "colno", "?")
        return f"The config file {path} is not valid JSON (line {line}, column {column})."
    if not isinstance(data, dict):
        return f"The config file {path} must hold a JSON object of settings."
    return None
