"""The HTML report's page, from fixed data: what it draws and that it fetches nothing."""

from __future__ import annotations

import datetime as dt
from html.parser import HTMLParser

import pytest

from scripts.report_html import ReportData, Waiting, bucket_of, duration_text, render, y_axis

DAY = dt.date(2026, 11, 30)
UTC = dt.timezone.utc


class Elements(HTMLParser):
    """Every start tag with its attributes, and the page's text."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def find(self, tag: str, **attrs: str) -> list[dict[str, str | None]]:
        return [
            a for t, a in self.tags if t == tag and all(a.get(k) == v for k, v in attrs.items())
        ]


def sample() -> ReportData:
    data = ReportData(
        accounts=["111"],
        first_day=DAY - dt.timedelta(days=6),
        last_day=DAY,
        generated_at=dt.datetime(2026, 11, 30, 12, 0, tzinfo=UTC),
    )
    data.per_day = {DAY - dt.timedelta(days=6): (3, 1), DAY: (5, 4)}  # five days without DMs
    data.responses = {
        "one_to_one": [60.0, 600.0, 7200.0, None],  # median 600 s, one unanswered
        "group": [90_000.0, 700_000.0],
    }
    data.waiting = [
        Waiting("111-222", "one_to_one", "@ana", dt.datetime(2026, 11, 29, 12, 0, tzinfo=UTC), 2),
        Waiting("999", "group", "group of 4", dt.datetime(2026, 11, 30, 6, 0, tzinfo=UTC), 1),
    ]
    return data


def parsed(page: str) -> Elements:
    elements = Elements()
    elements.feed(page)
    return elements


def test_the_page_draws_every_day_in_and_out_and_each_kind_per_bucket() -> None:
    page = parsed(render(sample()))

    assert [a["id"] for a in page.find("section")] == ["per-day", "response-times", "waiting"]
    assert len(page.find("svg")) == 2
    assert len(page.find("rect", **{"data-series": "in (from others)"})) == 7
    assert len(page.find("rect", **{"data-series": "out (the account)"})) == 7
    assert len(page.find("rect", **{"data-series": "One-to-one (4 turns)"})) == 9  # 8 + unanswered
    assert len(page.find("rect", **{"data-series": "Group (2 turns)"})) == 9
    text = " ".join(page.text)
    # Cards (8 in, 5 out), medians and 90th percentiles, how long each conversation waits.
    for expected in (
        "8",
        "5",
        "10 min",
        "1.6 h",
        "4.6 days",
        "7.4 days",
        "@ana",
        "1.0 days",
        "group of 4",
        "6.0 h",
        "2026-11-29 12:00 UTC",
    ):
        assert expected in text, expected
    assert "X Direct Messages" in text and "2026-11-24 to 2026-11-30" in text


def test_the_page_is_static_and_self_contained() -> None:
    page = render(sample())
    elements = parsed(page)

    assert not elements.find("script") and not elements.find("link") and not elements.find("img")
    assert "http" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "url(" not in page and "@import" not in page


def test_an_empty_period_still_makes_a_page() -> None:
    data = ReportData(
        accounts=[], first_day=DAY, last_day=DAY, generated_at=dt.datetime(2026, 11, 30, tzinfo=UTC)
    )
    page = render(data)
    assert "No conversation waits for a reply." in page and "n/a" in page


@pytest.mark.parametrize(
    ("seconds", "bucket"),
    [
        (None, "unanswered"),
        (0.0, "< 5 min"),
        (299.9, "< 5 min"),
        (300.0, "5-30 min"),
        (86_399.0, "8-24 h"),
        (604_800.0, "> 7 days"),
    ],
)
def test_buckets(seconds: float | None, bucket: str) -> None:
    assert bucket_of(seconds) == bucket


def test_durations_and_axes() -> None:
    assert [duration_text(s) for s in (45, 600, 5400, 172_800)] == [
        "45 s",
        "10 min",
        "1.5 h",
        "2.0 days",
    ]
    assert [y_axis(v) for v in (0, 3, 47, 24.1, 101)] == [
        (1.0, 1),
        (1.0, 3),
        (10.0, 5),
        (5.0, 5),
        (25.0, 5),
    ]
