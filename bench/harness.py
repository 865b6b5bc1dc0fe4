"""Processes the benchmark measures: the sandbox CLI, the tap, the bare loop.

Every measured program runs in a child process of its own; its CPU time (user + sys)
and peak RSS come from `os.wait4`, so neither the sandbox (another process) nor this
harness is counted.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
TAP = str(BIN / "tap-x-dm")
SANDBOX = str(BIN / "tap-x-dm-sandbox")
BARE_LOOP = str(Path(__file__).resolve().parent / "bare_loop.py")
MEASURE_CHILD = str(Path(__file__).resolve().parent / "measure_child.py")
NO_LIMIT = 1_000_000_000


@dataclass
class Usage:
    """What one child process cost."""

    cpu_s: float
    maxrss_mib: float
    wall_s: float
    returncode: int


def run_measured(
    cmd: Sequence[str],
    *,
    stdout: Any = subprocess.DEVNULL,
    stderr: Any = subprocess.DEVNULL,
    env: dict[str, str] | None = None,
) -> Usage:
    """Run `cmd` to completion; its own CPU (user + sys), peak RSS and wall time.

    Wall time includes the small measuring parent's start (about 20 ms).
    """
    with tempfile.TemporaryDirectory(prefix="tap-x-dm-bench-") as scratch:
        result = Path(scratch) / "usage.json"
        wrapper = [sys.executable, "-S", MEASURE_CHILD, str(result), *cmd]
        started = time.perf_counter()
        subprocess.run(wrapper, stdout=stdout, stderr=stderr, env=env, check=True)
        wall = time.perf_counter() - started
        measured = json.loads(result.read_text())
    return Usage(
        cpu_s=measured["cpu_s"],
        maxrss_mib=measured["maxrss_kib"] / 1024,
        wall_s=wall,
        returncode=measured["returncode"],
    )


@dataclass
class CliSandbox:
    """A `tap-x-dm-sandbox` process and what it printed."""

    process: subprocess.Popen[str]
    base_url: str
    values: dict[str, str]

    @property
    def token(self) -> str:
        """The account's demo access token."""
        return self.values["access_token"]


@contextmanager
def cli_sandbox(*flags: str) -> Iterator[CliSandbox]:
    """Start the sandbox CLI on a free port of 127.0.0.1; stop it (SIGTERM) afterwards."""
    cmd = [SANDBOX, "--port", "0", "--quiet", *flags]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        base_url = proc.stdout.readline().strip()
        if not base_url.startswith("http://127.0.0.1"):
            msg = f"sandbox did not start: {base_url!r}"
            raise RuntimeError(msg)
        values: dict[str, str] = {}
        while "events" not in values:
            key, _, value = proc.stdout.readline().strip().partition("=")
            values[key] = value
        yield CliSandbox(proc, base_url, values)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def tap_params() -> dict[str, str]:
    """The query the tap sends on `/2/dm_events` with default settings (first page)."""
    from tap_x_dm.objects.includes import EXPANSION_STREAMS
    from tap_x_dm.settings.config_schema import CONFIG_SCHEMA
    from tap_x_dm.sync.event_stream import DM_EVENT_FIELDS

    props = CONFIG_SCHEMA["properties"]
    return {
        "max_results": str(props["page_size"]["default"]),
        "event_types": ",".join(props["event_types"]["default"]),
        "dm_event.fields": ",".join(DM_EVENT_FIELDS),
        "expansions": ",".join(EXPANSION_STREAMS),  # every stream is selected
        "user.fields": ",".join(props["user_fields"]["default"]),
        "tweet.fields": ",".join(props["tweet_fields"]["default"]),
        "media.fields": ",".join(props["media_fields"]["default"]),
    }


class TapRunner:
    """Runs `tap-x-dm` the way users do: a config file, a state file, stdout to a file."""

    def __init__(self, base_url: str, token: str, **settings: Any) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="tap-x-dm-bench-"))
        self.config = self.dir / "config.json"
        config = {
            "api_url": base_url,
            "access_token": token,
            "run_lock_dir": str(self.dir),
            **settings,
        }
        self.config.write_text(json.dumps(config))

    def run(
        self, state: dict[str, Any] | None = None, *, keep_output: bool = False
    ) -> tuple[Usage, dict[str, Any] | None]:
        """One sync; its cost and (with `keep_output`) the last STATE it wrote."""
        cmd = [TAP, "--config", str(self.config)]
        if state is not None:
            state_path = self.dir / "state.json"
            state_path.write_text(json.dumps(state))
            cmd += ["--state", str(state_path)]
        out_path = self.dir / "out.jsonl"
        with (
            out_path.open("wb") if keep_output else open(os.devnull, "wb") as out,
            (self.dir / "tap.log").open("wb") as err,
        ):
            usage = run_measured(cmd, stdout=out, stderr=err)
        if usage.returncode != 0:
            tail = (self.dir / "tap.log").read_text(errors="replace")[-2000:]
            msg = f"tap-x-dm exited {usage.returncode}:\n{tail}"
            raise RuntimeError(msg)
        last_state = None
        if keep_output:
            with out_path.open("rb") as lines:
                for line in lines:
                    if line.startswith(b'{"type":"STATE"'):
                        last_state = json.loads(line)["value"]
        return usage, last_state


def run_bare_loop(base_url: str, token: str) -> Usage:
    """The hand-written loop over the same sandbox, stdout to /dev/null."""
    cmd = [sys.executable, BARE_LOOP, base_url, token, json.dumps(tap_params())]
    usage = run_measured(cmd)
    if usage.returncode != 0:
        msg = f"bare loop exited {usage.returncode}"
        raise RuntimeError(msg)
    return usage
