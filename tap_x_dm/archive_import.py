"""When and what to import from the account's X archive (`archive_path`) into `dm_events`.

The archive holds the whole history; `/2/dm_events` its last 30 days, with X
ids for joins and leaves that the archive lacks (it gets derived ids). So each
event must come from one side only, whatever the order of first runs:

* **The API's range.** When `dm_events`' first full pass completes, state keeps
  the lowest id it emitted (`covered_from_id`): the API has every event from
  there on, and will have every later one. The archive emits a message (an X
  id) only below that id, and a join or leave (a derived id, compared by time:
  `created_at` and ids differ by up to ~1 s, `passes.SKEW_MS` allows 5 s) only
  when its `created_at` is more than `SKEW_MS` before that id's time. In the
  few seconds around the edge a join or leave is left to the API: an archive
  row must never stand beside, or replace, an API row.
* **Gaps the API lost** (`api_gaps`, see `tap_x_dm.archive_gaps`): runs stopped
  for more than 30 days leave events between the old bookmark and what
  `/2/dm_events` still serves. The archive emits those too, by the same rules
  at both edges (messages by id, joins and leaves by time with `SKEW_MS` to
  spare), and a gap is dropped once an archive made after it was read whole.
  A new gap makes the next import read the configured archive again (its
  checksum is forgotten; the ranges keep its loaded events from coming twice).
* **Before the API's first pass** (a first pass still in flight across runs),
  the import waits: the API's range is not known yet.
* **`archive_only`** runs make no request to `/2/dm_events`: with no API range
  yet, the archive's whole content is emitted. When the API runs later, its
  joins and leaves inside the imported ranges are dropped (`drops_api_event`):
  their archive rows are already loaded under derived ids. Its messages replace
  the archive's rows (same id, and the API's carry attachments).
* **Import once** (`archive_imports`): per event type, the merged time ranges
  whose archive events are loaded, and the checksums of archives fully
  imported (the last `MAX_CHECKSUMS`). A known checksum is skipped after a
  hash of the DM files; a newer archive emits only outside the ranges. State is
  written only when the whole archive was read: a run killed mid-import emits
  the same rows (same keys) again next time, and loses none.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, MutableMapping, Sequence
from typing import Any

from tap_x_dm.archive_gaps import Gap, gaps_left, load_gaps, min_id_at, record_gap, save_gaps
from tap_x_dm.errors import ConfigError
from tap_x_dm.ids import snowflake_ms
from tap_x_dm.passes import IN_FLIGHT_KEY, SKEW_MS, PassProgress, bookmark_id
from tap_x_dm.times import parse_timestamp

ARCHIVE_SOURCE = "archive"
#: State key (in `bookmarks.dm_events`): the lowest X id of the API's first full pass.
COVERED_FROM_KEY = "covered_from_id"
#: State key (in `bookmarks.dm_events`): `{"ranges": {type: [[from, to], ...]}, "checksums"}`.
IMPORTS_KEY = "archive_imports"
#: Checksums kept: an older one dropped only costs a re-read that the ranges make emit nothing.
MAX_CHECKSUMS = 20
PARTICIPANT_TYPES = ("ParticipantsJoin", "ParticipantsLeave")
FIRST_RUN_SQL = "select min(created_at) from dm_events where coalesce(source, 'api') = 'api'"
#: Why an archive event is left to the API (words of the import's result line).
IN_API, NEAR = "in the API's range", "joins/leaves within the API's range or 5 s of its edges"


def time_ms(value: str) -> int:
    """Epoch ms of X's `created_at` (or an archive time normalised by `x_time`)."""
    return int(parse_timestamp(value).timestamp() * 1000)


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
    floor = min(progress.frontier) if progress.frontier else min_id_at(window_start_ms)
    state[COVERED_FROM_KEY] = str(floor)


def record_api_gap(
    state: MutableMapping[str, Any],
    progress: PassProgress,
    *,
    read_to_id: int | None,
    window_ms: int,
    window_start_ms: int,
    logger: logging.Logger,
) -> None:
    """A pass completed: record the events `/2/dm_events` lost, if any (`archive_gaps`).

    A new gap forgets the imported archives' checksums, so the next import reads
    the configured archive again even if it was imported before the gap was known.
    """
    gap = record_gap(
        state,
        progress,
        read_to_id=read_to_id,
        window_ms=window_ms,
        window_start_ms=window_start_ms,
        logger=logger,
    )
    imports = state.get(IMPORTS_KEY)
    if gap is not None and isinstance(imports, dict) and imports.get("checksums"):
        state[IMPORTS_KEY] = {**imports, "checksums": []}


class ImportedRanges:
    """Per event type, the merged `[from, to]` ranges (X's time text) already imported."""

    def __init__(self, saved: Mapping[str, Any] | None) -> None:
        ranges = (saved or {}).get("ranges") or {}
        self._ms: dict[str, list[tuple[int, int]]] = {
            kind: [(time_ms(lo), time_ms(hi)) for lo, hi in pairs] for kind, pairs in ranges.items()
        }

    def contains(self, event_type: str, ms: int) -> bool:
        """Whether an event of this type at `ms` lies in an imported range."""
        return any(lo <= ms <= hi for lo, hi in self._ms.get(event_type, ()))

    def add(self, event_type: str, lo: int, hi: int) -> None:
        """Add a range and merge it with those it overlaps or touches."""
        merged: list[tuple[int, int]] = []
        for start, end in sorted([*self._ms.get(event_type, []), (lo, hi)]):
            if merged and start <= merged[-1][1] + 1:
                merged[-1] = (merged[-1][0], max(merged[-1][1], end))
            else:
                merged.append((start, end))
        self._ms[event_type] = merged

    def to_state(self) -> dict[str, list[list[str]]]:
        """The ranges as X's time text, sorted."""
        return {
            kind: [[_ms_text(lo), _ms_text(hi)] for lo, hi in pairs]
            for kind, pairs in sorted(self._ms.items())
        }


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


