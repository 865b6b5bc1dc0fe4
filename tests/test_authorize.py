"""`tap-x-dm-auth` end to end against the sandbox's consent page and token endpoint.

"The browser" is `requests`: the sandbox's consent page approves at once and
redirects (302) to the callback, which `requests` follows to the local server.
"""

from __future__ import annotations

import io
import json
import os
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests

from tap_x_dm.auth.authorize import main
from tap_x_dm.auth.tokenstore import TokenStore
from tap_x_dm_sandbox import ManualClock
from tests.conftest import run_tap


def browser(url: str) -> None:
    """Open `url` like a browser that follows the consent page's redirect."""
    threading.Thread(target=requests.get, args=(url,), kwargs={"timeout": 10}, daemon=True).start()


def redirect_of(url: str) -> str:
    """Where the consent page sends the browser (without going there)."""
    response = requests.get(url, allow_redirects=False, timeout=10)
    assert response.status_code == 302, response.text
    return response.headers["Location"]


def printed_authorize_url(out: io.StringIO) -> str:
    match = re.search(r"^  (http://\S+/i/oauth2/authorize\?\S+)$", out.getvalue(), re.M)
    assert match, out.getvalue()
    return match.group(1)


def auth_args(sandbox: Any, store: Path, *extra: str) -> list[str]:
    return [
        "--client-id", sandbox.auth.public_client_id,
        "--token-store", str(store),
        "--api-url", sandbox.base_url,
        "--authorize-url", f"{sandbox.base_url}/i/oauth2/authorize",
        "--port", "0",
        *extra,
    ]  # fmt: skip


def run_auth(
    argv: list[str],
    *,
    open_browser: Callable[[str], Any] | None = browser,
    read_line: Callable[[str], str] | None = None,
    environ: dict[str, str] | None = None,
    out: io.StringIO | None = None,
    clock: ManualClock,
) -> tuple[int, io.StringIO, io.StringIO]:
    out, err = out or io.StringIO(), io.StringIO()

    def no_input(prompt: str) -> str:
        raise AssertionError("no input expected")

    status = main(
        argv,
        environ=environ or {},
        open_browser=open_browser,
        read_line=read_line or no_input,
        out=out,
        err=err,
        clock=clock,
    )
    return status, out, err


def endpoints(sandbox: Any) -> list[tuple[str, Any]]:
    return [(e["endpoint"], e["status"]) for e in sandbox.request_log]


def test_browser_flow_writes_the_store_and_the_tap_runs_from_it(
    sandbox_factory: Any, clock: ManualClock, tmp_path: Path
) -> None:
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000)
    store = tmp_path / "state" / "tokens.json"

    status, out, err = run_auth(auth_args(sandbox, store), clock=clock)

    assert status == 0, err.getvalue()
    assert endpoints(sandbox) == [
        ("oauth2_authorize", 302),
        ("oauth2_token", 200),
        ("users_me", 200),
    ]
    authorize_url = urlsplit(printed_authorize_url(out))
    query = {k: v[0] for k, v in parse_qs(authorize_url.query).items()}
    assert query["response_type"] == "code"
    assert query["scope"] == "dm.read tweet.read users.read offline.access"
    assert query["code_challenge_method"] == "S256"
    assert len(query["code_challenge"]) == 43
    assert query["redirect_uri"].startswith("http://127.0.0.1:")
    assert query["redirect_uri"].endswith("/callback")
    assert f"  {query['redirect_uri']}\n" in out.getvalue()  # printed for the X portal
    tokens = TokenStore(store).read()
    assert tokens is not None
    assert tokens.client_id == sandbox.auth.public_client_id
    assert tokens.scope == "dm.read tweet.read users.read offline.access"
    assert tokens.expires_at == pytest.approx(clock.time() + 7200)
    assert tokens.user_id == sandbox.account.id
    assert f"Authorised @{sandbox.account.username} (id {sandbox.account.id})" in out.getvalue()
    assert str(tokens.access_token) not in out.getvalue() + err.getvalue()
    assert str(tokens.refresh_token) not in out.getvalue() + err.getvalue()

    sandbox.clear_log()
    run = run_tap(
        sandbox,
        clock=clock,
        access_token="",
        client_id=sandbox.auth.public_client_id,
        token_store_path=str(store),
    )

    assert run.ids() == [e["id"] for e in sandbox.visible_events(window_days=30)]
    assert [e for e in sandbox.request_log if e["endpoint"] == "oauth2_token"] == []

    # A state written for another account is refused, not applied to this one.
    other = next(u.id for u in sandbox.users if u.id != sandbox.account.id)
    foreign = {"account": {"id": other}, "bookmarks": {}}
    mixed = run_tap(
        sandbox,
        clock=clock,
        state=foreign,
        raise_errors=False,
        access_token="",
        client_id=sandbox.auth.public_client_id,
        token_store_path=str(store),
    )
    assert mixed.ids() == []
    assert f"The state belongs to X account {other}, but the credential is for account " in str(
        mixed.error
    )


