"""Kill the tap as an orchestrator would, again and again: nothing is lost, little is re-read.

Each run is a real `tap-x-dm` process reading a sandbox over HTTP with X's shape
of limits (4 requests per 1 s window here) and refreshing OAuth 2.0 tokens. It is
SIGKILLed as a process group at chosen moments (while it sleeps for the rate
limit, right after a token refresh, at a random point), and the next run starts
from the last STATE line it printed, as Meltano would store it.
"""

from __future__ import annotations

import json
import math
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tap_x_dm.auth.tokenstore import StoredTokens, TokenStore
from tap_x_dm.clock import SystemClock

pytestmark = pytest.mark.slow

KILLS = 50
PAGE_SIZE = 10
PATTERNS = {
    "sleep": re.compile(r"Rate limit: waiting"),
    "refresh": re.compile(r"OAuth 2\.0: access token refreshed"),
    "page": re.compile(r'"type":\s*"STATE"'),
}


class TapProcess:
    """One tap run whose output is read as it comes, so it can be killed at a moment."""

    def __init__(self, config: Path, state: Path | None) -> None:
        command = [sys.executable, "-m", "tap_x_dm", "--config", str(config)]
        if state is not None:
            command += ["--state", str(state)]
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
            env={**os.environ, "TAP_X_DM_LOGLEVEL": "INFO"},
        )
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self.seen = {name: threading.Event() for name in PATTERNS}
        self._readers = [
            threading.Thread(target=self._read, args=(self.process.stdout, self.stdout)),
            threading.Thread(target=self._read, args=(self.process.stderr, self.stderr)),
        ]
        for reader in self._readers:
            reader.start()

    def _read(self, stream: Any, into: list[str]) -> None:
        for line in stream:
            into.append(line)
            for name, pattern in PATTERNS.items():
                if pattern.search(line):
                    self.seen[name].set()

    def kill_after(self, moment: str, delay: float, timeout: float = 3.0) -> bool:
        """SIGKILL the process group `delay` s after `moment`; False if it ended first."""
        deadline = time.monotonic() + timeout
        while not self.seen[moment].wait(0.05):
            if self.process.poll() is not None or time.monotonic() > deadline:
                break
        time.sleep(delay)
        ended = self.process.poll() is not None
        if not ended:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.wait()
        return not ended

    def wait(self) -> int:
        code = self.process.wait(timeout=120)
        for reader in self._readers:
            reader.join(timeout=10)
        for pipe in (self.process.stdout, self.process.stderr):
            if pipe is not None:
                pipe.close()
        return code

    def messages(self) -> list[dict[str, Any]]:
        # The last line may be one the kill cut short: it is not a message.
        complete = [line for line in self.stdout if line.endswith("\n")]
        return [json.loads(line) for line in complete]


def run_once(
    config: Path, state_file: Path, moment: str | None, delay: float, stream: str = "dm_events"
) -> tuple[bool, list[str], list[dict[str, Any]]]:
    """One run from `state_file`, killed `delay` s after `moment` (None: let it finish).

    Returns whether it was killed, the ids it emitted into `stream` and its STATE
    values; the last STATE goes into `state_file`, as Meltano would store it.
    """
    run = TapProcess(config, state_file)
    killed = moment is not None and run.kill_after(moment, delay)
    if not killed:
        assert run.wait() == 0, "".join(run.stderr[-20:])
    messages = run.messages()
    ids = [m["record"]["id"] for m in messages if m["type"] == "RECORD" and m["stream"] == stream]
    states = [m["value"] for m in messages if m["type"] == "STATE"]
    if states:
        state_file.write_text(json.dumps(states[-1]))
    return killed, ids, states


