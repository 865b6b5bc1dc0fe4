"""A throwaway PostgreSQL server and a Meltano project for end-to-end tests.

PostgreSQL comes from the Debian server packages: `initdb` and `pg_ctl` live in
`/usr/lib/postgresql/<version>/bin`, not on PATH, and refuse to run as root, so
as root they run as the `postgres` user on a data directory it owns. Outside CI
a missing server skips these tests with the command that installs it; under CI
(`CI=true`) it is a failure, since `.ci/run` installs it.

Every test here is in the slow tier (marked `slow` and `e2e`): `pytest -m slow` runs them.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
IN_CI = os.environ.get("CI", "").lower() == "true"
#: What a Meltano project of this repository consists of, besides meltano.yml.
TRANSFORM_IGNORED = shutil.ignore_patterns("target", "logs", "dbt_packages")
#: Meltano's folders of installed plugins: shared by the copies of one installed project.
PLUGIN_DIRS = ("extractors", "loaders", "utilities")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Put every test of this folder in the slow tier (and mark it e2e)."""
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.slow)
            item.add_marker(pytest.mark.e2e)


def _unavailable(message: str) -> None:
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


def _pg_bin() -> Path | None:
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), reverse=True)
    if candidates:
        return candidates[0].parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Postgres:
    """A running server: where it listens and how to query it."""

    port: int
    password: str
    bin_dir: Path

    def query(self, sql: str) -> list[list[str]]:
        """Run SQL with psql; rows as lists of strings."""
        psql = self.bin_dir / "psql"
        result = subprocess.run(
            [str(psql if psql.exists() else "psql"), "-h", "127.0.0.1", "-p", str(self.port),
             "-U", "postgres", "-d", "postgres", "-At", "-F", "\t", "-c", sql],
            env={**os.environ, "PGPASSWORD": self.password},
            capture_output=True, text=True, check=True, timeout=60,
        )  # fmt: skip
        return [line.split("\t") for line in result.stdout.splitlines() if line]


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    bin_dir = _pg_bin()
    if bin_dir is None:
        _unavailable(
            "PostgreSQL server binaries not found: install them with "
            "`sudo apt-get install -y postgresql` (Debian/Ubuntu) to run the end-to-end tests."
        )
        return
    as_root = os.geteuid() == 0
    base = Path(tempfile.mkdtemp(prefix="tap-x-dm-pg-"))
    data, sockets = base / "data", base / "sockets"
    sockets.mkdir()
    password = "e2e-" + os.urandom(8).hex()
    (base / "pwfile").write_text(password + "\n")
    prefix: list[str] = []
    if as_root:
        owner = pwd.getpwnam("postgres")
        for path in (base, sockets, base / "pwfile"):
            os.chown(path, owner.pw_uid, owner.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    port = _free_port()
    subprocess.run(
        [*prefix, str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres",
         "--pwfile", str(base / "pwfile"), "--auth-host=scram-sha-256", "--auth-local=trust"],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    subprocess.run(
        [*prefix, str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(base / "server.log"), "-w",
         "-o", f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off", "start"],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    try:
        yield Postgres(port=port, password=password, bin_dir=bin_dir)
    finally:
        subprocess.run(
            [*prefix, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
            timeout=60,
            check=False,
        )
        shutil.rmtree(base, ignore_errors=True)


def _meltano_bin() -> Path | None:
    local = REPO / ".venv-meltano" / "bin" / "meltano"
    if local.exists():
        return local
    found = shutil.which("meltano")
    return Path(found) if found else None


@dataclass
class MeltanoProject:
    """A temporary copy of this repository's Meltano project, plugins installed once."""

    root: Path
    meltano: Path

    def isolated_env(self) -> dict[str, str]:
        """Run locks of this project's own: another suite on the machine uses the same tokens."""
        return {"TAP_X_DM_RUN_LOCK_DIR": str(self.root / ".run-locks")}

    def run(
        self, *args: str, env: dict[str, str], timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        """Run `meltano ARGS` in the project; output captured."""
        return subprocess.run(
            [str(self.meltano), *args], cwd=self.root,
            env={**os.environ, **self.isolated_env(), **env},
            capture_output=True, text=True, timeout=timeout, check=False,
        )  # fmt: skip

    def copy(self, root: Path) -> MeltanoProject:
        """Another project from the same files, with its own config, `.env`, state and system
        database, sharing this one's installed plugins (no second `meltano install`)."""
        root.mkdir(parents=True, exist_ok=True)
        shutil.copy(self.root / "meltano.yml", root / "meltano.yml")
        shutil.copytree(self.root / "transform", root / "transform", ignore=TRANSFORM_IGNORED)
        (root / ".meltano").mkdir()
        for name in PLUGIN_DIRS:
            (root / ".meltano" / name).symlink_to(self.root / ".meltano" / name)
        return MeltanoProject(root=root, meltano=self.meltano)

    def popen(self, *args: str, env: dict[str, str]) -> subprocess.Popen[str]:
        """Start `meltano ARGS` in its own process group (so a test can kill all of it)."""
        return subprocess.Popen(
            [str(self.meltano), *args], cwd=self.root,
            env={**os.environ, **self.isolated_env(), **env},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True,
            start_new_session=True,
        )  # fmt: skip


@pytest.fixture(scope="session")
def meltano_project(tmp_path_factory: pytest.TempPathFactory) -> MeltanoProject:
    meltano = _meltano_bin()
    if meltano is None:
        _unavailable(
            "meltano not found: run `bash scripts/bootstrap.sh` (it creates .venv-meltano)."
        )
        raise AssertionError  # unreachable: _unavailable skips or fails
    root = tmp_path_factory.mktemp("meltano-project")
    text = (REPO / "meltano.yml").read_text()
    (root / "meltano.yml").write_text(text.replace("pip_url: -e .", f"pip_url: -e {REPO}"))
    shutil.copytree(REPO / "transform", root / "transform", ignore=TRANSFORM_IGNORED)
    project = MeltanoProject(root=root, meltano=meltano)
    result = project.run(
        "install", env={"MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false"}, timeout=900
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return project
