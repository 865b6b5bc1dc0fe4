"""The CLI's XChat flags (one per `SandboxConfig.chat_*` field, same names)."""

from __future__ import annotations

import argparse


def _status(value: str) -> int:
    if value not in ("403", "404"):
        raise argparse.ArgumentTypeError(f"must be 403 or 404, got {value!r}")
    return int(value)


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {value!r}")
    return number


def _price(value: str) -> float:
    try:
        price = float(value)
    except ValueError:
        price = -1.0
    if price < 0 or abs(round(price * 1000) - price * 1000) > 1e-9:
        raise argparse.ArgumentTypeError(f"must be >= 0 and a multiple of 0.001, got {value!r}")
    return price


def add_xchat_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the "XChat" flag group."""
    chat = parser.add_argument_group("XChat (the Chat API; crypto fixtures cached per seed)")
    chat.add_argument(
        "--chat-vocabulary",
        choices=("2.166", "2.167"),
        default="2.167",
        help="Chat API field names: 2.167 (created_at, previous_id) or 2.166 "
        "(created_at_msec, sequence_id, previous_sequence_id) (default: %(default)s)",
    )
    chat.add_argument(
        "--chat-oldest-first",
        action="store_true",
        help="serve a conversation's events oldest first (default: newest first)",
    )
    chat.add_argument(
        "--chat-access-denied",
        type=_status,
        default=None,
        metavar="STATUS",
        help="answer every Chat API request 403 or 404 (an app without Chat access)",
    )
    chat.add_argument(
        "--chat-rate-limit",
        type=_positive,
        default=15,
        metavar="N",
        help="requests per window of each Chat API endpoint (default: %(default)s)",
    )
    chat.add_argument(
        "--chat-event-price-usd",
        type=_price,
        default=0.010,
        metavar="USD",
        help="price of a chat event read (default: %(default)s, like a DM event)",
    )
    chat.add_argument(
        "--xchat-cache-dir",
        default=None,
        metavar="PATH",
        help="cache folder of the XChat crypto fixtures "
        "(default: $TAP_X_DM_SANDBOX_CACHE, else ~/.cache/tap-x-dm-sandbox)",
    )
