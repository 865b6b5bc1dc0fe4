"""The run's services, owned by the Tap and handed to every stream.

One clock, one rate budget and one authenticator per run (so every request of
every stream draws on one budget and one token chain), the account the run
reads as, and the run's stop flag. Streams use these; they never reach into
the Tap or into another stream.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from functools import cached_property
from typing import Any

from tap_x_dm.api.costs import CostLedger
from tap_x_dm.api.ratelimit import RateBudget
from tap_x_dm.api.vocabulary import AskedVocabulary
from tap_x_dm.auth.authenticator import XAuthenticator, build_signer
from tap_x_dm.clock import Clock
from tap_x_dm.errors import ConfigError, StopRunError
from tap_x_dm.ids_and_times import clock_ms, epoch_ms, is_one_to_one, parse_timestamp
from tap_x_dm.run.summary import RunTally
from tap_x_dm.run.target import check_target
from tap_x_dm.state.loading import StateError
from tap_x_dm.sync.routing import ConversationRouter


class Account:
    """The authenticated user: from state, else asked once (`GET /2/users/me`).

    Every record carries `account_id`, so it is resolved before the first
    record, by whichever stream writes first, through `fetch_me` (a helper
    stream's request, with the run's budget, retries and error lines).
    """

    def __init__(
        self,
        state: MutableMapping[str, Any],
        fetch_me: Callable[[], Mapping[str, Any]],
        logger: logging.Logger,
    ) -> None:
        self._state = state
        self._fetch_me = fetch_me
        self._logger = logger
        self._id: str | None = None
        #: Whether X itself said this run's credential is the account (users/me, or a page).
        self.confirmed = False

    @property
    def stored_id(self) -> str | None:
        """The account the state was written for, if it says."""
        account = self._state.get("account")
        if isinstance(account, dict) and account.get("id"):
            return str(account["id"])
        return None

    @property
    def id(self) -> str:
        """The account's X user id (one request per state, ever)."""
        if self._id is None:
            self._id = self.stored_id or self._ask()
        return self._id

    def _ask(self) -> str:
        user = self._fetch_me()
        account_id = str(user["id"])
        self.confirmed = True
        self._state["account"] = {"id": account_id, "username": user.get("username")}
        self._logger.info("Account: @%s (id %s).", user.get("username", "?"), account_id)
        return account_id

    def confirm_page(self, conversation_ids: Iterable[str], endpoint: str) -> None:
        """Check, at no extra request, that a page read with this credential is the account's.

        An account is one side of each of its one-to-one conversations
        (`{smaller}-{larger}` user ids), so the first page with one tells
        whether the stored account is the credential's; it is refused before
        any record of that page is written.

        Raises:
            StateError: the page belongs to another account than the state's.
        """
        if self.confirmed:
            return
        account = self.id
        for conversation_id in conversation_ids:
            if not is_one_to_one(conversation_id):
                continue
            if account not in conversation_id.split("-"):
                msg = (
                    f"The state belongs to X account {account}, but the credential reads "
                    f"another account's DMs (conversation {conversation_id} on the first page of "
                    f"{endpoint} is not one of its own): give each account its own state "
                    "(meltano run --state-id-suffix <account>), or clear this one."
                )
                raise StateError(msg)
            self.confirmed = True
            return

    def check_credential(self, claimed: str | None) -> None:
        """Refuse a state written for another account than the credential's, before a request.

        Checked when the credential names its user (OAuth 1.0a tokens do; so
        does a token store written by tap-x-dm-auth).
        """
        stored = self.stored_id
        if stored is not None and claimed is not None and claimed != stored:
            msg = (
                f"The state belongs to X account {stored}, but the credential is for account "
                f"{claimed}: give each account its own state (meltano run --state-id-suffix "
                "<account>), or clear this one."
            )
            raise ConfigError(msg)


class RunStop:
    """Set once when the run must end early (a too-long rate-limit wait).

    Streams still to come skip their passes; the state of finished work is
    emitted as usual, and the run exits 0 so the next scheduled run goes on.
    """

    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger
        self.reason: StopRunError | None = None

    @property
    def stopped(self) -> bool:
        """Whether the run is stopping."""
        return self.reason is not None

    def stop(self, reason: StopRunError) -> None:
        """Stop the run, logging the reason once."""
        if self.reason is None:
            self.reason = reason
            self._logger.warning("%s", reason)


class RunServices:
    """What every stream of one run shares (built by the Tap, never by a stream)."""

    def __init__(
        self,
        *,
        config: Mapping[str, Any],
        clock: Clock,
        logger: logging.Logger,
        account: Account,
        event_streams_selected: Callable[[], bool],
        checkpoint: Callable[[], None],
        dm_events_state: Callable[[], Mapping[str, Any]],
        dm_events_selected: Callable[[], bool],
        tap_state: MutableMapping[str, Any] | None = None,
    ) -> None:
        self._config = config
        self.clock = clock
        self.logger = logger
        self.account = account
        self.stop = RunStop(logger)
        self.costs = CostLedger(config.get("prices_usd"))
        #: Requests per endpoint and records per stream, for the run summary.
        self.tally = RunTally()
        #: The field names the run asks X in (2.166 or 2.167), kept in the tap's state.
        self.vocabulary = AskedVocabulary({} if tap_state is None else tap_state, clock, logger)
        self._event_streams_selected = event_streams_selected
        #: Emit STATE now (after a page): the SDK writes it only after a record or a finalize.
        self.checkpoint = checkpoint
        self._dm_events_state = dm_events_state
        self._dm_events_selected = dm_events_selected

    @cached_property
    def budget(self) -> RateBudget:
        """The run's one rate budget, shared by every stream and partition."""
        return RateBudget(
            self.clock,
            max_wait_seconds=float(self._config["max_rate_limit_wait_seconds"]),
            logger=self.logger,
            check_during_waits=check_target,  # a dead target ends a 15-minute wait at once
        )

    @cached_property
    def authenticator(self) -> XAuthenticator:
        """The run's one authenticator (built on first use: `--discover` needs none)."""
        signer = build_signer(self._config, clock=self.clock, logger=self.logger)
        return XAuthenticator(signer, self.budget, self.logger, answers=self.tally.requests)

    @cached_property
    def start_date(self) -> dt.datetime | None:
        """`start_date` as an aware datetime, or None."""
        value = self._config.get("start_date")
        return parse_timestamp(str(value)) if value else None

    @cached_property
    def routing(self) -> ConversationRouter:
        """Which conversation partitions an account-wide pass feeds in this run."""
        start = self.start_date
        return ConversationRouter(
            dm_events_state=self._dm_events_state,
            dm_events_selected=self._dm_events_selected,
            now_ms=self.now_ms,
            start_ms=None if start is None else epoch_ms(start),
            logger=self.logger,
        )

    def now_ms(self) -> int:
        """The run's clock in epoch ms (the unit of ids and state)."""
        return clock_ms(self.clock)

    @property
    def event_streams_selected(self) -> bool:
        """Whether a stream that reads event pages (and so fills includes) is selected."""
        return self._event_streams_selected()
