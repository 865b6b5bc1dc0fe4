"""The one-page HTML report of the DM models: inline SVG and CSS, nothing fetched.

`render()` takes plain data (what `scripts.report` reads from the models), so the page
can be built and checked without a database.
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape

KINDS = ("one_to_one", "group")
KIND_LABELS = {"one_to_one": "One-to-one", "group": "Group"}
KIND_COLORS = {"one_to_one": "#0f766e", "group": "#7c3aed"}
IN_COLOR, OUT_COLOR = "#2563eb", "#f59e0b"
#: Response-time buckets: (label, upper bound in seconds); the last is open-ended.
BUCKETS: tuple[tuple[str, float], ...] = (
    ("< 5 min", 300),
    ("5-30 min", 1800),
    ("30 min-2 h", 7200),
    ("2-8 h", 28800),
    ("8-24 h", 86400),
    ("1-3 days", 259200),
    ("3-7 days", 604800),
    ("> 7 days", math.inf),
)
UNANSWERED = "unanswered"
WAITING_ROWS = 50


@dataclass
class Waiting:
    """A conversation whose last turn has no reply yet."""

    dm_conversation_id: str
    kind: str
    counterpart: str  # @username, else the user id; for a group "group of N"
    since: dt.datetime  # timezone-aware
    messages_in: int


@dataclass
class ReportData:
    """What the page shows, read from the models."""

    accounts: list[str]
    first_day: dt.date
    last_day: dt.date
    generated_at: dt.datetime  # timezone-aware
    #: day -> (messages in, messages out); days without messages may be missing.
    per_day: dict[dt.date, tuple[int, int]] = field(default_factory=dict)
    #: kind -> the turns' response seconds in the period (None: unanswered).
    responses: dict[str, list[float | None]] = field(default_factory=dict)
    waiting: list[Waiting] = field(default_factory=list)

    def days(self) -> list[dt.date]:
        count = (self.last_day - self.first_day).days + 1
        return [self.first_day + dt.timedelta(days=i) for i in range(count)]


def duration_text(seconds: float) -> str:
    """A duration as people say it: 45 s, 12 min, 3.5 h, 2.1 days."""
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def bucket_of(seconds: float | None) -> str:
    if seconds is None:
        return UNANSWERED
    return next(label for label, bound in BUCKETS if seconds < bound)


def y_axis(value: float) -> tuple[float, int]:
    """A step of 1, 2, 2.5 or 5 times a power of ten (at least 1: counts and percentages)
    and the number of steps (at most 5) that reach `value`."""
    if value <= 0:
        return 1.0, 1
    power = max(10 ** math.floor(math.log10(value / 5)), 1)
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if math.ceil(value / (m * power)) <= 5)
    return float(step), math.ceil(value / step)


def bar_chart(
    title: str,
    labels: Sequence[str],
    series: Sequence[tuple[str, str, Sequence[float]]],
    *,
    label_every: int = 1,
    unit: str = "",
    width: int = 960,
    height: int = 260,
) -> str:
    """Grouped bars, one group per label and one bar per series, with a y axis and legend."""
    left, right, top, bottom = 48, 12, 28, 44
    plot_w, plot_h = width - left - right, height - top - bottom
    step, steps = y_axis(max((v for _, _, values in series for v in values), default=0))
    top_value = step * steps
    group_w = plot_w / max(len(labels), 1)
    bar_w = max(group_w * 0.8 / len(series), 1.0)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{escape(title)}" class="chart"><title>{escape(title)}</title>'
    ]
    for i in range(steps + 1):
        value = step * i
        y = top + plot_h - plot_h * i / steps
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" class="axis" text-anchor="end">'
            f"{value:g}{unit}</text>"
        )
    for index, label in enumerate(labels):
        x0 = left + index * group_w + group_w * 0.1
        for number, (name, color, values) in enumerate(series):
            value = values[index]
            bar_h = plot_h * value / top_value
            x = x0 + number * bar_w
            parts.append(
                f'<rect x="{x:.1f}" y="{top + plot_h - bar_h:.1f}" width="{bar_w:.1f}" '
                f'height="{bar_h:.1f}" fill="{color}" class="bar" data-series="{escape(name)}">'
                f"<title>{escape(label)}: {escape(name)} {value:g}{unit}</title></rect>"
            )
        if index % label_every == 0:
            parts.append(
                f'<text x="{left + (index + 0.5) * group_w:.1f}" y="{height - bottom + 16}" '
                f'class="axis" text-anchor="middle">{escape(label)}</text>'
            )
    legend_x = left
    for name, color, _ in series:
        parts.append(
            f'<rect x="{legend_x}" y="6" width="12" height="12" fill="{color}"/>'
            f'<text x="{legend_x + 16}" y="16" class="legend">{escape(name)}</text>'
        )
        legend_x += 24 + 8 * len(name)
    parts.append("</svg>")
    return "".join(parts)


def per_day_chart(data: ReportData) -> str:
    days = data.days()
    counts = [data.per_day.get(day, (0, 0)) for day in days]
    return bar_chart(
        "Direct messages per day, in and out",
        [day.strftime("%b %d") for day in days],
        [
            ("in (from others)", IN_COLOR, [c[0] for c in counts]),
            ("out (the account)", OUT_COLOR, [c[1] for c in counts]),
        ],
        label_every=max(1, math.ceil(len(days) / 12)),
    )


def distribution_chart(data: ReportData) -> str:
    labels = [label for label, _ in BUCKETS] + [UNANSWERED]
    series = []
    for kind in KINDS:
        turns = data.responses.get(kind, [])
        buckets = [bucket_of(seconds) for seconds in turns]
        shares = [100 * buckets.count(label) / len(turns) if turns else 0 for label in labels]
        name = f"{KIND_LABELS[kind]} ({len(turns)} turns)"
        series.append((name, KIND_COLORS[kind], [round(share, 1) for share in shares]))
    return bar_chart(
        "First-response time by conversation kind (share of turns)", labels, series, unit="%"
    )


def kind_summary(turns: list[float | None]) -> tuple[str, str, int]:
    """Median and 90th percentile of the answered turns, and the unanswered count."""
    answered = sorted(s for s in turns if s is not None)
    if not answered:
        return "n/a", "n/a", len(turns)
    p90 = statistics.quantiles(answered, n=10, method="inclusive")[-1] if len(answered) > 1 else 0
    median = statistics.median(answered)
    return duration_text(median), duration_text(p90 or answered[0]), len(turns) - len(answered)


def cards(data: ReportData) -> str:
    total_in = sum(c[0] for c in data.per_day.values())
    total_out = sum(c[1] for c in data.per_day.values())
    items = [("DMs in", f"{total_in:,}"), ("DMs out", f"{total_out:,}")]
    for kind in KINDS:
        median, _, _ = kind_summary(data.responses.get(kind, []))
        items.append((f"Median first response, {KIND_LABELS[kind].lower()}", median))
    items.append(("Conversations waiting for a reply", f"{len(data.waiting):,}"))
    return "".join(
        f'<div class="card"><div class="value">{escape(value)}</div>'
        f'<div class="label">{escape(label)}</div></div>'
        for label, value in items
    )


def kind_table(data: ReportData) -> str:
    rows = []
    for kind in KINDS:
        turns = data.responses.get(kind, [])
        median, p90, unanswered = kind_summary(turns)
        rows.append(
            f"<tr><td>{KIND_LABELS[kind]}</td><td>{len(turns)}</td><td>{median}</td>"
            f"<td>{p90}</td><td>{unanswered}</td></tr>"
        )
    return (
        '<table class="kinds"><thead><tr><th>Kind</th><th>Turns</th><th>Median</th>'
        "<th>90th percentile</th><th>Unanswered</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
    )


def waiting_table(data: ReportData) -> str:
    if not data.waiting:
        return '<p class="note">No conversation waits for a reply.</p>'
    rows = []
    for item in data.waiting[:WAITING_ROWS]:
        waited = duration_text(max((data.generated_at - item.since).total_seconds(), 0))
        since = item.since.astimezone(dt.timezone.utc)
        rows.append(
            f"<tr><td>{escape(item.counterpart)}</td><td>{KIND_LABELS.get(item.kind, item.kind)}"
            f"</td><td>{since:%Y-%m-%d %H:%M} UTC</td><td>{waited}"
            f"</td><td>{item.messages_in}</td><td><code>{escape(item.dm_conversation_id)}</code>"
            "</td></tr>"
        )
    more = len(data.waiting) - WAITING_ROWS
    tail = f'<p class="note">… and {more} more (oldest first).</p>' if more > 0 else ""
    return (
        '<table class="waiting"><thead><tr><th>Counterpart</th><th>Kind</th>'
        "<th>Waiting since</th><th>Waiting for</th><th>Messages in</th><th>Conversation</th>"
        "</tr></thead><tbody>" + "".join(rows) + "</tbody></table>" + tail
    )


STYLE = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;
color:#111827;background:#f9fafb;margin:0}
main{max-width:1000px;margin:0 auto;padding:24px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px}
.sub,.note{color:#4b5563}.cards{display:flex;gap:12px;flex-wrap:wrap;margin:16px 0}
.card{background:#fff;border:1px solid #e5e7eb;border-radius:8px;padding:10px 14px;flex:1;
min-width:140px}.card .value{font-size:22px;font-weight:600}
.card .label{color:#4b5563;font-size:13px}
section{background:#fff;border:1px solid #e5e7eb;border-radius:8px;padding:12px 16px;margin:16px 0}
.chart{width:100%;height:auto}.grid{stroke:#e5e7eb}.axis{font-size:11px;fill:#4b5563}
.legend{font-size:12px;fill:#111827}table{border-collapse:collapse;width:100%;font-size:14px}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #e5e7eb}th{color:#374151}
code{font-size:12px}
"""


def render(data: ReportData) -> str:
    """The page."""
    accounts = ", ".join(data.accounts) or "no account"
    period = f"{data.first_day:%Y-%m-%d} to {data.last_day:%Y-%m-%d} (UTC)"
    generated = data.generated_at.astimezone(dt.timezone.utc)
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>X DMs: {escape(accounts)}</title><style>{STYLE}</style></head><body><main>"
        f'<h1>X Direct Messages</h1><p class="sub">Account {escape(accounts)} · {period} · '
        f"generated {generated:%Y-%m-%d %H:%M} UTC from the tap-x-dm models</p>"
        f'<div class="cards">{cards(data)}</div>'
        f'<section id="per-day"><h2>DMs per day</h2>{per_day_chart(data)}</section>'
        '<section id="response-times"><h2>First-response time</h2>'
        '<p class="note">Turns opened by a customer in the period; a reply is the account\'s '
        "next message (x_dm__response_times).</p>"
        f"{distribution_chart(data)}{kind_table(data)}</section>"
        '<section id="waiting"><h2>Conversations waiting for a reply</h2>'
        '<p class="note">The customer wrote last; oldest first (x_dm__conversations).</p>'
        f"{waiting_table(data)}</section></main></body></html>\n"
    )
