"""How a run ended: the run summary file, its end line and the exit code, against the sandbox.

Each status is reached the way X reaches it (a revoked grant, the usage cap, depleted
credits, an app not enrolled, a spent rate window, the cost cap), over HTTP; the file is
checked against the JSON Schema the package ships, and the chain of runs moves a
ManualClock to `next_request_at`, never waiting.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import os
import subprocess
import sys
import time
from collections import Counter
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tap_x_dm.auth.signers import AuthError
from tap_x_dm.clock import SystemClock
from tap_x_dm.errors import StopRunError, XAPIError
from tap_x_dm.run.summary import SCHEMA_RESOURCE, RunSummary, status_of
from tap_x_dm_sandbox import ManualClock
from tests.auth_support import refresh_config
from tests.conftest import RUN_LOCK_DIR, Killed, run_tap

SCHEMA = json.loads(resources.files("tap_x_dm.schemas").joinpath(SCHEMA_RESOURCE).read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


def read_summary(path: Path) -> dict[str, Any]:
    summary: dict[str, Any] = json.loads(path.read_text())
    VALIDATOR.validate(summary)
    return summary


def as_object(summary: dict[str, Any]) -> RunSummary:
    """The summary object back from the file (to render its line)."""
    return RunSummary(
        **{k: v for k, v in summary.items() if k not in {"summary_version", "exit_code"}}
    )


def end_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith("This run: ")]


def api_requests(entries: list[dict[str, Any]]) -> Counter[str]:
    """Answers per endpoint, as the tap names them (the sandbox's paths have no ids here)."""
    return Counter(e["path"] for e in entries if not e["path"].startswith("/2/oauth2/"))


def test_the_schema_is_a_valid_json_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


def test_a_complete_run_says_so_and_its_file_and_log_agree(
    sandbox_factory: Any, clock: ManualClock, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000, events=400)
    path = tmp_path / "summary.json"
    path.write_text("stale")

    run = run_tap(sandbox, clock=clock, run_summary_path=str(path))

    summary = read_summary(path)
    assert list(summary) == list(SCHEMA["properties"])  # every field described, in order
    assert summary["status"] == "complete"
    assert summary["exit_code"] == 0
    assert summary["reason"] is summary["next_request_at"] is summary["error"] is None
    assert summary["account_id"] == sandbox.account.id
    streams = ("dm_events", "users", "tweets", "media")
    assert summary["records"] == {s: len(run.records(s)) for s in streams if run.records(s)}
    assert summary["records"]["dm_events"] == len(sandbox.visible_events()) > 0
    assert summary["requests"] == api_requests(sandbox.request_log)
    assert summary["requests"]["/2/users/me"] == 1
    assert summary["resources"]["dm_events"] == sandbox.billed["dm_events"]
    assert summary["cost_usd"] >= round(sandbox.billed_usd, 2)  # X bills a same-day repeat once
    assert end_lines(caplog) == [as_object(summary).line()]
    assert end_lines(caplog)[0].endswith(
        f"Status: complete, exit code 0. Records: dm_events {len(run.ids())}, "
        + ", ".join(f"{s} {summary['records'][s]}" for s in ("media", "tweets", "users"))
        + ". Requests: "
        + ", ".join(f"{e} {n}" for e, n in sorted(summary["requests"].items()))
        + "."
    )


def test_chained_runs_on_a_tight_budget_load_everything_once_on_next_request_at(
    sandbox_factory: Any, clock: ManualClock, tmp_path: Path
) -> None:
    sandbox = sandbox_factory(clock=clock, rate_limit=2, rate_window=900.0, events=600)
    # 29 days: the clock moves on 15 minutes a run, and nothing may age out of X's 30 days.
    start = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(clock.time() - 29 * 86400))
    expected = [e["id"] for e in sandbox.visible_events() if e["created_at"] >= start[:-1]]
    path = tmp_path / "summary.json"
    state: dict[str, Any] = {}
    emitted: list[str] = []
    statuses = []
    for _ in range(30):
        began, seen = clock.time(), len(sandbox.request_log)
        run = run_tap(
            sandbox, clock=clock, state=state, run_summary_path=str(path), page_size=10,
            max_rate_limit_wait_seconds=0, start_date=start,
        )  # fmt: skip
        assert run.error is None
        summary = read_summary(path)
        statuses.append(summary["status"])
        assert summary["exit_code"] == 0
        assert summary["requests"] == api_requests(sandbox.request_log[seen:])
        assert summary["records"].get("dm_events", 0) == len(run.ids())
        emitted += run.ids()
        state = run.final_state
        if summary["status"] == "complete":
            assert summary["next_request_at"] is None
            break
        assert summary["reason"] == "rate_limit"
        assert summary["stop_line"].startswith("Stopping: /2/dm_events would need a wait")
        # The window opened with this run's first request: X's reset, no margin added.
        reset = dt.datetime.fromtimestamp(math.ceil(began + 900), tz=dt.timezone.utc)
        assert summary["next_request_at"] == reset.strftime("%Y-%m-%dT%H:%M:%SZ")
        clock.advance(reset.timestamp() - clock.time())  # the orchestrator comes back then
    assert statuses[-1] == "complete"
    assert len(statuses) >= 6
    assert set(statuses[:-1]) == {"budget_spent"}
    assert sorted(emitted, key=int) == sorted(expected, key=int)
    assert len(emitted) == len(set(emitted))
    assert [e for e in sandbox.request_log if e["status"] == 429] == []
    assert [s for s in clock.sleeps if s > 0] == []


