"""X's access plans as they limit DM reads, and how a missing conversation is answered.

Pay-per-use (since 2026-02-06): 15 requests per 15 minutes per user on each DM endpoint
(the sandbox's `rate_limit`/`rate_window`). Apps still on Basic: 1 request per 24 hours per
user on `/2/dm_events` and each conversation endpoint, 5 per 24 hours on
`/2/dm_events/:id` (X's rate-limit table of 2025-01, CHANGES-2026.md §2).
"""

from __future__ import annotations

from typing import Final, Literal

Plan = Literal["pay-per-use", "basic"]
PLANS: Final = ("pay-per-use", "basic")
UnknownConversation = Literal["errors", "empty", "404"]
UNKNOWN_CONVERSATION_ANSWERS: Final = ("errors", "empty", "404")

DAY_SECONDS: Final = 86_400.0
#: Requests per 24 h per user on a Basic plan, per DM endpoint.
BASIC_LIMITS: Final = {
    "dm_events": 1,
    "dm_conversation_events": 1,
    "dm_conversation_with_events": 1,
    "dm_event": 5,
}


def plan_limits(plan: str) -> tuple[dict[str, int], dict[str, float]]:
    """Return the (limits, windows) a plan sets per endpoint; none for pay-per-use."""
    if plan not in PLANS:
        raise ValueError(f"plan must be one of {', '.join(PLANS)}, got {plan!r}")
    if plan == "basic":
        return dict(BASIC_LIMITS), dict.fromkeys(BASIC_LIMITS, DAY_SECONDS)
    return {}, {}
