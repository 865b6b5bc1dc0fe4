"""The README's first screen, as a newcomer runs it: credentials, PostgreSQL, the schedule.

Steps 2 to 4 of the quick start run as written, each block as one bash script, in a copy of
the session's installed Meltano project (step 1, the install, is how that project was made).
Only what a newcomer fills in is replaced: the client id (the sandbox's public client), the
database host (a throwaway PostgreSQL, whose port comes from the environment) and the
passwords. X is the sandbox: TAP_X_DM_API_URL points the tap and tap-x-dm-auth's token
exchange at it, and the browser (BROWSER=true opens none) is played by a GET of the printed
x.com consent address on the sandbox's host, which approves at once and redirects to the
callback. The tables land in `x_dm` and the models in `x_dm_analytics`, the defaults.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
import time
from pathlib import Path

import requests

from tap_x_dm.clock import SystemClock
from tap_x_dm_sandbox import Sandbox, SandboxConfig
from tests.e2e.conftest import REPO, MeltanoProject, Postgres

X_CONSENT_PAGE = "https://x.com/i/oauth2/authorize"


def quick_start_blocks() -> list[str]:
    """The bash blocks of the README's quick start, in order."""
    text = (REPO / "README.md").read_text()
    quick_start = text[text.index("## Quick start") : text.index("## Contents")]
    return re.findall(r"```bash\n(.*?)```", quick_start, re.DOTALL)


def as_filled_in(block: str, **values: str) -> str:
    for placeholder, value in values.items():
        block = block.replace(placeholder, value)
    return "set -euo pipefail\n" + block


def test_a_newcomer_reaches_postgresql_and_a_schedule_from_the_first_screen(
    meltano_project: MeltanoProject, postgres: Postgres, tmp_path: Path
) -> None:
    install, credentials, load, schedule, _try_it = quick_start_blocks()
    assert "bash scripts/bootstrap.sh" in install and "meltano install" in install
    sandbox = Sandbox(
        SandboxConfig(users=8, conversations=10, days=10, events=120, rate_limit=100_000),
        clock=SystemClock(),
    ).start()
    project = meltano_project.copy(tmp_path / "project")
    env = {
        **os.environ,
        **project.isolated_env(),
        "PATH": f"{project.meltano.parent}{os.pathsep}{os.environ['PATH']}",
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
        "TAP_X_DM_API_URL": sandbox.base_url,
        "TARGET_POSTGRES_PORT": str(postgres.port),
        "DBT_POSTGRES_PORT": str(postgres.port),
        "BROWSER": "true",
    }
    postgres.query(
        "drop schema if exists x_dm cascade; drop schema if exists x_dm_analytics cascade"
    )
    try:
        # 2. Credentials: tap-x-dm-auth waits for the browser's redirect; the sandbox is X.
        script = as_filled_in(credentials, YOUR_CLIENT_ID=sandbox.auth.public_client_id)
        auth = subprocess.Popen(
            ["bash", "-c", script],
            cwd=project.root,
            env=env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        assert auth.stdout is not None
        printed: list[str] = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = auth.stdout.readline()
            printed.append(line)
            if line.strip().startswith(X_CONSENT_PAGE) or not line:
                break
        url = printed[-1].strip()
        assert url.startswith(X_CONSENT_PAGE + "?"), "".join(printed)
        sandbox_consent = url.replace(X_CONSENT_PAGE, f"{sandbox.base_url}/i/oauth2/authorize")
        requests.get(sandbox_consent, timeout=30)  # approves, then the callback on 127.0.0.1
        rest, _ = auth.communicate(timeout=120)
        assert auth.returncode == 0, "".join(printed) + rest
        store = project.root / ".meltano" / "x-dm-tokens.json"
        assert stat.S_IMODE(store.stat().st_mode) == 0o600
        assert "Tokens saved to" in rest

        # 3. Into PostgreSQL, tap -> target-postgres -> dbt build, with the token store.
        script = as_filled_in(
            load, **{"'...'": f"'{postgres.password}'", "db.internal": "127.0.0.1"}
        )
        result = subprocess.run(
            ["bash", "-c", script],
            cwd=project.root,
            env=env,
            text=True,
            capture_output=True,
            timeout=900,
            check=False,
        )
        assert result.returncode == 0, result.stderr[-4000:]
        loaded = int(postgres.query("select count(*) from x_dm.dm_events")[0][0])
        assert loaded == len(sandbox.visible_events())
        modelled = postgres.query("select count(*) from x_dm_analytics.x_dm__events")
        assert int(modelled[0][0]) == loaded

        # 4. The schedule is there, as the README's comment says.
        result = subprocess.run(
            ["bash", "-c", as_filled_in(schedule)],
            cwd=project.root,
            env=env,
            text=True,
            capture_output=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stderr[-2000:]
        assert "x-dm-daily" in result.stdout and "x-dm-to-postgres" in result.stdout
    finally:
        sandbox.stop()
