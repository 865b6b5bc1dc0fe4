"""Every knob of the sandbox in one frozen dataclass, shared by the facade, fixtures and CLI."""

from __future__ import annotations

from dataclasses import dataclass

from tap_x_dm_sandbox.faults import EveryK
from tap_x_dm_sandbox.model import CreatedAtPrecision, OrderBy
from tap_x_dm_sandbox.plans import Plan, UnknownConversation
from tap_x_dm_sandbox.vocabulary import VocabularyMode


@dataclass(frozen=True)
class SandboxConfig:
    """Settings of one sandbox; the defaults mimic X's current DM lookup behaviour.

    Attributes:
        host: Interface to bind; loopback by default so nothing leaks onto a network.
        port: TCP port; 0 picks a free one.
        seed: Seed of the generated data, tokens and credentials (same seed, same sandbox).
        users: Generated users (users[0] is the account the tap reads as).
        conversations: Generated conversations.
        days: Days of generated history, ending at `now_ms`.
        events: Generated DM events.
        rate_limit: Requests per window and budget.
        rate_window: Window length in seconds.
        lookup_rate_limit: Requests per window of GET /2/users and GET /2/tweets, each a
            budget of its own (X: 900 per 15 minutes per user).
        shared_budget: One budget for the three list endpoints instead of one each.
        token_ttl: OAuth 2.0 access-token lifetime in seconds (X: 7200).
        meta_only_last_page: When the last page is exactly full, still send `next_token`
            and answer the following request with a meta-only page (as X sometimes does).
        offset_pagination: Tokens carry an offset instead of a cursor, so events arriving
            between two requests shift later pages (X's tokens are opaque; a client must
            survive this).
        page_number_pagination: Tokens carry a page number n and the answer is events
            [n * max_results, (n + 1) * max_results) of the request's own max_results, so a
            small first page then a 100-event page silently skips events (X's behaviour is
            unconfirmed; a client must be safe against it). Wins over `offset_pagination`.
        pagination_token_ttl: Seconds a pagination token stays valid (None: forever, as
            today); an expired token gets X's 400 invalid-request naming it.
        created_at_precision: "s" (X's whole seconds, `.000Z`, the default) or "ms" (the
            id's milliseconds, the sandbox before issue 21) for generated and added events.
        created_at_skew_seconds: Largest skew between an event's created_at and its id's
            time; each event gets a deterministic skew in [-s, +s] before rounding, so
            events less than a second apart can carry inverted created_at (default 0.5:
            with the rounding, up to a second off the id's time, as X).
        order_by: "id" (newest id first, as today) or "created_at" (newest created_at
            first; events sharing a created_at in a fixed shuffled order), for cursor and
            offset tokens alike.
        unknown_conversation_404: Answer 404 resource-not-found for a conversation the
            user is not in (the same as `unknown_conversation="404"`, which it overrides).
        conversation_history_days: History window of the two conversation endpoints
            (None = full history; /2/dm_events always serves 30 days).
        nested_entities: Send `entities` nested (spec 2.167) instead of flat (2.166).
        usage_capped: Answer every API call with 429 usage-capped.
        credits_depleted: Answer every API call with 402 credits-depleted.
        client_not_enrolled: Answer every API call with 403 client-forbidden (the app is not
            enrolled for the endpoint).
        events_file: Load users/conversations/events from this JSON file instead of generating.
        request_log_path: Append the request log (JSON lines) to this file.
        now_ms: Anchor of the generated history in epoch milliseconds (default: the clock).
        user_fields_default: User fields returned when `user.fields` is absent.
        fail_every: Answer every k-th API request with a 5xx (0 = never).
        fail_status: Status of those answers.
        drop_every: Close the connection without answering every k-th API request.
        slow_every: Delay every k-th API request by `slow_seconds` (real time).
        slow_seconds: That delay.
        truncate_every: Cut the JSON body of every k-th API answer in half.
        non_json_every: Answer every k-th API request with a non-JSON 200.
        html_502_every: Answer every k-th API request with a proxy's HTML 502 page.
        rate_limit_no_headers_every: Answer every k-th API request with a 429 without
            `x-rate-limit-*` headers.
        vocabulary: "both" (2.166 and 2.167 names accepted, answered in 2.166 names: the
            only behaviour observed), "as-asked" (answered in the vocabulary asked),
            "2.166" or "2.167" (only that spec's names); see `vocabulary`.
        unknown_conversation: How an unknown or foreign conversation (or a participant
            without one) is answered: "errors" (X's 200 with only `errors`,
            resource-not-found), "empty" (a 200 with `result_count: 0`, the sandbox before
            issue 21) or "404"; `unknown_conversation_404=True` means "404".
        plan: "pay-per-use" (15 requests per 15 min per DM endpoint) or "basic" (1 request
            per 24 h per user on each DM list endpoint, 5 on /2/dm_events/:id).
        media_price_usd: What one media object costs (X: no price since 2026-06-18).
        suspended_user_ids: Users X answers `Forbidden` for ("User has been suspended").
        protected_user_ids: Accounts whose posts answer `Authorization Error` to others.
    """

    host: str = "127.0.0.1"
    port: int = 0
    seed: int = 7
    users: int = 50
    conversations: int = 200
    days: int = 90
    events: int = 6000
    rate_limit: int = 15
    rate_window: float = 900.0
    lookup_rate_limit: int = 900
    shared_budget: bool = False
    token_ttl: float = 7200.0
    meta_only_last_page: bool = False
    offset_pagination: bool = False
    page_number_pagination: bool = False
    pagination_token_ttl: float | None = None
    created_at_precision: CreatedAtPrecision = "s"
    created_at_skew_seconds: float = 0.5
    order_by: OrderBy = "id"
    unknown_conversation_404: bool = False
    conversation_history_days: int | None = None
    nested_entities: bool = False
    usage_capped: bool = False
    credits_depleted: bool = False
    client_not_enrolled: bool = False
    events_file: str | None = None
    request_log_path: str | None = None
    now_ms: int | None = None
    user_fields_default: tuple[str, ...] = ("id", "name", "username")
    fail_every: int = 0
    fail_status: int = 503
    drop_every: int = 0
    slow_every: int = 0
    slow_seconds: float = 0.2
    truncate_every: int = 0
    non_json_every: int = 0
    html_502_every: int = 0
    rate_limit_no_headers_every: int = 0
    # Issue 21: X as it is in December 2026.
    vocabulary: VocabularyMode = "both"
    unknown_conversation: UnknownConversation = "errors"
    plan: Plan = "pay-per-use"
    media_price_usd: float = 0.0
    suspended_user_ids: tuple[str, ...] = ()
    protected_user_ids: tuple[str, ...] = ()

    def every_k(self) -> EveryK:
        """Return the periodic-fault settings."""
        return EveryK(
            fail_every=self.fail_every,
            fail_status=self.fail_status,
            drop_every=self.drop_every,
            slow_every=self.slow_every,
            slow_seconds=self.slow_seconds,
            truncate_every=self.truncate_every,
            non_json_every=self.non_json_every,
            html_502_every=self.html_502_every,
            rate_limit_no_headers_every=self.rate_limit_no_headers_every,
        )
