"""The fleet demo end to end (slow): 20 brand accounts through Dagster against the sandbox.

`scripts/fleet-demo.sh --accounts 20` installs Dagster in its own environment, runs
every account to a full sync in short rate windows, with brand-001's grant revoked
and X's usage cap on for every account from 15 s to 35 s: each account loads its
inbox exactly once, the revoked one stops alone, the fleet pauses and resumes.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ACCOUNTS = 20


@pytest.mark.slow
def test_twenty_accounts_sync_once_each_through_dagster() -> None:
    started = time.monotonic()
    done = subprocess.run(
        ["bash", "scripts/fleet-demo.sh", "--accounts", str(ACCOUNTS)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert time.monotonic() - started < 300
    out = ROOT / "output" / "fleet"
    lines = [line for line in done.stdout.splitlines() if line.startswith("brand-")]
    assert len(lines) == ACCOUNTS  # one line per account
    summary = json.loads((out / "summary.json").read_text())
    brands = json.loads((out / "secrets" / "brands.json").read_text())["brands"]
    assert summary["ok"] is True
    accounts = summary["accounts"]
    assert sorted(accounts) == [b["name"] for b in brands]
    revoked = accounts["brand-001"]
    assert (revoked["status"], revoked["runs"], revoked["records"]) == ("stopped_account", 1, {})
    for brand in brands[1:]:
        item = accounts[brand["name"]]
        assert item["status"] == "complete", (brand["name"], item)
        # Every event of its inbox, once: as many rows as distinct ids, as the sandbox serves.
        assert item["dm_events_unique"] == brand["dm_events"] == item["records"]["dm_events"]
        assert item["records"]["users"] > 0 and item["requests"]["/2/dm_events"] >= 2
        assert item["runs"] >= 2  # several windows: it came back at its next_request_at
    state = json.loads((out / "fleet_state.json").read_text())
    assert state["paused_until"] is None  # the usage cap cleared and the fleet resumed
    log = (out / "fleet.log").read_text()
    assert "stopped_app" in log  # ... after it had stopped the app
    # No secret in what the fleet wrote outside the secrets folder.
    tokens = [b["access_token"] for b in brands] + [b["refresh_token"] for b in brands]
    for path in [out / "accounts.yml", out / "fleet_state.json", out / "summary.json"]:
        text = path.read_text()
        assert not any(token in text for token in tokens), path
    assert not any(token in log for token in tokens)
    # The runs are Dagster's, recorded in its SQLite instance, and the code location loads.
    with sqlite3.connect(out / "dagster" / "history" / "runs.db") as runs:
        rows = runs.execute("select pipeline_name, status from runs").fetchall()
    assert rows and set(rows) == {("fleet_batch", "SUCCESS")}
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "orchestrate" / "dagster"),
        "TAP_X_DM_FLEET_ACCOUNTS": str(out / "accounts.yml"),
        "DAGSTER_HOME": str(out / "dagster"),
    }
    dagster = ROOT / "orchestrate" / "dagster" / ".venv" / "bin" / "dagster"
    validate = [str(dagster), "definitions", "validate", "-m", "tap_x_dm_fleet.definitions"]
    checked = subprocess.run(validate, env=env, capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stderr[-2000:]
    # The per-account sensor: a partition per account, and no run for an account that is done.
    probe = (
        "from dagster import DagsterInstance, build_sensor_context\n"
        "from tap_x_dm_fleet.definitions import defs, due_accounts\n"
        "r = due_accounts(build_sensor_context(instance=DagsterInstance.get(), definitions=defs))\n"
        "print(len(r.run_requests), sorted(r.dynamic_partitions_requests[0].partition_keys))\n"
    )
    python = ROOT / "orchestrate" / "dagster" / ".venv" / "bin" / "python"
    sensed = subprocess.run(
        [str(python), "-c", probe], env=env, capture_output=True, text=True, check=False
    )
    assert sensed.returncode == 0, sensed.stderr[-2000:]
    assert sensed.stdout.strip() == f"0 {sorted(b['name'] for b in brands)}"
