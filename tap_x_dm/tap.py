"""tap-x-dm: X API v2 Direct Message events, as Singer streams."""

from __future__ import annotations

import contextlib
import io
import sys
import typing as t
from collections.abc import Iterator
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar

import click
from singer_sdk import Stream
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.helpers.capabilities import CapabilitiesEnum, PluginCapabilities, TapCapabilities
from typing_extensions import override

from tap_x_dm.api.users_me import AuthenticatedUserStream
from tap_x_dm.api.vocabulary import STATE_KEY as VOCABULARY_KEY
from tap_x_dm.chat import chat_streams, warn_if_unselected
from tap_x_dm.clock import Clock, SystemClock
from tap_x_dm.errors import StopRunError, TapXDMError
from tap_x_dm.ids_and_times import clock_ms
from tap_x_dm.objects.includes import IncludesWriter, MediaStream, TweetsStream, UsersStream
from tap_x_dm.run import summary as run_summary
from tap_x_dm.run.lock import account_run_lock, prepare_lock_dir
from tap_x_dm.run.target import TargetGoneError, check_target, silence_stdout
from tap_x_dm.sdk_adapter import LineWriter, RunScopedTap, cli_setting
from tap_x_dm.services import Account, RunServices
from tap_x_dm.settings.checks import (
    config_file_problem,
    cross_setting_problems,
    redact_secret_errors,
    unknown_setting_lines,
)
from tap_x_dm.settings.config_schema import CONFIG_SCHEMA
from tap_x_dm.settings.preflight import future_start_date_problem
from tap_x_dm.state import loading as tap_state
from tap_x_dm.sync.archive_import import ArchiveImport
from tap_x_dm.sync.conversation_events import ConversationEventsStream
from tap_x_dm.sync.event_stream import DmEventsStream, DmEventStreamBase

#: The setting `invoke` reads before a Tap exists, and its environment variable's prefix.
_SUMMARY = ("run_summary_path", "TAP_X_DM_")


