"""OAuth 2.0 against the sandbox: refresh, rotation through the token store, clear failures."""

from __future__ import annotations

import logging
import math
import os
import stat
import threading
from pathlib import Path
from typing import Any

import pytest

from tap_x_dm.auth.tokenstore import StoredTokens, TokenStore
from tap_x_dm_sandbox import ManualClock
from tests.auth_support import (
    TOKEN_PATH,
    error_line,
    read_store,
    refresh_config,
    statuses,
    token_requests,
)
from tests.conftest import Killed, TapRun, run_tap


def test_token_expiring_mid_sync_is_refreshed_once_and_the_sync_completes(
    sandbox_factory: Any, clock: ManualClock, tmp_path: Path
) -> None:
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000)
    store = tmp_path / "secrets" / "tokens.json"
    config = refresh_config(sandbox, store)
    expired: list[bool] = []

    def expire_once(message: dict[str, Any]) -> None:
        if message["type"] == "RECORD" and message["stream"] == "dm_events" and not expired:
            expired.append(True)
            sandbox.auth.expire_access_tokens()

    run = run_tap(sandbox, clock=clock, on_message=expire_once, **config)

    assert run.ids() == [e["id"] for e in sandbox.visible_events(window_days=30)]
    # The page after the expiry got a 401, one refresh, and the same request again.
    pages = statuses(sandbox)
    assert pages.count(401) == 1
    assert pages[pages.index(401) + 1] == 200
    assert [e["status"] for e in token_requests(sandbox)] == [200]
    stored = read_store(store)
    assert stored.refresh_token != config["refresh_token"]
    assert stored.access_token != config["access_token"]
    assert stored.expires_at == pytest.approx(clock.time() + 7200, abs=5)
    assert stored.scope == "dm.read tweet.read users.read offline.access"
    assert stat.S_IMODE(store.stat().st_mode) == 0o600
    assert stat.S_IMODE(store.parent.stat().st_mode) == 0o700


def test_known_expiry_refreshes_before_the_request_never_after_a_401(
    sandbox_factory: Any, clock: ManualClock, tmp_path: Path
) -> None:
    # Tokens live 1000 s and the run waits for 900 s windows: the tap must refresh
    # ahead of expiry (margin 300 s) every time, so X never sees an expired token.
    sandbox = sandbox_factory(clock=clock, rate_limit=5, rate_window=900.0, token_ttl=1000)
    config = refresh_config(sandbox, tmp_path / "tokens.json", with_access_token=False)

    run = run_tap(sandbox, clock=clock, **config)

    # Read newest first, so the oldest page is read last: the 30 days end "now".
    assert run.ids() == [e["id"] for e in sandbox.visible_events(window_days=30)]
    assert 401 not in [e["status"] for e in sandbox.request_log]
    waits = [s for s in clock.sleeps if s > 0]
    pages = [e for e in sandbox.request_log if e["path"] == "/2/dm_events"]
    assert len(waits) == math.ceil(len(pages) / 5) - 1 >= 2  # five requests a window
    # One refresh at the start (no access token), then one after each wait.
    assert [e["status"] for e in token_requests(sandbox)] == [200] * (1 + len(waits))


def test_rotation_survives_two_runs_the_store_wins_over_the_spent_config_token(
    sandbox_factory: Any, clock: ManualClock, tmp_path: Path
) -> None:
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000)
    store = tmp_path / "tokens.json"
    config = refresh_config(sandbox, store, with_access_token=False)

    first = run_tap(sandbox, clock=clock, **config)
    after_first = read_store(store)
    clock.advance(3 * 3600)  # the stored access token has expired
    new = sandbox.add_events(3)
    second = run_tap(sandbox, clock=clock, state=first.final_state, **config)  # same config

    assert first.error is None and second.error is None
    assert sorted(second.ids()) == sorted(e["id"] for e in new)
    assert [e["status"] for e in token_requests(sandbox)] == [200, 200]
    after_second = read_store(store)
    assert (
        len({config["refresh_token"], after_first.refresh_token, after_second.refresh_token}) == 3
    )


