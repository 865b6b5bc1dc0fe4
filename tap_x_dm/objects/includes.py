"""Everything about X's `includes`: a page's expanded objects, and the streams they fill.

A page of DM events carries, in `includes`, the users, tweets and media its
events refer to. The `users`, `tweets` and `media` streams make no request of
their own: an event stream indexes each page (`PageIncludes`) and, as it emits
an event, hands the objects that event refers to to the `IncludesWriter`, which
writes them at once, so a kill can never separate an event from its objects
and the STATE that covers a page always follows them. Only what emitted events
refer to is written: a run that finds nothing new writes nothing.

With `object_lookups: by_id` (see `lookups`), users and posts are not expanded:
the writer queues the ids emitted events refer to, and at the end of each page
(`end_page`, before the page's STATE) each stream looks up those it has not
loaded recently on its own endpoint.
"""

from __future__ import annotations

import typing as t
from collections.abc import Iterable, Mapping
from typing import Any

from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.metrics import Counter
from typing_extensions import override

from tap_x_dm.api.answers import KnownProperties, WarnOnce, shipped_names
from tap_x_dm.errors import StopRunError
from tap_x_dm.ids_and_times import utc_day
from tap_x_dm.objects.lookups import (
    PENDING_KEY,
    LoadedIds,
    ObjectLookupStream,
    TweetsLookupStream,
    UsersLookupStream,
    max_ids_per_request,
    save_pending,
)
from tap_x_dm.schemas import X_SCHEMAS, parameter_values
from tap_x_dm.sdk_adapter import OutOfBandRecordsStream

if t.TYPE_CHECKING:
    from singer_sdk import Tap
    from singer_sdk.helpers.types import Context

    from tap_x_dm.api.vocabulary import AskedVocabulary
    from tap_x_dm.services import RunServices

#: Keys each object stream remembers to write an object once; past this many it starts
#: afresh, so memory stays flat however long the run (an object may then be written
#: again: the target upserts it by key).
EMITTED_KEYS_LIMIT = 10_000
#: `includes` kinds the tap loads, and the key of their objects.
INCLUDE_KEYS = {"users": "id", "tweets": "id", "media": "media_key"}
#: 2.167 answers put posts in `includes.posts` (2.166: `includes.tweets`).
INCLUDE_ALIASES = {"tweets": "posts"}
#: The stream each expansion fills: an expansion is asked for only when its stream is selected.
EXPANSION_STREAMS = {
    "attachments.media_keys": "media",
    "participant_ids": "users",
    "referenced_tweets.id": "tweets",
    "sender_id": "users",
}
assert set(EXPANSION_STREAMS) == set(parameter_values("DmEventExpansionsParameter"))


def references_of(event: Mapping[str, Any]) -> dict[str, list[str]]:
    """The keys of the users, tweets and media one DM event refers to."""
    sender = event.get("sender_id")
    users = [str(user) for user in event.get("participant_ids") or () if user]
    if sender:
        users.insert(0, str(sender))
    refs = event.get("referenced_tweets") or event.get("referenced_posts") or ()
    attachments = event.get("attachments")
    return {
        "users": users,
        "tweets": [str(ref["id"]) for ref in refs if isinstance(ref, dict) and ref.get("id")],
        "media": [
            str(key)
            for key in (attachments.get("media_keys") if isinstance(attachments, dict) else None)
            or ()
        ],
    }


class PageIncludes:
    """One page's expanded objects by kind and key, kept until its events are emitted."""

    def __init__(self, includes: object = None, errors: object = None) -> None:
        self._objects: dict[str, dict[str, dict[str, Any]]] = {}
        #: Ids the page's partial errors name (suspended users, deleted posts): X said why.
        self.unavailable = {
            str(error.get("resource_id") or error.get("value"))
            for error in (errors if isinstance(errors, list) else ())
            if isinstance(error, dict)
        }
        if isinstance(includes, dict):
            self._objects = {
                kind: {
                    str(obj.get(key)): obj
                    for obj in (includes.get(kind) or includes.get(INCLUDE_ALIASES.get(kind, kind)))
                    or []
                    if isinstance(obj, dict)
                }
                for kind, key in INCLUDE_KEYS.items()
            }

    def objects(self, kind: str, keys: Iterable[str]) -> list[dict[str, Any]]:
        """The page's objects of `kind` with these keys (those it has)."""
        found = self._objects.get(kind, {})
        return [found[key] for key in keys if key in found]


