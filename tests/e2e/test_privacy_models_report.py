"""The README's privacy recipe, the models as a dbt package of an analyst's project, the report.

A copy of the session's Meltano project gets the stream maps of the README's privacy section
(the text removed from dm_events, hashed in conversation_events) and loads a small sandbox
with `meltano run x-dm-to-postgres`. A dbt project of its own includes `transform/` as a local
package (`packages.yml`), builds the models and checks the source's freshness. Then
`python -m scripts.report` writes the HTML page, which Debian's chromium renders headless (a
DOM dump and a screenshot); without a browser outside CI the page itself is parsed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tap_x_dm.clock import SystemClock
from tap_x_dm_sandbox import Sandbox, SandboxConfig
from tests.e2e.conftest import IN_CI, REPO, MeltanoProject, Postgres
from tests.test_report import Elements

RAW, MODELS, SUFFIX = "x_dm_private", "x_dm_private_analytics", "privacy"
REPORT_DAYS = 30
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--hide-scrollbars",
]


def readme_privacy_maps() -> dict[str, Any]:
    """The stream maps of the README's privacy section, as a user copies them."""
    section = (REPO / "README.md").read_text().split("## Privacy", 1)[1]
    block = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    maps = yaml.safe_load(textwrap.dedent(block))["config"]["stream_maps"]
    assert maps["dm_events"]["text"] == "__NULL__"
    return dict(maps)


@dataclass
class Private:
    sandbox: Sandbox
    postgres: Postgres
    conversation: str
    dbt: list[str]
    outputs: dict[str, str]
    root: Path

    def query(self, sql: str) -> list[list[str]]:
        return self.postgres.query(sql)

    def dbt_run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.dbt, *args, "--profiles-dir", str(self.root)],
            cwd=self.root,
            env={**os.environ, **dbt_env(self.postgres)},
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )


def dbt_env(postgres: Postgres) -> dict[str, str]:
    return {
        "DBT_POSTGRES_HOST": "127.0.0.1",
        "DBT_POSTGRES_PORT": str(postgres.port),
        "DBT_POSTGRES_PASSWORD": postgres.password,
        "DBT_POSTGRES_SCHEMA": MODELS,
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DO_NOT_TRACK": "1",
    }


def analyst_project(root: Path) -> None:
    """A dbt project that includes this repository's models as a package, as the README says."""
    root.mkdir(parents=True)
    (root / "dbt_project.yml").write_text(
        "name: acme_analytics\nversion: '1.0'\nconfig-version: 2\nprofile: acme\n"
        f"vars:\n  x_dm_source_schema: {RAW}\n"
    )
    (root / "packages.yml").write_text(f"packages:\n  - local: {REPO / 'transform'}\n")
    (root / "profiles.yml").write_text(
        "acme:\n  target: dev\n  outputs:\n    dev:\n      type: postgres\n"
        "      host: \"{{ env_var('DBT_POSTGRES_HOST') }}\"\n"
        "      port: \"{{ env_var('DBT_POSTGRES_PORT') | int }}\"\n"
        "      user: postgres\n      password: \"{{ env_var('DBT_POSTGRES_PASSWORD') }}\"\n"
        "      dbname: postgres\n      schema: \"{{ env_var('DBT_POSTGRES_SCHEMA') }}\"\n"
        "      threads: 2\n"
    )


@pytest.fixture(scope="module")
def private(
    meltano_project: MeltanoProject, postgres: Postgres, tmp_path_factory: pytest.TempPathFactory
) -> Any:
    now_ms = int(time.time() * 1000)
    sandbox = Sandbox(
        SandboxConfig(
            users=10, conversations=12, days=20, events=300, now_ms=now_ms, rate_limit=100_000
        ),
        clock=SystemClock(),
    ).start()
    project = meltano_project.copy(tmp_path_factory.mktemp("privacy") / "project")
    config = yaml.safe_load((project.root / "meltano.yml").read_text())
    extractor = config["plugins"]["extractors"][0]
    extractor.setdefault("config", {})["stream_maps"] = readme_privacy_maps()
    (project.root / "meltano.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    conversation = Counter(e["dm_conversation_id"] for e in sandbox.visible_events()).most_common(
        1
    )[0][0]
    env = {
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
        "TAP_X_DM_API_URL": sandbox.base_url,
        "TAP_X_DM_ACCESS_TOKEN": sandbox.access_token(),
        "TAP_X_DM_DM_CONVERSATION_IDS": json.dumps([conversation]),
        "TARGET_POSTGRES_HOST": "127.0.0.1",
        "TARGET_POSTGRES_PORT": str(postgres.port),
        "TARGET_POSTGRES_PASSWORD": postgres.password,
        "TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA": RAW,
    }
    root = tmp_path_factory.mktemp("analyst") / "acme"
    analyst_project(root)
    dbt = [str(project.root / ".meltano" / "utilities" / "dbt-postgres" / "venv" / "bin" / "dbt")]
    private = Private(sandbox, postgres, conversation, dbt, {}, root)
    try:
        result = project.run("run", "--state-id-suffix", SUFFIX, "x-dm-to-postgres", env=env)
        assert result.returncode == 0, result.stderr[-4000:]
        for step in (["deps"], ["build"], ["source", "freshness"]):
            result = private.dbt_run(*step)
            private.outputs[" ".join(step)] = result.stdout + result.stderr
            assert result.returncode == 0, (step, result.stdout[-4000:])
        yield private
    finally:
        sandbox.stop()