def test_fifty_kills_lose_nothing_and_re_read_at_most_a_page_each(
    sandbox_factory: Any, tmp_path: Path
) -> None:
    rng = random.Random(20261201)
    sandbox = sandbox_factory(
        clock=SystemClock(),
        seed=23,
        events=3000,
        days=45,
        conversations=80,
        rate_limit=4,
        rate_window=1.0,
        # The tap refreshes a tenth of the token's lifetime before expiry: every ~2 s here.
        token_ttl=2.5,
    )
    start = time.time() - 29 * 86400  # off the 30-day edge, which moves while the test runs
    start_date = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start))
    tokens = sandbox.auth.issue_tokens(sandbox.account.id, ttl=2.5)
    store = TokenStore(tmp_path / "tokens.json")
    store.write(  # as tap-x-dm-auth leaves it: the access token's expiry is known
        StoredTokens(
            access_token=tokens["access_token"],
            refresh_token=tokens["refresh_token"],
            expires_at=time.time() + 2.5,
            client_id=sandbox.auth.public_client_id,
        )
    )
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps(
            {
                "api_url": sandbox.base_url,
                "client_id": sandbox.auth.public_client_id,
                "token_store_path": str(store.path),
                "run_lock_dir": str(tmp_path / "locks"),
                "page_size": PAGE_SIZE,
                "start_date": start_date,
            }
        )
    )
    state_file = tmp_path / "state.json"
    state_file.write_text(json.dumps({"account": {"id": sandbox.account.id}}))
    emitted: list[str] = []
    kills = passes = 0
    minimum = math.ceil(len(sandbox.visible_events(window_days=29)) / PAGE_SIZE)
    moments = ["sleep", "refresh", "page"]
    while True:
        moment = moments[kills % len(moments)] if kills < KILLS else None
        killed, ids, states = run_once(config, state_file, moment, rng.uniform(0.0, 0.3))
        emitted += ids
        kills += int(killed)
        if kills % 10 == 9 and killed:
            sandbox.add_events(3)  # they arrive mid-pass: the next pass's to read
            minimum += 1
        if not killed and states and states[-1]["bookmarks"]["dm_events"].get("pass") is None:
            passes += 1
            if kills >= KILLS:
                break
            sandbox.add_events(35)  # a new day of DMs; the kills go on in the next pass
            minimum += math.ceil(35 / PAGE_SIZE) + 1
    # The events that arrived during the last pass belong to the next one.
    last = TapProcess(config, state_file)
    assert last.wait() == 0, "".join(last.stderr[-20:])
    emitted += [
        m["record"]["id"]
        for m in last.messages()
        if m["type"] == "RECORD" and m["stream"] == "dm_events"
    ]
    minimum += 1

    expected = [
        e["id"]
        for e in sandbox.visible_events(window_days=30)
        if e["created_at"] >= start_date.removesuffix("Z")
    ]
    assert kills == KILLS
    assert set(emitted) == set(expected)  # nothing missing, nothing foreign
    re_read = len(emitted) - len(set(emitted))
    assert re_read <= kills * PAGE_SIZE, f"{re_read} events re-read over {kills} kills"
    requests = [e for e in sandbox.request_log if e["path"] == "/2/dm_events"]
    assert len(requests) <= minimum + 2 * kills, (len(requests), minimum, kills, passes)
    refreshes = [e for e in sandbox.request_log if e["path"] == "/2/oauth2/token"]
    assert refreshes and all(e["status"] == 200 for e in refreshes)  # no token ever spent twice
    print(  # the figures, for `pytest -m slow tests/test_kills.py -s`
        f"\n{kills} kills over {passes + 1} passes: {len(set(emitted))} events, none missing, "
        f"{re_read} re-read ({re_read / kills:.1f} a kill, page size {PAGE_SIZE}); "
        f"{len(requests)} requests for a minimum of {minimum}; {len(refreshes)} token refreshes"
    )


def test_kills_during_a_routed_pass_lose_no_conversation_event(
    sandbox_factory: Any, tmp_path: Path
) -> None:
    """Conversations fed by the dm_events pass resume with it: every event once, no own request."""
    rng = random.Random(20261202)
    sandbox = sandbox_factory(
        clock=SystemClock(), seed=29, events=200, days=10, rate_limit=4, rate_window=1.0
    )
    account = sandbox.account.id
    conversations = sandbox.dataset.conversations_of(account)[:4]
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps(
            {
                "api_url": sandbox.base_url,
                "access_token": sandbox.access_token(),
                "run_lock_dir": str(tmp_path / "locks"),
                "page_size": PAGE_SIZE,
                "dm_conversation_ids": conversations,
            }
        )
    )
    state_file = tmp_path / "state.json"
    first = TapProcess(config, None)
    assert first.wait() == 0, "".join(first.stderr[-20:])
    state_file.write_text(
        json.dumps([m for m in first.messages() if m["type"] == "STATE"][-1]["value"])
    )
    new = {c: [e["id"] for e in sandbox.add_events(15, conversation_id=c)] for c in conversations}
    sandbox.clear_log()
    emitted: list[str] = []
    kills = 0
    while True:
        moment = "page" if kills < 10 else None
        killed, ids, _ = run_once(
            config, state_file, moment, rng.uniform(0.0, 0.05), stream="conversation_events"
        )
        emitted += ids
        kills += int(killed)
        if not killed:
            break
    final = json.loads(state_file.read_text())["bookmarks"]["conversation_events"]["partitions"]
    assert kills >= 1, "the pass ended before any kill could interrupt it"
    assert set(emitted) == {i for ids in new.values() for i in ids}
    assert len(emitted) - len(set(emitted)) <= kills * PAGE_SIZE
    assert {p["context"]["dm_conversation_id"]: p["replication_key_id"] for p in final} == {
        c: max(ids, key=int) for c, ids in new.items()
    }
    assert not [e for e in sandbox.request_log if e["path"].startswith("/2/dm_conversations/")]
