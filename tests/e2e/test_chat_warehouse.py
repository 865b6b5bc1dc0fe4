"""XChat content in the warehouse: Meltano loads chat_messages, dbt applies its kinds.

One project (a copy of the session's installed one, whose tap has the `xchat` extra) reads a
sandbox with XChat: the legacy streams, the chat streams and `chat_messages` with the
owner's exported blob, into PostgreSQL, then builds the models. The models must apply edits
and deletes, leave reactions and edits out of the messages, and link the upgraded legacy
group to its legacy history; nothing decrypted or secret may show in Meltano's output.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest

from tap_x_dm.clock import SystemClock
from tap_x_dm_sandbox import Sandbox, SandboxConfig
from tests.chat_content_support import roles, secrets_of
from tests.e2e.conftest import MeltanoProject, Postgres

RAW, MODELS, SUFFIX = "x_dm_chat", "x_dm_chat_analytics", "chat"


@pytest.fixture(scope="module")
def chat_warehouse(
    meltano_project: MeltanoProject, postgres: Postgres, tmp_path_factory: pytest.TempPathFactory
) -> Any:
    folder = tmp_path_factory.mktemp("chat-warehouse")
    sandbox = Sandbox(
        SandboxConfig(rate_limit=100_000, chat_rate_limit=100_000, xchat_cache_dir=str(folder)),
        clock=SystemClock(),
    ).start()
    blob = base64.b64encode(sandbox.xchat.blob(sandbox.account.id)).decode()
    project = meltano_project.copy(folder / "project")
    base = {"MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false"}
    secrets = {
        **base,
        "TARGET_POSTGRES_PASSWORD": postgres.password,
        "DBT_POSTGRES_PASSWORD": postgres.password,
        "TAP_X_DM_ACCESS_TOKEN": sandbox.access_token(),
        "TAP_X_DM_XCHAT_KEY_BLOB": blob,  # as a secret manager hands it over
        "TAP_X_DM_XCHAT_KEY_VERSION": "1",
    }
    try:
        for plugin, setting, value in [
            ("tap-x-dm", "api_url", sandbox.base_url),
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
        result = project.run("select", "tap-x-dm", "chat_messages", "*", env=base)
        assert result.returncode == 0, result.stderr[-2000:]
        result = project.run(
            "run", "--state-id-suffix", SUFFIX, "x-dm-to-postgres-models", env=secrets
        )
        assert result.returncode == 0, result.stderr[-4000:]
        yield sandbox, postgres, result.stdout + result.stderr, project
    finally:
        sandbox.stop()


def test_the_models_apply_kinds_edits_and_deletes(chat_warehouse: Any) -> None:
    sandbox, postgres, _, _ = chat_warehouse
    conversation = roles(sandbox)["both_systems"]
    rows = postgres.query(
        f"select kind, coalesce(is_message::text, 'null'), coalesce(text, ''), "
        f"deleted_at is not null from {MODELS}.x_dm__chat_messages "
        f"where dm_conversation_id = '{conversation}' order by sort_key"
    )
    assert rows == [
        ["key_change", "false", "", "f"],
        ["message", "true", "Hi, we moved this support chat to XChat.", "f"],  # edited
        ["message", "true", "Great, here is my receipt.", "f"],
        ["reply", "true", "Thanks, refund on its way.", "f"],
        ["reaction", "false", "", "f"],
        ["edit", "false", "", "f"],
        ["message", "false", "", "t"],  # deleted
        ["delete", "false", "", "f"],
        ["key_change", "false", "", "f"],
        ["message", "true", "Refund received, thank you!", "f"],
        ["message", "true", "Glad we could help.", "f"],
    ]
    counts = postgres.query(
        f"select status, count(*) from {MODELS}.x_dm__chat_messages group by 1 order by 1"
    )
    assert dict(counts) == {
        "bad_signature": "1",
        "departed_signer": "3",
        "ok": "29",
        "unknown_key_version": "3",
    }


def test_the_upgraded_group_is_linked_to_its_legacy_history(chat_warehouse: Any) -> None:
    sandbox, postgres, _, _ = chat_warehouse
    rows = postgres.query(
        f"select conversation_id, legacy_dm_conversation_id, legacy_candidates "
        f"from {MODELS}.x_dm__chat_group_upgrades"
    )
    cast = sandbox.xchat.cast
    assert rows == [[roles(sandbox)["upgraded_group"], cast["legacy_group"], "1"]]


def test_nothing_decrypted_or_secret_in_meltanos_output(chat_warehouse: Any) -> None:
    sandbox, _, output, project = chat_warehouse
    assert "chat_messages" in output
    base = {"MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false"}
    listed = project.run("state", "list", env=base).stdout.split()
    state_ids = [line for line in listed if line.endswith(f":{SUFFIX}")]
    assert state_ids
    states = "".join(project.run("state", "get", i, env=base).stdout for i in state_ids)
    assert "chat_events" in states
    for secret in secrets_of(sandbox):
        assert secret not in output, secret[:6]
        assert secret not in states, secret[:6]


def test_the_tables_the_readme_promises(chat_warehouse: Any) -> None:
    _, postgres, _, _ = chat_warehouse
    types = dict(
        postgres.query(
            "select column_name, data_type from information_schema.columns "
            f"where table_schema = '{RAW}' and table_name = 'chat_messages'"
        )
    )
    assert types["verified"] == "boolean" and types["text"] == "text"
    assert types["group_member_ids"] == types["deleted_sequence_ids"] == "ARRAY"


def test_response_times_count_real_messages_only(chat_warehouse: Any) -> None:
    sandbox, postgres, _, _ = chat_warehouse
    events = sandbox.xchat.events(roles(sandbox)["both_systems"])
    deleted = {t for e in events for t in e["expect"].get("targets", [])}
    not_messages = {
        e["id"]
        for e in events
        if e["expect"]["kind"] not in ("message", "reply") or e["sequence_id"] in deleted
    }
    assert len(not_messages) == 6  # two key changes, a reaction, an edit, a delete, a deleted
    timeline = postgres.query(
        f"select event_id, kind from {MODELS}.x_dm__pair_timeline where system = 'xchat'"
    )
    kinds = dict(timeline)
    assert {i for i in not_messages if kinds[i] == "message"} == set()
    rows = postgres.query(
        f"select inbound_event_id, coalesce(reply_event_id, '') "
        f"from {MODELS}.x_dm__pair_response_times"
    )
    assert not {i for row in rows for i in row} & not_messages
    assert any(row[0] in {e["id"] for e in events} for row in rows)  # XChat turns are there
