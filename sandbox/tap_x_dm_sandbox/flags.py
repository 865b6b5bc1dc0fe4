"""The flags of `tap-x-dm-sandbox`: one per `SandboxConfig` field, each value checked.

A bad value is one line (`tap-x-dm-sandbox: error: ...`) and exit status 2; `--help`
says what stdout carries and points to docs/sandbox.md.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import NoReturn

from typing_extensions import override

from tap_x_dm_sandbox.brand_flags import add_brand_flags
from tap_x_dm_sandbox.config import SandboxConfig
from tap_x_dm_sandbox.flags_today import add_today_flags
from tap_x_dm_sandbox.spec import parameter_values
from tap_x_dm_sandbox.xchat_flags import add_xchat_arguments

_DEFAULTS = SandboxConfig()

#: What the command prints on stdout after the base URL, in this order (one `key=value` each).
STDOUT_KEYS = (
    "account_id",
    "account_username",
    "access_token",
    "empty_user_id",
    "oauth2_public_client_id",
    "oauth2_confidential_client_id",
    "oauth2_confidential_client_secret",
    "oauth1_consumer_key",
    "oauth1_consumer_secret",
    "oauth1_access_token",
    "oauth1_access_token_secret",
    "events",
)

_EPILOG = """\
stdout, once it is serving (flushed after the last line):
  line 1     the base URL, e.g. http://127.0.0.1:40123
  then       key=value lines: account_id, account_username, access_token (the
             account's demo OAuth 2.0 token; it never expires), empty_user_id (a user
             without DMs), the OAuth 2.0 clients (oauth2_public_client_id,
             oauth2_confidential_client_id, oauth2_confidential_client_secret), the
             account's OAuth 1.0a keys (oauth1_consumer_key, oauth1_consumer_secret,
             oauth1_access_token, oauth1_access_token_secret) and events (how many).
stderr: the request log, one JSON object per line (none with --quiet).
SIGINT or SIGTERM stop it with exit status 0; a bad flag exits with status 2.

Every flag, the Python API and the pytest fixtures: docs/sandbox.md in the tap-x-dm
repository (sandbox/README.md for the short version).
"""


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (no usage block), exit status 2."""

    @override
    def error(self, message: str) -> NoReturn:
        """Print `prog: error: message` and exit 2."""
        self.exit(2, f"{self.prog}: error: {message}\n")


def _int_at_least(low: int, high: int | None = None) -> Callable[[str], int]:
    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {value!r}") from None
        if number < low or (high is not None and number > high):
            bounds = f"from {low} to {high}" if high is not None else f">= {low}"
            raise argparse.ArgumentTypeError(f"must be {bounds}, got {number}")
        return number

    return parse


