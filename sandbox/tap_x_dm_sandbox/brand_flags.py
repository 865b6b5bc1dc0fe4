"""The flags of a fleet: `--brands K`, `--brands-file`, and app-wide faults that clear."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

from tap_x_dm_sandbox.brands import BRAND_CONVERSATIONS


def _count(low: int) -> Callable[[str], int]:
    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {value!r}") from None
        if number < low:
            raise argparse.ArgumentTypeError(f"must be >= {low}, got {number}")
        return number

    return parse


def _between(value: str) -> tuple[float, float]:
    """`START,END` in seconds after start, 0 <= START < END."""
    try:
        start, end = (float(part) for part in value.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected START,END in seconds, got {value!r}") from None
    if not (math.isfinite(end) and 0 <= start < end):
        raise argparse.ArgumentTypeError(f"expected 0 <= START < END, got {value!r}")
    return (start, end)


def add_brand_flags(parser: argparse.ArgumentParser) -> None:
    """Add the fleet flags (each a `SandboxConfig` field of the same name)."""
    fleet = parser.add_argument_group("a fleet of brand accounts (docs/fleet.md)")
    fleet.add_argument(
        "--brands",
        type=_count(0),
        default=0,
        metavar="K",
        help="K brand accounts besides the default one, each with its own customers, "
        "conversations, OAuth 2.0 grant and rate budget (needs --brands-file)",
    )
    fleet.add_argument(
        "--brand-events",
        type=_count(BRAND_CONVERSATIONS),
        default=600,
        metavar="N",
        help="generated events per brand (default: %(default)s)",
    )
    fleet.add_argument(
        "--brands-file",
        default=None,
        metavar="PATH",
        help="write the brands' names, account ids and OAuth 2.0 tokens here (JSON, 0600) "
        "once serving",
    )
    fleet.add_argument(
        "--revoked-brands",
        type=_count(0),
        default=0,
        metavar="N",
        help="revoke the first N brands' grants once their tokens are written (401s)",
    )
    fleet.add_argument(
        "--usage-capped-between",
        type=_between,
        default=None,
        metavar="START,END",
        help="every API call answers 429 usage-capped from START to END seconds after start",
    )
    fleet.add_argument(
        "--credits-depleted-between",
        type=_between,
        default=None,
        metavar="START,END",
        help="every API call answers 402 credits-depleted from START to END seconds after start",
    )


def check_brand_flags(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Rules across the fleet flags: one line and exit 2."""
    if args.brands and not args.brands_file:
        parser.error("--brands needs --brands-file (where the brands' credentials go)")
    if args.revoked_brands > args.brands:
        parser.error(f"--revoked-brands {args.revoked_brands} is more than --brands {args.brands}")
