"""One page of `GET /2/dm_events` runs through the modules the architecture doc lists (issue 20)."""

from __future__ import annotations

import re
from pathlib import Path

from tests.page_path import DM_EVENTS, PagePath, measure

ARCHITECTURE = Path(__file__).resolve().parents[1] / "docs" / "architecture.md"
SECTION = "## The modules one page runs through"
#: Issue 20's goal: a page runs through at most 12 of the package's modules.
MAX_MODULES = 12


def documented_modules() -> list[str]:
    """The dotted names the doc's last section lists, one bullet each (`- \\`tap_x_dm...\\`:`)."""
    text = ARCHITECTURE.read_text(encoding="utf-8")
    assert SECTION in text, f"docs/architecture.md has no section {SECTION!r}"
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^- `(tap_x_dm(?:\.\w+)*)`", section, flags=re.MULTILINE)


def test_one_steady_state_page_runs_through_the_documented_modules() -> None:
    """The incremental run's third page of 100 (the scenario in `tests/page_path.py`).

    The second run, default config (`object_lookups: by_id`), reads 360 messages that arrived
    in four conversations since the first: a first page of 14 (sized from the arrival rate)
    that did not reach the bookmark, read again from the top at 100, then pages of 100 by
    cursor. The profiled page is the fourth `/2/dm_events` request: it follows the cursor of
    a full page and is followed by the pass's last page. The window runs from the STATE
    line of the page before to the STATE line that covers it.
    """
    path = measure()

    assert_the_window_is_one_mid_pass_page(path)
    documented = documented_modules()
    assert len(documented) == len(set(documented)), "a module is listed twice"
    ran, listed = set(path.modules), set(documented)
    assert ran == listed, (
        f"docs/architecture.md's last section no longer matches the page's path: not listed "
        f"{sorted(ran - listed)}, listed but not run {sorted(listed - ran)}; print the list "
        "with `.venv/bin/python -m tests.page_path`"
    )
    assert len(path.modules) <= MAX_MODULES


def assert_the_window_is_one_mid_pass_page(path: PagePath) -> None:
    """The window holds exactly the fourth request and closes at the STATE that covers it."""
    assert [r["path"] for r in path.run_requests] == [DM_EVENTS] * 5
    first_page, *full_pages = [r["query"] for r in path.run_requests]
    assert first_page["max_results"] == "14" and "pagination_token" not in first_page
    assert [q["max_results"] for q in full_pages] == ["100"] * 4
    assert ["pagination_token" in q for q in full_pages] == [False, True, True, True]
    assert path.requests == path.run_requests[3:4]
    progress = path.state["bookmarks"]["dm_events"]["pass"]
    assert progress["emitted"] == 300  # 14, 86 more on re-reading the top, 100, and this page's 100
    assert progress["cursor"] == path.run_requests[4]["query"]["pagination_token"]
    written = path.messages.index({"type": "STATE", "value": path.state})
    records = [m for m in path.messages[:written] if m["type"] == "RECORD"]
    assert len(records) == 300
    assert {m["stream"] for m in records} == {"dm_events"}
