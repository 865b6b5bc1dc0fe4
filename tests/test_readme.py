"""The README's settings table is the one the tap prints."""

from __future__ import annotations

from scripts.settings_table import README, render, settings_table


def test_readme_settings_table_is_current() -> None:
    readme = README.read_text()
    assert render(readme, settings_table()) == readme, (
        "run: .venv/bin/python scripts/settings_table.py"
    )
