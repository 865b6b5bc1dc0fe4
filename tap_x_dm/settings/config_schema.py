"""The tap's settings: a JSON Schema for what each value must be.

The SDK validates the schema before the tap does anything, with one line per
problem that names the setting (`500 is greater than the maximum of 100 in
config['page_size']`). Enums come from X's own spec, so a field X does not know
is refused before the first request. Secrets carry no pattern: a schema error
would echo the value (see `settings.checks.redact_secret_errors`). Rules across
settings live in `settings.checks`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from singer_sdk import typing as th
from typing_extensions import override

from tap_x_dm.api.costs import PRICES_USD
from tap_x_dm.schemas import event_types, parameter_values

EVENT_TYPES = event_types()

#: Object fields that need no permission beyond `dm.read tweet.read users.read`.
DEFAULT_USER_FIELDS = (
    *("created_at", "description", "id", "location", "name", "profile_image_url"),
    *("protected", "url", "username", "verified", "verified_type"),
)
DEFAULT_TWEET_FIELDS = (
    *("attachments", "author_id", "conversation_id", "created_at"),
    *("edit_history_tweet_ids", "entities", "id", "in_reply_to_user_id", "lang"),
    *("possibly_sensitive", "referenced_tweets", "text"),
)
DEFAULT_MEDIA_FIELDS = (
    *("alt_text", "duration_ms", "height", "media_key", "preview_image_url", "type"),
    *("url", "variants", "width"),
)

#: X's id patterns (OpenAPI `UserId`, `DmConversationId`, `DmEventId`).
USER_ID_PATTERN = r"^[0-9]{1,19}$"
CONVERSATION_ID_PATTERN = r"^([0-9]{1,19}-[0-9]{1,19}|[0-9]{15,19})$"

OAUTH1_SETTINGS = ("consumer_key", "consumer_secret", "access_token", "access_token_secret")
SECRET_SETTINGS = (
    *("access_token", "refresh_token", "client_secret", "consumer_secret"),
    *("access_token_secret", "xchat_key_blob", "xchat_key_version"),
)


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
    @override
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
        "conversation_routing",
        th.BooleanType,
        default=True,
        title="Conversation routing",
        description="Read a configured conversation from the /2/dm_events pages the run reads "
        "anyway when its bookmark allows (an incremental run then costs the same requests "
        "however many conversations are configured); false: always its own endpoint.",
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
        "object_lookups",
        th.StringType(allowed_values=["by_id", "expansions"]),
        default="by_id",
        title="Object lookups",
        description="How users and tweets are loaded: by_id looks each one up once on GET "
        "/2/users and GET /2/tweets (their own rate limits, not the DM quota) and again after "
        "object_lookups_refresh_days; expansions asks every DM page for them, billed on every "
        "UTC day they appear. Media are always expanded.",
    ),
    th.Property(
        "object_lookups_refresh_days",
        th.IntegerType(minimum=1, maximum=36_500),  # a century: any more overflows a date
        default=7,
        title="Object lookups refresh (days)",
        description="With object_lookups by_id: a user or tweet loaded this many UTC days ago "
        "is looked up again when an event refers to it (1: once a day, like expansions; at most "
        "36500).",
    ),
    th.Property(
        "object_lookups_max_ids",
        th.IntegerType(minimum=0),
        default=1_000,
        title="Object lookups memory (ids)",
        description="With object_lookups by_id: the most user (and tweet) ids the state "
        "remembers as loaded (about 22 bytes of state each); past it the oldest are forgotten and "
        "looked up again if seen.",
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
        "archive_path",
        th.StringType,
        title="X archive path",
        description="The account's X archive (Settings, Download an archive of your data): the "
        "zip X sends or the folder it unpacks to. Its DM events older than what the API read "
        "go into dm_events (source archive), once per archive; see docs/archive.md.",
    ),
    th.Property(
        "archive_only",
        th.BooleanType,
        default=False,
        title="Archive only",
        description="dm_events reads only archive_path and makes no request to /2/dm_events "
        "(nor dm_event_ids): before the API is set up, the archive's whole history is loaded. "
        "Later API runs keep one row per event.",
    ),
    th.Property(
        "api_covered_from",
        th.DateTimeType,
        title="API covered from",
        description="Only for a state of tap-x-dm 0.2 or older with archive_path: the "
        "created_at of the oldest API row in dm_events (select min(created_at) from dm_events "
        "where coalesce(source, 'api') = 'api'); the archive imports what is older.",
    ),
    th.Property(
        "xchat_ciphertext",
        th.BooleanType,
        default=False,
        title="XChat ciphertext",
        description="Also load each XChat event's encoded_event (encrypted contents) and "
        "signature into chat_events, and the account's encrypted conversation keys into "
        "chat_conversation_keys, to decrypt later, offline, with the account's own keys.",
    ),
    th.Property(
        "xchat_check",
        th.BooleanType,
        default=True,
        title="XChat check",
        description="When no chat stream is selected, ask once a UTC day whether the account "
        "has XChat conversations (one request) and warn if it does; false: never ask.",
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
        "max_cost_usd",
        th.NumberType(minimum=0),
        title="Max cost per run (USD)",
        description="Stop the run cleanly before a request could take its estimated cost (X's "
        "prices, each event with the most objects it may expand) past this; the state is kept, "
        "so runs in a row under the cap load every event once. Default: no cap.",
    ),
    th.Property(
        "prices_usd",
        th.ObjectType(
            *(th.Property(kind, th.NumberType(minimum=0)) for kind in PRICES_USD),
            additional_properties=False,
        ),
        title="Prices (USD)",
        description="Price per resource X returns, for the cost estimate logged at the end of "
        "every run: dm_events, users, tweets (posts), media. Default: X's pay-per-use prices "
        f"({', '.join(f'{k} {v:.3f}' for k, v in PRICES_USD.items())}).",
    ),
    th.Property(
        "run_summary_path",
        th.StringType,
        title="Run summary file",
        description="A JSON file the run replaces at its end with how it ended (status, "
        "next_request_at, requests, records, cost; see the README's 'Chaining runs'), and "
        "removes at its start. Default: none (the exit code still says).",
    ),
    th.Property(
        "xchat_key_blob",
        th.StringType,
        secret=True,
        title="XChat key blob",
        description="The account owner's exported XChat keys, for chat_messages: a path to the "
        "file tap-x-dm-auth xchat-export wrote, or the blob itself (base64, from a secret "
        "manager). Needs the xchat extra (pip install 'tap-x-dm[xchat]') and "
        "xchat_key_version. Never logged.",
    ),
    th.Property(
        "xchat_key_version",
        th.StringType,
        secret=True,
        title="XChat key version",
        description="The key version of xchat_key_blob (tap-x-dm-auth xchat-export prints it).",
    ),
    th.Property(
        "run_lock_dir",
        th.StringType,
        title="Run lock folder",
        description="Folder of the per-account run locks that stop two overlapping runs of one "
        "account, keyed on its X user id (default: $XDG_STATE_HOME/tap-x-dm/locks, else "
        "~/.local/state/tap-x-dm/locks).",
    ),
).to_dict()
