"""OAuth 1.0a against the sandbox: signatures across waits, clear 401/403, another account."""

from __future__ import annotations

import math
from typing import Any

from tap_x_dm_sandbox import ManualClock
from tests.auth_support import error_line, oauth1_config, statuses
from tests.conftest import run_tap


def test_oauth1_sync_is_accepted_by_the_sandbox_verifier_across_waits(
    sandbox_factory: Any, clock: ManualClock
) -> None:
    # Windows of 900 s: the signatures' timestamps must follow the tap's clock, or the
    # sandbox (which judges freshness by the same clock) would refuse them as stale.
    sandbox = sandbox_factory(clock=clock, rate_limit=15, rate_window=900.0)
    expected = sandbox.visible_events(window_days=30)

    run = run_tap(sandbox, clock=clock, **oauth1_config(sandbox))

    assert run.ids() == [e["id"] for e in expected]
    pages = [e for e in sandbox.request_log if e["path"] == "/2/dm_events"]
    assert len([s for s in clock.sleeps if s > 0]) == math.ceil(len(pages) / 15) - 1 >= 1
    api = [e for e in sandbox.request_log if e["path"].startswith("/2/")]
    assert {e["status"] for e in api} == {200}
    assert {e["user"] for e in api} == {sandbox.account.id}


def test_oauth1_app_without_dm_permission_gets_the_403_line(
    sandbox_factory: Any, clock: ManualClock
) -> None:
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000)

    run = run_tap(
        sandbox, clock=clock, raise_errors=False, **oauth1_config(sandbox, dm_permission=False)
    )

    line = error_line(run)
    assert line.startswith("GET /2/dm_events answered 403: Forbidden: Forbidden. ")
    assert 'The X app behind consumer_key lacks the "Read, write, and Direct Messages"' in line


def test_oauth1_wrong_secret_gets_the_401_line(sandbox_factory: Any, clock: ManualClock) -> None:
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000)
    config = {**oauth1_config(sandbox), "access_token_secret": "wrong-secret-0123456789"}

    run = run_tap(sandbox, clock=clock, raise_errors=False, **config)

    assert "X refused the OAuth 1.0a signature" in error_line(run)
    assert statuses(sandbox) == [401]


def test_oauth1_credential_of_another_account_than_the_state_is_refused(
    sandbox_factory: Any, clock: ManualClock
) -> None:
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000, events=300, conversations=30)
    brand = run_tap(sandbox, clock=clock, **oauth1_config(sandbox))
    assert brand.final_state["account"]["id"] == sandbox.account.id
    other = next(u.id for u in sandbox.users if u.id != sandbox.account.id)
    sandbox.clear_log()

    run = run_tap(
        sandbox,
        clock=clock,
        state=brand.final_state,
        raise_errors=False,
        **dict(sandbox.auth.oauth1_credentials(other)),
    )

    assert run.ids() == []
    assert f"the credential is for account {other}" in str(run.error)
    assert [e for e in sandbox.request_log if e["path"].startswith("/2/dm_")] == []
