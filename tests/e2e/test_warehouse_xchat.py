"""XChat in the warehouse for real: Meltano loads both systems, the models join them.

A sandbox with XChat (its one-to-one pairs have history in both systems) is loaded with the
project's `x-dm-to-postgres-models` job (its `select` includes `chat_conversations` and
`chat_events`); the models put the legacy and XChat events of a pair on one timeline and
measure response times across both.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tap_x_dm.clock import SystemClock
from tap_x_dm_sandbox import Sandbox, SandboxConfig
from tests.e2e.conftest import MeltanoProject, Postgres

RAW, MODELS, SUFFIX = "x_dm_xchat", "x_dm_xchat_analytics", "xchat"


@pytest.fixture(scope="module")
def loaded(
    meltano_project: MeltanoProject, postgres: Postgres, tmp_path_factory: pytest.TempPathFactory
) -> Any:
    cache: Path = tmp_path_factory.mktemp("xchat-cache")
    sandbox = Sandbox(
        SandboxConfig(rate_limit=100_000, xchat_cache_dir=str(cache)), clock=SystemClock()
    ).start()
    project = meltano_project.copy(tmp_path_factory.mktemp("xchat") / "project")
    base = {"MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false"}
    secrets = {
        **base,
        "TARGET_POSTGRES_PASSWORD": postgres.password,
        "DBT_POSTGRES_PASSWORD": postgres.password,
    }
    try:
        for plugin, setting, value in [
            ("tap-x-dm", "api_url", sandbox.base_url),
            ("tap-x-dm", "access_token", sandbox.access_token()),
            ("target-postgres", "host", "127.0.0.1"),
            ("target-postgres", "port", str(postgres.port)),
            ("target-postgres", "default_target_schema", RAW),
            ("dbt-postgres", "host", "127.0.0.1"),
            ("dbt-postgres", "port", str(postgres.port)),
            ("dbt-postgres", "source_schema", RAW),
            ("dbt-postgres", "schema", MODELS),
        ]:
            result = project.run("config", "set", plugin, setting, value, env=base)
            assert result.returncode == 0, result.stderr[-2000:]
        result = project.run(
            "run", "--state-id-suffix", SUFFIX, "x-dm-to-postgres-models", env=secrets
        )
        assert result.returncode == 0, result.stderr[-4000:]
        yield sandbox, postgres
    finally:
        sandbox.stop()


def test_every_chat_event_is_in_the_warehouse_once(loaded: Any) -> None:
    sandbox, postgres = loaded
    expected = {
        e["id"]
        for c in sandbox.xchat.conversations(sandbox.account.id)
        for e in sandbox.xchat.events(c.id)
    }
    rows = postgres.query(f"select id from {MODELS}.x_dm__chat_events")
    assert sorted(r[0] for r in rows) == sorted(expected)


def test_a_pair_with_history_in_both_systems_is_one_timeline(loaded: Any) -> None:
    sandbox, postgres = loaded
    peer = sandbox.xchat.cast["peers"][0]
    low, high = sorted((sandbox.account.id, peer), key=int)
    pair = f"{low}-{high}"
    rows = postgres.query(
        f"select system, count(*), min(position_in_pair), max(position_in_pair) "
        f"from {MODELS}.x_dm__pair_timeline where dm_conversation_id = '{pair}' group by 1 "
        "order by 1"
    )
    systems = {r[0]: int(r[1]) for r in rows}
    xchat = sandbox.xchat.events(pair)
    legacy = [e for e in sandbox.visible_events(window_days=30) if e["dm_conversation_id"] == pair]
    assert legacy and xchat
    assert systems == {"legacy": len(legacy), "xchat": len(xchat)}
    # One timeline: positions 1..n over both systems, in time.
    total = postgres.query(
        f"select count(*), count(distinct position_in_pair), max(position_in_pair) "
        f"from {MODELS}.x_dm__pair_timeline where dm_conversation_id = '{pair}'"
    )[0]
    assert int(total[0]) == int(total[1]) == int(total[2]) == len(legacy) + len(xchat)
    turns = postgres.query(
        f"select count(*) from {MODELS}.x_dm__pair_response_times "
        f"where dm_conversation_id = '{pair}' and 'xchat' in (inbound_system, reply_system)"
    )[0]
    assert int(turns[0]) >= 1  # XChat events are turns too (every one counts as a message)
