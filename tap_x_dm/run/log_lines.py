"""The SDK's log lines that repeat at INFO go to DEBUG, so a run's log reads in a glance.

The SDK writes a METRIC line per request and per stream (timers and counters); the tap's
own lines already say per stream and per run what was requested, returned and billed.
Under Meltano a run is two processes, discovery then sync, and both say "Skipping parse
of env var settings": the discovery's copy is the repeat. With TAP_X_DM_LOGLEVEL=debug
(the SDK's switch) all of them appear again, marked DEBUG. Without it, nothing of the
tap runs per METRIC line: the SDK's metrics logger is silenced after its first line.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from typing_extensions import override

METRICS_LOGGER = "singer_sdk.metrics"
TAP_LOGGER = "tap-x-dm"
ENV_SETTINGS_LINES = ("Skipping parse of env var settings", "Parsing env var for settings")


class _AtDebug(logging.Filter):
    """Re-level the records `matches` picks to DEBUG; keep them only if DEBUG is on."""

    def __init__(self, matches: Callable[[logging.LogRecord], bool]) -> None:
        super().__init__()
        self._matches = matches

    @override
    def filter(self, record: logging.LogRecord) -> bool:
        if not self._matches(record):
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)


class _MetricsAtDebug(logging.Filter):
    """The SDK's METRIC lines at DEBUG; without DEBUG on, its metrics logger silenced instead.

    Every `Tap` sets the `singer_sdk.metrics` logger's level as it starts (INFO, or
    DEBUG with TAP_X_DM_LOGLEVEL=debug), after this filter is installed. Without DEBUG,
    the first METRIC line a Tap writes raises that level to WARNING: the SDK then drops
    the following ones before building them, and nothing of the tap runs per line.
    """

    @override
    def filter(self, record: logging.LogRecord) -> bool:
        logger = logging.getLogger(record.name)
        if not logger.isEnabledFor(logging.DEBUG):
            logger.setLevel(logging.WARNING)  # the SDK's METRIC lines are INFO lines
            return False
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return True


def _is_env_settings_line(record: logging.LogRecord) -> bool:
    return str(record.msg).startswith(ENV_SETTINGS_LINES)


def quiet_sdk_lines(*, discovering: bool) -> Callable[[], None]:
    """Send the SDK's METRIC lines (and, when discovering, its settings line) to DEBUG.

    Returns what undoes it (for tests: the loggers are the process's).
    """
    installed: list[tuple[logging.Logger, logging.Filter]] = [
        (logging.getLogger(METRICS_LOGGER), _MetricsAtDebug())
    ]
    if discovering:
        installed.append((logging.getLogger(TAP_LOGGER), _AtDebug(_is_env_settings_line)))
    for logger, line_filter in installed:
        logger.addFilter(line_filter)

    def undo() -> None:
        for logger, line_filter in installed:
            logger.removeFilter(line_filter)

    return undo
