"""Write the settings table of `tap-x-dm --about --format=markdown` into README.md."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"
START, END = "<!-- settings:start -->", "<!-- settings:end -->"


def settings_table() -> str:
    """Return the `## Settings` table the SDK prints, without its heading."""
    about = subprocess.run(
        [sys.executable, "-m", "tap_x_dm", "--about", "--format=markdown"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    table = about.split("## Settings", 1)[1]
    return "\n".join(line for line in table.strip().splitlines() if line.startswith("|"))


def render(readme: str, table: str) -> str:
    """Return README text with the table between the markers."""
    pattern = re.compile(re.escape(START) + ".*?" + re.escape(END), re.DOTALL)
    return pattern.sub(f"{START}\n{table}\n{END}", readme)


if __name__ == "__main__":
    README.write_text(render(README.read_text(), settings_table()))
    print(f"Settings table written to {README}")