def test_a_run_before_the_window_reopens_learns_the_reset_from_one_429(
    sandbox_factory: Any, clock: ManualClock, tmp_path: Path
) -> None:
    sandbox = sandbox_factory(clock=clock, rate_limit=2, rate_window=900.0, events=600)
    path = tmp_path / "summary.json"
    config = {"run_summary_path": str(path), "page_size": 10, "max_rate_limit_wait_seconds": 0}
    first = run_tap(sandbox, clock=clock, **config)
    reset = read_summary(path)["next_request_at"]
    clock.advance(300)  # an orchestrator that comes back too early
    seen = len(sandbox.request_log)

    second = run_tap(sandbox, clock=clock, state=first.final_state, **config)

    summary = read_summary(path)
    assert (summary["status"], summary["next_request_at"]) == ("budget_spent", reset)
    assert [e["status"] for e in sandbox.request_log[seen:]] == [429]
    assert summary["requests"] == {"/2/dm_events": 1}
    assert second.ids() == []


def test_the_cost_cap_is_a_spent_budget_with_no_window_to_wait_for(
    sandbox_factory: Any, clock: ManualClock, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000, events=600)
    path = tmp_path / "summary.json"

    run_tap(sandbox, clock=clock, run_summary_path=str(path), max_cost_usd=4.0)

    summary = read_summary(path)
    assert (summary["status"], summary["reason"], summary["exit_code"]) == (
        "budget_spent", "cost_cap", 0,
    )  # fmt: skip
    assert summary["next_request_at"] is None
    assert summary["stop_line"].startswith("Stopping: the next page could cost more than")
    assert summary["cost_usd"] <= 4.0
    assert end_lines(caplog)[-1] == as_object(summary).line()
    assert "Status: budget_spent (cost_cap), exit code 0." in end_lines(caplog)[-1]


def test_a_revoked_grant_stops_the_account_without_spending_more(
    sandbox_factory: Any, clock: ManualClock, tmp_path: Path
) -> None:
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000, events=300)
    config = refresh_config(sandbox, tmp_path / "tokens.json")
    sandbox.revoke_tokens()
    path = tmp_path / "summary.json"

    run = run_tap(sandbox, clock=clock, raise_errors=False, run_summary_path=str(path), **config)

    summary = read_summary(path)
    assert (summary["status"], summary["exit_code"]) == ("stopped_account", 3)
    assert summary["error"] == str(run.error)
    assert summary["error"].startswith("The OAuth 2.0 refresh token was rejected")
    assert summary["requests"] == {"/2/users/me": 1}  # the 401; then one refresh, refused
    assert [e["status"] for e in sandbox.request_log] == [401, 400]
    assert summary["records"] == {}


def test_a_state_of_another_account_fails_and_says_why(
    sandbox_factory: Any, clock: ManualClock, tmp_path: Path
) -> None:
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000, events=300)
    path = tmp_path / "summary.json"
    state = {"account": {"id": sandbox.users[1].id}}

    run = run_tap(sandbox, clock=clock, state=state, raise_errors=False, run_summary_path=str(path))

    summary = read_summary(path)
    assert (summary["status"], summary["exit_code"]) == ("failed", 1)
    assert summary["error"] == str(run.error)
    assert "give each account its own state" in summary["error"]
    assert run.records("dm_events") == []


