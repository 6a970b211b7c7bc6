"""PDF documents for auditors, built with fpdf2 (pure Python, no system libraries).

The built-in PDF fonts cover Latin-1 only: anything else is written as a ``\\uXXXX`` escape
rather than dropped, so nothing in an exported record silently changes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from fpdf import FPDF, FontFace
from fpdf.enums import WrapMode, XPos, YPos

from audit.chain import format_time
from audit.models import AuditEvent
from audit.opaque import event_id, reader_payload_text
from compliance.reports.charts import human_duration
from compliance.selectors import Bar, ChainStatus, DashboardFigures, Share, TrailCheck
from compliance.selectors.log import actor_label

FONT = "Helvetica"
MONO = "Courier"
HEADINGS = FontFace(emphasis="BOLD", fill_color=(228, 233, 241))
HASH_STYLE = FontFace(family=MONO, size_pt=6)
_TYPOGRAPHY = str.maketrans({"—": "-", "–": "-", "…": "...", "→": "->", "‘": "'", "’": "'",
                             "“": '"', "”": '"'})


def pdf_text(value: object) -> str:
    text = str(value).translate(_TYPOGRAPHY)
    return text.encode("latin-1", "backslashreplace").decode("latin-1")


def utc(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment else "-"


class _Document(FPDF):
    def __init__(self, *, title: str, footer: str, landscape: bool = False) -> None:
        super().__init__(orientation="L" if landscape else "P", unit="mm", format="A4")
        self.footer_text = pdf_text(footer)
        self.set_title(pdf_text(title))
        self.set_creator("misconduct-complaints")
        self.set_margins(12, 12, 12)
        self.set_auto_page_break(True, margin=14)
        self.add_page()

    def footer(self) -> None:
        self.set_y(-10)
        self.set_font(FONT, size=7)
        self.set_text_color(74, 74, 74)
        self.cell(0, 5, f"{self.footer_text} - page {self.page_no()} of {{nb}}", align="C")
        self.set_text_color(0, 0, 0)

    def heading(self, text: str, size: int = 14) -> None:
        self.set_font(FONT, style="B", size=size)
        self.multi_cell(0, size * 0.5, pdf_text(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.ln(1.5)

    def para(self, text: str, size: float = 9, style: str = "") -> None:
        self.set_font(FONT, style=style, size=size)
        self.multi_cell(0, size * 0.48, pdf_text(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.ln(0.8)

    def keep_together(self, *, lines: int, line_height: float = 5.2) -> None:
        """Start a new page unless a heading and this many table lines fit on this one."""
        if self.get_y() + lines * line_height > self.page_break_trigger:
            self.add_page()

    def rows(self, headings: Sequence[str], rows: Iterable[Sequence[str]],
             widths: Sequence[float] | None = None, size: float = 8.5) -> None:
        self.set_font(FONT, size=size)
        with self.table(col_widths=widths, text_align="LEFT", headings_style=HEADINGS,
                        line_height=size * 0.5, wrapmode=WrapMode.CHAR,
                        repeat_headings=1) as table:
            for cells in [headings, *rows]:
                row = table.row()
                for cell in cells:
                    row.cell(pdf_text(cell))
        self.ln(3)

    def finish(self) -> bytes:
        return bytes(self.output())


@dataclass(frozen=True)
class Exported:
    """Who exported what, when: printed on every export."""

    by: str
    at: datetime


def _chain_lines(trail: TrailCheck, chain: ChainStatus, names: dict[str, str],
                 events: list[AuditEvent]) -> list[str]:
    # No sequence numbers and no counts of all events: see audit/opaque.py. Only a
    # broken whole chain is located by position (an incident, the same for every reader).
    if trail.intact:
        lines = [f"This case's events at export: {trail.events} checked; each matches its "
                 "hash and links to the event before it in the chain."]
    else:
        broken = next((event_id(e) for e in events if e.seq == trail.first_broken_seq), "?")
        lines = [f"This case's events at export: BROKEN at event {broken}, "
                 f"which {trail.problem}."]
    if chain.verified is None:
        lines.append("Whole chain: never verified yet.")
    else:
        v = chain.verification
        verdict = ("intact" if v.get("intact")
                   else f"BROKEN at event #{v.get('first_broken_seq')}")
        lines.append(f"Whole chain, last verified {utc(chain.verified.occurred_at)} by "
                     f"{actor_label(chain.verified, names)}: {verdict}.")
    if chain.checkpoint is None:
        lines.append("Signed checkpoint: none exported yet.")
    else:
        lines.append(f"Last signed checkpoint: exported {utc(chain.checkpoint.occurred_at)}.")
    return lines


def case_trail_pdf(*, reference: str, events: list[AuditEvent], names: dict[str, str],
                   trail: TrailCheck, chain: ChainStatus, exported: Exported) -> bytes:
    """A case's audit trail, one row per event with the fields the CSV has."""
    doc = _Document(title=f"Audit trail of {reference}", landscape=True,
                    footer=f"Audit trail of {reference}, exported {utc(exported.at)}")
    doc.heading(f"Audit trail of case {reference}")
    doc.para(f"Exported {utc(exported.at)} by {exported.by}. {len(events)} events, oldest "
             "first, each named by its opaque id. Times are UTC as hashed; the server checked "
             "each event against its hash and the chain at export (below).")
    for line in _chain_lines(trail, chain, names, events):
        doc.para(line, style="B" if not trail.intact and line.startswith("This") else "")
    doc.ln(2)
    doc.set_font(FONT, size=7)
    with doc.table(col_widths=(27, 37, 40, 40, 30, 99), text_align="LEFT",
                   headings_style=HEADINGS, line_height=3.2, wrapmode=WrapMode.CHAR,
                   repeat_headings=1) as table:
        head = table.row()
        for title in ("Event", "Occurred at (UTC)", "Actor", "Action", "From -> to",
                      "Payload"):
            head.cell(title)
        for e in events:
            row = table.row()
            row.cell(event_id(e), style=HASH_STYLE)
            row.cell(format_time(e.occurred_at))
            row.cell(pdf_text(actor_label(e, names)))
            row.cell(pdf_text(e.action))
            change = f"{e.from_state or '-'} ->\n{e.to_state or '-'}"
            row.cell(pdf_text(change if (e.from_state or e.to_state) else ""))
            row.cell(pdf_text(reader_payload_text(e)))
    if not events:
        doc.para("No events.")
    return doc.finish()