def _ms_text(ms: int) -> str:
    """Epoch ms as X's `YYYY-MM-DDTHH:MM:SS.mmmZ`."""
    moment = dt.datetime.fromtimestamp(ms // 1000, tz=dt.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


class ArchiveImport:
    """The import of one configured archive into `dm_events` (settings checked before use)."""

    def __init__(self, config: Mapping[str, Any], logger: logging.Logger) -> None:
        self.path = str(config["archive_path"]).strip()
        self.only = bool(config.get("archive_only"))
        self.event_types = list(config.get("event_types") or PARTICIPANT_TYPES)
        start = config.get("start_date")
        self.start_ms = time_ms(str(start)) if start else None
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
        covered = state.get(COVERED_FROM_KEY)
        if covered:
            return int(str(covered))
        if self.api_covered_from:
            self._check_covered_from(state)
            return min_id_at(time_ms(self.api_covered_from) - SKEW_MS)
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
            imports = state.get(IMPORTS_KEY) or {}
            known = (imports.get("fingerprints") or {}).get(archive.fingerprint())
            if self._floor_from_setting(state) and known not in (imports.get("checksums") or []):
                self._check_covered_from(state, (archive.label, archive.scan().oldest))

    def _floor_from_setting(self, state: Mapping[str, Any]) -> bool:
        return bool(self.api_covered_from) and not state.get(COVERED_FROM_KEY)

    def _check_covered_from(
        self, state: Mapping[str, Any], archive: tuple[str, str | None] | None = None
    ) -> None:
        """`api_covered_from` against the state (and the archive), in one line."""
        from tap_x_dm.config_checks import api_covered_from_problem

        if problem := api_covered_from_problem(str(self.api_covered_from), state, archive):
            raise ConfigError(problem)

    def drops_api_event(self, state: Mapping[str, Any], event: Mapping[str, Any]) -> bool:
        """An API join or leave that an archive import already loaded (under a derived id)."""
        if event.get("event_type") not in PARTICIPANT_TYPES or not state.get(IMPORTS_KEY):
            return False
        ranges = ImportedRanges(state[IMPORTS_KEY])
        return ranges.contains(str(event["event_type"]), time_ms(str(event["created_at"])))

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

    def rows(self, state: MutableMapping[str, Any], account_id: str) -> Iterator[dict[str, Any]]:
        """The archive's events not yet loaded and not the API's; state updated at the end."""
        floor = self.api_floor(state)
        if floor is None and not self.only:
            self.logger.info(
                "archive_path: the first pass of /2/dm_events has not finished (it continues "
                "next run); the archive is imported after it, once the API's oldest event is "
                "known."
            )
            return
        imports = dict(state.get(IMPORTS_KEY) or {})
        checksums = list(imports.get("checksums") or [])
        gaps = load_gaps(state)
        from tap_x_dm.archive import open_archive

        with open_archive(self.path, expected_account_id=account_id) as archive:
            known: dict[str, str] = dict(imports.get("fingerprints") or {})
            fingerprint = archive.fingerprint()
            checksum = known.get(fingerprint, "")
            if checksum not in checksums:  # unknown files (or a gap since): read them
                checksum = archive.checksum()
            if checksum in checksums:
                self.logger.info(
                    "X archive %s (%s) was imported already; nothing to emit%s.",
                    archive.label,
                    checksum,
                    gaps_left(gaps),
                )
                if known.get(fingerprint) != checksum:  # the same content, touched: know it
                    state[IMPORTS_KEY] = {
                        **imports,
                        "fingerprints": _remember(known, fingerprint, checksum),
                    }
                return
            ranges = ImportedRanges(imports)
            looked_up = set(state.get("looked_up_event_ids") or [])
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
            lo = max(time_ms(summary.oldest), self.start_ms or 0)
            hi = time_ms(summary.newest)
            for start, end in _loaded_spans(lo, hi, floor, gaps):
                for kind in self.event_types:
                    ranges.add(kind, start, end)
            self._drop_filled(state, gaps, hi)
        checksums = [*(c for c in checksums if c != summary.checksum), summary.checksum]
        state[IMPORTS_KEY] = {
            "ranges": ranges.to_state(),
            "checksums": checksums[-MAX_CHECKSUMS:],
            "fingerprints": _remember(known, fingerprint, summary.checksum),
        }

    def _skip_reason(
        self,
        row: Mapping[str, Any],
        floor: int | None,
        ranges: ImportedRanges,
        looked_up: set[str],
        gaps: Sequence[Gap] = (),
    ) -> str | None:
        """Why `row` is not emitted, in the words of the result line, or None."""
        kind = str(row["event_type"])
        if kind not in self.event_types:
            return "of event types not configured"
        ms = time_ms(str(row["created_at"]))
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
