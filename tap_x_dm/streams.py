"""Stream definitions: DM events, conversation events, and the objects they include."""

from __future__ import annotations

import datetime as dt
import typing as t
from collections.abc import Generator, Iterable
from typing import Any

from singer_sdk import Stream

from tap_x_dm.bookmarks import (
    REPLICATION_KEY,
    NewestFirstPass,
    PassStateManager,
    Position,
    read_bookmark,
)
from tap_x_dm.client import XStream
from tap_x_dm.errors import StopRunError, XNotFoundError
from tap_x_dm.pagination import NewestFirstPaginator
from tap_x_dm.schemas import X_SCHEMAS

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

    from tap_x_dm.tap import TapXDM

#: `/2/dm_events` serves only this many days of history.
DM_EVENTS_WINDOW_DAYS = 30


class DmEventStreamBase(XStream):
    """A newest-first event list read in passes that stop at the bookmark."""

    schema_key = "DmEvent"
    replication_key = REPLICATION_KEY
    #: Keyed by account too: two brand accounts in one warehouse can both see an event.
    primary_keys: t.ClassVar[list[str]] = ["account_id", "id"]

    def __init__(self, tap: TapXDM, **kwargs: Any) -> None:
        super().__init__(tap, **kwargs)
        self._pass: NewestFirstPass | None = None
        self._pass_event_types: list[str] | None = None

    @property
    def state_manager(self) -> PassStateManager:
        """Bookmarks move per completed pass, not per record (see `PassStateManager`)."""
        if self._state_manager is None:
            self._state_manager = PassStateManager(
                tap_name=self.tap_name,
                stream_name=self.name,
                tap_state=self._tap_state,
                state_partitioning_keys=self.state_partitioning_keys,
                is_sorted=self.is_sorted,
                check_sorted=self.check_sorted,
            )
        return t.cast("PassStateManager", self._state_manager)

    def get_replication_key_signpost(self, context: Context | None = None) -> None:
        """No signpost: X assigns `created_at`, and the bookmark is exact to the id."""
        return

    def get_new_paginator(self) -> NewestFirstPaginator:
        """Cursor paging that stops once the current pass reaches its floor."""
        return NewestFirstPaginator(
            lambda: self._pass is not None and self._pass.reached_floor, payload=self._payload
        )

    def parse_response(self, response: Any) -> Iterable[dict[str, Any]]:
        """Count pages for the pass summary."""
        if self._pass is not None:
            self._pass.pages += 1
        return super().parse_response(response)

    def get_url_params(
        self, context: Context | None, next_page_token: str | None
    ) -> dict[str, Any]:
        """Ask only for the newly configured event types during a catch-up pass."""
        params = super().get_url_params(context, next_page_token)
        if self._pass_event_types:
            params["event_types"] = ",".join(self._pass_event_types)
        return params

    def read_pass(self, context: Context | None, label: str) -> Iterable[dict[str, Any]]:
        """Run one pass; move the bookmark only when it has read to its floor or the end.

        When `event_types` gained a type since the bookmark was written, a catch-up
        pass first reads that type's events up to the bookmark, once: otherwise
        they would lie below the bookmark forever.
        """
        if self.tap.stop_reason is not None:
            return
        state = self.get_context_state(context)
        bookmark, raw_bookmark = read_bookmark(state)
        configured = sorted(self.config["event_types"])
        stored = state.get("event_types")
        added = [kind for kind in configured if stored is not None and kind not in stored]
        start_date = self.tap.start_date
        if bookmark is not None and added:
            self.logger.info(
                "%s: event_types now include %s; reading their events up to %s once.",
                label,
                ", ".join(added),
                raw_bookmark,
            )
            catch_up = NewestFirstPass(bookmark=None, start_date=start_date, ceiling=bookmark)
            if not (yield from self.run_pass(context, catch_up, added)):
                return
        self._pass = main = NewestFirstPass(bookmark=bookmark, start_date=start_date)
        if bookmark is not None:
            self.logger.info("%s: reading events newer than %s.", label, raw_bookmark)
            self.warn_if_gap(bookmark)
        if not (yield from self.run_pass(context, main, None)):
            return
        main.complete(state)
        state["event_types"] = configured
        self.logger.info(
            "%s: pass complete: %d new event(s) in %d page(s)%s; bookmark %s.",
            label,
            main.emitted,
            main.pages,
            f", {main.repeats} repeat(s) dropped" if main.repeats else "",
            state.get("replication_key_value", "not set"),
        )

    def run_pass(
        self, context: Context | None, one_pass: NewestFirstPass, event_types: list[str] | None
    ) -> Generator[dict[str, Any], None, bool]:
        """Page through one pass; False when the run must stop (a too-long rate wait)."""
        self._pass, self._pass_event_types = one_pass, event_types
        try:
            for event in self.request_records(context):
                if one_pass.admit(event):
                    self.publish_references(event)
                    yield event
        except StopRunError as exc:
            self.tap.stop(exc)  # no bookmark moves: this pass did not finish
            return False
        finally:
            self._pass_event_types = None
        return True

    def warn_if_gap(self, bookmark: Position) -> None:
        """Hook for streams whose endpoint forgets history (see `dm_events`)."""