def test_state_mismatch_exchanges_nothing(
    sandbox_factory: Any, clock: ManualClock, tmp_path: Path
) -> None:
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000)
    store = tmp_path / "tokens.json"

    def forged(url: str) -> None:
        location = urlsplit(redirect_of(url))
        query = {k: v[0] for k, v in parse_qs(location.query).items()}
        query["state"] = "not-the-state"
        target = location._replace(query=urlencode(query)).geturl()
        threading.Thread(target=requests.get, args=(target,), daemon=True).start()

    status, _, err = run_auth(auth_args(sandbox, store), open_browser=forged, clock=clock)

    assert status == 1
    assert err.getvalue().startswith(
        "tap-x-dm-auth: The redirect's state does not match this authorisation request"
    )
    assert err.getvalue().count("\n") == 1
    assert "oauth2_token" not in [e["endpoint"] for e in sandbox.request_log]
    assert not store.exists()


def test_headless_mode_reads_the_pasted_url(
    sandbox_factory: Any, clock: ManualClock, tmp_path: Path
) -> None:
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000)
    store = tmp_path / "tokens.json"
    pasted: list[str] = []
    out = io.StringIO()

    def paste(prompt: str) -> str:
        # The user opened the printed URL elsewhere and copies the failed page's address.
        location = redirect_of(printed_authorize_url(out))
        pasted.append(location)
        return location

    status, _, err = run_auth(
        auth_args(sandbox, store, "--headless", "--port", "8765"),
        open_browser=None,
        read_line=paste,
        out=out,
        clock=clock,
    )

    assert status == 0, err.getvalue()
    assert pasted and pasted[0].startswith("http://127.0.0.1:8765/callback?code=")
    assert "within 30 seconds" in out.getvalue()
    assert endpoints(sandbox) == [
        ("oauth2_authorize", 302),
        ("oauth2_token", 200),
        ("users_me", 200),
    ]
    assert TokenStore(store).read() is not None


def test_confidential_client_secret_comes_from_the_environment(
    sandbox_factory: Any, clock: ManualClock, tmp_path: Path
) -> None:
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000)
    store = tmp_path / "tokens.json"
    argv = auth_args(sandbox, store)
    argv[argv.index("--client-id") + 1] = sandbox.auth.confidential_client_id
    secret = sandbox.auth.confidential_client_secret

    status, out, err = run_auth(argv, environ={"TAP_X_DM_CLIENT_SECRET": secret}, clock=clock)

    assert status == 0, err.getvalue()
    assert ("oauth2_token", 200) in endpoints(sandbox)
    assert secret not in out.getvalue() + err.getvalue()
    tokens = TokenStore(store).read()
    assert tokens is not None and tokens.client_id == sandbox.auth.confidential_client_id


def test_settings_come_from_the_taps_config_file(
    sandbox_factory: Any, clock: ManualClock, tmp_path: Path
) -> None:
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000)
    store = tmp_path / "tokens.json"
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps(
            {
                "api_url": sandbox.base_url,
                "client_id": sandbox.auth.public_client_id,
                "token_store_path": str(store),
                "authorize_url": f"{sandbox.base_url}/i/oauth2/authorize",
            }
        )
    )

    status, _, err = run_auth(["--config", str(config), "--port", "0"], clock=clock)

    assert status == 0, err.getvalue()
    assert TokenStore(store).read() is not None


