"""How a run ended, said once: the end-of-run line, the `run_summary_path` file and the exit code.

An orchestrator running many accounts (one short run per account per rate
window) must tell "done" from "come back at 10:15", and "this account's token
was revoked" from "the app hit X's usage cap: stop everyone". One
`RunSummary` object carries that: its `status` decides the exit code
(`EXIT_CODES`), its `line()` is the run's last INFO line, and `to_json()` is
the file (described by `schemas/run_summary.schema.json`). Later issues add
their fields here (the dataclass, `to_json`, the schema), never a summary of
their own.

The file is removed when a run starts and written atomically when it ends,
so a file that is there is this run's, and a missing one means the run died
(killed) before its end.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
import typing as t
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from tap_x_dm.errors import ConfigError, StopRunError, TapXDMError, XAPIError
from tap_x_dm.ids_and_times import iso_utc
from tap_x_dm.paths import home_problem
from tap_x_dm.run.lock import RunLockedError

if t.TYPE_CHECKING:
    from tap_x_dm.clock import Clock
    from tap_x_dm.services import RunServices

#: Bumped when a field changes meaning or goes away (adding one does not).
SUMMARY_VERSION = 1
#: The setting naming the file.
SETTING = "run_summary_path"
#: The JSON Schema of the file, shipped in the package.
SCHEMA_RESOURCE = "run_summary.schema.json"

Status = Literal["complete", "budget_spent", "stopped_account", "stopped_app", "failed"]
#: 0 keeps the state in every Singer runner; never 2, the CLI's usage error.
EXIT_CODES: Mapping[str, int] = {
    "complete": 0,
    "budget_spent": 0,
    "stopped_account": 3,
    "stopped_app": 4,
    "failed": 1,
}
#: X's problem types (and token-refresh outcomes) that stop every account of the X app.
APP_PROBLEMS = frozenset({"usage-capped", "credits-depleted", "client-forbidden", "refresh-client"})
#: Those that stop this account only: its credential must be renewed (`tap-x-dm-auth`).
ACCOUNT_PROBLEMS = frozenset({"unsupported-authentication", "refresh-rejected", "no-refresh-token"})
_PAYMENT_REQUIRED = 402
_ACCOUNT_STATUSES = frozenset({401, 403})
#: What X bills, in the order and words of the cost lines (`api.costs` prices them).
BILLED_KINDS = ("dm_events", "users", "tweets", "media", "chat_events")
_WORDS = {
    "dm_events": "DM event(s)",
    "users": "user(s)",
    "tweets": "post(s)",
    "media": "media",
    "chat_events": "chat event(s)",
}


def spent_sentence(label: str, requests: int, resources: Mapping[str, int], usd: float) -> str:
    """`label: N request(s), returned ...: about $X ...`: a stream's cost line, the run's end."""
    returned = ", ".join(
        f"{resources.get(kind, 0)} {_WORDS[kind]}"
        for kind in BILLED_KINDS
        if kind != "chat_events" or resources.get(kind)  # XChat's only when it read some
    )
    return (
        f"{label}: {requests} request(s), returned {returned}: about ${usd:.2f} at X's "
        "pay-per-use prices (an estimate; X bills a resource returned again the same UTC day "
        "once, so the bill can be lower)."
    )


def status_of(error: BaseException) -> Status:
    """Who must act on `error`: nobody (a budget), the account, the X app, or a person."""
    if isinstance(error, StopRunError):
        return "budget_spent"
    if isinstance(error, XAPIError):
        if error.problem in APP_PROBLEMS or error.status == _PAYMENT_REQUIRED:
            return "stopped_app"
        if error.problem in ACCOUNT_PROBLEMS or error.status in _ACCOUNT_STATUSES:
            return "stopped_account"
    return "failed"


def exit_code_of(error: BaseException) -> int:
    """The exit code of a run that ended with `error`."""
    return EXIT_CODES[status_of(error)]


def error_line(error: BaseException) -> str:
    """One line for the file: the tap's own message (it never holds a secret), else the type."""
    text = str(error) if isinstance(error, TapXDMError) else type(error).__name__
    return " ".join(text.split())[:1000]


