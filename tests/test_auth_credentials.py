"""Credential sets checked up front, no secret in logs, state or reprs, the token store file."""

from __future__ import annotations

import json
import logging
import os
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import requests

from tap_x_dm.api.ratelimit import RateBudget
from tap_x_dm.auth import tokenstore
from tap_x_dm.auth.authenticator import BearerToken, XAuthenticator
from tap_x_dm.auth.tokenstore import StoredTokens, TokenStore, TokenStoreError
from tap_x_dm.settings.checks import cross_setting_problems
from tap_x_dm.tap import TapXDM
from tap_x_dm_sandbox import ManualClock
from tests.auth_support import oauth1_config, read_store, refresh_config, token_requests
from tests.conftest import run_tap

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


# -- answers counted for the run summary ----------------------------------------------------


def test_the_authenticator_counts_every_answer_per_endpoint_in_the_counter_it_is_handed() -> None:
    # The run summary's `requests` (`RunTally.requests`): no call into the summary per answer.
    logger = logging.getLogger("tap-x-dm")
    budget = RateBudget(ManualClock(0.0), max_wait_seconds=0, logger=logger)
    answers: Counter[str] = Counter()
    auth = XAuthenticator(BearerToken("t"), budget, logger, answers=answers)
    for url, status in [("/2/dm_events", 200), ("/2/dm_events", 429), ("/2/users/me", 200)]:
        signed = auth(requests.Request("GET", f"https://api.x.com{url}?a=1").prepare())
        response = requests.Response()
        response.status_code, response.request, response.url = status, signed, signed.url or ""
        for hook in signed.hooks["response"]:
            hook(response)

    assert answers == {"/2/dm_events": 2, "/2/users/me": 1}
    assert auth.answers is answers