def _seconds(*, zero_ok: bool) -> Callable[[str], float]:
    def parse(value: str) -> float:
        try:
            number = float(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected seconds, got {value!r}") from None
        if not math.isfinite(number):
            raise argparse.ArgumentTypeError(f"expected a finite number, got {value!r}")
        if number < 0 or (number == 0 and not zero_ok):
            raise argparse.ArgumentTypeError(
                f"must be {'>= 0' if zero_ok else '> 0'} seconds, got {value}"
            )
        return number

    return parse


def _user_fields(value: str) -> tuple[str, ...]:
    fields = tuple(f for f in value.split(",") if f)
    allowed = parameter_values("UserFieldsParameter")
    unknown = [f for f in fields if f not in allowed]
    if unknown:
        msg = f"unknown user field(s) {','.join(unknown)} (X's: {','.join(allowed)})"
        raise argparse.ArgumentTypeError(msg)
    return fields


_COUNT = _int_at_least(0)
_EVERY = _int_at_least(0)


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser: one flag per `SandboxConfig` field."""
    d = _DEFAULTS
    parser = _Parser(
        prog="tap-x-dm-sandbox",
        description=(
            "A local stand-in for the X API v2 DM endpoints, users/me and OAuth\n"
            "(no X credentials needed), serving a seeded brand inbox on 127.0.0.1."
        ),
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    net = parser.add_argument_group("network")
    net.add_argument("--host", default=d.host, help="interface to bind (default: %(default)s)")
    net.add_argument(
        "--port",
        type=_int_at_least(0, 65535),
        default=d.port,
        help="TCP port; 0 picks a free one, printed on the first stdout line "
        "(default: %(default)s)",
    )

    data = parser.add_argument_group("data")
    data.add_argument(
        "--seed",
        type=int,
        default=d.seed,
        help="seed of the data, the pagination-token key and every credential "
        "(default: %(default)s)",
    )
    data.add_argument(
        "--users",
        type=_int_at_least(4),
        default=d.users,
        help="generated users, at least 4 (default: %(default)s)",
    )
    data.add_argument(
        "--conversations",
        type=_int_at_least(1),
        default=d.conversations,
        help="generated conversations, a fifth of them groups (default: %(default)s)",
    )
    data.add_argument(
        "--days",
        type=_int_at_least(1),
        default=d.days,
        help="days of generated history, ending now (default: %(default)s)",
    )
    data.add_argument(
        "--events",
        type=_int_at_least(1),
        default=d.events,
        help="generated DM events, at least one per conversation (default: %(default)s)",
    )
    data.add_argument(
        "--now-ms",
        type=int,
        default=None,
        help="end of the generated history in epoch milliseconds, for reproducible data "
        "(default: now)",
    )
    data.add_argument(
        "--events-file",
        default=None,
        metavar="PATH",
        help="load users, conversations, events, Tweets and media from this JSON file "
        "instead of generating them",
    )

    api = parser.add_argument_group("API behaviour")
    api.add_argument(
        "--rate-limit",
        type=_int_at_least(1),
        default=d.rate_limit,
        help="requests per window and budget (default: %(default)s)",
    )
    api.add_argument(
        "--rate-window",
        type=_seconds(zero_ok=False),
        default=d.rate_window,
        help="rate-limit window in seconds (default: %(default)s)",
    )
    api.add_argument(
        "--lookup-rate-limit",
        type=_int_at_least(1),
        default=d.lookup_rate_limit,
        help="requests per window of GET /2/users and GET /2/tweets, each its own budget "
        "(default: %(default)s)",
    )
    api.add_argument(
        "--shared-budget",
        action="store_true",
        help="one budget for the three list endpoints (2022-era X) instead of one each",
    )
    api.add_argument(
        "--token-ttl",
        type=_seconds(zero_ok=False),
        default=d.token_ttl,
        help="lifetime of OAuth 2.0 access tokens from the token endpoint, seconds "
        "(default: %(default)s)",
    )
    api.add_argument(
        "--meta-only-last-page",
        action="store_true",
        help="when the last page is exactly full, still send next_token, then a meta-only page",
    )
    api.add_argument(
        "--unknown-conversation-404",
        action="store_true",
        help="answer 404 for a conversation the user is not in (= --unknown-conversation 404)",
    )
    api.add_argument(
        "--offset-pagination",
        action="store_true",
        help="tokens carry an offset, so arrivals between two requests shift later pages",
    )
    api.add_argument(
        "--page-number-pagination",
        action="store_true",
        help="tokens carry a page number, times the current request's max_results "
        "(a small page, then a larger one, skips events)",
    )
    api.add_argument(
        "--pagination-token-ttl",
        type=_seconds(zero_ok=False),
        default=None,
        metavar="S",
        help="seconds a pagination token stays valid; older ones get X's 400 (default: forever)",
    )
    api.add_argument(
        "--created-at-precision",
        choices=("ms", "s"),
        default=d.created_at_precision,
        help="created_at in whole seconds (.000Z) as X sends, or the id's milliseconds "
        "(default: %(default)s)",
    )
    api.add_argument(
        "--created-at-skew-seconds",
        type=_seconds(zero_ok=True),
        default=d.created_at_skew_seconds,
        metavar="S",
        help="largest skew of created_at from the id's time, per event in [-S, +S] "
        "(default: %(default)s)",
    )
    api.add_argument(
        "--order-by",
        choices=("id", "created_at"),
        default=d.order_by,
        help="order of the list endpoints, newest first; within one created_at, events "
        "come in a fixed shuffled order (default: %(default)s)",
    )
    api.add_argument(
        "--conversation-history-days",
        type=_COUNT,
        default=None,
        metavar="DAYS",
        help="history served by the conversation endpoints "
        "(default: all; /2/dm_events always serves 30 days)",
    )
    api.add_argument(
        "--nested-entities",
        action="store_true",
        help="send `entities` nested (spec 2.167) instead of flat on the event (2.166)",
    )
    api.add_argument(
        "--user-fields-default",
        type=_user_fields,
        default=d.user_fields_default,
        metavar="LIST",
        help="user fields sent when user.fields is absent (default: id,name,username)",
    )
    add_today_flags(api, d)
    api.add_argument(
        "--usage-capped", action="store_true", help="every API call answers 429 usage-capped"
    )
    api.add_argument(
        "--credits-depleted",
        action="store_true",
        help="every API call answers 402 credits-depleted",
    )
    api.add_argument(
        "--client-not-enrolled",
        action="store_true",
        help="every API call answers 403 client-forbidden (client-not-enrolled)",
    )

    faults = parser.add_argument_group("faults (every k-th API request, counted from 1; 0 = never)")
    faults.add_argument(
        "--fail-every", type=_EVERY, default=0, metavar="K", help="answer a 5xx (--fail-status)"
    )
    faults.add_argument(
        "--fail-status",
        type=_int_at_least(500, 599),
        default=d.fail_status,
        help="the status of those answers, 500-599 (default: %(default)s)",
    )
    faults.add_argument(
        "--drop-every", type=_EVERY, default=0, metavar="K", help="close without answering"
    )
    faults.add_argument(
        "--slow-every",
        type=_EVERY,
        default=0,
        metavar="K",
        help="wait --slow-seconds (real time) before answering",
    )
    faults.add_argument(
        "--slow-seconds",
        type=_seconds(zero_ok=True),
        default=d.slow_seconds,
        help="that delay (default: %(default)s)",
    )
    faults.add_argument(
        "--truncate-every",
        type=_EVERY,
        default=0,
        metavar="K",
        help="cut the JSON body in half (valid HTTP, invalid JSON)",
    )
    faults.add_argument(
        "--non-json-every", type=_EVERY, default=0, metavar="K", help="a 200 with a text body"
    )
    faults.add_argument(
        "--html-502-every", type=_EVERY, default=0, metavar="K", help="a proxy's HTML 502 page"
    )
    faults.add_argument(
        "--rate-limit-no-headers-every",
        type=_EVERY,
        default=0,
        metavar="K",
        help="a 429 without x-rate-limit-* headers",
    )

    add_xchat_arguments(parser)
    add_brand_flags(parser)

    out = parser.add_argument_group("output")
    out.add_argument(
        "--request-log",
        default=None,
        metavar="PATH",
        help="also append the request log (JSON lines) to this file",
    )
    out.add_argument("--quiet", action="store_true", help="do not echo the request log to stderr")
    return parser


def config_from_args(args: argparse.Namespace) -> SandboxConfig:
    """Map parsed flags onto a `SandboxConfig` (every flag is a field of the same name)."""
    values = dict(vars(args))
    values.pop("quiet")
    values["request_log_path"] = values.pop("request_log")
    values["user_fields_default"] = tuple(values["user_fields_default"])
    return SandboxConfig(**values)