class RunTally:
    """What a run counts as it goes: answered requests per endpoint, records per stream.

    Plain containers, updated in place where the run passes anyway (no call per record):
    the authenticator's response hook counts `requests`, `sdk_adapter.LeanRecordMessages`
    counts `records`, and the event streams add to `conversations`.
    """

    def __init__(self) -> None:
        #: Answers X sent, per endpoint template (`/2/dm_conversations/:id/dm_events`).
        self.requests: Counter[str] = Counter()
        #: RECORD messages written, per stream.
        self.records: Counter[str] = Counter()
        #: Conversations with new events, per system (`legacy`: /2/dm_*, `xchat`: Chat API).
        self.conversations: dict[str, set[str]] = {"legacy": set(), "xchat": set()}

    def conversation(self, system: str, conversation_id: object, new_events: int = 1) -> None:
        """`conversation_id` of `system` (legacy, xchat) had new events in this run."""
        if conversation_id and new_events > 0:
            self.conversations[system].add(str(conversation_id))

    def systems(self) -> dict[str, dict[str, int]]:
        """Conversations with new events and new events, per system.

        Legacy events are `dm_events` records (every legacy event of the account), or
        `conversation_events` records when `dm_events` wrote none.
        """
        legacy = self.records["dm_events"] or self.records["conversation_events"]
        return {
            "legacy": {"conversations": len(self.conversations["legacy"]), "events": legacy},
            "xchat": {
                "conversations": len(self.conversations["xchat"]),
                "events": self.records["chat_events"],
            },
        }


@dataclass(kw_only=True)
class RunSummary:
    """How one run ended (see the module docstring); `to_json` is the file, `line` the log.

    A new field is a field here (in the order the file shows it) and a property in the
    schema; `to_json` writes every field.
    """

    status: Status
    #: budget_spent only: `rate_limit` or `cost_cap`.
    reason: str | None = None
    #: budget_spent on the rate limit only: the exhausted endpoint's `x-rate-limit-reset`.
    next_request_at: str | None = None
    started_at: str
    ended_at: str
    account_id: str | None = None
    #: Answers X sent, per endpoint template (429s and errors included).
    requests: dict[str, int] = field(default_factory=dict)
    #: RECORD messages per stream (the tap's names, before stream maps).
    records: dict[str, int] = field(default_factory=dict)
    #: Resources X returned, which it bills: dm_events, users, tweets, media.
    resources: dict[str, int] = field(default_factory=lambda: dict.fromkeys(BILLED_KINDS, 0))
    #: Their price at `prices_usd` (an upper estimate: X bills a same-day repeat once).
    cost_usd: float = 0.0
    #: Per system, `legacy` (/2/dm_*) and `xchat` (Chat API): conversations with new events,
    #: and new events (`RunTally.systems`).
    systems: dict[str, dict[str, int]] = field(default_factory=dict)
    #: budget_spent only: the line that stopped the run.
    stop_line: str | None = None
    #: stopped_account, stopped_app and failed: the error line.
    error: str | None = None

    @property
    def exit_code(self) -> int:
        """The process's exit code (`EXIT_CODES`)."""
        return EXIT_CODES[self.status]

    def to_json(self) -> dict[str, Any]:
        """The file's object (`schemas/run_summary.schema.json`): every field, and the exit code."""
        fields = asdict(self)
        fields["requests"] = dict(sorted(self.requests.items()))
        fields["records"] = dict(sorted(self.records.items()))
        head = {"summary_version": SUMMARY_VERSION, "status": fields.pop("status")}
        return {**head, "exit_code": self.exit_code, **fields}

    def line(self) -> str:
        """The run's end line: what it spent (the per-stream cost lines' words), how it ended."""
        status = self.status + (f" ({self.reason})" if self.reason else "")
        then = f"; next request at {self.next_request_at}" if self.next_request_at else ""
        spent = sum(self.requests.values())
        parts = [
            spent_sentence("This run", spent, self.resources, self.cost_usd),
            f"Status: {status}, exit code {self.exit_code}{then}.",
        ]
        if self.systems:
            parts.insert(1, _systems_sentence(self.systems))
        if self.records:
            parts.append(f"Records: {_counts(self.records)}.")
        if self.requests:
            parts.append(f"Requests: {_counts(self.requests)}.")
        return " ".join(parts)


def _systems_sentence(systems: Mapping[str, Mapping[str, int]]) -> str:
    """The end line's sentence of new events and conversations per system."""
    named = (("legacy", "legacy"), ("xchat", "XChat"))
    return (
        "New events: "
        + ", ".join(
            f"{label} {systems[key]['events']} in {systems[key]['conversations']} conversation(s)"
            for key, label in named
            if key in systems
        )
        + "."
    )


