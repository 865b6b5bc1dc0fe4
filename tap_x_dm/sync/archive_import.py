"""When and what to import from the account's X archive (`archive_path`) into `dm_events`.

The archive holds the whole history; `/2/dm_events` its last 30 days, with X
ids for joins and leaves that the archive lacks (it gets derived ids). So each
event must come from one side only, whatever the order of first runs:

* **The API's range.** When `dm_events`' first full pass completes, state keeps
  the lowest id it emitted (`archive.api_missing_ids` starts `["0", that id]`):
  the API has every event from there on, and will have every later one. The
  archive emits a message (an X id) only below that id, and a join or leave (a
  derived id, compared by time: `created_at` and ids differ by up to ~1 s,
  `passes.SKEW_MS` allows 5 s) only when its `created_at` is more than
  `SKEW_MS` before that id's time. In the few seconds around the edge a join or
  leave is left to the API: an archive row must never stand beside, or
  replace, an API row.
* **Gaps the API lost** (the other `api_missing_ids`, see `tap_x_dm.sync.api_gaps`):
  runs stopped for over 30 days leave events the API no longer serves. The
  archive emits those by the same rules at both edges; a new gap makes the next
  import read the configured archive again (`imported_files` is forgotten).
* **Before the API's first pass** (a first pass still in flight across runs),
  the import waits: the API's range is not known yet.
* **`archive_only`** runs make no request to `/2/dm_events`: with no API range
  yet, the archive's whole content is emitted. When the API runs later, its
  joins and leaves inside the imported ranges are dropped (`drops_api_event`):
  their archive rows are already loaded under derived ids. Its messages replace
  the archive's rows (same id, and the API's carry attachments).
* **Import once**: the merged time ranges whose archive events are loaded, with
  their event types (`archive.imported_times`), and the last `MAX_CHECKSUMS`
  archives read whole (`archive.imported_files`: their DM files' identity and
  checksum): a known archive is skipped, a newer one emits only outside the
  ranges. State is written only when the whole archive was read: a run killed
  mid-import emits the same rows (same keys) again next time, and loses none.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, MutableMapping, Sequence, Set
from typing import Any

from tap_x_dm.errors import ConfigError
from tap_x_dm.ids_and_times import min_snowflake_at, snowflake_ms, timestamp_ms, x_time_text
from tap_x_dm.sync.api_gaps import (
    ARCHIVE_KEY,
    FIRST_RUN_SQL,
    Gap,
    api_covered_from_problem,
    api_floor_id,
    gaps_left,
    load_gaps,
    merge_spans,
    record_gap,
    save_gaps,
    save_missing,
)
from tap_x_dm.sync.passes import IN_FLIGHT_KEY, SKEW_MS, PassProgress, bookmark_id

#: Keys (in `bookmarks.dm_events.archive`): `{"from/to": [event types]}` of archive events
#: loaded, and `{"files:<identity>": "sha256:<checksum>"}` of archives read whole.
TIMES_KEY = "imported_times"
FILES_KEY = "imported_files"
#: Checksums kept: an older one dropped only costs a re-read that the ranges make emit nothing.
MAX_CHECKSUMS = 20
PARTICIPANT_TYPES = ("ParticipantsJoin", "ParticipantsLeave")
#: Why an archive event is left to the API (words of the import's result line).
IN_API, NEAR = "in the API's range", "joins/leaves within the API's range or 5 s of its edges"


def record_coverage(
    state: MutableMapping[str, Any], progress: PassProgress, *, window_start_ms: int
) -> None:
    """A pass completed: if it was a first full pass, remember how far back the API read.

    The lowest id emitted is in the pass's frontier (it holds the oldest
    events). A pass that emitted nothing read the whole window (from
    `window_start_ms`: 30 days before now, or `start_date` if later) and found
    nothing, so the floor is the window's start.
    """
    if progress.since_id is not None or progress.ceiling_id is not None:
        return
    floor = min(progress.frontier) if progress.frontier else min_snowflake_at(window_start_ms)
    save_missing(state, floor, load_gaps(state))


def record_api_gap(
    state: MutableMapping[str, Any],
    progress: PassProgress,
    *,
    read_to_id: int | None,
    window_ms: int,
    window_start_ms: int,
    logger: logging.Logger,
) -> None:
    """A pass completed: record the events `/2/dm_events` lost, if any (`api_gaps`).

    A new gap forgets the archives imported, so the next import reads the
    configured archive again even if it was imported before the gap was known.
    """
    gap = record_gap(
        state,
        progress,
        read_to_id=read_to_id,
        window_ms=window_ms,
        window_start_ms=window_start_ms,
        logger=logger,
    )
    archive = state.get(ARCHIVE_KEY) or {}
    if gap is not None and archive.get(FILES_KEY):
        archive[FILES_KEY] = {}


class ImportedRanges:
    """Per event type, the merged ranges (epoch ms) imported; in state `{"from/to": [types]}`."""

    def __init__(self, saved: Mapping[str, Any] | None) -> None:
        self._ms: dict[str, list[tuple[int, int]]] = {}
        for span, kinds in ((saved or {}).get(TIMES_KEY) or {}).items():
            lo, hi = span.split("/")
            for kind in kinds:
                self._ms.setdefault(kind, []).append((timestamp_ms(lo), timestamp_ms(hi)))

    def contains(self, event_type: str, ms: int) -> bool:
        """Whether an event of this type at `ms` lies in an imported range."""
        return any(lo <= ms <= hi for lo, hi in self._ms.get(event_type, ()))

    def add(self, event_type: str, lo: int, hi: int) -> None:
        """Add a range and merge it with those it overlaps or touches."""
        spans = [*self._ms.get(event_type, []), (lo, hi)]
        self._ms[event_type] = merge_spans(spans, touching=True)

    def to_state(self) -> dict[str, list[str]]:
        """`{"from/to": [event types]}`, as X's time text, oldest first."""
        kinds: dict[tuple[int, int], list[str]] = {}
        for kind, pairs in sorted(self._ms.items()):
            for pair in pairs:
                kinds.setdefault(pair, []).append(kind)
        return {f"{x_time_text(lo)}/{x_time_text(hi)}": kinds[lo, hi] for lo, hi in sorted(kinds)}