def _share(share: Share) -> str:
    if share.percent is None:
        return "- (nothing to measure)"
    return f"{share.percent}% ({share.met} of {share.of})"


def _bars(doc: _Document, title: str, bars: list[Bar], column: str = "Cases") -> None:
    doc.keep_together(lines=len(bars) + 3)
    doc.heading(title, size=11)
    if bars:
        doc.rows(("", column), [(bar.label, str(bar.value)) for bar in bars], widths=(3, 1))
    else:
        doc.para("None.")


def compliance_report_pdf(*, figures: DashboardFigures, exported: Exported) -> bytes:
    """The periodic compliance report: the dashboard's figures as tables."""
    period = f"{figures.period.start:%Y-%m-%d} to {figures.period.end:%Y-%m-%d}"
    doc = _Document(title=f"Compliance report {period}",
                    footer=f"Compliance report {period}, exported {utc(exported.at)}")
    doc.heading(f"Compliance report, {period}")
    doc.para(f"Exported {utc(exported.at)} by {exported.by}. Figures cover the cases the "
             "exporter may see (never a case they are conflicted on). Open cases are counted "
             f"as they stood at {utc(figures.as_of)}.")
    doc.heading("EU Directive 2019/1937", size=11)
    doc.rows(("Duty", "Figure"), [
        ("Reports received in the period", str(figures.received)),
        ("Acknowledged within 7 days (art. 9(1)(b))", _share(figures.ack_within_7_days)),
        ("Median time to acknowledge", human_duration(figures.ack_median)),
        ("90th percentile time to acknowledge", human_duration(figures.ack_p90)),
        ("Feedback within 3 months of acknowledgement (art. 9(1)(f))",
         _share(figures.feedback_within_3_months)),
        ("Feedback clocks still running", str(figures.feedback_running)),
    ], widths=(3, 1))
    doc.keep_together(lines=6)
    doc.heading("SOX section 301", size=11)
    doc.rows(("Measure", "Figure"), [
        ("Accounting and fraud reports received", str(figures.sox_received)),
        ("Of which the audit committee was notified on filing",
         str(figures.sox_committee_notified)),
    ], widths=(3, 1))
    _bars(doc, "Time to acknowledge", figures.ack_buckets)
    _bars(doc, "Deadline breaches per month (missed and escalated)", figures.breaches_by_month,
          column="Breaches")
    _bars(doc, "Open cases by age", figures.open_by_age)
    _bars(doc, "Escalations by level", figures.escalations_by_level)
    _bars(doc, "Escalations by handler notified", figures.escalations_by_handler)
    _bars(doc, "Cases by category", figures.by_category)
    return doc.finish()
