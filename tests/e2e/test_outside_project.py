"""A data engineer's own Meltano project, outside this repository, adopts the tap.

`meltano init`, then the README's `meltano add --plugin-type extractor tap-x-dm --from-ref
plugin/extractors/tap-x-dm.yml` with `pip_url` pointed at the wheel built from this checkout,
a loader written out in full (Meltano Hub is not reachable), `meltano install` and
`meltano run tap-x-dm target-jsonl` against the sandbox: every event once.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from scripts.plugin_definition import PIP_URL, PLUGIN_FILE
from tap_x_dm.clock import SystemClock
from tests.dists import build_distributions
from tests.e2e.conftest import REPO, _meltano_bin, _unavailable

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

#: target-jsonl as Meltano Hub declares it (andyh1203 variant), written out in full.
TARGET_JSONL = {
    "name": "target-jsonl",
    "namespace": "target_jsonl",
    "variant": "andyh1203",
    "pip_url": "target-jsonl==0.1.4",
    "executable": "target-jsonl",
    "settings": [
        {"name": "destination_path", "kind": "string", "value": "output"},
        {"name": "do_timestamp_file", "kind": "boolean", "value": False},
    ],
}


class Project:
    """A Meltano project in a folder of its own, run through the Meltano CLI."""

    def __init__(self, binary: Path, root: Path) -> None:
        self.binary, self.root = binary, root
        self.env = {
            **os.environ,
            "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
            "TAP_X_DM_RUN_LOCK_DIR": str(root / ".run-locks"),
        }

    def meltano(self, *args: str, env: dict[str, str] | None = None) -> str:
        result = subprocess.run(
            [str(self.binary), *args],
            cwd=self.root,
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert result.returncode == 0, (args, result.stderr[-4000:])
        return result.stdout


def jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_meltano_add_from_ref_installs_the_wheel_and_runs(
    tmp_path_factory: pytest.TempPathFactory, sandbox_factory: Any
) -> None:
    binary = _meltano_bin()
    if binary is None:  # skipped outside CI, as the other end-to-end tests
        _unavailable("meltano not found: run `bash scripts/bootstrap.sh`")
    assert binary is not None
    _, wheel = build_distributions(tmp_path_factory.mktemp("dist"))
    base = tmp_path_factory.mktemp("data-engineer")
    assert REPO not in base.parents
    init = subprocess.run(
        [str(binary), "init", "analytics", "--no_usage_stats"],
        cwd=base,
        env={**os.environ, "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert init.returncode == 0, init.stderr[-3000:]
    project = Project(binary, base / "analytics")

    project.meltano(
        "add",
        "--plugin-type",
        "extractor",
        "tap-x-dm",
        "--from-ref",
        str(PLUGIN_FILE),
        "--no-install",
    )
    meltano_yml = project.root / "meltano.yml"
    text = meltano_yml.read_text()
    assert text.count(f"pip_url: {PIP_URL}\n") == 1
    meltano_yml.write_text(text.replace(f"pip_url: {PIP_URL}\n", f"pip_url: {wheel}\n"))
    loader_ref = base / "target-jsonl.yml"
    loader_ref.write_text(yaml.safe_dump(TARGET_JSONL, sort_keys=False))
    project.meltano(
        "add",
        "--plugin-type",
        "loader",
        "target-jsonl",
        "--from-ref",
        str(loader_ref),
        "--no-install",
    )
    definition = yaml.safe_load(meltano_yml.read_text())
    (extractor,) = definition["plugins"]["extractors"]
    declared = yaml.safe_load(PLUGIN_FILE.read_text())
    assert extractor["settings"] == declared["settings"]
    assert {"utilities", "mappers"}.isdisjoint(definition["plugins"])
    project.meltano("install")
    version = project.meltano("invoke", "tap-x-dm", "--version")
    assert wheel.name.split("-")[1] in version

    sandbox = sandbox_factory(clock=SystemClock(), rate_limit=100_000, events=300, conversations=20)
    env = {
        "TAP_X_DM_API_URL": sandbox.base_url,
        "TAP_X_DM_ACCESS_TOKEN": sandbox.access_token(),
    }
    project.meltano("run", "tap-x-dm", "target-jsonl", env=env)

    output = project.root / "output"
    events = jsonl(output / "dm_events.jsonl")
    expected = sorted(e["id"] for e in sandbox.visible_events(window_days=30))
    assert sorted(e["id"] for e in events) == expected
    assert len({e["id"] for e in events}) == len(events)
    for stream in ("users", "tweets", "media"):
        rows = jsonl(output / f"{stream}.jsonl")
        key = "media_key" if stream == "media" else "id"
        assert rows, stream
        assert len({r[key] for r in rows}) == len(rows), stream
    # Nothing configured for conversation_events: no SCHEMA, so no file at all.
    assert not (output / "conversation_events.jsonl").exists()