class DmEventsStream(DmEventStreamBase):
    """`GET /2/dm_events`: every DM event of the account, last 30 days only."""

    name = "dm_events"
    path = "/2/dm_events"

    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """One incremental pass, then the events asked for by id in `dm_event_ids`."""
        state = self.get_context_state(context)
        done = set(state.get("looked_up_event_ids") or [])
        configured = dict.fromkeys(self.config.get("dm_event_ids") or [])  # repeats ignored
        pending = [event_id for event_id in configured if event_id not in done]
        seen_in_pass: set[str] = set()
        for event in self.read_pass(context, self.name):
            if event["id"] in configured:
                seen_in_pass.add(event["id"])
            yield event
        for event_id in pending:
            if event_id not in seen_in_pass:
                yield from self.look_up(event_id)
                if self.tap.stop_reason is not None:
                    return
            done.add(event_id)
            state["looked_up_event_ids"] = sorted(done, key=int)

    def look_up(self, event_id: str) -> Iterable[dict[str, Any]]:
        """Fetch one event by id (`GET /2/dm_events/{id}`); the bookmark does not move."""
        if self.tap.stop_reason is not None:
            return
        try:
            payload = self.get_json(f"/2/dm_events/{event_id}", self.lookup_params())
        except StopRunError as exc:
            self.tap.stop(exc)
            return
        except XNotFoundError as exc:
            self.logger.warning("dm_event_ids: %s; it is skipped and not asked again.", exc)
            return
        self._log_partial_errors(payload.get("errors"))
        self.index_includes(payload.get("includes"))
        event = payload.get("data")
        if isinstance(event, dict):
            self.logger.info("dm_event_ids: fetched event %s.", event_id)
            self.publish_references(event)
            yield event

    def warn_if_gap(self, bookmark: Position) -> None:
        """Say so when the bookmark is older than what `/2/dm_events` still serves."""
        now = dt.datetime.fromtimestamp(self.tap.clock.time(), tz=dt.timezone.utc)
        horizon = now - dt.timedelta(days=DM_EVENTS_WINDOW_DAYS)
        if bookmark.created_at < horizon:
            self.logger.warning(
                "dm_events: the bookmark (%s) is older than the %d days /2/dm_events serves; "
                "events between %s and %s cannot be read from it. Fill the gap with "
                "conversation_events (set dm_conversation_ids or participant_ids; X serves "
                "their full history) or from the account's X archive.",
                bookmark.created_at.isoformat(),
                DM_EVENTS_WINDOW_DAYS,
                bookmark.created_at.date().isoformat(),
                horizon.date().isoformat(),
            )


def canonical_conversation_id(conversation_id: str) -> str:
    """One-to-one ids are `{smaller}-{larger}` (as integers); accept either order."""
    if "-" not in conversation_id:
        return conversation_id
    low, high = sorted(int(part) for part in conversation_id.split("-"))
    return f"{low}-{high}"


