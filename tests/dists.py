"""Build the sdist and the wheel as a release would: the wheel from the sdist."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def build_distributions(outdir: Path) -> tuple[Path, Path]:
    """`python -m build` (isolated: hatchling from the package registry); (sdist, wheel)."""
    result = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(outdir), str(REPO)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    (sdist,) = outdir.glob("tap_x_dm-*.tar.gz")
    (wheel,) = outdir.glob("tap_x_dm-*.whl")
    return sdist, wheel