def test_a_crash_right_after_a_refresh_keeps_the_new_token(
    sandbox_factory: Any, clock: ManualClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000)
    store = tmp_path / "tokens.json"
    config = refresh_config(sandbox, store, with_access_token=False)
    real_write = TokenStore.write

    def write_then_die(self: TokenStore, tokens: StoredTokens) -> None:
        real_write(self, tokens)
        raise Killed  # the process dies after the rename, before the token is used

    monkeypatch.setattr(TokenStore, "write", write_then_die)
    crashed = run_tap(sandbox, clock=clock, raise_errors=False, **config)
    monkeypatch.setattr(TokenStore, "write", real_write)
    assert isinstance(crashed.error, Killed)
    assert statuses(sandbox) == []  # it died before the first API request

    second = run_tap(sandbox, clock=clock, **config)

    assert second.ids() == [e["id"] for e in sandbox.visible_events(window_days=30)]
    # The second run used the stored access token: no further refresh, no 400.
    assert [e["status"] for e in token_requests(sandbox)] == [200]


def test_answer_lost_after_processing_is_never_re_posted(
    sandbox_factory: Any, clock: ManualClock, tmp_path: Path
) -> None:
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000)
    store = tmp_path / "tokens.json"
    config = refresh_config(sandbox, store, with_access_token=False)
    sandbox.faults.inject("token_drop_after_processing")

    first = run_tap(sandbox, clock=clock, raise_errors=False, **config)

    line = error_line(first)
    assert "closed the connection without answering" in line
    assert "X may have spent the refresh token" in line
    assert "tap-x-dm-auth" in line
    assert [e["status"] for e in token_requests(sandbox)] == ["dropped"]  # exactly one POST
    assert statuses(sandbox) == []
    assert read_store(store).refresh_outcome_unknown_since == pytest.approx(clock.time())

    second = run_tap(sandbox, clock=clock, raise_errors=False, **config)

    line = error_line(second)
    assert "refresh token was rejected (already used or revoked)" in line
    assert f"run `tap-x-dm-auth --token-store {store}` to re-authorise" in line
    assert "lost the token endpoint's answer" in line
    assert [e["status"] for e in token_requests(sandbox)] == ["dropped", 400]


def test_connection_dropped_before_processing_fails_and_the_next_run_works(
    sandbox_factory: Any, clock: ManualClock, tmp_path: Path
) -> None:
    # The client cannot tell this drop from one after processing, so it does not
    # retry either; the refresh token was not spent, so the next run simply works.
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000)
    config = refresh_config(sandbox, tmp_path / "tokens.json", with_access_token=False)
    sandbox.faults.inject("drop_connection", path_prefix=TOKEN_PATH)

    first = run_tap(sandbox, clock=clock, raise_errors=False, **config)
    assert "X may have spent the refresh token" in error_line(first)
    assert [e["status"] for e in token_requests(sandbox)] == ["dropped"]

    second = run_tap(sandbox, clock=clock, **config)

    assert second.ids() == [e["id"] for e in sandbox.visible_events(window_days=30)]
    assert [e["status"] for e in token_requests(sandbox)] == ["dropped", 200]


def test_unreachable_token_endpoint_says_the_token_was_not_sent(
    sandbox_factory: Any, clock: ManualClock, tmp_path: Path
) -> None:
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000)
    config = refresh_config(sandbox, tmp_path / "tokens.json", with_access_token=False)
    config["token_url"] = "http://127.0.0.1:9/2/oauth2/token"  # discard port: refused

    run = run_tap(sandbox, clock=clock, raise_errors=False, **config)

    line = error_line(run)
    assert "could not be reached" in line
    assert "the refresh token was not sent and is still valid" in line


