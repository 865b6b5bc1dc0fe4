"""A full and an incremental run into three real targets: every record once, and intact.

The tap's output is piped into MeltanoLabs target-postgres, target-jsonl (both installed by
the e2e Meltano project, pinned in meltano.yml) and MeltanoLabs target-csv (a venv of its
own, pinned here), as `tap | target` with the state the targets hand back. The incremental
run adds messages whose text has a newline, a tab, quotes, a comma and emoji, in the
account's latest conversation and in a conversation read in full (conversation_events).
The README's table of targets says what was tried, with versions and caveats.
"""

from __future__ import annotations

import ast
import csv
import datetime as dt
import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tap_x_dm.clock import SystemClock
from tests.e2e.conftest import MeltanoProject, Postgres

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

#: Pinned as in the README's table of targets.
TARGET_CSV = "meltanolabs-target-csv==0.5.0"
SCHEMA = "x_dm_targets"
TRICKY_TEXT = 'Line one\nline "two", with a tab\there; 1,5 € — ✓ 🚀\n'
STREAMS = ("dm_events", "conversation_events", "users", "tweets", "media")


@dataclass
class TapOutput:
    """The SCHEMA and RECORD messages of the tap's runs, and where its lines are."""

    schemas: dict[str, dict[str, Any]]
    records: dict[str, list[dict[str, Any]]]

    def key(self, stream: str) -> Callable[[dict[str, Any]], tuple[str, ...]]:
        names = self.schemas[stream]["key_properties"]
        return lambda row: tuple(str(row[name]) for name in names)

    def latest(self, stream: str) -> dict[tuple[str, ...], dict[str, Any]]:
        key = self.key(stream)
        return {key(record): record for record in self.records[stream]}


@pytest.fixture(scope="module")
def csv_target(tmp_path_factory: pytest.TempPathFactory) -> Path:
    venv = tmp_path_factory.mktemp("target-csv") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", TARGET_CSV],
        check=True,
        capture_output=True,
        timeout=600,
    )
    return venv / "bin" / "target-csv"


def installed(project: MeltanoProject, loader: str) -> Path:
    """A loader's executable in the venv `meltano install` made for the e2e project."""
    path = project.root / ".meltano" / "loaders" / loader / "venv" / "bin" / loader
    assert path.exists(), path
    return path


def run_tap(config: Path, state: Path | None, out: Path) -> None:
    args = [sys.executable, "-m", "tap_x_dm", "--config", str(config)]
    if state is not None:
        args += ["--state", str(state)]
    with out.open("wb") as stdout:
        result = subprocess.run(args, stdout=stdout, stderr=subprocess.PIPE, timeout=300)
    assert result.returncode == 0, result.stderr[-4000:]


def load(target: Path, config: dict[str, Any], lines: Path, workdir: Path) -> dict[str, Any]:
    """Pipe the tap's lines into a target; the last state it hands back."""
    config_file = workdir / f"{target.name}-{lines.stem}.json"
    config_file.write_text(json.dumps(config))
    with lines.open("rb") as stdin:
        result = subprocess.run(
            [str(target), "--config", str(config_file)],
            stdin=stdin,
            capture_output=True,
            cwd=workdir,
            timeout=300,
            check=False,
        )
    assert result.returncode == 0, result.stderr[-4000:]
    states = result.stdout.decode().splitlines()
    assert states, f"{target.name} handed back no state"
    return dict(json.loads(states[-1]))


def read_output(paths: list[Path]) -> TapOutput:
    schemas: dict[str, dict[str, Any]] = {}
    records: dict[str, list[dict[str, Any]]] = {stream: [] for stream in STREAMS}
    for path in paths:
        for line in path.read_text().splitlines():
            message = json.loads(line)
            if message["type"] == "SCHEMA":
                schemas[message["stream"]] = message
            elif message["type"] == "RECORD":
                records[message["stream"]].append(message["record"])
    return TapOutput(schemas, records)


def as_time(value: str) -> dt.datetime:
    """A timestamp; one without an offset is UTC (target-postgres: `timestamp` columns)."""
    parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00").replace(" ", "T"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)


def same(loaded: Any, sent: Any, prop: dict[str, Any], *, text_cells: bool) -> bool:
    """Whether a loaded value is the value the tap sent (a CSV cell holds text only)."""
    if sent is None:
        return loaded in (None, "")
    if prop.get("format") == "date-time":
        return as_time(loaded) == as_time(sent)
    if text_cells and isinstance(sent, (dict, list)):
        return bool(ast.literal_eval(loaded) == sent)  # target-csv writes Python's repr
    if text_cells and not isinstance(sent, str):
        return bool(loaded == str(sent))
    return bool(loaded == sent)


