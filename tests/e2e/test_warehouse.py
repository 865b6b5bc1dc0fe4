"""The README's warehouse path for real: config commands, both jobs, the dbt models.

One project (a copy of the session's installed one) is configured with the README's
`meltano config set` commands, loads a small sandbox with `meltano run x-dm-to-postgres`,
gets an archive-style row and new events, then runs `meltano run x-dm-to-postgres-models`
(tap -> target -> `dbt-postgres:build`). The tests check the models against what the
sandbox served, and first-response times on two conversations built for them.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tap_x_dm.clock import SystemClock
from tap_x_dm_sandbox import Sandbox, SandboxConfig
from tests.e2e.conftest import MeltanoProject, Postgres
from tests.e2e.warehouse_data import (
    ARCHIVE_JOIN_ID,
    C1,
    C2,
    C3,
    C4,
    C5,
    GROUP,
    Built,
    build_conversations,
)

RAW, MODELS, SUFFIX = "x_dm_wh", "x_dm_wh_analytics", "warehouse"


@dataclass
class Warehouse:
    sandbox: Sandbox
    built: Built
    project: MeltanoProject
    postgres: Postgres
    plain_job_schemas: list[str]
    added: list[dict[str, Any]]
    models_job_dm_requests: int
    outputs: dict[str, str]

    def query(self, sql: str) -> list[list[str]]:
        return self.postgres.query(sql)


def meltano_ok(project: MeltanoProject, *args: str, env: dict[str, str]) -> str:
    result = project.run(*args, env=env)
    assert result.returncode == 0, f"meltano {' '.join(args)}:\n{result.stderr[-4000:]}"
    return result.stdout + result.stderr


@pytest.fixture(scope="module")
def warehouse(
    meltano_project: MeltanoProject,
    postgres: Postgres,
    tmp_path_factory: pytest.TempPathFactory,
) -> Any:
    now_ms = int(time.time() * 1000)
    generated = Sandbox(
        SandboxConfig(users=10, conversations=12, days=20, events=300, now_ms=now_ms)
    ).dataset.to_json()
    account = generated["users"][0]["id"]
    built = build_conversations(account, now_ms)
    generated["users"] += [
        {"id": user, "username": f"customer_{user}", "name": f"Customer {user}"}
        for user in (C1, C2, C3, C4)
    ]
    generated["events"] += built.events
    data_file = tmp_path_factory.mktemp("warehouse-data") / "events.json"
    data_file.write_text(json.dumps(generated))
    sandbox = Sandbox(
        SandboxConfig(events_file=str(data_file), rate_limit=100_000), clock=SystemClock()
    ).start()
    project = meltano_project.copy(tmp_path_factory.mktemp("warehouse") / "project")
    base = {"MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false"}
    # The README's commands: secrets in the environment, everything else with config set.
    secrets = {
        **base,
        "TARGET_POSTGRES_PASSWORD": postgres.password,
        "DBT_POSTGRES_PASSWORD": postgres.password,
    }
    outputs: dict[str, str] = {}
    try:
        for plugin, setting, value in [
            ("tap-x-dm", "api_url", sandbox.base_url),
            ("tap-x-dm", "access_token", sandbox.access_token()),
            ("tap-x-dm", "participant_ids", json.dumps([C1])),
            ("tap-x-dm", "dm_conversation_ids", json.dumps([GROUP])),
            ("target-postgres", "host", "127.0.0.1"),
            ("target-postgres", "port", str(postgres.port)),
            ("target-postgres", "default_target_schema", RAW),
            ("dbt-postgres", "host", "127.0.0.1"),
            ("dbt-postgres", "port", str(postgres.port)),
            ("dbt-postgres", "source_schema", RAW),
            ("dbt-postgres", "schema", MODELS),
        ]:
            outputs[f"{plugin} {setting}"] = meltano_ok(
                project, "config", "set", plugin, setting, value, env=base
            )
        meltano_ok(project, "run", "--state-id-suffix", SUFFIX, "x-dm-to-postgres", env=secrets)
        plain_job_schemas = [
            row[0]
            for row in postgres.query(
                f"select schema_name from information_schema.schemata "
                f"where schema_name in ('{RAW}', '{MODELS}') order by 1"
            )
        ]
        # What the coming archive import writes: a join item under a derived id, and an
        # archive copy of an event that conversation_events also holds from the API.
        postgres.query(
            f"insert into {RAW}.dm_events (account_id, id, event_type, dm_conversation_id, "
            f"created_at, participant_ids, attachments, source) values ('{account}', "
            f"'{ARCHIVE_JOIN_ID}', 'ParticipantsJoin', '{GROUP}', "
            f"(select created_at from {RAW}.dm_events where id = '{built.ids['g_join2']}') "
            f"+ interval '10 seconds', array['{C5}'], 'null'::jsonb, 'archive')"
        )
        postgres.query(
            f"update {RAW}.dm_events set source = 'archive', "
            f"media_urls = array['https://x.test/m'] where id = '{built.ids['o4']}'"
        )
        busiest = Counter(
            e["dm_conversation_id"] for e in sandbox.visible_events() if e["id"] not in built.ids
        ).most_common(1)[0][0]
        added = sandbox.add_events(3, conversation_id=busiest)
        sandbox.clear_log()
        outputs["models job"] = meltano_ok(
            project, "run", "--state-id-suffix", SUFFIX, "x-dm-to-postgres-models", env=secrets
        )
        models_job_dm_requests = sum(e["path"] == "/2/dm_events" for e in sandbox.request_log)
        outputs["dbt test"] = meltano_ok(project, "invoke", "dbt-postgres:test", env=secrets)
        outputs["state list"] = meltano_ok(project, "state", "list", env=base)
        yield Warehouse(
            sandbox=sandbox, built=built, project=project, postgres=postgres,
            plain_job_schemas=plain_job_schemas, added=added,
            models_job_dm_requests=models_job_dm_requests, outputs=outputs,
        )  # fmt: skip
    finally:
        sandbox.stop()


def served(warehouse: Warehouse) -> dict[str, dict[str, Any]]:
    """Every event the tap was given: the 30-day list and the two configured conversations."""
    sandbox, built = warehouse.sandbox, warehouse.built
    events = {e["id"]: e for e in sandbox.visible_events()}
    for conversation in (built.one_to_one, GROUP):
        events |= {e["id"]: e for e in sandbox.visible_events(conversation_id=conversation)}
    return events


def test_config_set_keeps_secrets_out_of_meltano_yml_and_both_jobs_run(
    warehouse: Warehouse,
) -> None:
    root = warehouse.project.root
    token = warehouse.sandbox.access_token()
    assert "was set in `.env`" in warehouse.outputs["tap-x-dm access_token"]
    assert token in (root / ".env").read_text()
    assert token not in (root / "meltano.yml").read_text()
    assert warehouse.postgres.password not in (root / "meltano.yml").read_text()
    # The plain job loads the raw tables only; the models job builds the models too.
    assert warehouse.plain_job_schemas == [RAW]
    tables = warehouse.query(
        f"select table_schema, table_name from information_schema.tables "
        f"where table_schema in ('{RAW}', '{MODELS}') order by 1, 2"
    )
    assert tables == [
        [RAW, "chat_conversations"], [RAW, "chat_events"],
        [RAW, "conversation_events"], [RAW, "dm_events"], [RAW, "media"], [RAW, "tweets"],
        [RAW, "users"],
        [MODELS, "x_dm__chat_events"], [MODELS, "x_dm__chat_group_upgrades"],
        [MODELS, "x_dm__chat_messages"],  # empty: chat_messages is not selected
        [MODELS, "x_dm__conversations"], [MODELS, "x_dm__events"],
        [MODELS, "x_dm__pair_response_times"], [MODELS, "x_dm__pair_timeline"],
        [MODELS, "x_dm__response_times"], [MODELS, "x_dm__response_times_by_kind"],
    ]  # fmt: skip
    assert "dev:tap-x-dm-to-target-postgres:warehouse" in warehouse.outputs["state list"]
    # The models job went on from the plain job's state: one /2/dm_events page.
    assert warehouse.models_job_dm_requests == 1
    for output in (warehouse.outputs["models job"], warehouse.outputs["dbt test"]):
        assert re.search(r"Done\. PASS=\d+ WARN=0 ERROR=0 SKIP=0", output), output[-3000:]


def test_events_model_holds_exactly_the_distinct_events(warehouse: Warehouse) -> None:
    account = warehouse.built.account
    events = served(warehouse)
    assert {e["id"] for e in warehouse.added} <= set(events)
    rows = warehouse.query(
        f"select account_id, id, direction, source, source_table, "
        f"(extract(epoch from created_at) * 1000)::bigint, attachments is null "
        f"from {MODELS}.x_dm__events"
    )
    by_id = {row[1]: row for row in rows}
    assert len(by_id) == len(rows)
    assert {row[0] for row in rows} == {account}
    assert set(by_id) == set(events) | {ARCHIVE_JOIN_ID}
    # ... which the raw tables hold more often: the conversations' events are in both.
    raw = warehouse.query(
        f"select (select count(*) from {RAW}.dm_events) + "
        f"(select count(*) from {RAW}.conversation_events)"
    )
    assert int(raw[0][0]) > len(rows)
    for event_id, event in events.items():
        row = by_id[event_id]
        expected_direction = None
        if event["event_type"] == "MessageCreate":
            expected_direction = "outbound" if event["sender_id"] == account else "inbound"
        assert row[2] == (expected_direction or ""), event
        created = dt.datetime.fromisoformat(event["created_at"].replace("Z", "+00:00"))
        assert int(row[5]) == round(created.timestamp() * 1000), event
        assert row[6] == ("f" if "attachments" in event else "t"), event
    ids = warehouse.built.ids
    assert by_id[ids["o4"]][3:5] == ["api", "conversation_events"]  # the API copy wins
    assert by_id[ids["o3"]][3:5] == ["api", "dm_events"]
    assert by_id[ARCHIVE_JOIN_ID][2:5] == ["", "archive", "dm_events"]
    assert warehouse.query(
        f"select count(*) from {MODELS}.x_dm__events where jsonb_typeof(attachments) = 'null'"
    ) == [["0"]]
    types = warehouse.query(
        f"select column_name, data_type from information_schema.columns where table_schema = "
        f"'{MODELS}' and table_name = 'x_dm__events' and column_name in "
        f"('created_at', 'attachments', 'urls', 'participant_ids') order by 1"
    )
    assert types == [
        ["attachments", "jsonb"], ["created_at", "timestamp with time zone"],
        ["participant_ids", "ARRAY"], ["urls", "jsonb"],
    ]  # fmt: skip


def test_conversations_count_the_messages_served(warehouse: Warehouse) -> None:
    account = warehouse.built.account
    expected: dict[str, list[int]] = {}
    for event in served(warehouse).values():
        counts = expected.setdefault(event["dm_conversation_id"], [0, 0, 0])
        counts[0] += 1
        if event["event_type"] == "MessageCreate":
            counts[1 if event["sender_id"] != account else 2] += 1
    expected[GROUP][0] += 1  # the archive join
    rows = warehouse.query(
        f"select dm_conversation_id, events, messages_in, messages_out "
        f"from {MODELS}.x_dm__conversations"
    )
    assert {row[0]: [int(n) for n in row[1:]] for row in rows} == expected
    built = warehouse.built
    rows = warehouse.query(
        f"select dm_conversation_id, kind, array_to_string(participant_ids, ','), "
        f"coalesce(counterpart_id, ''), first_event_id, last_event_id, "
        f"coalesce(counterpart_username, ''), awaiting_reply::text, "
        f"awaiting_reply_since is not distinct from (select inbound_at from "
        f"{MODELS}.x_dm__response_times where inbound_event_id = '{built.ids['o7']}') "
        f"from {MODELS}.x_dm__conversations where dm_conversation_id in "
        f"('{built.one_to_one}', '{GROUP}') order by kind"
    )
    assert rows == [
        [GROUP, "group", ",".join(sorted([account, C2, C3, C4, C5], key=int)), "",
         built.ids["g_join"], ARCHIVE_JOIN_ID, "", "false", "f"],
        [built.one_to_one, "one_to_one", built.one_to_one.replace("-", ","), C1,
         built.ids["o_old_in"], built.ids["o7"], f"customer_{C1}", "true", "t"],
    ]  # fmt: skip


def test_response_times_of_the_built_conversations(warehouse: Warehouse) -> None:
    built = warehouse.built
    rows = warehouse.query(
        f"select inbound_event_id, coalesce(reply_event_id, ''), "
        f"coalesce(response_seconds::text, ''), coalesce(reply_sender_id, '') "
        f"from {MODELS}.x_dm__response_times "
        f"where dm_conversation_id in ('{built.one_to_one}', '{GROUP}')"
    )
    got = {
        row[0]: (row[1] or None, float(row[2]) if row[2] else None, row[3] or None) for row in rows
    }
    assert got == {
        inbound: (reply, seconds, built.account if reply else None)
        for inbound, (reply, seconds) in built.expected.items()
    }


def test_response_times_cover_every_turn_served(warehouse: Warehouse) -> None:
    """The same rule in Python over everything the sandbox served: one row per turn."""
    account = warehouse.built.account
    by_conversation: dict[str, list[dict[str, Any]]] = {}
    for event in served(warehouse).values():
        if event["event_type"] == "MessageCreate":
            by_conversation.setdefault(event["dm_conversation_id"], []).append(event)
    expected: dict[str, str | None] = {}
    for messages in by_conversation.values():
        messages.sort(key=lambda e: int(e["id"]))
        for i, message in enumerate(messages):
            opens = message["sender_id"] != account and (
                i == 0 or messages[i - 1]["sender_id"] == account
            )
            if opens:
                reply = next((m for m in messages[i + 1 :] if m["sender_id"] == account), None)
                expected[message["id"]] = reply["id"] if reply else None
    rows = warehouse.query(
        f"select inbound_event_id, coalesce(reply_event_id, '') from {MODELS}.x_dm__response_times"
    )
    assert {row[0]: row[1] or None for row in rows} == expected
    assert len(rows) == len(expected)


def test_dbt_project_is_offline(warehouse: Warehouse) -> None:
    root: Path = warehouse.project.root
    assert not (root / "transform" / "packages.yml").exists()
    assert not (root / "transform" / "dbt_packages").exists()


def test_raw_tables_have_the_types_the_readme_gives(warehouse: Warehouse) -> None:
    keys = warehouse.query(
        f"select conrelid::regclass::text, pg_get_constraintdef(oid) from pg_constraint "
        f"where contype = 'p' and connamespace = '{RAW}'::regnamespace order by 1"
    )
    assert keys == [
        [f"{RAW}.chat_conversations", "PRIMARY KEY (account_id, id)"],
        [f"{RAW}.chat_events", "PRIMARY KEY (account_id, id)"],
        [f"{RAW}.conversation_events", "PRIMARY KEY (id, account_id)"],
        [f"{RAW}.dm_events", "PRIMARY KEY (id, account_id)"],
        [f"{RAW}.media", "PRIMARY KEY (media_key, account_id)"],
        [f"{RAW}.tweets", "PRIMARY KEY (id, account_id)"],
        [f"{RAW}.users", "PRIMARY KEY (id, account_id)"],
    ]
    for table in ("dm_events", "conversation_events"):
        types = dict(
            warehouse.query(
                f"select column_name, format_type(atttypid, atttypmod) from pg_attribute "
                f"join information_schema.columns on attname = column_name where attrelid = "
                f"'{RAW}.{table}'::regclass and table_schema = '{RAW}' and table_name = '{table}' "
                f"and attnum > 0 and column_name not like '\\_sdc\\_%'"
            )
        )
        assert types == {
            **dict.fromkeys(
                ["id", "account_id", "event_type", "text", "sender_id", "dm_conversation_id",
                 "source"], "text",
            ),
            "created_at": "timestamp without time zone",
            "participant_ids": "text[]",
            "media_urls": "text[]",
            "attachments": "jsonb",
            **dict.fromkeys(
                ["urls", "hashtags", "mentions", "cashtags", "referenced_tweets"], "jsonb[]"
            ),
        }, table  # fmt: skip
    # Events without attachments hold JSON null there, which the model turns into SQL NULL.
    counts = warehouse.query(
        f"select count(*) filter (where attachments is null), "
        f"count(*) filter (where jsonb_typeof(attachments) = 'null') from {RAW}.dm_events"
    )
    without = sum("attachments" not in e for e in warehouse.sandbox.visible_events())
    assert counts == [["0", str(without + 1)]]  # and the archive row's