def test_two_runs_racing_on_one_store_spend_the_refresh_token_once(
    sandbox_factory: Any, clock: ManualClock, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000, events=400)
    store = tmp_path / "tokens.json"
    config = refresh_config(sandbox, store, with_access_token=False)
    # Hold the first refresh in flight long enough for the other run to queue on the lock.
    sandbox.faults.inject("slow", seconds=0.3, path_prefix=TOKEN_PATH)
    start = threading.Barrier(2)
    runs: list[TapRun] = []

    def one_run(machine: int) -> None:
        start.wait()
        # Two machines: each has its own run lock, so only the token store's lock guards.
        lock_dir = str(tmp_path / f"machine-{machine}")
        runs.append(
            run_tap(sandbox, clock=clock, raise_errors=False, run_lock_dir=lock_dir, **config)
        )

    threads = [threading.Thread(target=one_run, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    expected = [e["id"] for e in sandbox.visible_events(window_days=30)]
    assert [run.error for run in runs] == [None, None]
    assert [run.ids() for run in runs] == [expected, expected]
    assert [e["status"] for e in token_requests(sandbox)] == [200]
    assert 401 not in [e["status"] for e in sandbox.request_log]
    # The second run waited on the lock, re-read the store and took the new tokens.
    assert caplog.text.count("another run already refreshed the tokens") == 1


def test_spent_refresh_token_fails_with_one_line_saying_how_to_re_authorise(
    sandbox_factory: Any, clock: ManualClock, tmp_path: Path
) -> None:
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000)
    store = tmp_path / "tokens.json"
    config = refresh_config(sandbox, store, with_access_token=False)
    sandbox.auth.revoke_refresh_tokens(sandbox.account.id)

    run = run_tap(sandbox, clock=clock, raise_errors=False, **config)

    line = error_line(run)
    assert line.startswith(
        "The OAuth 2.0 refresh token was rejected (already used or revoked): run "
        f"`tap-x-dm-auth --token-store {store}` to re-authorise, then run the tap again. The "
        "token endpoint answered 400 (invalid_request: Value passed for the token was invalid.) "
    )
    assert "it came from refresh_token in the config" in line
    assert statuses(sandbox) == []


def test_confidential_client_refreshes_with_basic_auth(
    sandbox_factory: Any, clock: ManualClock, tmp_path: Path
) -> None:
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000)
    config = refresh_config(
        sandbox, tmp_path / "tokens.json", confidential=True, with_access_token=False
    )

    run = run_tap(sandbox, clock=clock, **config)

    assert run.ids() == [e["id"] for e in sandbox.visible_events(window_days=30)]
    assert [e["status"] for e in token_requests(sandbox)] == [200]
    # Plain http was allowed for the loopback token URL during the call only.
    assert "OAUTHLIB_INSECURE_TRANSPORT" not in os.environ


def test_wrong_client_secret_names_the_client_credentials(
    sandbox_factory: Any, clock: ManualClock, tmp_path: Path
) -> None:
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000)
    config = refresh_config(
        sandbox, tmp_path / "tokens.json", confidential=True, with_access_token=False
    )
    config["client_secret"] = "not-the-secret"

    run = run_tap(sandbox, clock=clock, raise_errors=False, **config)

    line = error_line(run)
    assert "answered 401 (unauthorized_client: Missing valid authorization header)" in line
    assert "X refused the app's client credentials" in line


def test_a_second_401_after_the_refresh_is_fatal_and_says_so(
    sandbox_factory: Any, clock: ManualClock, tmp_path: Path
) -> None:
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000)
    # Tokens that are born expired: the refreshed one is refused as well.
    tokens = sandbox.auth.issue_tokens(sandbox.account.id, ttl=0)
    config = refresh_config(sandbox, tmp_path / "tokens.json", tokens=tokens)

    run = run_tap(sandbox, clock=clock, raise_errors=False, **config)

    line = error_line(run)
    assert line.startswith("GET /2/users/me answered 401: Unauthorized: Unauthorized. ")
    assert "X refused the access token it had just issued (401 right after a refresh)" in line
    assert statuses(sandbox) == [401, 401]  # one re-send, no more
    assert [e["status"] for e in token_requests(sandbox)] == [200]


