"""A faithful local stand-in for the X API v2 DM endpoints.

`Sandbox` wires the dataset, auth, rate limits, billing, faults and request
log to an HTTP server on 127.0.0.1, so the tap, its tests, the demo and the
benchmarks talk HTTP to something that behaves like X without credentials.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any, Literal

from tap_x_dm_sandbox.app import SandboxApp
from tap_x_dm_sandbox.billing import BillingLedger, prices
from tap_x_dm_sandbox.clock import Clock, ManualClock, SystemClock
from tap_x_dm_sandbox.config import SandboxConfig
from tap_x_dm_sandbox.data import Dataset, SandboxUser
from tap_x_dm_sandbox.faults import FaultInjector
from tap_x_dm_sandbox.limits import RateLimiter
from tap_x_dm_sandbox.model import (
    ALL_EVENT_TYPES,
    DAY_MS,
    DM_EVENTS_WINDOW_DAYS,
    CreatedAtRule,
    created_at_order_key,
)
from tap_x_dm_sandbox.oauth import SandboxAuth
from tap_x_dm_sandbox.plans import UNKNOWN_CONVERSATION_ANSWERS, plan_limits
from tap_x_dm_sandbox.requestlog import RequestLog
from tap_x_dm_sandbox.server import ServerThread
from tap_x_dm_sandbox.standing import Standing
from tap_x_dm_sandbox.vocabulary import Vocabulary

__all__ = [
    "Clock",
    "ManualClock",
    "Sandbox",
    "SandboxConfig",
    "SandboxUser",
    "SystemClock",
]


class _Default(enum.Enum):
    ENDPOINT = "endpoint"


class Sandbox:
    """One running X API sandbox; use as a context manager or call `start`/`stop`.

    Args:
        config: The settings (defaults: `SandboxConfig()`).
        clock: Time source for everything the sandbox does (default: the real clock);
            share a `ManualClock` with the tap so rate-limit waits take no time.
        dataset: A ready dataset instead of generating or loading one.
        echo_log: Called with each request-log line (the CLI prints them to stderr).
    """

    def __init__(
        self,
        config: SandboxConfig | None = None,
        *,
        clock: Clock | None = None,
        dataset: Dataset | None = None,
        echo_log: Callable[[str], None] | None = None,
    ) -> None:
        self.config = config or SandboxConfig()
        if self.config.order_by not in ("id", "created_at"):
            raise ValueError(f"order_by must be 'id' or 'created_at', got {self.config.order_by!r}")
        Vocabulary(self.config.vocabulary)  # raises ValueError naming a bad mode
        if self.config.unknown_conversation not in UNKNOWN_CONVERSATION_ANSWERS:
            choices = ", ".join(UNKNOWN_CONVERSATION_ANSWERS)
            bad = self.config.unknown_conversation
            raise ValueError(f"unknown_conversation must be one of {choices}, got {bad!r}")
        plan_endpoint_limits, plan_windows = plan_limits(self.config.plan)
        self.clock: Clock = clock or SystemClock()
        cfg = self.config
        if dataset is None:
            if cfg.events_file is not None:
                dataset = Dataset.from_json_file(cfg.events_file)
            else:
                now_ms = cfg.now_ms if cfg.now_ms is not None else int(self.clock.time() * 1000)
                dataset = Dataset.generate(
                    seed=cfg.seed,
                    now_ms=now_ms,
                    users=cfg.users,
                    conversations=cfg.conversations,
                    days=cfg.days,
                    events=cfg.events,
                )
        dataset.created_at_rule = CreatedAtRule(
            precision=cfg.created_at_precision,
            skew_seconds=cfg.created_at_skew_seconds,
            seed=dataset.seed,
        )
        self.dataset = dataset
        self.auth = SandboxAuth(
            clock=self.clock,
            user_ids=[user.id for user in dataset.users],
            token_ttl=cfg.token_ttl,
            seed=cfg.seed,
        )
        self.limiter = RateLimiter(
            clock=self.clock,
            limit=cfg.rate_limit,
            window=cfg.rate_window,
            shared=cfg.shared_budget,
            endpoint_limits={
                **dict.fromkeys(("users_lookup", "tweets_lookup"), cfg.lookup_rate_limit),
                **plan_endpoint_limits,
            },
            endpoint_windows=plan_windows,
        )
        self.faults = FaultInjector(cfg.every_k())
        self.ledger = BillingLedger(prices(cfg.media_price_usd))
        #: Suspended users and protected accounts (`suspend_user`, `protect_user`).
        self.standing = Standing(
            suspended=[*cfg.suspended_user_ids, *(u.id for u in dataset.users if u.suspended)],
            protected=cfg.protected_user_ids,
        )
        self._log = RequestLog(cfg.request_log_path, echo=echo_log)
        self.app = SandboxApp(
            config=cfg,
            dataset=dataset,
            auth=self.auth,
            clock=self.clock,
            limiter=self.limiter,
            faults=self.faults,
            ledger=self.ledger,
            log=self._log,
            standing=self.standing,
        )
        self._server: ServerThread | None = None
        self._address: tuple[str, int] | None = None

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> Sandbox:
        """Bind and serve on a daemon thread (idempotent); return self."""
        if self._server is None:
            self._server = ServerThread(self.app, self.config.host, self.config.port)
            self._address = self._server.address
            self._server.start()
        return self

    def stop(self) -> None:
        """Stop serving, close open connections and the log file (idempotent)."""
        server, self._server = self._server, None
        if server is not None:
            server.stop()
        self._log.close()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- where and who -------------------------------------------------------------------

    @property
    def host(self) -> str:
        """The bound interface."""
        return self._bound()[0]

    @property
    def port(self) -> int:
        """The bound port (the real one when the config said 0)."""
        return self._bound()[1]

    @property
    def base_url(self) -> str:
        """What a client puts in front of `/2/...`, e.g. `http://127.0.0.1:54321`."""
        host, port = self._bound()
        return f"http://{host}:{port}"

    def _bound(self) -> tuple[str, int]:
        if self._address is None:
            msg = "the sandbox is not started: call start() or use it as a context manager"
            raise RuntimeError(msg)
        return self._address

    @property
    def account(self) -> SandboxUser:
        """The account the tap reads as: users[0], a brand account."""
        return self.dataset.users[0]

    @property
    def users(self) -> Sequence[SandboxUser]:
        """Every user of the dataset."""
        return self.dataset.users

    def empty_user_id(self) -> str:
        """Return the id of a user without any DM (an empty-inbox account)."""
        return self.dataset.empty_user_id()

    def access_token(self, user_id: str | None = None) -> str:
        """Return the user's never-expiring demo token (default: the account's)."""
        return self.auth.demo_access_token(user_id or self.account.id)

    # -- data ----------------------------------------------------------------------------

    def visible_events(
        self,
        user_id: str | None = None,
        *,
        conversation_id: str | None = None,
        window_days: float | Literal[_Default.ENDPOINT] | None = _Default.ENDPOINT,
    ) -> list[dict[str, Any]]:
        """Return the full events a complete sync should produce, newest first.

        In the answers' order: by id, or by created_at with `order_by="created_at"`.

        `window_days` defaults to what the matching endpoint serves: 30 days for
        /2/dm_events (no `conversation_id`), `conversation_history_days` for a
        conversation. None means the whole history.
        """
        viewer = user_id or self.account.id
        if window_days is _Default.ENDPOINT:
            window_days = (
                DM_EVENTS_WINDOW_DAYS
                if conversation_id is None
                else self.config.conversation_history_days
            )
        min_ms = None
        if window_days is not None:
            min_ms = int(self.clock.time() * 1000) - int(window_days * DAY_MS)
        with self.app.data_lock:
            ids, _ = self.dataset.page(
                viewer_id=viewer,
                conversation_id=conversation_id,
                below_id=None,
                limit=len(self.dataset) + 1,
                min_ms=min_ms,
                event_types=ALL_EVENT_TYPES,
            )
            if self.config.order_by == "created_at":
                seed = self.dataset.seed
                ids.sort(
                    key=lambda i: created_at_order_key(self.dataset.created_ms(i), i, seed),
                    reverse=True,
                )
            return [event for event in map(self.dataset.event, ids) if event is not None]

    def add_events(
        self,
        count: int,
        *,
        conversation_id: str | None = None,
        sender_id: str | None = None,
        text: str | None = None,
    ) -> list[dict[str, Any]]:
        """Add `count` new MessageCreate events "now" (by the sandbox clock); return them."""
        with self.app.data_lock:
            return self.dataset.add_events(
                count,
                now_ms=int(self.clock.time() * 1000),
                conversation_id=conversation_id,
                sender_id=sender_id,
                text=text,
            )

    # -- observation and control ---------------------------------------------------------

    @property
    def request_log(self) -> list[dict[str, Any]]:
        """A snapshot of the request log, oldest first."""
        return self._log.entries()

    def clear_log(self) -> None:
        """Forget the in-memory request log."""
        self._log.clear()

    @property
    def billed_events(self) -> int:
        """Events billed so far (each event once per app per UTC day)."""
        return self.ledger.total

    @property
    def billed(self) -> dict[str, int]:
        """Resources billed so far by kind: dm_events, users, tweets, media (X's prices)."""
        return dict(self.ledger.counts)

    @property
    def billed_usd(self) -> float:
        """What X would have charged so far, in dollars.

        $0.010 per DM event or user, $0.005 per post, media `media_price_usd` ($0 by
        default); each once per app per UTC day.
        """
        return self.ledger.usd()

    def suspend_user(self, user_id: str) -> None:
        """Suspend a user: lookups and expansions answer X's `Forbidden` partial error."""
        self.standing.suspend(user_id)

    def protect_user(self, user_id: str) -> None:
        """Protect an account: its posts answer `Authorization Error` to other users."""
        self.standing.protect(user_id)

    def reset_billing(self) -> None:
        """Forget what was billed, as if no event had been read."""
        self.ledger.reset()

    def expire_pagination_tokens(self) -> None:
        """Make every pagination token issued so far invalid (X's 400 naming it)."""
        self.app.endpoints.tokens.expire_all()

    def set_rate_limit(self, limit: int, window: float, *, shared: bool | None = None) -> None:
        """Change the rate limit (and optionally the shared-budget layout); windows restart."""
        self.limiter.configure(limit, window, shared=shared)

    @property
    def usage_capped(self) -> bool:
        """Whether API calls answer 429 usage-capped; settable at run time."""
        return self.app.usage_capped

    @usage_capped.setter
    def usage_capped(self, value: bool) -> None:
        self.app.usage_capped = value

    @property
    def credits_depleted(self) -> bool:
        """Whether API calls answer 402 credits-depleted; settable at run time."""
        return self.app.credits_depleted

    @credits_depleted.setter
    def credits_depleted(self, value: bool) -> None:
        self.app.credits_depleted = value

    @property
    def client_not_enrolled(self) -> bool:
        """Whether API calls answer 403 client-forbidden; settable at run time."""
        return self.app.client_not_enrolled

    @client_not_enrolled.setter
    def client_not_enrolled(self, value: bool) -> None:
        self.app.client_not_enrolled = value

    def revoke_tokens(self, user_id: str | None = None) -> None:
        """Revoke the user's OAuth 2.0 grant (default: the account's), as the user can on X.

        Every access token of the user, the demo token included, answers 401 from now
        on, and every refresh token 400.
        """
        user = user_id or self.account.id
        self.auth.revoke_access_tokens(user)
        self.auth.revoke_refresh_tokens(user)