class TapXDM(RunScopedTap):
    """Singer tap for X API v2 Direct Message events."""

    name = "tap-x-dm"
    package_name = "tap-x-dm"
    message_writer_class = LineWriter
    capabilities: ClassVar[list[CapabilitiesEnum]] = [
        TapCapabilities.CATALOG,
        TapCapabilities.STATE,
        TapCapabilities.DISCOVER,
        PluginCapabilities.ABOUT,
        PluginCapabilities.STREAM_MAPS,
        PluginCapabilities.FLATTENING,
        PluginCapabilities.STRUCTURED_LOGGING,
    ]
    config_jsonschema = CONFIG_SCHEMA

    def __init__(self, *args: Any, clock: Clock | None = None, **kwargs: Any) -> None:
        self.clock: Clock = clock or SystemClock()
        try:
            super().__init__(*args, **kwargs)
        except ConfigValidationError as exc:
            errors = redact_secret_errors(exc.errors)
            raise ConfigValidationError(errors[0], errors=errors, schema=exc.schema) from None
        if kwargs.get("validate_config", True):
            for line in unknown_setting_lines(self.config, self.config_jsonschema):
                self.logger.warning("%s", line)  # before the problems a typo may cause
            problems = cross_setting_problems(self.config)
            future = future_start_date_problem(self.config, self.clock.time())
            problems += [future] if future else []
            if problems:
                raise ConfigValidationError(problems[0], errors=problems)

    @cached_property
    def services(self) -> RunServices:
        """The run's clock, budget, authenticator, account and stop flag (one set per run)."""
        return RunServices(
            config=self.config,
            clock=self.clock,
            logger=self.logger,
            tap_state=t.cast("dict[str, Any]", self.state),
            account=Account(
                t.cast("dict[str, Any]", self.state),
                lambda: AuthenticatedUserStream(self, self.services).me(),
                self.logger,
            ),
            event_streams_selected=lambda: any(
                stream.selected
                for stream in self.streams.values()
                if isinstance(stream, DmEventStreamBase)
            ),
            checkpoint=self.write_state_now,
            dm_events_state=lambda: (self.state.get("bookmarks") or {}).get("dm_events") or {},
            # An archive-only run reads no /2/dm_events page that could feed conversations.
            dm_events_selected=lambda: (
                self.streams["dm_events"].selected and not self.config.get("archive_only")
            ),
        )

    @override
    def discover_streams(self) -> list[Stream]:
        """The legacy DM streams and the XChat streams (`tap_x_dm.chat`); no request is made."""
        services = self.services
        objects = [UsersStream(self, services), TweetsStream(self, services)]
        objects.append(MediaStream(self, services))
        includes = IncludesWriter(objects, vocabulary=services.vocabulary)
        return [
            DmEventsStream(self, services, includes),
            ConversationEventsStream(self, services, includes),
            *objects,
            *chat_streams(self, services),
        ]

    @contextlib.contextmanager
    @override
    def run_scope(self) -> Iterator[None]:
        """One run per account at a time, and never on another account's state.

        The lock is keyed on the account's id: from state, else `GET /2/users/me`
        (which every run without one makes anyway), before any DM request. With
        the account known, the conversation partitions and their routing are
        planned, once, before any stream syncs (so their order does not matter).
        """
        check_target()  # stdout closed (`>&-`): one line, before any request
        lock_dir = self.config.get("run_lock_dir")
        summary_path = self.config.get("run_summary_path")
        with (
            run_summary.recording(self.services, summary_path, self.logger),
            contextlib.ExitStack() as held,
        ):
            lock_folder = prepare_lock_dir(Path(lock_dir).expanduser() if lock_dir else None)
            account, stored = self.services.account, self.services.account.stored_id
            account.check_credential(self.services.authenticator.user_id)
            self._check_archive(stored)  # before the first request (the account's too, if stored)
            try:
                account_id = account.id  # before any stream: every record carries it
            except StopRunError as exc:
                self.services.stop.stop(exc)  # no account, no request: nothing to lock
            else:
                held.enter_context(account_run_lock(account_id, lock_folder))
                if stored is None:  # users/me, which the run makes anyway, told the account
                    self._check_archive(account_id)
                conversations = self.streams["conversation_events"]
                if isinstance(conversations, ConversationEventsStream):
                    conversations.plan(account_id)
            try:
                yield
                warn_if_unselected(
                    self.streams, t.cast("dict[str, Any]", self.state), self.services
                )
            finally:
                if isinstance(self.message_writer, LineWriter):
                    self.message_writer.log_repairs(self.logger)

    def _check_archive(self, account_id: str | None) -> None:
        """`archive_path` opens, is the account's, and the state can tell it from the API."""
        archive = ArchiveImport.from_config(self.config, self.logger)
        dm_events = self.streams["dm_events"]
        if archive is not None and dm_events.selected:
            archive.preflight(dm_events.get_context_state(None), account_id)

    @override
    def load_state(self, state: dict[str, Any]) -> None:
        """Upgrade and check the state, then keep its version and account beside the bookmarks."""
        upgraded = tap_state.load(state, now_ms=clock_ms(self.clock), logger=self.logger)
        super().load_state(upgraded)
        ours = t.cast("dict[str, Any]", self.state)
        ours["version"] = upgraded["version"]
        for key in ("account", VOCABULARY_KEY):
            if key in upgraded:
                ours[key] = upgraded[key]

    @classmethod
    @override
    def cb_config(cls, ctx: click.Context, param: click.Option, value: tuple[str, ...]) -> Any:
        """`--config`: a missing or broken file is one line, not the SDK's traceback."""
        for path in value:
            problem = config_file_problem(path)
            if problem:
                cls.logger.error("%s", problem)
                ctx.exit(1)
        return super().cb_config(ctx, param, value)

    @classmethod
    @override
    def invoke(cls, *args: Any, **kwargs: Any) -> None:
        """Run the tap; a failure we can explain is one log line, not a traceback.

        The exit code says who must act (`run_summary.EXIT_CODES`): 0 done or budget
        spent, 3 this account's credential, 4 the X app, 1 anything else.
        """
        path = None if kwargs.get("about") else cli_setting(kwargs.get("config"), *_SUMMARY)
        summary_file = run_summary.SummaryFile(str(path) if path else None, cls.logger)
        try:
            summary_file.remove()
            if kwargs.get("state") is not None:
                kwargs["state"] = io.StringIO(tap_state.read_file(kwargs["state"]))
            super().invoke(*args, **kwargs)
        except ConfigValidationError as exc:
            for error in exc.errors:
                cls.logger.error("%s", error)
            line = str(exc.errors[0]) if exc.errors else str(exc)
            cls._summarise_failure(exc, summary_file, line=line)
            sys.exit(1)
        except TapXDMError as exc:
            cls.logger.error("%s", exc)
            if isinstance(exc, TargetGoneError):
                silence_stdout()  # what stdout still buffers would fail again at exit
            cls._summarise_failure(exc, summary_file)
            sys.exit(run_summary.exit_code_of(exc))
        except Exception as exc:
            cls._summarise_failure(exc, summary_file)
            raise

    @classmethod
    def _summarise_failure(
        cls, exc: BaseException, summary_file: run_summary.SummaryFile, line: str | None = None
    ) -> None:
        """A run that failed before it could summarise itself still leaves a summary."""
        run_summary.summarise_early_failure(exc, summary_file, SystemClock(), cls.logger, line=line)

    @classmethod
    @override
    def cb_test(cls, ctx: click.Context, param: click.Option, value: str) -> None:
        """`--test`: the same one-line errors as a sync."""
        try:
            super().cb_test(ctx, param, value)
        except ConfigValidationError as exc:
            for error in exc.errors:
                cls.logger.error("%s", error)
            ctx.exit(1)
        except TapXDMError as exc:
            cls.logger.error("%s", exc)
            ctx.exit(run_summary.exit_code_of(exc))


if __name__ == "__main__":
    TapXDM.cli()
