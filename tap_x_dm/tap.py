"""tap-x-dm: settings, streams, and the services every stream shares."""

from __future__ import annotations

import re
import sys
import typing as t
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

import click
from singer_sdk import Stream, Tap
from singer_sdk import typing as th
from singer_sdk.contrib.msgspec import MsgSpecWriter
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.helpers.capabilities import CapabilitiesEnum, PluginCapabilities, TapCapabilities

from tap_x_dm.auth import XAuthenticator, build_signer, is_loopback
from tap_x_dm.bookmarks import parse_timestamp
from tap_x_dm.client import XStream
from tap_x_dm.clock import Clock, SystemClock
from tap_x_dm.errors import ConfigError, StopRunError, TapXDMError
from tap_x_dm.ratelimit import RateBudget
from tap_x_dm.runlock import account_run_lock
from tap_x_dm.schemas import parameter_values
from tap_x_dm.streams import (
    ConversationEventsStream,
    DmEventsStream,
    IncludedObjectsStream,
    MediaStream,
    TweetsStream,
    UsersStream,
)

EVENT_TYPES = ("MessageCreate", "ParticipantsJoin", "ParticipantsLeave")

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

_USER_ID = re.compile(r"^[0-9]{1,19}$")
_CONVERSATION_ID = re.compile(r"^([0-9]{1,19}-[0-9]{1,19}|[0-9]{15,19})$")


OAUTH1_SETTINGS = ("consumer_key", "consumer_secret", "access_token", "access_token_secret")


def _text(config: Mapping[str, Any], name: str) -> str:
    """A string setting, stripped; "" when unset (Meltano passes empty strings)."""
    return str(config.get(name) or "").strip()