def _counts(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{name} {count}" for name, count in sorted(counts.items()))


def summarise(services: RunServices, *, started: float, error: BaseException | None) -> RunSummary:
    """The summary of a run that ended now, with `error` (None: it ended by itself)."""
    stop = services.stop.reason
    ending = error if error is not None else stop
    status: Status = "complete" if ending is None else status_of(ending)
    totals = services.costs.totals()
    resources = {kind: totals.get(kind, 0) for kind in BILLED_KINDS}
    summary = RunSummary(
        status=status,
        started_at=iso_utc(started),
        ended_at=iso_utc(services.clock.time()),
        account_id=services.account.stored_id,
        requests=dict(services.tally.requests),
        records=dict(services.tally.records),
        resources=resources,
        cost_usd=round(services.costs.usd(resources), 4),
        systems=services.tally.systems(),
    )
    if isinstance(ending, StopRunError) and status == "budget_spent":
        summary.reason = ending.reason
        summary.stop_line = error_line(ending)
        if ending.reason == "rate_limit" and ending.resume_at is not None:
            summary.next_request_at = iso_utc(ending.resume_at, round_up=True)
    elif ending is not None:
        summary.error = error_line(ending)
    return summary


class SummaryFile:
    """`run_summary_path`: removed when a run starts, replaced whole when it ends."""

    def __init__(self, path: str | os.PathLike[str] | None, logger: logging.Logger) -> None:
        #: Why `~user` in the path cannot be expanded (then there is no file to write).
        self._problem = home_problem(SETTING, str(path)) if path else None
        self.path = Path(path).expanduser() if path and not self._problem else None
        self._logger = logger

    def remove(self) -> None:
        """Remove the last run's file, so a stale one is never read as this run's.

        Raises:
            ConfigError: the path or its folder does not exist, or the file cannot be removed.
        """
        if self._problem:
            raise ConfigError(self._problem)
        if self.path is None:
            return
        if not self.path.parent.is_dir():
            msg = f"run_summary_path: the folder {self.path.parent} does not exist."
            raise ConfigError(msg)
        try:
            self.path.unlink(missing_ok=True)
        except OSError as exc:
            msg = f"run_summary_path: cannot remove {self.path}: {exc.strerror or exc}."
            raise ConfigError(msg) from None

    @property
    def written(self) -> bool:
        """Whether this run's file is there (written at the run's end)."""
        return self.path is not None and self.path.exists()

    def write(self, summary: RunSummary) -> None:
        """Write the file atomically (a temporary file beside it, then `os.replace`)."""
        if self.path is None:
            return
        text = json.dumps(summary.to_json(), indent=2) + "\n"
        temporary: Path | None = None
        try:
            handle, name = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
            temporary = Path(name)
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                out.write(text)
                out.flush()
                os.fsync(out.fileno())
            temporary.replace(self.path)  # os.replace: readers see the old file or the new one
        except OSError as exc:
            if temporary is not None:
                temporary.unlink(missing_ok=True)
            self._logger.error(
                "run_summary_path: cannot write %s: %s; the exit code still says how the run "
                "ended (%d).",
                self.path,
                exc.strerror or exc,
                summary.exit_code,
            )


def finish(summary: RunSummary, summary_file: SummaryFile, logger: logging.Logger) -> RunSummary:
    """Log the end line and write the file: the log and the file say the same."""
    logger.info("%s", summary.line())
    summary_file.write(summary)
    return summary


@contextlib.contextmanager
def recording(
    services: RunServices, path: str | None, logger: logging.Logger
) -> Iterator[SummaryFile]:
    """Around a whole run: remove the last summary, and write this one at the end.

    A run that raises is summarised from its error (then the error goes on to the
    CLI, which exits with the same code). A `BaseException` that is not an
    `Exception` (a kill, Ctrl-C) writes nothing: the run did not end, it was ended.
    Nor does a run locked out by another run of the account: the file is that run's.
    """
    summary_file = SummaryFile(path, logger)
    summary_file.remove()
    started = services.clock.time()
    try:
        yield summary_file
    except RunLockedError:
        raise  # its one line is the lock's (`Tap.invoke`); the other run writes the file
    except Exception as exc:
        finish(summarise(services, started=started, error=exc), summary_file, logger)
        raise
    finish(summarise(services, started=started, error=None), summary_file, logger)


def summarise_early_failure(
    error: BaseException,
    summary_file: SummaryFile,
    clock: Clock,
    logger: logging.Logger,
    *,
    line: str | None = None,
) -> None:
    """A run that failed before its start (bad config or state): say so in the file too.

    Nothing is written when the run got as far as writing its own summary, nor when
    another run of the account holds the lock (the file is that run's).
    """
    if summary_file.path is None or summary_file.written or isinstance(error, RunLockedError):
        return
    now = iso_utc(clock.time())
    summary = RunSummary(status=status_of(error), started_at=now, ended_at=now)
    summary.error = line or error_line(error)
    finish(summary, summary_file, logger)
