"""The fleet's runner: one account's tap run into its folder, the target, the summary read back.

A stand-in `tap-x-dm` (a short script) prints Singer messages and writes a run summary, so
these tests need neither Dagster nor the sandbox; the real tap runs in the slow fleet test.
"""

from __future__ import annotations

import json
import stat
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "orchestrate" / "dagster"))

from tap_x_dm_fleet.accounts import load_fleet
from tap_x_dm_fleet.runner import run_account

SECRET = "AAAAsecret-token-value-0123456789"

FAKE_TAP = """#!{python}
import json, os, sys
args = sys.argv[1:]
config = json.load(open(args[args.index("--config") + 1]))
seen = {{"argv": args, "config": config,
        "env": {{k: v for k, v in os.environ.items() if k.startswith("TAP_X_DM_")}}}}
json.dump(seen, open("seen.json", "w"))
state = json.load(open(args[args.index("--state") + 1])) if "--state" in args else {{}}
n = state.get("n", 0)
schema = {{"type": "SCHEMA", "stream": "dm_events", "schema": {{}}, "key_properties": ["id"]}}
print(json.dumps(schema))
for i in (n, n + 1):
    print(json.dumps({{"type": "RECORD", "stream": "dm_events", "record": {{"id": str(i)}}}}))
print(json.dumps({{"type": "STATE", "value": {{"n": n + 2}}}}))
summary = {{"status": os.environ.get("FAKE_STATUS", "budget_spent"), "reason": "rate_limit",
           "next_request_at": "2026-12-06T10:15:00Z", "requests": {{"/2/dm_events": 1}},
           "records": {{"dm_events": 2}}, "cost_usd": 0.02, "error": None}}
json.dump(summary, open(config["run_summary_path"], "w"))
sys.exit(int(os.environ.get("FAKE_EXIT", "0")))
"""


@pytest.fixture
def fleet_file(tmp_path: Path) -> Path:
    tap = tmp_path / "fake-tap"
    tap.write_text(FAKE_TAP.format(python=sys.executable))
    tap.chmod(tap.stat().st_mode | stat.S_IXUSR)
    (tmp_path / "fixed.json").write_text(json.dumps({"access_token": SECRET}))
    (tmp_path / "refresh.json").write_text(
        json.dumps({"client_id": "app", "refresh_token": SECRET})
    )
    path = tmp_path / "accounts.yml"
    path.write_text(
        "version: 1\nfleet:\n  tap_executable: ./fake-tap\n  output_dir: out\n"
        "  tap_config: {api_url: 'http://127.0.0.1:9'}\n"
        "accounts:\n"
        "  - name: fixed\n    credentials_file: fixed.json\n"
        "  - name: rotating\n    credentials_file: refresh.json\n"
        "    tap_config: {page_size: 50}\n"
    )
    return path


