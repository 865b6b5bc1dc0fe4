"""What a run cost: requests and billed resources per stream and per run, priced as X does."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tap_x_dm_sandbox import ManualClock
from tests.conftest import dm_requests, run_tap

LINE = re.compile(
    r"^(?P<label>[\w ]+): (?P<requests>\d+) request\(s\), returned (?P<events>\d+) DM event\(s\), "
    r"(?P<users>\d+) user\(s\), (?P<tweets>\d+) post\(s\), (?P<media>\d+) media: about "
    r"\$(?P<usd>[\d.]+) at X's pay-per-use prices \(an estimate; X bills a resource returned "
    r"again the same UTC day once, so the bill can be lower\)\.$"
)


def cost_lines(caplog: pytest.LogCaptureFixture) -> dict[str, dict[str, str]]:
    found = {}
    for record in caplog.records:
        match = LINE.match(record.getMessage())
        if match:
            found[match["label"]] = match.groupdict()
    return found


def test_each_stream_and_the_run_log_requests_resources_and_an_estimate(
    sandbox_factory: Any, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO")
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000)
    expected = sandbox.visible_events(window_days=30)

    run = run_tap(sandbox, clock=clock)

    lines = cost_lines(caplog)
    assert set(lines) == {"dm_events", "This run"}
    dm = lines["dm_events"]
    assert int(dm["requests"]) == len(dm_requests(sandbox))
    assert int(dm["events"]) == len(expected) == len(run.ids())
    total = lines["This run"]
    assert int(total["requests"]) == int(dm["requests"]) + 1  # and GET /2/users/me
    assert int(total["users"]) == int(dm["users"]) + 1
    # X bills a resource once a UTC day; the tap counts every one returned: never below the bill.
    assert float(total["usd"]) >= round(sandbox.billed_usd, 2)
    assert int(dm["events"]) == sandbox.billed["dm_events"]


def test_prices_can_be_set_for_other_contracts(
    sandbox_factory: Any, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO")
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000, events=300)
    prices = {"dm_events": 1.0, "users": 0, "tweets": 0, "media": 0}

    run_tap(sandbox, clock=clock, prices_usd=prices)

    dm = cost_lines(caplog)["dm_events"]
    assert float(dm["usd"]) == int(dm["events"])
