"""`tap-x-dm-sandbox`: run the X API sandbox in the foreground.

Scripts and CI start it with `--port 0` and read the FIRST stdout line to learn
the base URL, then `key=value` lines with the account and its credentials.
Request-log lines go to stderr. SIGINT or SIGTERM stop it cleanly.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from tap_x_dm_sandbox import Sandbox, SandboxConfig

_DEFAULTS = SandboxConfig()


def _positive(value: str) -> int:
    number = int(value)
    if number < 0:
        msg = f"must be >= 0, got {number}"
        raise argparse.ArgumentTypeError(msg)
    return number


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser: one flag per `SandboxConfig` field."""
    d = _DEFAULTS
    parser = argparse.ArgumentParser(
        prog="tap-x-dm-sandbox",
        description="A local stand-in for the X API v2 DM endpoints (no X credentials needed).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add = parser.add_argument
    net = parser.add_argument_group("network")
    net.add_argument("--host", default=d.host, help="interface to bind")
    net.add_argument("--port", type=_positive, default=d.port, help="port; 0 picks a free one")

    data = parser.add_argument_group("data")
    data.add_argument("--seed", type=int, default=d.seed, help="seed of data and credentials")
    data.add_argument("--users", type=_positive, default=d.users, help="generated users")
    data.add_argument("--conversations", type=_positive, default=d.conversations)
    data.add_argument("--days", type=_positive, default=d.days, help="days of history")
    data.add_argument("--events", type=_positive, default=d.events, help="generated events")
    data.add_argument(
        "--now-ms", type=int, default=None, help="end of generated history (epoch ms; default now)"
    )
    data.add_argument(
        "--events-file", default=None, help="load users/conversations/events from this JSON file"
    )

    api = parser.add_argument_group("API behaviour")
    api.add_argument("--rate-limit", type=_positive, default=d.rate_limit, help="requests/window")
    api.add_argument("--rate-window", type=float, default=d.rate_window, help="window, seconds")
    api.add_argument(
        "--shared-budget",
        action="store_true",
        help="one budget for the three list endpoints (default: one per endpoint)",
    )
    api.add_argument("--token-ttl", type=float, default=d.token_ttl, help="OAuth 2.0 token life")
    api.add_argument(
        "--meta-only-last-page",
        action="store_true",
        help="when the last page is exactly full, send next_token and then a meta-only page",
    )
    api.add_argument(
        "--unknown-conversation-404",
        action="store_true",
        help="404 for a conversation the user is not in (default: an empty page)",
    )
    api.add_argument(
        "--offset-pagination",
        action="store_true",
        help="tokens carry an offset: arrivals between two requests shift later pages",
    )
    api.add_argument(
        "--conversation-history-days",
        type=_positive,
        default=None,
        help="history of the conversation endpoints (default: all; /2/dm_events keeps 30 days)",
    )
    api.add_argument(
        "--nested-entities", action="store_true", help="nested `entities` (spec 2.167)"
    )
    api.add_argument(
        "--user-fields-default",
        default=",".join(d.user_fields_default),
        help="user fields sent when user.fields is absent",
    )
    api.add_argument("--usage-capped", action="store_true", help="answer 429 usage-capped")
    api.add_argument("--credits-depleted", action="store_true", help="answer 402")

    faults = parser.add_argument_group("faults (every k-th API request; 0 = never)")
    faults.add_argument("--fail-every", type=_positive, default=0, help="answer a 5xx")
    faults.add_argument("--fail-status", type=int, default=d.fail_status, help="that 5xx")
    faults.add_argument("--drop-every", type=_positive, default=0, help="close without answer")
    faults.add_argument("--slow-every", type=_positive, default=0, help="delay the answer")
    faults.add_argument(
        "--slow-seconds", type=float, default=d.slow_seconds, help="that delay (real time)"
    )
    faults.add_argument("--truncate-every", type=_positive, default=0, help="cut the JSON body")
    faults.add_argument("--non-json-every", type=_positive, default=0, help="non-JSON 200")
    faults.add_argument("--html-502-every", type=_positive, default=0, help="proxy HTML 502")
    faults.add_argument(
        "--rate-limit-no-headers-every",
        type=_positive,
        default=0,
        help="429 without x-rate-limit-* headers",
    )

    add("--request-log", default=None, help="append the request log (JSON lines) to this file")
    add("--quiet", action="store_true", help="do not echo the request log to stderr")
    return parser


def config_from_args(args: argparse.Namespace) -> SandboxConfig:
    """Map parsed flags onto a `SandboxConfig`."""
    if args.fail_status < 500 or args.fail_status > 599:
        msg = f"--fail-status must be 5xx, got {args.fail_status}"
        raise SystemExit(msg)
    return SandboxConfig(
        host=args.host,
        port=args.port,
        seed=args.seed,
        users=args.users,
        conversations=args.conversations,
        days=args.days,
        events=args.events,
        rate_limit=max(1, args.rate_limit),
        rate_window=args.rate_window,
        shared_budget=args.shared_budget,
        token_ttl=args.token_ttl,
        meta_only_last_page=args.meta_only_last_page,
        offset_pagination=args.offset_pagination,
        unknown_conversation_404=args.unknown_conversation_404,
        conversation_history_days=args.conversation_history_days,
        nested_entities=args.nested_entities,
        usage_capped=args.usage_capped,
        credits_depleted=args.credits_depleted,
        events_file=args.events_file,
        request_log_path=args.request_log,
        now_ms=args.now_ms,
        user_fields_default=tuple(f for f in args.user_fields_default.split(",") if f),
        fail_every=args.fail_every,
        fail_status=args.fail_status,
        drop_every=args.drop_every,
        slow_every=args.slow_every,
        slow_seconds=args.slow_seconds,
        truncate_every=args.truncate_every,
        non_json_every=args.non_json_every,
        html_502_every=args.html_502_every,
        rate_limit_no_headers_every=args.rate_limit_no_headers_every,
    )


def _stderr(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until SIGINT/SIGTERM; return the exit status."""
    args = build_parser().parse_args(argv)
    config = config_from_args(args)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    sandbox = Sandbox(config, echo_log=None if args.quiet else _stderr)
    try:
        sandbox.start()
        account = sandbox.account
        oauth1 = sandbox.auth.oauth1_credentials(account.id)
        lines = [
            sandbox.base_url,
            f"account_id={account.id}",
            f"account_username={account.username}",
            f"access_token={sandbox.access_token()}",
            f"empty_user_id={sandbox.empty_user_id()}",
            f"oauth2_public_client_id={sandbox.auth.public_client_id}",
            f"oauth2_confidential_client_id={sandbox.auth.confidential_client_id}",
            f"oauth2_confidential_client_secret={sandbox.auth.confidential_client_secret}",
            f"oauth1_consumer_key={oauth1['consumer_key']}",
            f"oauth1_consumer_secret={oauth1['consumer_secret']}",
            f"oauth1_access_token={oauth1['access_token']}",
            f"oauth1_access_token_secret={oauth1['access_token_secret']}",
            f"events={len(sandbox.dataset)}",
        ]
        sys.stdout.write("\n".join(lines) + "\n")
        sys.stdout.flush()
        _stderr(f"tap-x-dm-sandbox serving on {sandbox.base_url} (Ctrl-C to stop)")
        while not stop.wait(0.5):
            pass
        _stderr("tap-x-dm-sandbox stopping")
    finally:
        sandbox.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
