"""The SDK's repeated lines go to DEBUG: a run's INFO log is the tap's own lines."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest

from tap_x_dm.run.log_lines import quiet_sdk_lines
from tap_x_dm.tap import TapXDM
from tap_x_dm_sandbox import ManualClock
from tests.conftest import run_tap, tap_config


@pytest.fixture
def quiet(request: pytest.FixtureRequest) -> Iterator[None]:
    undo = quiet_sdk_lines(discovering=request.param)
    yield
    undo()


@pytest.mark.parametrize("quiet", [False], indirect=True)
@pytest.mark.usefixtures("quiet")
def test_metric_lines_are_debug_lines(
    sandbox_factory: Any,
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000)
    caplog.set_level(logging.INFO)

    run_tap(sandbox, clock=clock)

    assert not [r for r in caplog.records if r.getMessage().startswith("METRIC")]
    ends = [r.getMessage() for r in caplog.records if r.getMessage().startswith("This run: ")]
    assert len(ends) == 1 and ends[0].startswith("This run: 21 request(s), returned 1779 DM")
    # With DEBUG on (TAP_X_DM_LOGLEVEL=debug) they are there, marked DEBUG.
    caplog.clear()
    monkeypatch.setenv("TAP_X_DM_LOGLEVEL", "debug")
    caplog.set_level(logging.DEBUG)
    run_tap(sandbox, clock=clock)
    metrics = [r for r in caplog.records if r.getMessage().startswith("METRIC")]
    requests = [r for r in metrics if "http_request_duration" in r.getMessage()]
    assert len(requests) == 21 and {r.levelname for r in metrics} == {"DEBUG"}


@pytest.mark.parametrize("quiet", [True], indirect=True)
@pytest.mark.usefixtures("quiet")
def test_discovery_does_not_repeat_the_settings_line(
    sandbox_factory: Any, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000)
    caplog.set_level(logging.INFO)

    TapXDM(config=tap_config(sandbox), clock=clock)

    assert not [r for r in caplog.records if "env var settings" in r.getMessage()]
