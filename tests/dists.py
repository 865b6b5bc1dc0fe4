"""Build the sdist and the wheel as a release would: the wheel from the sdist."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def build_distributions(outdir: Path) -> tuple[Path, Path]:
    """`python -m build` (isolated: hatchling from the package registry); (sdist, wheel)."""
    subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(outdir), str(REPO)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    (sdist,) = outdir.glob("tap_x_dm-*.tar.gz")
    (wheel,) = outdir.glob("tap_x_dm-*.whl")
    return sdist, wheel