def test_a_run_goes_into_the_accounts_folder_with_secrets_in_its_environment_only(
    fleet_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TAP_X_DM_ACCESS_TOKEN", "the parent's, never passed on")
    fleet = load_fleet(fleet_file)
    account = fleet.account("rotating")
    outcome = run_account(fleet, account, max_cost_usd=2.5)
    folder = account.folder
    seen = json.loads((folder / "seen.json").read_text())
    assert seen["env"] == {"TAP_X_DM_CLIENT_ID": "app", "TAP_X_DM_REFRESH_TOKEN": SECRET}
    assert seen["argv"][:4] == ["--config", str(folder / "config.json"), "--config", "ENV"]
    assert "--state" not in seen["argv"]  # the first run
    config = seen["config"]
    assert config == {
        "api_url": "http://127.0.0.1:9",
        "page_size": 50,
        "token_store_path": str(folder / "tokens.json"),
        "run_summary_path": str(folder / "summary.json"),
        "run_lock_dir": str(folder / "locks"),
        "max_rate_limit_wait_seconds": 0,
        "max_cost_usd": 2.5,
    }
    assert SECRET not in (folder / "config.json").read_text()
    assert (outcome.status, outcome.exit_code, outcome.next_request_at) == (
        "budget_spent",
        0,
        "2026-12-06T10:15:00Z",
    )
    assert (outcome.requests, outcome.records, outcome.cost_usd) == (
        {"/2/dm_events": 1},
        {"dm_events": 2},
        0.02,
    )
    # The target: records appended per stream, the last STATE, the next run resumes from it.
    run_account(fleet, account, max_cost_usd=None)
    lines = (folder / "records" / "dm_events.jsonl").read_text().splitlines()
    assert [json.loads(line)["id"] for line in lines] == ["0", "1", "2", "3"]
    assert json.loads((folder / "state.json").read_text()) == {"n": 4}
    seen = json.loads((folder / "seen.json").read_text())
    assert seen["argv"][-2:] == ["--state", str(folder / "state.json")]
    assert "max_cost_usd" not in seen["config"]


def test_a_fixed_token_gets_no_token_store(fleet_file: Path) -> None:
    fleet = load_fleet(fleet_file)
    account = fleet.account("fixed")
    run_account(fleet, account, max_cost_usd=None)
    seen = json.loads((account.folder / "seen.json").read_text())
    assert "token_store_path" not in seen["config"]
    assert seen["env"] == {"TAP_X_DM_ACCESS_TOKEN": SECRET}


@pytest.mark.parametrize(("code", "status"), [(3, "stopped_account"), (4, "stopped_app")])
def test_the_summary_says_how_it_ended_and_a_missing_one_is_a_failure(
    fleet_file: Path, monkeypatch: pytest.MonkeyPatch, code: int, status: str
) -> None:
    fleet = load_fleet(fleet_file)
    account = fleet.account("fixed")
    monkeypatch.setenv("FAKE_STATUS", status)
    monkeypatch.setenv("FAKE_EXIT", str(code))
    outcome = run_account(fleet, account, max_cost_usd=None)
    assert (outcome.status, outcome.exit_code) == (status, code)
    (fleet_file.parent / "fake-tap").write_text(f"#!{sys.executable}\nimport sys\nsys.exit(9)\n")
    outcome = run_account(fleet, account, max_cost_usd=None)
    assert (outcome.status, outcome.error) == ("failed", "no run summary (exit 9)")


FAKE_TARGET = """#!{python}
import json, os, sys
rows = 0
with open(os.environ["ROWS_FILE"], "a") as out:
    for line in sys.stdin:
        message = json.loads(line)
        if message["type"] == "RECORD":
            out.write(json.dumps(message["record"]) + "\\n")
            rows += 1
        elif message["type"] == "STATE":
            print(json.dumps(message["value"]))
print("", flush=True)
sys.exit(int(os.environ.get("TARGET_EXIT", "0")))
"""


def test_a_target_command_gets_the_records_and_its_last_line_is_the_state(
    fleet_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = fleet_file.parent
    target = base / "fake-target"
    target.write_text(FAKE_TARGET.format(python=sys.executable))
    target.chmod(target.stat().st_mode | stat.S_IXUSR)
    text = fleet_file.read_text().replace(
        "  output_dir: out\n",
        "  output_dir: out\n  target:\n    command: [./fake-target]\n"
        "    env: {ROWS_FILE: 'rows-{account}.jsonl'}\n",
    )
    fleet_file.write_text(text)
    fleet = load_fleet(fleet_file)
    account = fleet.account("fixed")
    outcome = run_account(fleet, account, max_cost_usd=None)
    assert outcome.status == "budget_spent"
    assert (base / "rows-fixed.jsonl").read_text().splitlines() == ['{"id": "0"}', '{"id": "1"}']
    assert json.loads((account.folder / "state.json").read_text()) == {"n": 2}
    assert not (account.folder / "records" / "dm_events.jsonl").exists()
    monkeypatch.setenv("TARGET_EXIT", "1")
    outcome = run_account(fleet, account, max_cost_usd=None)
    assert outcome.status == "failed"
    assert outcome.error == f"the target exited 1 (see {account.folder / 'target.log'})"
