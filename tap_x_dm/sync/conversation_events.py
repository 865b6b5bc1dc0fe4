"""`conversation_events`: the configured conversations' full history, one partition each."""

from __future__ import annotations

import copy
import typing as t
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from typing_extensions import override

from tap_x_dm.api.ratelimit import endpoint_of
from tap_x_dm.errors import XNotFoundError
from tap_x_dm.ids_and_times import canonical_conversation_id, epoch_ms, one_to_one_conversation_id
from tap_x_dm.sdk_adapter import OutOfBandRecordsStream
from tap_x_dm.sync.event_stream import DmEventStreamBase
from tap_x_dm.sync.forecast import first_runs_line
from tap_x_dm.sync.history_gaps import HistoryWatch
from tap_x_dm.sync.missing import MissingResources, not_found_error
from tap_x_dm.sync.pass_inputs import PassInput, PassKind
from tap_x_dm.sync.passes import bookmark_id

if t.TYPE_CHECKING:
    import logging

    import requests
    from singer_sdk import Tap
    from singer_sdk.helpers.types import Context

    from tap_x_dm.objects.includes import IncludesWriter
    from tap_x_dm.services import RunServices


@dataclass
class ConversationPlan:
    """The run's partitions: one per configured conversation, keyed by conversation id."""

    contexts: list[dict[str, Any]] = field(default_factory=list)
    #: One-to-one conversations configured by participant, read through `/with/`.
    participant_of: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_config(
        cls, config: Mapping[str, Any], account_id: str | None, logger: logging.Logger
    ) -> ConversationPlan:
        """A participant id is partitioned by its one-to-one conversation id (with the account).

        So the same conversation configured both ways is read once and keeps one
        bookmark. Without the account (the run stopped before it was known) only
        `dm_conversation_ids` are partitions.
        """
        plan = cls()
        contexts: dict[str, dict[str, Any]] = {}
        for configured_id in config.get("dm_conversation_ids") or []:
            conversation_id = canonical_conversation_id(configured_id)
            contexts.setdefault(conversation_id, {"dm_conversation_id": conversation_id})
        for participant_id in (config.get("participant_ids") or []) if account_id else []:
            if int(participant_id) == int(str(account_id)):
                logger.warning(
                    "participant_ids: %s is the account itself; skipped.", participant_id
                )
                continue
            conversation_id = one_to_one_conversation_id(str(account_id), participant_id)
            plan.participant_of[conversation_id] = participant_id
            contexts.setdefault(conversation_id, {"dm_conversation_id": conversation_id})
        plan.contexts = list(contexts.values())
        return plan