def test_the_models_build_as_a_package_from_tables_without_text(private: Private) -> None:
    assert re.search(r"Done\. PASS=\d+ WARN=0 ERROR=0 SKIP=0", private.outputs["build"])
    assert "PASS freshness of x_dm.dm_events" in private.outputs["source freshness"]
    columns = private.query(
        f"select table_name, column_name from information_schema.columns where table_schema = "
        f"'{RAW}' and table_name like '%events' and column_name like 'text%' order by 1, 2"
    )
    assert columns == [["conversation_events", "text_sha256"]]  # no raw text anywhere
    served = {e["id"]: e for e in private.sandbox.visible_events()}
    rows = private.query(
        f"select id, text is null, coalesce(text_sha256, ''), source_table "
        f"from {MODELS}.x_dm__events"
    )
    assert {row[0] for row in rows} == set(served)
    assert all(row[1] == "t" for row in rows)
    # Every event of the configured conversation has a hash (from its conversation_events
    # copy, though the dm_events copy is the one kept); a join or leave hashes ''.
    hashed = {row[0] for row in rows if row[2]}
    assert hashed == {
        i for i, e in served.items() if e["dm_conversation_id"] == private.conversation
    }
    assert {row[3] for row in rows if row[0] in hashed} == {"dm_events"}
    counts = private.query(
        f"select (select count(*) from {MODELS}.x_dm__conversations), "
        f"(select count(*) from {MODELS}.x_dm__response_times), "
        f"(select count(*) from {MODELS}.x_dm__response_times_by_kind)"
    )
    assert counts[0][0] == str(len({e["dm_conversation_id"] for e in served.values()}))
    assert int(counts[0][1]) > 0 and counts[0][2] == "2"


def test_freshness_warns_after_two_days_and_fails_after_twenty(private: Private) -> None:
    try:
        private.query(f"update {RAW}.dm_events set _sdc_batched_at = now() - interval '3 days'")
        warned = private.dbt_run("source", "freshness")
        private.query(f"update {RAW}.dm_events set _sdc_batched_at = now() - interval '21 days'")
        failed = private.dbt_run("source", "freshness")
    finally:
        private.query(f"update {RAW}.dm_events set _sdc_batched_at = now()")
    assert warned.returncode == 0 and "WARN freshness of x_dm.dm_events" in warned.stdout
    assert failed.returncode == 1 and "ERROR STALE freshness of x_dm.dm_events" in failed.stdout


def test_the_recency_test_can_warn(private: Private) -> None:
    # The newest event is from today: 0 days old, a warning when the threshold is 0 days.
    result = private.dbt_run(
        "test",
        "--select",
        "test_name:x_dm_recency",
        "--vars",
        "{x_dm_recency_warn_after_days: 0, x_dm_recency_error_after_days: 1}",
    )
    assert result.returncode == 0, result.stdout[-3000:]
    assert "Got 0 results, configured to warn if >= 0" in result.stdout
    assert re.search(r"Done\. PASS=0 WARN=1 ERROR=0", result.stdout)


def chromium(*args: str, profile: Path) -> subprocess.CompletedProcess[str]:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    assert browser
    return subprocess.run(
        [browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_report_renders_in_a_headless_browser(private: Private, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    result = subprocess.run(
        [sys.executable, "-m", "scripts.report", "--output", str(page)],
        cwd=REPO,
        env={**os.environ, **dbt_env(private.postgres)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    waiting = int(
        private.query(f"select count(*) from {MODELS}.x_dm__conversations where awaiting_reply")[0][
            0
        ]
    )
    turns = int(private.query(f"select count(*) from {MODELS}.x_dm__response_times")[0][0])
    assert f"{turns} turns, {waiting} conversations waiting" in result.stderr
    if shutil.which("chromium") or shutil.which("chromium-browser"):
        dumped = chromium("--dump-dom", page.as_uri(), profile=tmp_path / "profile")
        assert dumped.returncode == 0, dumped.stderr[-2000:]
        dom = dumped.stdout
        shot = tmp_path / "report.png"
        taken = chromium(
            f"--screenshot={shot}",
            "--window-size=1100,1600",
            page.as_uri(),
            profile=tmp_path / "profile",
        )
        assert taken.returncode == 0 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert int.from_bytes(shot.read_bytes()[16:24], "big") == (1100 << 32) | 1600
        assert shot.stat().st_size > 30_000  # charts and tables, not a blank page
    elif IN_CI:
        pytest.fail("chromium not found: .ci/run installs it (apt-get install -y chromium)")
    else:
        dom = page.read_text()
    elements = Elements()
    elements.feed(dom)
    assert [a["id"] for a in elements.find("section")] == ["per-day", "response-times", "waiting"]
    assert len(elements.find("rect", **{"data-series": "in (from others)"})) == REPORT_DAYS
    assert len(elements.find("rect", **{"data-series": "out (the account)"})) == REPORT_DAYS
    bars = [a for a in elements.find("rect") if str(a.get("data-series", "")).endswith("turns)")]
    assert len(bars) == 2 * 9  # eight buckets and the unanswered, for each kind
    rows = [a for t, a in elements.tags if t == "tr"]
    assert waiting > 0 and len(rows) == 3 + 1 + min(waiting, 50)  # kinds, then waiting table
