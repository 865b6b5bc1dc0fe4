"""`pip install .` gives the tap's two commands, typed, with the spec inside and one version.

The wheel carries the tap only: the sandbox is its own distribution (`sandbox/`), and no
test code ships. Both the sdist and the wheel (built from the sdist) pass `twine check`.
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

import tap_x_dm
from tests.dists import build_distributions


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return build_distributions(tmp_path_factory.mktemp("dist"))


def test_sdist_and_wheel_pass_twine_check(dists: tuple[Path, Path]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", *map(str, dists)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("PASSED") == 2, result.stdout


def test_sdist_carries_the_plugin_definition_and_no_local_files(dists: tuple[Path, Path]) -> None:
    sdist, _ = dists
    with tarfile.open(sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    for path in ("pyproject.toml", "LICENSE", "README.md", "plugin/extractors/tap-x-dm.yml"):
        assert path in names, path
    for local in (".env", ".meltano", ".venv", ".sandbox", "output"):
        assert not [n for n in names if n.startswith(local)], local
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]


def test_wheel_has_commands_types_spec_and_metadata(dists: tuple[Path, Path]) -> None:
    _, wheel = dists
    assert wheel.name.startswith(f"tap_x_dm-{tap_x_dm.__version__}-")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        dist_info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
        entry_points = archive.read(f"{dist_info}/entry_points.txt").decode()
        metadata = archive.read(f"{dist_info}/METADATA").decode()
    assert "tap_x_dm/py.typed" in names
    assert "tap_x_dm/schemas/openapi.json" in names
    assert "tap_x_dm/schemas/openapi-dm.json" in names
    assert "tap_x_dm/schemas/run_summary.schema.json" in names
    assert "tap_x_dm/schemas/state.schema.json" in names
    assert any(n.endswith("/LICENSE") or n.endswith("licenses/LICENSE") for n in names)
    for command in ("tap-x-dm =", "tap-x-dm-auth ="):
        assert command in entry_points
    assert "sandbox" not in entry_points
    packages = {n.split("/")[0] for n in names if not n.startswith(dist_info)}
    assert packages == {"tap_x_dm"}, packages
    assert not [n for n in names if n.startswith("tap_x_dm/sandbox")]
    assert not [n for n in names if "/tests/" in n or "conftest" in n or "/test_" in n]
    assert "Requires-Python: >=3.10" in metadata
    for version in ("3.10", "3.11", "3.12", "3.13"):
        assert f"Programming Language :: Python :: {version}" in metadata
    assert "License-Expression: Apache-2.0" in metadata
    assert "Requires-Dist: singer-sdk[msgspec]<0.55,>=0.54.2" in metadata
    assert "backoff" not in [
        line.split()[1] for line in metadata.splitlines() if line.startswith("Requires-Dist:")
    ]
