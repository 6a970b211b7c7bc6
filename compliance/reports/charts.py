"""Bar charts drawn on the server as SVG geometry for a template to print.

No script and no style attribute (the Content-Security-Policy allows neither): the template
writes presentation attributes (``fill``, ``x``, ``width``) from these integers. Every chart
carries a title, a description that reads out its figures, and a table of the same figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlencode

from audit.actions import Action
from compliance.selectors import Bar, DashboardFigures

WIDTH = 480
LABEL_RIGHT = 162  # labels end here, right-aligned
BAR_LEFT = 170
VALUE_ROOM = 48  # room after the longest bar for its value
ROW = 28
BAR_HEIGHT = 18
LABEL_CHARS = 22
# WCAG 1.4.11: graphics need 3:1 against white; both are far above it (7.9:1 and 8.6:1).
FILL = {"accent": "#0b5394", "danger": "#a50e0e"}
INK = "#1a1a1a"


@dataclass(frozen=True)
class DrawnBar:
    label: str
    short_label: str
    value: int
    y: int
    width: int
    text_y: int
    value_x: int
    key: str = ""


@dataclass(frozen=True)
class Chart:
    id: str
    title: str
    description: str
    column: str  # the heading of the value column in the data table
    bars: list[DrawnBar]
    fill: str
    height: int
    width: int = WIDTH
    label_x: int = LABEL_RIGHT
    bar_x: int = BAR_LEFT
    bar_height: int = BAR_HEIGHT
    ink: str = INK
    more_href: str = ""  # a drill-down, to pages that apply need-to-know themselves
    more_text: str = ""

    @property
    def total(self) -> int:
        return sum(bar.value for bar in self.bars)


def _short(label: str) -> str:
    return label if len(label) <= LABEL_CHARS else label[:LABEL_CHARS - 1] + "…"


def bar_chart(*, id: str, title: str, bars: list[Bar], column: str = "Cases",
              tone: str = "accent", empty: str = "Nothing in this period",
              more_href: str = "", more_text: str = "") -> Chart:
    """A horizontal bar chart: one bar per entry, zero-length for a zero (so a chart of
    fixed buckets always has the same bars)."""
    longest = max((bar.value for bar in bars), default=0)
    room = WIDTH - BAR_LEFT - VALUE_ROOM
    drawn = []
    for i, bar in enumerate(bars):
        width = round(room * bar.value / longest) if longest else 0
        top = 6 + i * ROW
        drawn.append(DrawnBar(
            label=bar.label, short_label=_short(bar.label), value=bar.value, y=top,
            width=width, text_y=top + BAR_HEIGHT - 4, value_x=BAR_LEFT + width + 6,
            key=bar.key,
        ))
    readout = "; ".join(f"{bar.label}: {bar.value}" for bar in bars) if bars else empty
    return Chart(
        id=id, title=title, description=f"Bar chart. {readout}.", column=column, bars=drawn,
        fill=FILL[tone], height=max(1, len(bars)) * ROW + 8, more_href=more_href,
        more_text=more_text,
    )


def dashboard_charts(figures: DashboardFigures) -> list[Chart]:
    """The dashboard's charts, in the order they are shown."""
    escalated = "/compliance/audit/?" + urlencode({
        "action": Action.COMPLAINT_ESCALATED.value,
        "since": figures.period.since.strftime("%Y-%m-%dT%H:%M"),
        "until": figures.period.until.strftime("%Y-%m-%dT%H:%M"),
    })
    return [
        bar_chart(id="chart-ack", title="Time to acknowledge (reports received in the period)",
                  bars=figures.ack_buckets),
        bar_chart(id="chart-breaches",
                  title="Deadline breaches per month (missed and escalated, last 12 months)",
                  bars=figures.breaches_by_month, column="Breaches", tone="danger"),
        bar_chart(id="chart-age", title="Open cases by age (now)", bars=figures.open_by_age),
        bar_chart(id="chart-levels", title="Escalations by level (cases escalated in the period)",
                  bars=figures.escalations_by_level, more_href=escalated,
                  more_text="These escalations in the audit log"),
        bar_chart(id="chart-handlers", title="Escalations by handler notified",
                  bars=figures.escalations_by_handler,
                  empty="No escalations in this period"),
        bar_chart(id="chart-categories", title="Cases by category (received in the period)",
                  bars=figures.by_category, empty="No reports in this period"),
    ]


def human_duration(value: timedelta | None) -> str:
    """``2 d 12 h``, ``5 h 30 min``; an em dash for nothing."""
    if value is None:
        return "—"
    minutes = int(value.total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    return f"{hours} h {minutes} min"
