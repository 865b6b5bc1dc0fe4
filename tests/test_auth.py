"""Authentication against the sandbox: refresh, the token store, OAuth 1.0a, clear failures.

Everything goes over HTTP to the sandbox with a ManualClock; assertions are on the
records, the sandbox's request log and the token store, never on wall time.
"""

from __future__ import annotations

import json
import logging
import math
import os
import stat
import threading
from pathlib import Path
from typing import Any

import pytest

from tap_x_dm import tokenstore
from tap_x_dm.config_checks import cross_setting_problems
from tap_x_dm.tap import TapXDM
from tap_x_dm.tokenstore import StoredTokens, TokenStore, TokenStoreError
from tap_x_dm_sandbox import ManualClock
from tests.conftest import Killed, TapRun, run_tap

TOKEN_PATH = "/2/oauth2/token"


def token_requests(sandbox: Any) -> list[dict[str, Any]]:
    return [e for e in sandbox.request_log if e["path"] == TOKEN_PATH]


def statuses(sandbox: Any, path: str | None = None) -> list[Any]:
    """Statuses of API requests to `path` (default: every request but the token endpoint)."""
    return [
        e["status"]
        for e in sandbox.request_log
        if (e["path"] == path if path else not e["path"].startswith("/2/oauth2/"))
    ]


def refresh_config(
    sandbox: Any,
    store: Path,
    *,
    tokens: dict[str, Any] | None = None,
    confidential: bool = False,
    with_access_token: bool = True,
) -> dict[str, Any]:
    """Config of a refreshing OAuth 2.0 client, seeded with freshly issued tokens."""
    auth = sandbox.auth
    client_id = auth.confidential_client_id if confidential else auth.public_client_id
    tokens = tokens or auth.issue_tokens(sandbox.account.id, client_id=client_id)
    config = {
        "access_token": tokens["access_token"] if with_access_token else "",
        "refresh_token": tokens["refresh_token"],
        "client_id": client_id,
        "token_store_path": str(store),
    }
    if confidential:
        config["client_secret"] = auth.confidential_client_secret
    return config


def read_store(store: Path) -> StoredTokens:
    tokens = TokenStore(store).read()
    assert tokens is not None
    return tokens


def error_line(run: TapRun) -> str:
    assert run.error is not None, "the run should have failed"
    line = str(run.error)
    assert "\n" not in line
    return line


# -- OAuth 2.0 refresh ------------------------------------------------------------------


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


# -- OAuth 1.0a ---------------------------------------------------------------------------


def oauth1_config(sandbox: Any, *, dm_permission: bool = True) -> dict[str, Any]:
    return dict(sandbox.auth.oauth1_credentials(sandbox.account.id, dm_permission=dm_permission))


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


# -- credential-set checks ------------------------------------------------------------------


BASE = {
    "api_url": "https://api.x.com",
    "event_types": ["MessageCreate"],
    "page_size": 100,
    "request_timeout": 30,
    "max_retries": 6,
    "max_rate_limit_wait_seconds": 1200,
}


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (
            {"consumer_key": "ck", "access_token": "SECRET-at"},
            "consumer_key selects OAuth 1.0a, which also needs consumer_secret, "
            "access_token_secret (set TAP_X_DM_CONSUMER_SECRET, TAP_X_DM_ACCESS_TOKEN_SECRET).",
        ),
        (
            {"access_token": "SECRET-at", "access_token_secret": "SECRET-ats"},
            "access_token_secret is set but consumer_key is missing",
        ),
        (
            {"refresh_token": "SECRET-rt", "client_id": "cid"},
            "refresh_token needs token_store_path",
        ),
        (
            {"refresh_token": "SECRET-rt", "token_store_path": "/nonexistent/t.json"},
            "client_id is missing",
        ),
        (
            {"client_id": "cid", "token_store_path": "/nonexistent/t.json"},
            "token_store_path /nonexistent/t.json does not exist yet and there is no "
            "refresh_token to seed it: run `tap-x-dm-auth --token-store /nonexistent/t.json`",
        ),
        ({}, "access_token is missing"),
        (
            {"access_token": "SECRET-at", "token_url": "http://example.com/token"},
            "token_url must use https",
        ),
    ],
)
def test_incomplete_credential_sets_name_the_missing_settings(
    config: dict[str, Any], expected: str
) -> None:
    problems = cross_setting_problems({**BASE, **config})
    assert any(expected in problem for problem in problems), problems
    assert not any("SECRET-" in problem for problem in problems)


@pytest.mark.parametrize(
    "config",
    [
        {"access_token": "at"},
        {"consumer_key": "ck", "consumer_secret": "cs", "access_token": "at",
         "access_token_secret": "ats"},
        {"refresh_token": "rt", "client_id": "cid", "token_store_path": "/x/t.json"},
        {"access_token": "at", "client_id": "cid", "client_secret": "s",
         "token_store_path": "/x/t.json"},
    ],
)  # fmt: skip
def test_complete_credential_sets_pass(config: dict[str, Any]) -> None:
    assert cross_setting_problems({**BASE, **config}) == []