class ConversationEventsStream(DmEventStreamBase, OutOfBandRecordsStream):
    """The configured conversations' full history, one state partition each.

    A participant id is read through `/with/:participant_id/` but partitioned by
    its one-to-one conversation id (`ConversationPlan`). A partition whose bookmark
    an account-wide pass reaches is read from that pass's pages (`tap_x_dm.sync.routing`).
    """

    name = "conversation_events"
    path = "/2/dm_conversations/{dm_conversation_id}/dm_events"

    def __init__(self, tap: Tap, services: RunServices, includes: IncludesWriter) -> None:
        super().__init__(tap, services, includes)
        #: Until the run scope plans with the account: the conversations configured by id.
        self._plan = ConversationPlan.from_config(self.config, None, self.logger)
        self._said_unconfigured = False
        #: Configured ids X says do not exist, warned about once the last partition is done.
        self._missing = MissingResources(self.name)
        self._partitions_left = 0
        #: What the partition's own pass read, for a history its endpoint no longer serves.
        self._history = HistoryWatch()
        self._current = ""

    @property  # type: ignore[explicit-override]  # mypy misses @override with a setter
    @override
    def selected(self) -> bool:
        """Selected and given a conversation: else no SCHEMA, so no target makes an empty table."""
        if not super().selected:
            return False
        if self.config.get("dm_conversation_ids") or self.config.get("participant_ids"):
            return True
        if not self._said_unconfigured:
            self._said_unconfigured = True
            self.logger.info(
                "conversation_events: no dm_conversation_ids or participant_ids set; "
                "skipped (no SCHEMA, no table)."
            )
        return False

    @selected.setter
    @override
    def selected(self, value: bool | None) -> None:
        OutOfBandRecordsStream.selected.fset(self, value)  # type: ignore[attr-defined]

    def plan(self, account_id: str) -> None:
        """Once a run, before any stream syncs (the Tap's run scope): partitions and routing.

        From config and state only: no request. The partitions an account-wide pass
        reaches are left to it (`tap_x_dm.sync.routing`), whichever stream syncs first.
        """
        self._plan = ConversationPlan.from_config(self.config, account_id, self.logger)
        if not self._plan.contexts or not self.selected:
            return
        states = {c["dm_conversation_id"]: self._loaded_state(c) for c in self._plan.contexts}
        first = [cid for cid, state in states.items() if bookmark_id(state) is None]
        line = first_runs_line(self.name, len(first))
        if line:
            self.logger.info("%s", line)
        if self.config["conversation_routing"]:
            self.services.routing.plan(
                states,
                event_types=sorted(self.config["event_types"]),
                page_size=int(self.config["page_size"]),
                own_state=self._loaded_state(None),
                write=self.write_routed,
            )

    def _loaded_state(self, context: dict[str, Any] | None) -> dict[str, Any]:
        """The stream's or partition's state as loaded, or {}: planning adds no entry.

        (A routed partition has a bookmark, so its entry and the stream's exist.)
        """
        stream_state: dict[str, Any] = (self.tap_state.get("bookmarks") or {}).get(self.name) or {}
        if context is None:
            return stream_state
        partitions = stream_state.get("partitions") or []
        return next((p for p in partitions if p.get("context") == context), {})

    @property
    @override
    def partitions(self) -> list[dict[str, Any]] | None:
        """One context per configured conversation, as the run scope planned them.

        Every partition's state entry exists from the stream's start, so each STATE
        names every configured conversation (no request: the plan is made).
        """
        for context in self._plan.contexts:
            self.get_context_state(context)
        self._partitions_left = len(self._plan.contexts)
        return [dict(c) for c in self._plan.contexts] or None

    def write_routed(self, event: Mapping[str, Any]) -> None:
        """Write an event the `dm_events` pass read as this stream's record, now.

        Its users, tweets and media are that pass's to write, from its page.
        """
        self.write_out_of_band(self.as_record(copy.deepcopy(dict(event))))

    @override
    def get_url(self, context: Context | None) -> str:
        """Use `/with/:participant_id/` for conversations configured by participant."""
        if self.runner.serves(PassKind.ROUTING):
            return f"{self.url_base}/2/dm_events"
        conversation_id = (context or {}).get("dm_conversation_id", "")
        participant_id = self._plan.participant_of.get(conversation_id)
        if participant_id is not None:
            return f"{self.url_base}/2/dm_conversations/with/{participant_id}/dm_events"
        return super().get_url(context)

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """One pass per conversation; one X says does not exist is skipped, its bookmark kept."""
        if not context:
            return
        try:
            yield from self._conversation_records(context)
        finally:
            self._partitions_left -= 1
            if self._partitions_left <= 0:
                self._missing.report(self.logger)

    def _conversation_records(self, context: Context) -> Iterable[dict[str, Any]]:
        routing = self.services.routing
        if routing.routes(context["dm_conversation_id"]):
            if self.services.stop.stopped:
                return
            # The first routed partition synced runs the routing pass, if one is planned.
            label = f"{self.name} via /2/dm_events"
            own_state, page_size = self.get_context_state(None), int(self.config["page_size"])
            routed = routing.routing_input(own_state, label, page_size)
            if routed is not None:
                yield from self.runner.run(context, routed)
            return
        label = f"conversation_events[{context['dm_conversation_id']}]"
        self._current = context["dm_conversation_id"]
        self._history.reset()
        try:
            yield from self.runner.sync(context, self.get_context_state(context), label)
        except XNotFoundError:
            participant = self._plan.participant_of.get(context["dm_conversation_id"])
            if participant is not None:
                self._missing.note("participant_ids", participant)
            else:
                self._missing.note("dm_conversation_ids", context["dm_conversation_id"])

    @override
    def parse_response(self, response: requests.Response) -> list[dict[str, Any]]:
        """X's 200 with only `resource-not-found` errors: the conversation does not exist."""
        missing = not_found_error(self.payload(response), urlsplit(response.url).path)
        if missing is not None:
            raise missing
        records = super().parse_response(response)
        if not self.runner.serves(PassKind.ROUTING):
            self._history.saw(records)
        return records

    @override
    def page_read(
        self, pass_input: PassInput, *, next_token: str | None, reached_floor: bool
    ) -> None:
        """Note whether X's list goes on, before the page's STATE."""
        if pass_input.kind is not PassKind.ROUTING:
            self._history.page_ended(next_token=next_token, reached_floor=reached_floor)

    @override
    def pass_completed(self, pass_input: PassInput) -> None:
        """Record what the conversation endpoint no longer serves (`tap_x_dm.sync.history_gaps`)."""
        if pass_input.kind is PassKind.ROUTING:
            return
        start = self.services.start_date
        url = self.get_url({"dm_conversation_id": self._current})
        self._history.record(
            pass_input.state,
            pass_input.progress,
            label=f"{self.name}[{self._current}]",
            endpoint=endpoint_of(urlsplit(url).path),
            start_ms=None if start is None else epoch_ms(start),
            now_ms=self.services.now_ms(),
            logger=self.logger,
        )