def test_static_token_401_is_not_retried(sandbox_factory: Any, clock: ManualClock) -> None:
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000)

    run = run_tap(sandbox, clock=clock, raise_errors=False, access_token="not-a-token")

    assert "The access token is invalid or expired" in error_line(run)
    assert statuses(sandbox) == [401]
    assert token_requests(sandbox) == []


def test_403_names_the_missing_scope_when_the_store_knows_it(
    sandbox_factory: Any, clock: ManualClock, tmp_path: Path
) -> None:
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000)
    tokens = sandbox.auth.issue_tokens(
        sandbox.account.id, scopes=("tweet.read", "users.read", "offline.access")
    )
    config = refresh_config(sandbox, tmp_path / "tokens.json", tokens=tokens)
    config["access_token"] = ""  # the refresh tells the tap the granted scope

    run = run_tap(sandbox, clock=clock, raise_errors=False, **config)

    line = error_line(run)
    assert line == (
        "GET /2/dm_events answered 403: Forbidden: Forbidden. The token's scope (tweet.read "
        "users.read offline.access) lacks dm.read: run `tap-x-dm-auth` to re-authorise with "
        "dm.read tweet.read users.read offline.access."
    )


def test_403_with_unknown_scope_names_both_causes(sandbox_factory: Any, clock: ManualClock) -> None:
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000)
    tokens = sandbox.auth.issue_tokens(sandbox.account.id, scopes=("tweet.read", "users.read"))

    run = run_tap(sandbox, clock=clock, raise_errors=False, access_token=tokens["access_token"])

    line = error_line(run)
    assert "Either the token lacks the dm.read scope" in line
    assert '"Read, write, and Direct Messages" permission' in line


def test_store_for_another_client_is_refused(
    sandbox_factory: Any, clock: ManualClock, tmp_path: Path
) -> None:
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000)
    store = tmp_path / "tokens.json"
    TokenStore(store).write(StoredTokens(access_token="a", refresh_token="r", client_id="other"))
    config = refresh_config(sandbox, store)

    run = run_tap(sandbox, clock=clock, raise_errors=False, **config)

    assert "holds tokens of client_id other, not of the configured client_id" in error_line(run)
    assert sandbox.request_log == []


@pytest.mark.parametrize("share", [0.1, None])
def test_a_short_token_lifetime_is_refreshed_once_per_lifetime_not_per_request(
    sandbox_factory: Any,
    clock: ManualClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    share: float | None,
) -> None:
    # Tokens live 60 s (the sandbox's --token-ttl 60) and the run waits three 30 s windows
    # (five /2/dm_events requests each): about 95 s, so two tokens. A fixed 300 s margin
    # (share None: the rule before) refreshes at every signing: once per request, 21 times
    # (42 while the SDK also signed each request as the session prepared it, issue 20).
    if share is None:
        monkeypatch.setattr("tap_x_dm.auth.refreshing.REFRESH_MARGIN_SHARE", 1e9)
    sandbox = sandbox_factory(clock=clock, rate_limit=5, rate_window=30.0, token_ttl=60)
    config = refresh_config(sandbox, tmp_path / "tokens.json", with_access_token=False)

    run = run_tap(sandbox, clock=clock, **config)

    assert run.ids() == [e["id"] for e in sandbox.visible_events(window_days=30)]
    api = [e for e in sandbox.request_log if not e["path"].startswith("/2/oauth2/")]
    assert [e["status"] for e in api] == [200] * 21
    assert len([s for s in clock.sleeps if s > 0]) == 3
    refreshes = [e["status"] for e in token_requests(sandbox)]
    assert refreshes == [200] * (2 if share else 21)