def test_refused_consent_is_one_line(
    sandbox_factory: Any, clock: ManualClock, tmp_path: Path
) -> None:
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000)

    def refuse(url: str) -> None:
        query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
        target = f"{query['redirect_uri']}?error=access_denied&state={query['state']}"
        threading.Thread(target=requests.get, args=(target,), daemon=True).start()

    status, _, err = run_auth(
        auth_args(sandbox, tmp_path / "t.json"), open_browser=refuse, clock=clock
    )

    assert status == 1
    assert err.getvalue() == (
        "tap-x-dm-auth: X did not authorise the app (access_denied); run tap-x-dm-auth "
        "again and approve.\n"
    )
    assert sandbox.request_log == []


def test_missing_settings_are_named_before_anything_happens(
    sandbox_factory: Any, clock: ManualClock
) -> None:
    sandbox = sandbox_factory(clock=clock)

    status, _, err = run_auth(["--api-url", sandbox.base_url], clock=clock)

    assert status == 1
    assert "client_id is missing: pass --client-id" in err.getvalue()
    assert "token_store_path is missing: pass --token-store PATH" in err.getvalue()
    assert sandbox.request_log == []


def test_a_token_store_under_an_unknown_users_home_is_one_line(
    sandbox_factory: Any, clock: ManualClock
) -> None:
    sandbox = sandbox_factory(clock=clock)
    nobody = "~tap-x-dm-no-such-user"

    status, _, err = run_auth(auth_args(sandbox, Path(f"{nobody}/t.json")), clock=clock)

    assert status == 1
    assert err.getvalue() == (
        f"tap-x-dm-auth: token_store_path {nobody}/t.json: tap-x-dm-no-such-user is not a user "
        f"of this machine, so {nobody} cannot be expanded; write the path in full.\n"
    )
    assert sandbox.request_log == []


def test_busy_port_says_how_to_pick_another(
    sandbox_factory: Any, clock: ManualClock, tmp_path: Path
) -> None:
    sandbox = sandbox_factory(clock=clock)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        argv = auth_args(sandbox, tmp_path / "t.json")
        argv[argv.index("--port") + 1] = str(port)
        status, _, err = run_auth(argv, clock=clock)

    assert status == 1
    assert f"Cannot listen on 127.0.0.1:{port}" in err.getvalue()
    assert "pass --port N and register http://127.0.0.1:N/callback" in err.getvalue()


def test_no_redirect_within_the_timeout(
    sandbox_factory: Any, clock: ManualClock, tmp_path: Path
) -> None:
    sandbox = sandbox_factory(clock=clock)

    status, _, err = run_auth(
        auth_args(sandbox, tmp_path / "t.json", "--timeout", "0.3"), open_browser=None, clock=clock
    )

    assert status == 1
    assert "No redirect reached http://127.0.0.1:" in err.getvalue()


def test_the_console_command_in_headless_mode_prints_no_secret(
    sandbox_factory: Any, clock: ManualClock, tmp_path: Path
) -> None:
    sandbox = sandbox_factory(clock=clock, rate_limit=10_000)
    store = tmp_path / "tokens.json"
    argv = auth_args(sandbox, store, "--headless")
    argv[argv.index("--client-id") + 1] = sandbox.auth.confidential_client_id
    secret = sandbox.auth.confidential_client_secret
    env = {**os.environ, "TAP_X_DM_CLIENT_SECRET": secret, "TAP_X_DM_LOGLEVEL": "DEBUG"}
    process = subprocess.Popen(
        [sys.executable, "-m", "tap_x_dm.auth.authorize", *argv],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert process.stdout is not None and process.stdin is not None
    lines = []
    for line in process.stdout:
        lines.append(line)
        if "/i/oauth2/authorize?" in line:
            break
    process.stdin.write(redirect_of(line.strip()) + "\n")
    process.stdin.flush()
    out, err = process.communicate(timeout=60)
    out = "".join(lines) + out

    assert process.returncode == 0, err
    tokens = TokenStore(store).read()
    assert tokens is not None
    for value in (secret, tokens.access_token, tokens.refresh_token):
        assert str(value) not in out + err
    assert f"token_store_path: {store}" in out


def test_plain_http_is_refused_off_loopback(clock: ManualClock, tmp_path: Path) -> None:
    argv = ["--client-id", "c", "--token-store", str(tmp_path / "t.json")]
    status, _, err = run_auth([*argv, "--api-url", "http://api.example.com"], clock=clock)
    assert status == 1
    assert err.getvalue().count("\n") == 1
    assert "api_url must use https" in err.getvalue()
    assert "token_url must use https" in err.getvalue()