def credential_problems(config: Mapping[str, Any]) -> list[str]:
    """Check that one credential set is complete; name missing settings, never a value.

    `consumer_key` selects OAuth 1.0a. Otherwise OAuth 2.0: an `access_token`
    alone (used as is), or `client_id` + `token_store_path` (the tap refreshes
    and keeps the rotating tokens in the store), seeded by `refresh_token`
    and/or `access_token`, or by a store written by `tap-x-dm-auth`.
    """
    has = {name: bool(_text(config, name)) for name in (
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
    store_path = _text(config, "token_store_path")
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


def validate_settings(config: Mapping[str, Any]) -> list[str]:
    """Check what JSON Schema cannot say without echoing secrets; one line per problem."""
    problems: list[str] = credential_problems(config)
    url = urlsplit(str(config.get("api_url", "")))
    if url.scheme not in {"https", "http"} or not url.hostname:
        problems.append(
            f"api_url must be an http(s) URL such as https://api.x.com (got {url.geturl()!r})."
        )
    elif url.scheme == "http" and not is_loopback(url.hostname):
        problems.append(
            "api_url must use https; plain http is allowed only for 127.0.0.1/localhost "
            "(the sandbox), because tokens would travel in clear text."
        )
    if _text(config, "token_url"):
        token_url = urlsplit(_text(config, "token_url"))
        if token_url.scheme not in {"https", "http"} or not token_url.hostname:
            problems.append(
                "token_url must be an http(s) URL such as https://api.x.com/2/oauth2/token "
                f"(got {token_url.geturl()!r})."
            )
        elif token_url.scheme == "http" and not is_loopback(token_url.hostname):
            problems.append(
                "token_url must use https; plain http is allowed only for 127.0.0.1/localhost "
                "(the sandbox), because refresh tokens would travel in clear text."
            )
    if config.get("start_date"):
        try:
            parse_timestamp(str(config["start_date"]))
        except ValueError:
            problems.append(
                f"start_date must be an ISO 8601 date or timestamp, e.g. 2026-01-31 or "
                f"2026-01-31T00:00:00Z (got {config['start_date']!r})."
            )
    event_types = list(config.get("event_types") or [])
    unknown = [value for value in event_types if value not in EVENT_TYPES]
    if not event_types or unknown or len(set(event_types)) != len(event_types):
        problems.append(
            f"event_types must be a non-empty subset of {', '.join(EVENT_TYPES)} without "
            f"repeats (got {event_types!r})."
        )
    page_size = config.get("page_size")
    if not isinstance(page_size, int) or isinstance(page_size, bool) or not 1 <= page_size <= 100:
        problems.append(f"page_size must be an integer from 1 to 100 (got {page_size!r}).")
    for setting, pattern, example in (
        (
            "dm_conversation_ids",
            _CONVERSATION_ID,
            '"944480690-906948460078698496" or a 15-19 digit group id',
        ),
        ("participant_ids", _USER_ID, '"944480690"'),
        ("dm_event_ids", _USER_ID, '"1582838499983564806"'),
    ):
        problems.extend(
            f"{setting} holds {value!r}, which is not an X id; write ids as quoted "
            f"strings, e.g. {example} (numbers lose digits as floats)."
            for value in config.get(setting) or []
            if not isinstance(value, str) or not pattern.match(value)
        )
    for setting, parameter in (
        ("user_fields", "UserFieldsParameter"),
        ("tweet_fields", "TweetFieldsParameter"),
        ("media_fields", "MediaFieldsParameter"),
    ):
        allowed = frozenset(parameter_values(parameter))
        values = list(config.get(setting) or [])
        unknown = [value for value in values if value not in allowed]
        if setting in config and not values:
            key = "media_key" if setting == "media_fields" else "id"
            problems.append(f"{setting} must list at least one field, e.g. {key}.")
        elif len(set(values)) != len(values):
            problems.append(f"{setting} lists a field twice: X refuses repeated values.")
        if unknown:
            problems.append(
                f"{setting} has values X does not know: {', '.join(map(str, unknown))}."
            )
    for setting, minimum in (
        ("request_timeout", 1),
        ("max_rate_limit_wait_seconds", 0),
        ("max_retries", 0),
    ):
        value = config.get(setting)
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value < minimum:
            problems.append(f"{setting} must be a number >= {minimum} (got {value!r}).")
    return problems


class TapXDM(Tap):
    """Singer tap for X API v2 Direct Message events."""

    name = "tap-x-dm"
    package_name = "tap-x-dm"
    message_writer_class = MsgSpecWriter
    capabilities: ClassVar[list[CapabilitiesEnum]] = [
        TapCapabilities.CATALOG,
        TapCapabilities.STATE,
        TapCapabilities.DISCOVER,
        PluginCapabilities.ABOUT,
        PluginCapabilities.STREAM_MAPS,
        PluginCapabilities.FLATTENING,
        PluginCapabilities.STRUCTURED_LOGGING,
    ]

    config_jsonschema = th.PropertiesList(
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
            description="OAuth 2.0 user-context access token with dm.read tweet.read "
            "users.read (used as is, or as the first token when the tap refreshes), or the "
            "OAuth 1.0a access token when consumer_key is set.",
        ),
        th.Property(
            "refresh_token",
            th.StringType,
            secret=True,
            title="Refresh token",
            description="OAuth 2.0 refresh token (scope offline.access). It only seeds the "
            "token store: X's refresh tokens work once, so the tap keeps each new one in "
            "token_store_path. Needs client_id and token_store_path.",
        ),
        th.Property(
            "client_id",
            th.StringType,
            title="Client ID",
            description="OAuth 2.0 Client ID of the X app (developer portal, Keys and "
            "tokens); needed to refresh tokens.",
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
            description="JSON file (mode 0600) holding the rotating OAuth 2.0 tokens, "
            "written by tap-x-dm-auth and after every refresh; required to refresh. Once it "
            "exists it wins over access_token/refresh_token. Keep it on storage that "
            "outlives the run, one file per X account.",
        ),
        th.Property(
            "consumer_key",
            th.StringType,
            title="Consumer key",
            description="OAuth 1.0a API key of the X app; setting it selects OAuth 1.0a "
            "(with consumer_secret, access_token, access_token_secret).",
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
            th.StringType,
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
            th.ArrayType(th.StringType),
            default=list(EVENT_TYPES),
            title="Event types",
            description="Subset of MessageCreate, ParticipantsJoin, ParticipantsLeave.",
        ),
        th.Property(
            "page_size",
            th.IntegerType,
            default=100,
            title="Page size",
            description="Events per request (1-100), sent as max_results; 100 spends the "
            "fewest requests.",
        ),
        th.Property(
            "dm_conversation_ids",
            th.ArrayType(th.StringType),
            default=[],
            title="Conversation ids",
            description="Conversations whose full history goes to conversation_events.",
        ),
        th.Property(
            "participant_ids",
            th.ArrayType(th.StringType),
            default=[],
            title="Participant ids",
            description="Users whose one-to-one conversation with the account goes to "
            "conversation_events.",
        ),
        th.Property(
            "user_fields",
            th.ArrayType(th.StringType),
            default=list(DEFAULT_USER_FIELDS),
            title="User fields",
            description="user.fields requested for the users stream.",
        ),
        th.Property(
            "tweet_fields",
            th.ArrayType(th.StringType),
            default=list(DEFAULT_TWEET_FIELDS),
            title="Tweet fields",
            description="tweet.fields requested for the tweets stream.",
        ),
        th.Property(
            "media_fields",
            th.ArrayType(th.StringType),
            default=list(DEFAULT_MEDIA_FIELDS),
            title="Media fields",
            description="media.fields requested for the media stream.",
        ),
        th.Property(
            "dm_event_ids",
            th.ArrayType(th.StringType),
            default=[],
            title="DM event ids",
            description="Specific events to fetch into dm_events, each once ever (remembered "
            "in state), without moving the bookmark: repairs a known gap.",
        ),
        th.Property(
            "request_timeout",
            th.NumberType,
            default=30,
            title="Request timeout",
            description="Seconds before a request is abandoned and retried.",
        ),
        th.Property(
            "max_retries",
            th.IntegerType,
            default=6,
            title="Max retries",
            description="Retries of one request after a 429, 5xx, timeout or dropped "
            "connection before the run fails.",
        ),
        th.Property(
            "max_rate_limit_wait_seconds",
            th.NumberType,
            default=1200,
            title="Max rate-limit wait",
            description="A single wait longer than this stops the run cleanly, keeping the "
            "state of finished work.",
        ),
        th.Property(
            "run_lock_dir",
            th.StringType,
            title="Run lock folder",
            description="Folder of the per-account run locks that stop two overlapping runs of "
            "one account (default: the system's temp folder).",
        ),
    ).to_dict()

    def __init__(self, *args: Any, clock: Clock | None = None, **kwargs: Any) -> None:
        self.clock: Clock = clock or SystemClock()
        self.participant_of: dict[str, str] = {}
        self._account_id: str | None = None
        self.stop_reason: StopRunError | None = None
        validate = kwargs.get("validate_config", True)
        super().__init__(*args, **kwargs)
        if validate:
            problems = validate_settings(self.config)
            if problems:
                raise ConfigValidationError(problems[0], errors=problems)

    # -- shared services ------------------------------------------------------------------

    @cached_property
    def rate_budget(self) -> RateBudget:
        """The run's one rate budget, shared by every stream and partition."""
        return RateBudget(
            self.clock,
            max_wait_seconds=float(self.config["max_rate_limit_wait_seconds"]),
            logger=self.logger,
        )

    @cached_property
    def authenticator(self) -> XAuthenticator:
        """The run's one authenticator, shared by every stream and partition."""
        signer = build_signer(self.config, clock=self.clock, logger=self.logger)
        return XAuthenticator(signer, self.rate_budget, self.logger)

    @cached_property
    def start_date(self) -> Any:
        """`start_date` as an aware datetime, or None."""
        value = self.config.get("start_date")
        return parse_timestamp(str(value)) if value else None

    def account_id(self, via: Stream) -> str:
        """The authenticated user's id: from state, else asked once (`GET /2/users/me`)."""
        if self._account_id is None:
            account = self.state.get("account")
            if isinstance(account, dict) and account.get("id"):
                self._account_id = str(account["id"])
            else:
                if not isinstance(via, XStream):
                    msg = "account_id is needed before any event stream has run"
                    raise TapXDMError(msg)
                payload = via.get_json("/2/users/me", {"user.fields": "id,name,username"})
                user = payload.get("data") or {}
                self._account_id = str(user["id"])
                t.cast("dict[str, Any]", self.state)["account"] = {
                    "id": self._account_id,
                    "username": user.get("username"),
                }
                self.logger.info(
                    "Account: @%s (id %s).", user.get("username", "?"), self._account_id
                )
        return self._account_id

    def publish_includes(self, includes: object, via: Stream) -> None:
        """Hand the objects that emitted events refer to to the users, tweets and media streams."""
        if not isinstance(includes, dict):
            return
        for stream in self.streams.values():
            if isinstance(stream, IncludedObjectsStream) and includes.get(stream.include_key):
                self.account_id(via)
                stream.emit(includes[stream.include_key])

    def stop(self, reason: StopRunError) -> None:
        """End the run cleanly: streams still to come skip their passes."""
        if self.stop_reason is None:
            self.stop_reason = reason
            self.logger.warning("%s", reason)

    def event_streams_selected(self) -> bool:
        """Whether any stream that reads event pages (and so fills includes) is selected."""
        return any(
            stream.selected for stream in self.streams.values() if isinstance(stream, XStream)
        )

    # -- SDK hooks ----------------------------------------------------------------------

    def sync_all(self) -> None:  # type: ignore[misc]  # the SDK marks it final; we only wrap it
        """Sync every stream while holding the account's run lock (see `runlock`)."""
        lock_dir = self.config.get("run_lock_dir")
        with account_run_lock(self.authenticator.identity, Path(lock_dir) if lock_dir else None):
            self.check_state_account()
            super().sync_all()

    def check_state_account(self) -> None:
        """Refuse a state written for another account before it misplaces a bookmark.

        Checked without a request, when the credential names its user (OAuth 1.0a
        tokens do; so does a token store written by tap-x-dm-auth).
        """
        account = self.state.get("account")
        stored = str(account["id"]) if isinstance(account, dict) and account.get("id") else None
        claimed = self.authenticator.user_id
        if stored is not None and claimed is not None and claimed != stored:
            msg = (
                f"The state belongs to X account {stored}, but the credential is for account "
                f"{claimed}: give each account its own state (meltano run --state-id-suffix "
                "<account>), or clear this one."
            )
            raise ConfigError(msg)

    def discover_streams(self) -> list[Stream]:
        """Return the five streams; no request is made."""
        return [
            DmEventsStream(self),
            ConversationEventsStream(self),
            UsersStream(self),
            TweetsStream(self),
            MediaStream(self),
        ]

    def load_state(self, state: dict[str, Any]) -> None:
        """Keep the remembered account next to the SDK's bookmarks."""
        super().load_state(state)
        if isinstance(state.get("account"), dict):
            t.cast("dict[str, Any]", self.state)["account"] = dict(state["account"])

    @classmethod
    def invoke(cls, *args: Any, **kwargs: Any) -> None:
        """Run the tap; a failure we can explain is one log line, not a traceback."""
        try:
            super().invoke(*args, **kwargs)
        except TapXDMError as exc:
            cls.logger.error("%s", exc)
            sys.exit(1)

    @classmethod
    def cb_test(cls, ctx: click.Context, param: click.Option, value: str) -> None:
        """`--test`: the same one-line errors as a sync."""
        try:
            super().cb_test(ctx, param, value)
        except ConfigValidationError as exc:
            for error in exc.errors:
                cls.logger.error("%s", error)
            ctx.exit(1)
        except TapXDMError as exc:
            cls.logger.error("%s", exc)
            ctx.exit(1)


if __name__ == "__main__":
    TapXDM.cli()