class IncludedObjectsStream(OutOfBandRecordsStream):
    """Objects from the `includes` of event pages: no requests of their own.

    Records are written by the `IncludesWriter` as pages arrive, once per run per
    key (up to `EMITTED_KEYS_LIMIT` keys, then once more at most per that many);
    the target upserts them by (`account_id`, object key).
    SCHEMA goes out once, before the first record, and the SDK's `record_count`
    reports what was written.
    """

    include_key: t.ClassVar[str]
    schema_key: t.ClassVar[str]
    #: The helper stream that looks this stream's objects up by id (None: only expanded).
    lookup_type: t.ClassVar[type[ObjectLookupStream] | None] = None
    #: X's JSON needs no type conversion; `write_objects` drops unknown properties itself.
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE

    def __init__(self, tap: Tap, services: RunServices) -> None:
        # Resolved once per stream: the SDK reads `schema` for every record.
        schema = X_SCHEMAS.get_schema(self.schema_key, key_properties=self.primary_keys)
        super().__init__(tap=tap, schema=schema)
        self._services = services
        self._owner = tap  # for the lookup helper stream it builds on first use
        #: Keys written in this run (the writer skips them before looking anything up).
        self.emitted: set[str] = set()
        self._written: Counter = super().get_record_counter()
        self._known = KnownProperties(schema)
        self._warn_unknown = WarnOnce(self.logger, self.name)
        #: Keys emitted events refer to, not loaded yet (`lookups.PENDING_KEY`; from state).
        self._pending: dict[str, None] | None = None
        self._lookup: ObjectLookupStream | None = None
        self._loaded: LoadedIds | None = None
        #: The most ids one lookup asks for (X's spec): a page's end waits for this many.
        self._batch_size = max_ids_per_request(self.lookup_type.path) if self.lookup_type else 0

    @property
    def looks_up(self) -> bool:
        """Whether this stream's objects are looked up by id rather than expanded."""
        return self.lookup_type is not None and self.config.get("object_lookups") == "by_id"

    @property
    def loaded(self) -> LoadedIds:
        """What this stream loaded recently, kept in its own state (see `lookups`)."""
        if self._loaded is None:
            self._loaded = LoadedIds(
                self.stream_state,
                today=utc_day(self._services.clock.time()),
                days=int(self.config["object_lookups_refresh_days"]),
                max_ids=int(self.config["object_lookups_max_ids"]),
            )
        return self._loaded

    @property
    def pending(self) -> dict[str, None]:
        """The keys queued for a lookup, starting with those a killed run left in state."""
        if self._pending is None:
            self._pending = dict.fromkeys(self.stream_state.get(PENDING_KEY) or [])
        return self._pending

    def queue(self, keys: Iterable[str]) -> None:
        """Queue keys to look up (those not loaded recently); the queue is kept in state."""
        loaded, pending = self.loaded.ids, self.pending
        added = False
        for key in keys:
            if key not in loaded and key not in pending:
                pending[key] = None
                added = True
        if added:
            save_pending(self.stream_state, pending)

    def load_pending(self, *, full_batches_only: bool = False) -> None:
        """Look up the queued keys on this stream's endpoint and write what X returns.

        During a pass only full batches go (one request per 100 ids, not one per
        page); the rest waits in state for the next batch or the stream's own
        turn, after the event streams.
        """
        pending = self.pending
        if not pending or (full_batches_only and len(pending) < self._batch_size):
            return
        if self._lookup is None:
            assert self.lookup_type is not None
            self._lookup = self.lookup_type(self._owner, self._services)
        keys = list(pending)
        if full_batches_only:
            keys = keys[: len(keys) // self._batch_size * self._batch_size]
        self.write_objects(self._lookup.look_up(keys))
        # Unreturned ids (deleted, suspended) are remembered too: asked again, they cost a
        # request and return nothing.
        self.loaded.add(keys, utc_day(self._services.clock.time()))
        for key in keys:
            del pending[key]
        save_pending(self.stream_state, pending)

    def pending_usd(self) -> float:
        """What looking up the queued keys will cost at most (for `max_cost_usd`)."""
        if self.lookup_type is None:
            return 0.0
        return len(self.pending) * self._services.costs.prices[self.name]

    @override
    def get_record_counter(self, **kwargs: Any) -> Counter:
        """The counter the writer increments, so the SDK's metric is what was written."""
        return self._written

    def write_objects(self, objects: Iterable[dict[str, Any]]) -> None:
        """Write the objects not yet written in this run."""
        if not self.selected:
            return
        key_name = self.primary_keys[-1]
        for obj in objects:
            key = obj.get(key_name)
            if key is None or key in self.emitted:
                continue
            if len(self.emitted) >= EMITTED_KEYS_LIMIT:
                self.emitted.clear()
            self.emitted.add(key)
            record = shipped_names(dict(obj))
            self._known.prune(record, self._warn_unknown)
            record["account_id"] = self._services.account.id
            self.write_out_of_band(record)
            self._written.increment()

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """The lookup of what is still queued; everything else was written already.

        Ids an earlier run queued are looked up whatever `object_lookups` says now:
        their events were emitted (and their pages covered by a STATE) under `by_id`,
        so no page of this run will expand them. A too-long rate-limit wait on the
        lookup endpoint stops the run as on the DM endpoints: one line, exit 0, the
        queue kept in state for the next run.
        """
        if not self.looks_up and self.lookup_type is not None and self.pending:
            self.logger.info(
                "%s: looking up the %d id(s) an earlier run queued under object_lookups: "
                "by_id (object_lookups is now %s).",
                self.name,
                len(self.pending),
                self.config.get("object_lookups"),
            )
        if self.looks_up or (self.lookup_type is not None and self.pending):
            try:
                self.load_pending()
            except StopRunError as exc:
                self._services.stop.stop(exc)
        if self._lookup is not None:
            self._lookup.log_sync_costs()
        if self.selected and not self.emitted and not self._services.event_streams_selected:
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
    lookup_type = UsersLookupStream
    primary_keys: t.ClassVar[list[str]] = ["account_id", "id"]
    schema_key = "User"


class TweetsStream(IncludedObjectsStream):
    """Tweets (posts) that DMs link to."""

    name = "tweets"
    include_key = "tweets"
    lookup_type = TweetsLookupStream
    primary_keys: t.ClassVar[list[str]] = ["account_id", "id"]
    schema_key = "Tweet"


class MediaStream(IncludedObjectsStream):
    """Media attached to DMs."""

    name = "media"
    include_key = "media"
    primary_keys: t.ClassVar[list[str]] = ["account_id", "media_key"]
    schema_key = "Media"


class IncludesWriter:
    """Hands what an emitted event refers to to the users, tweets and media streams."""

    def __init__(
        self,
        streams: Iterable[IncludedObjectsStream],
        *,
        vocabulary: AskedVocabulary | None = None,
    ) -> None:
        self._by_kind = {stream.include_key: stream for stream in streams}
        self._vocabulary = vocabulary
        #: Kinds the request in flight looks up by id instead of expanding.
        self._looked_up: set[str] = set()

    def selected_kinds(self) -> set[str]:
        """The include kinds whose stream is selected (the only expansions worth paying for)."""
        return {kind for kind, stream in self._by_kind.items() if stream.selected}

    def billed_kinds(self) -> set[str]:
        """The kinds a page may return and X bills.

        Those selected and, in 2.167 names, the senders and linked posts every page
        expands (`tap_x_dm.api.vocabulary`).
        """
        forced = self._vocabulary.billed_kinds() if self._vocabulary is not None else set()
        return self.selected_kinds() | forced

    def expansions(self, *, single: bool = False) -> list[str]:
        """The expansions to ask of the next request (`EXPANSION_STREAMS`).

        Those of selected streams, minus the streams looked up by id; a single-event
        lookup (`single`) expands everything selected: it has no page end to look up at.
        """
        selected = self.selected_kinds()
        self._looked_up = set() if single else {k for k in selected if self._by_kind[k].looks_up}
        return [e for e, kind in EXPANSION_STREAMS.items() if kind in selected - self._looked_up]

    def end_page(self) -> None:
        """After a page (before its STATE): look up the queued keys that fill a batch."""
        for kind in sorted(self._looked_up):
            self._by_kind[kind].load_pending(full_batches_only=True)

    def pending_usd(self) -> float:
        """What the queued lookups will cost at most (`max_cost_usd` counts it as spent)."""
        return sum(stream.pending_usd() for stream in self._by_kind.values())

    def write_referenced(self, event: Mapping[str, Any], page: PageIncludes) -> None:
        """Write the objects of `page` that `event` refers to (those not yet written).

        Most keys were written before (a page's events share their users): they are
        skipped before the stream's selection is even asked (CPU per event).
        """
        by_kind = self._by_kind
        for kind, keys in references_of(event).items():
            stream = by_kind.get(kind)
            if stream is None or not keys:
                continue
            emitted = stream.emitted
            new = [key for key in keys if key not in emitted]
            if not new or not stream.selected:
                continue
            if kind in self._looked_up:  # unless the page has them (2.167 expands them anyway)
                found = page.objects(kind, new)
                stream.write_objects(found)
                on_page = {str(obj.get(stream.primary_keys[-1])) for obj in found}
                gone = on_page | page.unavailable  # written, or X said why not: no lookup
                stream.queue(key for key in new if key not in gone)
            else:
                stream.write_objects(page.objects(kind, new))