def check_intact(
    name: str, rows: dict[str, list[dict[str, Any]]], sent: TapOutput, *, text_cells: bool
) -> None:
    for stream in STREAMS:
        key = sent.key(stream)
        loaded = rows[stream]
        keys = [key(row) for row in loaded]
        assert len(keys) == len(set(keys)), f"{name}: {stream} has a record twice"
        expected = sent.latest(stream)
        assert sorted(keys) == sorted(expected), f"{name}: {stream}"
        properties = sent.schemas[stream]["schema"]["properties"]
        for row in loaded:
            record = expected[key(row)]
            for prop_name, prop in properties.items():
                assert same(row[prop_name], record[prop_name], prop, text_cells=text_cells), (
                    name,
                    stream,
                    key(row),
                    prop_name,
                    row[prop_name],
                    record[prop_name],
                )


def postgres_rows(postgres: Postgres) -> dict[str, list[dict[str, Any]]]:
    return {
        stream: [
            json.loads(row[0])
            for row in postgres.query(f"select row_to_json(t)::text from {SCHEMA}.{stream} t")
        ]
        for stream in STREAMS
    }


def jsonl_rows(folder: Path) -> dict[str, list[dict[str, Any]]]:
    return {
        stream: [json.loads(line) for line in (folder / f"{stream}.jsonl").read_text().splitlines()]
        for stream in STREAMS
    }


def csv_rows(folder: Path) -> dict[str, list[dict[str, Any]]]:
    rows: dict[str, list[dict[str, Any]]] = {stream: [] for stream in STREAMS}
    for stream in STREAMS:
        for path in sorted(folder.glob(f"{stream}.run*.csv")):
            with path.open(newline="", encoding="utf-8") as handle:
                rows[stream].extend(csv.DictReader(handle))
    return rows


def test_full_and_incremental_runs_load_every_record_once_and_intact(
    tmp_path: Path,
    sandbox_factory: Any,
    postgres: Postgres,
    meltano_project: MeltanoProject,
    csv_target: Path,
) -> None:
    sandbox = sandbox_factory(clock=SystemClock(), rate_limit=100_000, events=300, conversations=20)
    account = sandbox.account.id
    group = next(c for c in sandbox.dataset.conversations_of(account) if "-" not in c)
    config = tmp_path / "tap.json"
    config.write_text(
        json.dumps(
            {
                "api_url": sandbox.base_url,
                "access_token": sandbox.access_token(),
                "run_lock_dir": str(tmp_path / "locks"),
                "dm_conversation_ids": [group],
            }
        )
    )
    postgres.query(f"drop schema if exists {SCHEMA} cascade")
    jsonl_dir, csv_dir = tmp_path / "jsonl", tmp_path / "csv"
    jsonl_dir.mkdir()
    csv_dir.mkdir()
    targets = {
        "target-postgres": (
            installed(meltano_project, "target-postgres"),
            {
                "host": "127.0.0.1",
                "port": postgres.port,
                "user": "postgres",
                "password": postgres.password,
                "database": "postgres",
                "default_target_schema": SCHEMA,
            },
        ),
        "target-jsonl": (
            installed(meltano_project, "target-jsonl"),
            {"destination_path": str(jsonl_dir), "do_timestamp_file": False},
        ),
        "target-csv": (csv_target, {"output_path": str(csv_dir)}),
    }

    outputs: list[Path] = []
    state: Path | None = None
    for run in (1, 2):
        if run == 2:
            sandbox.add_events(2, text=TRICKY_TEXT)
            sandbox.add_events(2, conversation_id=group, text=TRICKY_TEXT)
        out = tmp_path / f"run{run}.singer"
        run_tap(config, state, out)
        outputs.append(out)
        handed_back = []
        for target, target_config in targets.values():
            per_run = {"file_naming_scheme": f"{{stream_name}}.run{run}.csv"}
            extra = per_run if target == csv_target else {}
            handed_back.append(load(target, {**target_config, **extra}, out, tmp_path))
        assert all(s == handed_back[0] for s in handed_back), "the targets' states differ"
        state = tmp_path / f"state{run}.json"
        state.write_text(json.dumps(handed_back[0]))

    sent = read_output(outputs)
    events = sorted(e["id"] for e in sandbox.visible_events(window_days=30))
    assert sorted({r["id"] for r in sent.records["dm_events"]}) == events
    group_events = sorted(e["id"] for e in sandbox.visible_events(conversation_id=group))
    assert sorted({r["id"] for r in sent.records["conversation_events"]}) == group_events
    tricky = [r for r in sent.records["dm_events"] if r["text"] == TRICKY_TEXT]
    assert len(tricky) == 4
    run2 = read_output([outputs[1]])
    assert {r["id"] for r in run2.records["dm_events"]} == {r["id"] for r in tricky}

    check_intact("target-postgres", postgres_rows(postgres), sent, text_cells=False)
    check_intact("target-jsonl", jsonl_rows(jsonl_dir), sent, text_cells=False)
    check_intact("target-csv", csv_rows(csv_dir), sent, text_cells=True)