class ConversationEventsStream(DmEventStreamBase):
    """The configured conversations' full history, one state partition each.

    A participant id is read through `/with/:participant_id/` but partitioned by
    its one-to-one conversation id, so the same conversation configured both
    ways is read once and keeps one bookmark.
    """

    name = "conversation_events"
    path = "/2/dm_conversations/{dm_conversation_id}/dm_events"

    @property
    def partitions(self) -> list[dict[str, Any]] | None:
        """One context per configured conversation (asked at sync time only)."""
        contexts: dict[str, dict[str, Any]] = {}
        for configured_id in self.config.get("dm_conversation_ids") or []:
            conversation_id = canonical_conversation_id(configured_id)
            contexts.setdefault(conversation_id, {"dm_conversation_id": conversation_id})
        participants = self.config.get("participant_ids") or []
        if participants and self.tap.stop_reason is None:
            try:
                account = int(self.tap.account_id(self))
            except StopRunError as exc:  # users/me would need a too-long rate-limit wait
                self.tap.stop(exc)
                return list(contexts.values()) or None
            for participant_id in participants:
                if int(participant_id) == account:
                    self.logger.warning(
                        "participant_ids: %s is the account itself; skipped.", participant_id
                    )
                    continue
                low, high = sorted((account, int(participant_id)))
                conversation_id = f"{low}-{high}"
                self.tap.participant_of[conversation_id] = participant_id
                contexts.setdefault(conversation_id, {"dm_conversation_id": conversation_id})
        return list(contexts.values()) or None

    def get_url(self, context: Context | None) -> str:
        """Use `/with/:participant_id/` for conversations configured by participant."""
        conversation_id = (context or {}).get("dm_conversation_id", "")
        participant_id = self.tap.participant_of.get(conversation_id)
        if participant_id is not None:
            return f"{self.url_base}/2/dm_conversations/with/{participant_id}/dm_events"
        return super().get_url(context)

    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """One pass per conversation; a 404 skips that conversation and keeps its bookmark."""
        if not context:
            return
        label = f"conversation_events[{context['dm_conversation_id']}]"
        try:
            yield from self.read_pass(context, label)
        except XNotFoundError as exc:
            self.logger.warning("%s: %s; its bookmark is kept and the run goes on.", label, exc)


class IncludedObjectsStream(Stream):
    """Objects from the `includes` of event pages already read: no requests of their own.

    Records are written as each page arrives (so a crash cannot separate an
    event from the users, tweets and media it refers to) and at most once per
    run per key; the target upserts them by (`account_id`, object key).
    """

    include_key: t.ClassVar[str]
    schema_key: t.ClassVar[str]

    def __init__(self, tap: TapXDM, **kwargs: Any) -> None:
        # Resolved once per stream: the SDK reads `schema` for every record.
        schema = X_SCHEMAS.get_schema(self.schema_key, key_properties=self.primary_keys)
        super().__init__(tap=tap, schema=schema, **kwargs)
        self._emitted: set[str] = set()
        self._schema_sent = False

    @property
    def tap(self) -> TapXDM:
        """The owning tap."""
        return t.cast("TapXDM", self._tap)

    def emit(self, objects: Iterable[dict[str, Any]]) -> None:
        """Write the objects of one page not yet written in this run."""
        if not self.selected:
            return
        key_name = self.primary_keys[-1]
        known = self.schema["properties"]
        for obj in objects:
            key = obj.get(key_name)
            if key is None or key in self._emitted:
                continue
            self._emitted.add(key)
            if not self._schema_sent:
                # Private SDK call, isolated here: the SDK has no public way for one
                # stream's page to emit another stream's records as they arrive.
                self._write_schema_message()
                self._schema_sent = True
            record = {name: value for name, value in obj.items() if name in known}
            record["account_id"] = self.tap.account_id(self)
            self._write_record_message(record)

    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """Nothing to request: everything was written while the event streams ran."""
        if self.selected and not self._emitted and not self.tap.event_streams_selected():
            self.logger.warning(
                "%s is filled from the pages of dm_events and conversation_events; "
                "select one of them to get %s.",
                self.name,
                self.name,
            )
        return iter(())


class UsersStream(IncludedObjectsStream):
    """Users referenced by DM events (senders, participants)."""

    name = "users"
    include_key = "users"
    primary_keys: t.ClassVar[list[str]] = ["account_id", "id"]
    schema_key = "User"


class TweetsStream(IncludedObjectsStream):
    """Tweets (posts) that DMs link to."""

    name = "tweets"
    include_key = "tweets"
    primary_keys: t.ClassVar[list[str]] = ["account_id", "id"]
    schema_key = "Tweet"


class MediaStream(IncludedObjectsStream):
    """Media attached to DMs."""

    name = "media"
    include_key = "media"
    primary_keys: t.ClassVar[list[str]] = ["account_id", "media_key"]
    schema_key = "Media"
