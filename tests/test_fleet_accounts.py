"""The fleet (orchestrate/dagster): accounts.yml's checks and the schedule's decisions.

No Dagster here (its own virtual environment): these modules need only PyYAML and
jsonschema. The fleet end to end, through Dagster, is tests/test_fleet_demo.py (slow).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "orchestrate" / "dagster"))

from tap_x_dm_fleet.accounts import AccountsError, load_fleet
from tap_x_dm_fleet.runner import RunOutcome, tap_config
from tap_x_dm_fleet.schedule import FleetSchedule, parse_utc

SECRET = "AAAAsecret-token-value-0123456789"
NOW = parse_utc("2026-12-06T10:00:00Z")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "accounts.yml"
    path.write_text(text)
    return path


def good(tmp_path: Path, accounts: str = "", fleet: str = "") -> Path:
    (tmp_path / "acme.json").write_text(json.dumps({"access_token": SECRET}))
    body = accounts or (
        "  - name: acme\n    credentials_file: acme.json\n    cost_cap_usd: 5\n"
        "  - name: globex\n    credentials_env: {access_token: GLOBEX_TOKEN}\n"
    )
    return write(tmp_path, f"version: 1\nfleet:\n  concurrency: 2\n{fleet}accounts:\n{body}")


def problems(path: Path) -> list[str]:
    with pytest.raises(AccountsError) as caught:
        load_fleet(path)
    return caught.value.problems


def test_a_good_file_resolves_paths_and_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GLOBEX_TOKEN", SECRET)
    fleet = load_fleet(good(tmp_path))
    assert [a.name for a in fleet.accounts] == ["acme", "globex"]
    acme, globex = fleet.accounts
    assert acme.credentials_file == tmp_path / "acme.json"
    assert acme.folder == tmp_path / "output" / "fleet" / "accounts" / "acme"
    assert acme.token_store == acme.folder / "tokens.json"
    assert acme.secrets() == {"access_token": SECRET} == globex.secrets()
    assert (fleet.concurrency, acme.cost_cap_usd, globex.cost_cap_usd) == (2, 5, None)
    config = tap_config(fleet, acme, max_cost_usd=1.23456)
    assert config["max_rate_limit_wait_seconds"] == 0
    assert config["run_summary_path"] == str(acme.folder / "summary.json")
    assert config["run_lock_dir"] == str(acme.folder / "locks")
    assert config["max_cost_usd"] == 1.2346
    assert SECRET not in json.dumps(config)  # secrets go to the tap's environment only


def test_every_problem_is_one_line_and_no_value_is_echoed(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "version: 1\n"
        "fleet:\n  concurrency: 0\n  tap_config: {access_token: x}\n"
        "accounts:\n"
        f"  - name: Acme Support\n    credentials_env: {{access_token: '{SECRET} x'}}\n"
        f"  - name: globex\n    access_token: {SECRET}\n"
        "  - name: initech\n",
    )
    found = problems(path)
    assert found == [
        "accounts.yml: accounts[0].credentials_env.access_token: does not fit the rule "
        "pattern: ^[A-Za-z_][A-Za-z0-9_]*$",
        "accounts.yml: accounts[0].name: does not fit the rule pattern: ^[a-z0-9][a-z0-9_-]{0,62}$",
        "accounts.yml: accounts[1]: Additional properties are not allowed "
        "('access_token' was unexpected)",
        "accounts.yml: accounts[1]: needs credentials_file, credentials_env or token_store",
        "accounts.yml: accounts[2]: needs credentials_file, credentials_env or token_store",
        "accounts.yml: fleet.concurrency: 0 is less than the minimum of 1",
        "accounts.yml: fleet.tap_config: access_token is not an allowed key here",
    ]
    assert SECRET not in "\n".join(found)


def test_missing_secrets_and_duplicates_fail_before_any_run(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text(json.dumps({"access_token": SECRET, "api_url": "x"}))
    path = good(
        tmp_path,
        "  - name: acme\n    credentials_file: nowhere.json\n"
        "  - name: acme\n    credentials_env: {client_id: TAP_X_DM_FLEET_TEST_UNSET}\n"
        "  - name: globex\n    credentials_file: bad.json\n",
    )
    found = problems(path)
    assert found[0].startswith("accounts.yml: accounts[0].credentials_file: cannot read ")
    assert found[1:] == [
        "accounts.yml: accounts[1].name: acme is used twice",
        "accounts.yml: accounts[1].credentials_env.client_id: the environment variable "
        "TAP_X_DM_FLEET_TEST_UNSET is not set",
        f"accounts.yml: accounts[2].credentials_file: {tmp_path / 'bad.json'} has keys that "
        "are not secret settings: api_url (allowed: access_token, refresh_token, client_id, "
        "client_secret, consumer_key, consumer_secret, access_token_secret)",
    ]
    assert SECRET not in "\n".join(found)
    assert problems(write(tmp_path, "version: 1\naccounts: [\n")) == [
        "accounts.yml: not valid YAML at line 3"
    ]


def outcome(name: str, status: str, **fields: object) -> RunOutcome:
    code = {"stopped_account": 3, "stopped_app": 4, "failed": 1}.get(status, 0)
    return RunOutcome(name, code, status, **fields)  # type: ignore[arg-type]


def schedule(tmp_path: Path, fleet: str = "") -> FleetSchedule:
    (tmp_path / "a.json").write_text(json.dumps({"access_token": SECRET}))
    body = "".join(f"  - name: {n}\n    credentials_file: a.json\n" for n in ("a", "b", "c"))
    return FleetSchedule(load_fleet(good(tmp_path, body, fleet)))


def test_each_account_comes_back_at_its_own_next_request_at(tmp_path: Path) -> None:
    plan = schedule(tmp_path, "  complete_interval_seconds: 900\n")
    assert [a.name for a in plan.due(NOW)] == ["a", "b", "c"]
    a, b, c = plan.fleet.accounts
    assert plan.claim(["a", "b"]) == ["a", "b"] and plan.claim(["a", "c"]) == ["c"]
    assert plan.due(NOW) == []  # one run per account at a time
    plan.record(a, outcome("a", "budget_spent", next_request_at="2026-12-06T10:15:00Z"), NOW)
    plan.record(b, outcome("b", "complete", records={"dm_events": 7}), NOW)
    plan.record(c, outcome("c", "failed", error="boom"), NOW)
    assert plan.due(NOW + 899) == [c]  # a failure is retried after 60 s
    assert [x.name for x in plan.due(NOW + 900)] == ["c", "a", "b"]  # soonest first
    assert plan.next_wake(NOW) == NOW + 60
    assert FleetSchedule(plan.fleet).entry("b")["records"] == {"dm_events": 7}  # saved


def test_a_stopped_account_stops_alone_until_its_credentials_change(tmp_path: Path) -> None:
    plan = schedule(tmp_path)
    a = plan.fleet.accounts[0]
    plan.claim(["a"])
    plan.record(a, outcome("a", "stopped_account", error="401"), NOW)
    assert [x.name for x in plan.due(NOW + 1)] == ["b", "c"]
    credentials = plan.fleet.accounts[0].credentials_file
    assert credentials is not None
    later = credentials.stat().st_mtime + 10
    os.utime(credentials, (later, later))  # re-authorised (tap-x-dm-auth rewrote it)
    assert [x.name for x in plan.due(NOW + 1)] == ["b", "c", "a"]


def test_a_stopped_app_pauses_the_fleet_then_one_probe_resumes_it(tmp_path: Path) -> None:
    plan = schedule(tmp_path, "  app_pause_seconds: 300\n")
    a, b, c = plan.fleet.accounts
    plan.claim(["a", "b", "c"])
    plan.record(b, outcome("b", "stopped_app", error="usage cap"), NOW)
    assert plan.paused(NOW + 299) and plan.due(NOW + 299) == []
    plan.record(a, outcome("a", "stopped_app"), NOW + 1)  # its run was already under way
    plan.record(c, outcome("c", "budget_spent", next_request_at="2026-12-06T10:01:00Z"), NOW)
    assert plan.due(NOW + 302) == [a]  # the pause ran out: one probe, the last to stop
    plan.claim(["a"])
    assert plan.due(NOW + 302) == []  # nobody else until the probe ends
    plan.record(a, outcome("a", "budget_spent", next_request_at="2026-12-06T10:20:00Z"), NOW + 303)
    assert not plan.paused(NOW + 303) and plan.data["paused_until"] is None
    assert [x.name for x in plan.due(NOW + 303)] == ["c", "b"]  # soonest first


def test_the_daily_cost_cap_holds_every_account_until_the_next_utc_day(tmp_path: Path) -> None:
    plan = schedule(tmp_path, "  daily_cost_cap_usd: 10\n")
    a, b, _ = plan.fleet.accounts
    assert plan.cost_allowance(a, NOW, running=2) == 5.0  # its share of what is left
    plan.claim(["a"])
    plan.record(a, outcome("a", "budget_spent", reason="cost_cap", cost_usd=10.0), NOW)
    assert plan.due(NOW + 1) == []
    midnight = parse_utc("2026-12-07T00:00:00Z")
    assert plan.next_wake(NOW + 1) == midnight
    assert [x.name for x in plan.due(midnight)] == ["b", "c", "a"]
    assert plan.cost_allowance(b, midnight, running=1) == 10.0


def test_the_example_accounts_yml_fits_the_schema() -> None:
    example = Path(__file__).resolve().parents[1] / "orchestrate/dagster/accounts.example.yml"
    fleet = load_fleet(example, check_secrets=False)
    assert [a.name for a in fleet.accounts] == ["acme", "globex", "initech"]
    assert [a.enabled for a in fleet.accounts] == [True, True, False]
    assert fleet.account("globex").credentials_env == {
        "client_id": "X_CLIENT_ID",
        "refresh_token": "GLOBEX_X_REFRESH_TOKEN",
    }