def test_a_killed_run_leaves_no_summary(
    sandbox_factory: Any, clock: ManualClock, tmp_path: Path
) -> None:
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000, events=300)
    path = tmp_path / "summary.json"
    path.write_text(json.dumps({"status": "complete"}))  # the last run's

    def die(message: dict[str, Any]) -> None:
        if message["type"] == "RECORD":
            raise Killed

    run = run_tap(sandbox, clock=clock, raise_errors=False, on_message=die,
                  run_summary_path=str(path))  # fmt: skip

    assert isinstance(run.error, Killed)
    assert not path.exists()  # no stale "complete": the run did not end, it was ended


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (StopRunError("x"), "budget_spent"),
        (StopRunError("x", reason="cost_cap"), "budget_spent"),
        (XAPIError("x", status=401), "stopped_account"),
        (XAPIError("x", status=403), "stopped_account"),
        (XAPIError("x", status=403, problem="unsupported-authentication"), "stopped_account"),
        (AuthError("x", problem="refresh-rejected"), "stopped_account"),
        (AuthError("x", problem="no-refresh-token"), "stopped_account"),
        (XAPIError("x", status=429, problem="usage-capped"), "stopped_app"),
        (XAPIError("x", status=402, problem="credits-depleted"), "stopped_app"),
        (XAPIError("x", status=403, problem="client-forbidden"), "stopped_app"),
        (AuthError("x", problem="refresh-client"), "stopped_app"),
        (AuthError("x", problem="refresh-unknown"), "failed"),  # the next run tells
        (AuthError("x", problem="refresh-not_sent"), "failed"),  # the token is intact
        (AuthError("x"), "failed"),  # e.g. the token store cannot be written
        (XAPIError("x", status=503), "failed"),
        (XAPIError("x", status=404), "failed"),
        (ValueError("x"), "failed"),
    ],
)
def test_who_must_act_on_each_error(error: BaseException, status: str) -> None:
    assert status_of(error) == status


# -- the command: exit codes ---------------------------------------------------------------------


def tap_command(
    config: dict[str, Any], tmp_path: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps({"run_lock_dir": RUN_LOCK_DIR, **config}))
    return subprocess.run(
        [sys.executable, "-m", "tap_x_dm", "--config", str(config_file), *args],
        capture_output=True, text=True, timeout=120, check=False, env=dict(os.environ),
    )  # fmt: skip


@pytest.fixture
def live_sandbox(sandbox_factory: Any) -> Any:
    return sandbox_factory(clock=SystemClock(), rate_limit=10_000, events=300)


@pytest.mark.parametrize(
    ("fault", "status", "code", "error"),
    [
        ("revoked", "stopped_account", 3, "GET /2/users/me answered 401: Unauthorized"),
        ("usage_capped", "stopped_app", 4, "GET /2/users/me answered 429: UsageCapExceeded"),
        ("credits_depleted", "stopped_app", 4, "GET /2/users/me answered 402: Payment Required"),
        ("client_not_enrolled", "stopped_app", 4, "GET /2/users/me answered 403: Client Forbidden"),
    ],
)
def test_the_exit_code_says_who_must_act(
    live_sandbox: Any, tmp_path: Path, fault: str, status: str, code: int, error: str
) -> None:
    if fault == "revoked":
        live_sandbox.revoke_tokens()
    else:
        setattr(live_sandbox, fault, True)
    path = tmp_path / "summary.json"
    config = {"api_url": live_sandbox.base_url, "access_token": live_sandbox.access_token()}

    result = tap_command({**config, "run_summary_path": str(path)}, tmp_path)

    assert result.returncode == code, result.stderr[-2000:]
    summary = read_summary(path)
    assert (summary["status"], summary["exit_code"]) == (status, code)
    assert summary["error"].startswith(error)
    assert summary["error"] in result.stderr
    assert as_object(summary).line() in result.stderr
    assert "Traceback" not in result.stderr
    assert len(live_sandbox.request_log) == 1
    if fault in {"revoked", "usage_capped"}:  # without run_summary_path, the same code
        assert tap_command(config, tmp_path).returncode == code


def test_a_budget_stop_exits_0_and_a_state_file_that_cannot_be_read_exits_1(
    live_sandbox: Any, tmp_path: Path
) -> None:
    path = tmp_path / "summary.json"
    config = {
        "api_url": live_sandbox.base_url,
        "access_token": live_sandbox.access_token(),
        "run_summary_path": str(path),
    }

    spent = tap_command({**config, "max_cost_usd": 1.0}, tmp_path)

    assert spent.returncode == 0, spent.stderr[-2000:]
    assert (read_summary(path)["status"], read_summary(path)["reason"]) == (
        "budget_spent", "cost_cap",
    )  # fmt: skip
    state = tmp_path / "state.json"
    state.write_text("{not json")

    broken = tap_command(config, tmp_path, "--state", str(state))

    assert broken.returncode == 1
    summary = read_summary(path)  # the last run's file is gone; this one says why
    assert (summary["status"], summary["exit_code"]) == ("failed", 1)
    assert summary["error"] in broken.stderr
    assert "Traceback" not in broken.stderr
