"""The flags of X as it is in December 2026 (issue 21): vocabulary, plan, prices, accounts."""

from __future__ import annotations

import argparse
import math

from tap_x_dm_sandbox.config import SandboxConfig
from tap_x_dm_sandbox.plans import PLANS, UNKNOWN_CONVERSATION_ANSWERS
from tap_x_dm_sandbox.vocabulary import MODES


def _user_ids(value: str) -> tuple[str, ...]:
    ids = tuple(i for i in value.split(",") if i)
    bad = [i for i in ids if not (i.isascii() and i.isdigit())]
    if bad:
        raise argparse.ArgumentTypeError(f"not numeric user id(s): {','.join(bad)}")
    return ids


def _dollars(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected dollars, got {value!r}") from None
    if not (math.isfinite(number) and 0 <= number <= 1):
        raise argparse.ArgumentTypeError(f"must be 0-1 dollars, got {value}")
    return number


def add_today_flags(api: argparse._ArgumentGroup, d: SandboxConfig) -> None:
    """Add the flags to the "API behaviour" group (`d`: the defaults)."""
    api.add_argument(
        "--vocabulary",
        choices=MODES,
        default=d.vocabulary,
        help="field names accepted: 2.166 (tweet.fields...) or 2.167 (post.fields...) only, "
        "both answered in 2.166 names (as observed), or both answered as asked "
        "(default: %(default)s)",
    )
    api.add_argument(
        "--unknown-conversation",
        choices=UNKNOWN_CONVERSATION_ANSWERS,
        default=d.unknown_conversation,
        help="answer to an unknown or foreign conversation or participant: X's 200 with only "
        "errors, an empty page, or 404 (default: %(default)s)",
    )
    api.add_argument(
        "--plan",
        choices=PLANS,
        default=d.plan,
        help="basic: 1 request per 24 h per user on each DM list endpoint, 5 on "
        "/2/dm_events/:id (default: %(default)s)",
    )
    api.add_argument(
        "--media-price-usd",
        type=_dollars,
        default=d.media_price_usd,
        metavar="USD",
        help="price of a media object (X: none since 2026-06-18; default: %(default)s)",
    )
    api.add_argument(
        "--suspended-user-ids",
        type=_user_ids,
        default=d.suspended_user_ids,
        metavar="IDS",
        help="users X answers Forbidden for (comma list)",
    )
    api.add_argument(
        "--protected-user-ids",
        type=_user_ids,
        default=d.protected_user_ids,
        metavar="IDS",
        help="accounts whose posts answer Authorization Error to others (comma list)",
    )
