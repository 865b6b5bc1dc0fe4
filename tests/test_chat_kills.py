"""Kill the tap while it reads XChat, in both page orders: every chat event once, little re-read.

Each run is a real `tap-x-dm` process reading the sandbox over HTTP (4 Chat API requests
per 1 s window, so it also waits), SIGKILLed at a STATE line or during a rate-limit
wait; the next run starts from the last STATE it printed, as Meltano would store it.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from tap_x_dm.clock import SystemClock
from tap_x_dm.tap import TapXDM
from tests.chat_support import CHAT_STREAMS, all_chat_events, event_pages
from tests.test_kills import PATTERNS, TapProcess

pytestmark = pytest.mark.slow

KILLS = 6
PAGE_SIZE = 3


def run_chat(
    config: Path, catalog: Path, state_file: Path, moment: str | None, delay: float
) -> tuple[bool, list[str]]:
    command = [sys.executable, "-m", "tap_x_dm", "--config", str(config)]
    command += ["--catalog", str(catalog), "--state", str(state_file)]
    run = TapProcess.__new__(TapProcess)
    _start(run, command)
    killed = moment is not None and run.kill_after(moment, delay)
    if not killed:
        assert run.wait() == 0, "".join(run.stderr[-20:])
    messages = run.messages()
    ids = [
        m["record"]["id"]
        for m in messages
        if m["type"] == "RECORD" and m["stream"] == "chat_events"
    ]
    states = [m["value"] for m in messages if m["type"] == "STATE"]
    if states:
        state_file.write_text(json.dumps(states[-1]))
    return killed, ids


def _start(run: TapProcess, command: list[str]) -> None:
    """`TapProcess.__init__` with another command line."""
    run.process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env={**os.environ, "TAP_X_DM_LOGLEVEL": "INFO"},
    )
    run.stdout, run.stderr = [], []
    run.seen = {name: threading.Event() for name in PATTERNS}
    run._readers = [
        threading.Thread(target=run._read, args=(run.process.stdout, run.stdout)),
        threading.Thread(target=run._read, args=(run.process.stderr, run.stderr)),
    ]
    for reader in run._readers:
        reader.start()


@pytest.mark.parametrize("oldest_first", [False, True], ids=["newest_first", "oldest_first"])
def test_kills_lose_no_chat_event_and_re_read_at_most_a_page_each(
    chat_sandbox: Any, tmp_path: Path, oldest_first: bool
) -> None:
    rng = random.Random(20261206 + oldest_first)
    sandbox = chat_sandbox(
        SystemClock(), chat_oldest_first=oldest_first, chat_rate_limit=4, rate_window=1.0
    )
    conversations = [c.id for c in sandbox.xchat.conversations(sandbox.account.id)]
    for conversation in conversations[:2]:
        sandbox.xchat.add_messages(conversation, 12)
    config = tmp_path / "config.json"
    settings = {
        "api_url": sandbox.base_url,
        "access_token": sandbox.access_token(),
        "run_lock_dir": str(tmp_path / "locks"),
        "page_size": PAGE_SIZE,
    }
    config.write_text(json.dumps(settings))
    catalog = TapXDM(config=settings, validate_config=False).catalog_dict
    for entry in catalog["streams"]:
        for metadata in entry["metadata"]:
            if metadata["breadcrumb"] == []:
                metadata["metadata"]["selected"] = entry["tap_stream_id"] in CHAT_STREAMS
    catalog_file = tmp_path / "catalog.json"
    catalog_file.write_text(json.dumps(catalog))
    state_file = tmp_path / "state.json"
    state_file.write_text(json.dumps({"account": {"id": sandbox.account.id}}))

    emitted: list[str] = []
    kills = runs = 0
    while True:
        moment = ("page", "sleep")[kills % 2] if kills < KILLS else None
        killed, ids = run_chat(config, catalog_file, state_file, moment, rng.uniform(0.0, 0.2))
        emitted += ids
        kills += int(killed)
        runs += 1
        if not killed and kills >= KILLS:
            break
        if not killed:  # caught up: a new day of messages, for the next kills
            for conversation in rng.sample(conversations, 2):
                sandbox.xchat.add_messages(conversation, 7)
        elif kills == KILLS // 2:
            sandbox.xchat.add_messages(conversations[-1], 4)  # arrives mid-read
        assert runs < 30, "the runs do not converge"

    expected = all_chat_events(sandbox)
    assert kills == KILLS
    assert set(emitted) == set(expected)  # nothing missing, nothing foreign
    re_emitted = len(emitted) - len(set(emitted))
    assert re_emitted <= kills * PAGE_SIZE, f"{re_emitted} events emitted again over {kills} kills"
    minimum = sum(-(-len(sandbox.xchat.events(c)) // PAGE_SIZE) for c in conversations)
    requests = event_pages(sandbox)
    pages = len([r for r in requests if r["status"] == 200])
    # Each kill costs at most the page it interrupted; oldest first, each run that reads a
    # conversation again starts on the last page it read.
    allowance = kills + (runs * len(conversations) if oldest_first else 0)
    assert pages <= minimum + allowance, (pages, minimum, kills, runs)
    # A process started after a kill in a rate-limit wait cannot know the window is spent:
    # its first request may be answered 429 (X's reset is whole seconds), at most twice a kill.
    assert len(requests) - pages <= 2 * kills, (len(requests), pages, kills)
    print(
        f"\n{'oldest' if oldest_first else 'newest'} first: {kills} kills over {runs} runs, "
        f"{len(expected)} chat events, none missing, {re_emitted} emitted again; {pages} event "
        f"pages for a minimum of {minimum}"
    )
