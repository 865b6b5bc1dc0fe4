"""`meltano run tap-x-dm target-postgres` for real: a PostgreSQL server, Meltano's state store.

The sandbox runs in this process on 127.0.0.1 with the real clock and a large rate
limit; Meltano, the tap and target-postgres run as subprocesses, as in production.
"""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import pytest

from tap_x_dm.clock import SystemClock
from tests.e2e.conftest import MeltanoProject, Postgres

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def env_for(
    sandbox: Any, postgres: Postgres, user_id: str | None = None, **extra: str
) -> dict[str, str]:
    return {
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
        "TAP_X_DM_API_URL": sandbox.base_url,
        "TAP_X_DM_ACCESS_TOKEN": sandbox.access_token(user_id),
        "TARGET_POSTGRES_HOST": "127.0.0.1",
        "TARGET_POSTGRES_PORT": str(postgres.port),
        "TARGET_POSTGRES_PASSWORD": postgres.password,
        **extra,
    }


def ids_in(postgres: Postgres, table: str, account_id: str | None = None) -> list[str]:
    where = f" where account_id = '{account_id}'" if account_id else ""
    return [row[0] for row in postgres.query(f"select id from x_dm.{table}{where} order by id")]


def run_ok(project: MeltanoProject, env: dict[str, str], *args: str) -> str:
    result = project.run("run", *args, "tap-x-dm", "target-postgres", env=env)
    assert result.returncode == 0, result.stderr[-4000:]
    return result.stderr


@pytest.fixture
def live_sandbox(sandbox_factory: Any) -> Any:
    return sandbox_factory(clock=SystemClock(), rate_limit=100_000, events=900, conversations=60)


def test_first_second_and_third_run_into_postgres(
    live_sandbox: Any, postgres: Postgres, meltano_project: MeltanoProject
) -> None:
    sandbox = live_sandbox
    env = env_for(sandbox, postgres)
    suffix = "e2e-incremental"
    expected = sorted(e["id"] for e in sandbox.visible_events(window_days=30))
    postgres.query("drop schema if exists x_dm cascade")

    run_ok(meltano_project, env, "--state-id-suffix", suffix)

    assert ids_in(postgres, "dm_events") == expected
    assert postgres.query("select count(*) = count(distinct id) from x_dm.dm_events") == [["t"]]
    for table in ("users", "tweets", "media"):
        assert int(postgres.query(f"select count(*) from x_dm.{table}")[0][0]) > 0, table
    keys = postgres.query(
        "select tc.table_name, kcu.column_name from information_schema.table_constraints tc "
        "join information_schema.key_column_usage kcu using (constraint_name, table_schema) "
        "where tc.table_schema = 'x_dm' and tc.constraint_type = 'PRIMARY KEY' order by 1, 2"
    )
    assert [k for k in keys if k[0] == "dm_events"] == [
        ["dm_events", "account_id"],
        ["dm_events", "id"],
    ]
    assert ["media", "media_key"] in keys

    time.sleep(0.01)
    new = sandbox.add_events(6)
    run_ok(meltano_project, env, "--state-id-suffix", suffix)
    assert ids_in(postgres, "dm_events") == sorted(expected + [e["id"] for e in new])
    dm_requests = [e for e in sandbox.request_log if e["path"] == "/2/dm_events"]
    assert len(dm_requests) == -(-len(expected) // 100) + 1  # the second run read one page

    snapshot = "select '{table}', count(*), max(_sdc_extracted_at)::text from x_dm.{table}"
    tables = ("dm_events", "users", "tweets", "media")
    before = [postgres.query(snapshot.format(table=table)) for table in tables]
    run_ok(meltano_project, env, "--state-id-suffix", suffix)
    assert [postgres.query(snapshot.format(table=table)) for table in tables] == before


def test_a_killed_run_leaves_no_gap_and_no_duplicate(
    sandbox_factory: Any, postgres: Postgres, meltano_project: MeltanoProject
) -> None:
    sandbox = sandbox_factory(
        clock=SystemClock(), rate_limit=100_000, events=900, conversations=60,
        slow_every=1, slow_seconds=0.25,
    )  # fmt: skip
    env = env_for(
        sandbox,
        postgres,
        TAP_X_DM_PAGE_SIZE="10",
        TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA="x_dm_kill",
    )
    suffix = "e2e-kill"
    expected = sorted(e["id"] for e in sandbox.visible_events(window_days=30))
    assert len(expected) > 100

    process = meltano_project.popen(
        "run", "--state-id-suffix", suffix, "tap-x-dm", "target-postgres", env=env
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if sum(e["path"] == "/2/dm_events" for e in sandbox.request_log) >= 6:
            break
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)

    # Meltano refuses the killed run's state id for 5 minutes unless told it is stale.
    rerun_env = {**env}
    result = meltano_project.run(
        "run", "--force", "--state-id-suffix", suffix, "tap-x-dm", "target-postgres", env=rerun_env
    )
    assert result.returncode == 0, result.stderr[-4000:]
    rows = [row[0] for row in postgres.query("select id from x_dm_kill.dm_events order by id")]
    assert rows == expected


def test_two_accounts_fan_out_with_their_own_state(
    live_sandbox: Any, postgres: Postgres, meltano_project: MeltanoProject
) -> None:
    sandbox = live_sandbox
    brand = sandbox.account.id
    other = next(u.id for u in sandbox.users[1:] if sandbox.visible_events(u.id, window_days=30))
    schema = "x_dm_fanout"
    for account in (brand, other):
        env = env_for(sandbox, postgres, account, TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA=schema)
        run_ok(meltano_project, env, "--state-id-suffix", f"account-{account}")

    for account in (brand, other):
        expected = {e["id"] for e in sandbox.visible_events(account, window_days=30)}
        rows = postgres.query(f"select id from {schema}.dm_events where account_id = '{account}'")
        assert {row[0] for row in rows} == expected
    states = meltano_project.run(
        "state", "list", env={"MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false"}
    )
    assert f"account-{brand}" in states.stdout and f"account-{other}" in states.stdout