def _loaded_spans(
    lo: int, hi: int, floor: int | None, gaps: Sequence[Gap]
) -> list[tuple[int, int]]:
    """The `created_at` spans (ms) whose archive events an import of `lo`..`hi` loaded.

    Below the API's range (5 s short of its oldest event), and each gap's inside.
    """
    if floor is None:
        return [(lo, hi)]
    spans = [(lo, min(hi, snowflake_ms(floor) - SKEW_MS - 1))]
    for gap in gaps:
        inside = gap.time_span()
        if inside is not None:
            spans.append((max(lo, inside[0]), min(hi, inside[1])))
    return [(start, end) for start, end in spans if start <= end]


def _remember(known: dict[str, str], fingerprint: str, checksum: str) -> dict[str, str]:
    """`known` with `fingerprint` as its newest entry, at most `MAX_CHECKSUMS` of them."""
    known = {k: v for k, v in known.items() if k != fingerprint}
    known[fingerprint] = checksum
    return dict(list(known.items())[-MAX_CHECKSUMS:])


class ArchiveImport:
    """The import of one configured archive into `dm_events` (settings checked before use)."""

    def __init__(self, config: Mapping[str, Any], logger: logging.Logger) -> None:
        self.path = str(config["archive_path"]).strip()
        self.only = bool(config.get("archive_only"))
        self.event_types = list(config.get("event_types") or PARTICIPANT_TYPES)
        start = config.get("start_date")
        self.start_ms = timestamp_ms(str(start)) if start else None
        given = config.get("api_covered_from")
        self.api_covered_from = str(given).strip() if given else None
        self.logger = logger

    @classmethod
    def from_config(cls, config: Mapping[str, Any], logger: logging.Logger) -> ArchiveImport | None:
        """The import when `archive_path` is set, else None."""
        if not str(config.get("archive_path") or "").strip():
            return None
        return cls(config, logger)

    # -- the API's range ----------------------------------------------------------------

    def api_floor(self, state: Mapping[str, Any]) -> int | None:
        """The id from which the API has every event; None when it has read nothing yet.

        Raises:
            ConfigError: a state of tap-x-dm 0.2 has a bookmark but no floor, and
                `api_covered_from` does not give it.
        """
        covered = api_floor_id(state)
        if covered is not None:
            return covered
        if self.api_covered_from:
            self._check_covered_from(state)
            return min_snowflake_at(timestamp_ms(self.api_covered_from) - SKEW_MS)
        if bookmark_id(state) is not None:
            msg = (
                "archive_path: the state has a dm_events bookmark from before tap-x-dm 0.3, "
                "which did not record how far back the API read, so the archive cannot tell "
                "its events from the API's. Set api_covered_from to the created_at of the oldest "
                f"API row in dm_events ({FIRST_RUN_SQL}), then run again."
            )
            raise ConfigError(msg)
        in_flight = state.get(IN_FLIGHT_KEY)
        if self.only and isinstance(in_flight, Mapping) and in_flight.get("frontier_ids"):
            # A first pass under way, then archive_only: the API has emitted down to here.
            return min(int(i) for i in in_flight["frontier_ids"])
        return None

    def preflight(self, state: Mapping[str, Any], account_id: str | None) -> None:
        """Before the first request: the archive opens, is the account's, the state allows it."""
        from tap_x_dm.archive import open_archive  # the reader only when an archive is set

        self.api_floor(state)
        with open_archive(self.path, expected_account_id=account_id) as archive:
            known = (state.get(ARCHIVE_KEY) or {}).get(FILES_KEY) or {}
            if self._floor_from_setting(state) and archive.fingerprint() not in known:
                self._check_covered_from(state, (archive.label, archive.scan().oldest))

    def _floor_from_setting(self, state: Mapping[str, Any]) -> bool:
        return bool(self.api_covered_from) and api_floor_id(state) is None

    def _check_covered_from(
        self, state: Mapping[str, Any], archive: tuple[str, str | None] | None = None
    ) -> None:
        """`api_covered_from` against the state (and the archive), in one line."""
        if problem := api_covered_from_problem(str(self.api_covered_from), state, archive):
            raise ConfigError(problem)

    def drops_api_event(self, state: Mapping[str, Any], event: Mapping[str, Any]) -> bool:
        """An API join or leave that an archive import already loaded (under a derived id)."""
        imported = state.get(ARCHIVE_KEY) or {}
        if event.get("event_type") not in PARTICIPANT_TYPES or not imported.get(TIMES_KEY):
            return False
        ranges = ImportedRanges(imported)
        return ranges.contains(str(event["event_type"]), timestamp_ms(str(event["created_at"])))

    def api_events(
        self, state: Mapping[str, Any], events: Iterable[dict[str, Any]]
    ) -> Iterator[dict[str, Any]]:
        """The API pass's events but for those `drops_api_event` drops (counted in one line)."""
        dropped = 0
        for event in events:
            if self.drops_api_event(state, event):
                dropped += 1
                continue
            yield event
        if dropped:
            self.logger.info(
                "dm_events: %d join/leave event(s) were already loaded from the X archive "
                "(derived ids); the API's copies are not emitted.",
                dropped,
            )

    # -- the import ---------------------------------------------------------------------

    def rows(
        self, state: MutableMapping[str, Any], account_id: str, fetched: Set[str] = frozenset()
    ) -> Iterator[dict[str, Any]]:
        """The archive's events to load (not the API's, not `fetched` by id); state at the end."""
        floor = self.api_floor(state)
        if floor is None and not self.only:
            self.logger.info(
                "archive_path: the first pass of /2/dm_events has not finished (it continues "
                "next run); the archive is imported after it, once the API's oldest event is "
                "known."
            )
            return
        imports = state.get(ARCHIVE_KEY) or {}
        gaps = load_gaps(state)
        from tap_x_dm.archive import open_archive

        with open_archive(self.path, expected_account_id=account_id) as archive:
            known: dict[str, str] = dict(imports.get(FILES_KEY) or {})
            fingerprint = archive.fingerprint()
            checksum = known.get(fingerprint) or archive.checksum()  # unknown files: read them
            if checksum in known.values():
                self.logger.info(
                    "X archive %s (%s) was imported already; nothing to emit%s.",
                    archive.label,
                    checksum,
                    gaps_left(gaps),
                )
                if known.get(fingerprint) != checksum:  # the same content, touched: know it
                    state.setdefault(ARCHIVE_KEY, {})[FILES_KEY] = _remember(
                        known, fingerprint, checksum
                    )
                return
            ranges = ImportedRanges(imports)
            looked_up = fetched
            skipped: Counter[str] = Counter()
            emitted = 0
            for row in archive.records():
                reason = self._skip_reason(row, floor, ranges, looked_up, gaps)
                if reason:
                    skipped[reason] += 1
                    continue
                emitted += 1
                yield row
            summary = archive.summary
        assert summary is not None  # set once records() has read every file
        self.logger.info("%s", summary.line())
        self._log_result(emitted, skipped, floor, gaps)
        if not emitted and self._floor_from_setting(state) and (skipped[IN_API] or skipped[NEAR]):
            self.logger.warning(
                "archive_path: api_covered_from (%s) leaves every archive event to the API: the "
                "import is not recorded, so a corrected api_covered_from still imports them.",
                self.api_covered_from,
            )
            return
        if summary.oldest is not None and summary.newest is not None:
            lo = max(timestamp_ms(summary.oldest), self.start_ms or 0)
            hi = timestamp_ms(summary.newest)
            for start, end in _loaded_spans(lo, hi, floor, gaps):
                for kind in self.event_types:
                    ranges.add(kind, start, end)
            self._drop_filled(state, gaps, hi)
        archive_state = state.setdefault(ARCHIVE_KEY, {})
        archive_state[TIMES_KEY] = ranges.to_state()
        archive_state[FILES_KEY] = _remember(known, fingerprint, summary.checksum)

    def _skip_reason(
        self,
        row: Mapping[str, Any],
        floor: int | None,
        ranges: ImportedRanges,
        looked_up: Set[str],
        gaps: Sequence[Gap] = (),
    ) -> str | None:
        """Why `row` is not emitted, in the words of the result line, or None."""
        kind = str(row["event_type"])
        if kind not in self.event_types:
            return "of event types not configured"
        ms = timestamp_ms(str(row["created_at"]))
        if self.start_ms is not None and ms < self.start_ms:
            return "before start_date"
        if ranges.contains(kind, ms):
            return "imported before"
        from tap_x_dm.archive import is_derived_id

        derived = is_derived_id(row["id"])
        in_gap = any(
            gap.holds_time(ms) if derived else gap.holds_message(int(str(row["id"])))
            for gap in gaps
        )
        if floor is not None and not in_gap:
            if derived and ms + SKEW_MS >= snowflake_ms(floor):
                return NEAR
            if not derived and int(str(row["id"])) >= floor:
                return IN_API
        if not derived and row["id"] in looked_up:
            return "fetched by dm_event_ids"
        return None

    def _drop_filled(self, state: MutableMapping[str, Any], gaps: list[Gap], newest: int) -> None:
        """Forget the gaps this archive (read whole, made after them) has filled."""
        if not gaps:
            return
        left = [gap for gap in gaps if not gap.filled_by(newest)]
        for gap in gaps:
            if gap not in left:
                self.logger.info(
                    "archive_path: the gap of /2/dm_events between ids %s and %s is filled.",
                    gap.from_id,
                    gap.to_id,
                )
        save_gaps(state, left)

    def _log_result(
        self, emitted: int, skipped: Counter[str], floor: int | None, gaps: list[Gap]
    ) -> None:
        left = "".join(f"; {count} {reason}" for reason, count in sorted(skipped.items()))
        edge = (
            "no API range yet: the whole archive"
            if floor is None
            else f"the API has every event from id {floor}"
            + (f" but {len(gaps)} gap(s) it lost" if gaps else "")
        )
        self.logger.info(
            "archive_path: %d event(s) written to dm_events (%s)%s.", emitted, edge, left
        )