def test_store_written_by_tap_x_dm_auth_is_enough(tmp_path: Path) -> None:
    store = tmp_path / "tokens.json"
    TokenStore(store).write(StoredTokens(access_token="a", refresh_token="r", client_id="cid"))
    assert (
        cross_setting_problems({**BASE, "client_id": "cid", "token_store_path": str(store)}) == []
    )


# -- no secret in logs or state -------------------------------------------------------------


def test_no_secret_in_any_log_line_or_state_message(
    sandbox_factory: Any, clock: ManualClock, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    sandbox = sandbox_factory(clock=clock, rate_limit=15, rate_window=900.0, token_ttl=1000)
    store = tmp_path / "tokens.json"
    config = refresh_config(sandbox, store, confidential=True)
    secrets = {config["access_token"], config["refresh_token"], config["client_secret"]}
    refreshed: list[bool] = []

    def expire_once(message: dict[str, Any]) -> None:
        if message["type"] == "RECORD" and not refreshed:
            refreshed.append(True)
            sandbox.auth.expire_access_tokens()

    runs = [run_tap(sandbox, clock=clock, on_message=expire_once, **config)]
    secrets |= {str(read_store(store).access_token), str(read_store(store).refresh_token)}
    oauth1 = oauth1_config(sandbox)
    secrets |= {oauth1["access_token"], oauth1["consumer_secret"], oauth1["access_token_secret"]}
    runs.append(run_tap(sandbox, clock=clock, **oauth1))
    runs.append(
        run_tap(sandbox, clock=clock, raise_errors=False, **{**config, "client_secret": "x" * 20})
    )

    assert len(token_requests(sandbox)) >= 2  # a 401-refresh and refreshes ahead of expiry
    logged = caplog.text + "".join(repr(r.args) for r in caplog.records)
    assert "refresh" in logged
    states = json.dumps([run.states for run in runs])
    errors = " ".join(str(run.error) for run in runs)
    for secret in secrets:
        assert secret not in logged
        assert secret not in states
        assert secret not in errors
        assert secret not in json.dumps(sandbox.request_log)  # the sandbox's log as well
    assert "access_token" not in json.dumps([m for run in runs for m in run.messages])


def test_reprs_and_identities_hold_no_secret(
    sandbox_factory: Any, clock: ManualClock, tmp_path: Path
) -> None:
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000)
    config = refresh_config(sandbox, tmp_path / "tokens.json", confidential=True)
    tap = TapXDM(config={"api_url": sandbox.base_url, **config}, clock=clock)
    oauth1 = oauth1_config(sandbox)
    taps = [
        tap,
        TapXDM(config={"api_url": sandbox.base_url, **oauth1}, clock=clock),
        TapXDM(config={"api_url": sandbox.base_url, "access_token": "at-0123456789"}, clock=clock),
    ]
    text = " ".join(
        repr(t.services.authenticator) + t.services.authenticator.identity for t in taps
    )
    text += repr(read_or_none(tmp_path / "tokens.json"))
    secrets = [config["access_token"], config["refresh_token"], config["client_secret"]]
    secrets += [oauth1["access_token"], oauth1["consumer_secret"], "at-0123456789"]
    for secret in secrets:
        assert secret not in text
    identities = [t.services.authenticator.identity for t in taps]
    assert [i.split(":")[0] for i in identities] == ["oauth2-store", "oauth1", "oauth2"]
    assert identities == [t.services.authenticator.identity for t in taps]  # stable


def read_or_none(path: Path) -> StoredTokens | None:
    return TokenStore(path).read()


# -- the token store file -------------------------------------------------------------------


class _OsWithoutFsync:
    """`os` as the token store sees it, with an fsync that fails like a full disk."""

    def __init__(self, fsync: Any) -> None:
        self.fsync = fsync

    def __getattr__(self, name: str) -> Any:
        return getattr(os, name)


def test_a_failed_write_leaves_the_previous_store_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = TokenStore(tmp_path / "tokens.json")
    store.write(StoredTokens(access_token="old-a", refresh_token="old-r", client_id="c"))

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(tokenstore, "os", _OsWithoutFsync(disk_full))
    with pytest.raises(TokenStoreError, match="No space left on device"):
        store.write(StoredTokens(access_token="new-a", refresh_token="new-r", client_id="c"))

    assert read_store(store.path).refresh_token == "old-r"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tokens.json"]


def test_a_damaged_store_is_one_line_without_its_content(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    path.write_text('{"refresh_token": "SECRET-r"')  # cut short
    path.chmod(0o600)
    with pytest.raises(TokenStoreError) as caught:
        TokenStore(path).read()
    assert str(caught.value) == (
        f"The token store {path} is not a JSON object (damaged?): restore it, or delete it and "
        "run `tap-x-dm-auth` to re-authorise."
    )


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
