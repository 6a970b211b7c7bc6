"""Exports for auditors. Each one is on the record before it is handed over: the event names
the file's SHA-256, so an auditor can later show which export a file came from."""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from audit import services as audit
from audit.actions import Action
from audit.chain import format_time
from audit.models import AuditEvent
from audit.opaque import event_id, reader_payload_text
from complaints import access
from complaints.services.reads import CaseNotFound, complaint_open
from compliance.reports.pdf import Exported, case_trail_pdf, compliance_report_pdf
from compliance.selectors import (
    Period,
    case_events,
    chain_status,
    check_trail,
    dashboard_figures,
    usernames_for,
)

READERS = frozenset({access.COMPLIANCE_OFFICER, access.AUDIT_COMMITTEE})
# An event is named by its opaque id, never by seq, and without its hashes: from an event's
# hash, the one before it and the fields in the row, a reader could try every seq until one
# matched (audit/opaque.py). The trail's integrity is the server's check, stated
# in the PDF and run at every export.
CSV_COLUMNS = ("id", "occurred_at", "actor_type", "actor_id", "action", "from_state",
               "to_state", "payload")
FORMATS = {"csv": ("text/csv; charset=utf-8", Action.EXPORT_CASE_AUDIT_CSV),
           "pdf": ("application/pdf", Action.EXPORT_CASE_AUDIT_PDF)}


@dataclass(frozen=True)
class ExportFile:
    content: bytes
    filename: str
    content_type: str


def may_export(user: Any) -> bool:
    return access.has_role(user, READERS)


def case_trail_csv(events: list[AuditEvent]) -> bytes:
    """One row per event, oldest first, named by its opaque id; the payload without chain
    positions or counts of all events."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for e in events:
        writer.writerow([event_id(e), format_time(e.occurred_at), e.actor_type, e.actor_id,
                         e.action, e.from_state, e.to_state, reader_payload_text(e)])
    return out.getvalue().encode("utf-8")


def case_audit_export(*, actor: Any, reference: str, fmt: str) -> ExportFile:
    """A case's full audit trail as CSV or PDF, for a compliance officer or audit committee
    member who may see the case.

    Audits ``complaint.viewed`` (via ``export``) or, for a case hidden from the actor,
    ``complaint.access_denied`` (both through ``complaint_open``); then
    ``export.case_audit_csv`` / ``export.case_audit_pdf`` on the case with the number of
    events, the opaque id of the last event exported and the file's SHA-256.
    Raises ``CaseNotFound`` for a missing or hidden case (and for anyone without the role).
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}")
    if not may_export(actor):
        raise CaseNotFound(reference)
    complaint = complaint_open(actor=actor, reference=reference, via="export")
    events = case_events(complaint.reference)
    now = timezone.now()
    if fmt == "csv":
        content = case_trail_csv(events)
        check = None
    else:
        check = check_trail(events)
        names = usernames_for({e.actor_id for e in events
                               if e.actor_type == AuditEvent.ActorType.USER} | {str(actor.pk)})
        content = case_trail_pdf(
            reference=complaint.reference, events=events, names=names, trail=check,
            chain=chain_status(), exported=Exported(by=actor.get_username(), at=now))
    content_type, action = FORMATS[fmt]
    payload: dict[str, Any] = {"events": len(events),
                               "last_event": event_id(events[-1]) if events else "",
                               "sha256": hashlib.sha256(content).hexdigest()}
    if check is not None:
        payload["trail_intact"] = check.intact
    with transaction.atomic():
        audit.record(action=action, actor=actor, target=complaint, payload=payload)
    return ExportFile(content=content, content_type=content_type,
                      filename=f"{complaint.reference}-audit-{now:%Y%m%dT%H%M%SZ}.{fmt}")


def compliance_report_export(*, actor: Any, period: Period) -> ExportFile:
    """The periodic compliance report for ``period`` as PDF: the dashboard's figures.

    Audits ``export.compliance_report`` with the period, the number of reports received in
    it and the file's SHA-256. Raises ``PermissionError`` for anyone without the role.
    """
    if not may_export(actor):
        raise PermissionError("only compliance and the audit committee export reports")
    now = timezone.now()
    figures = dashboard_figures(user=actor, period=period, as_of=now)
    content = compliance_report_pdf(figures=figures,
                                    exported=Exported(by=actor.get_username(), at=now))
    span = f"{period.start.isoformat()}..{period.end.isoformat()}"
    with transaction.atomic():
        audit.record(action=Action.EXPORT_COMPLIANCE_REPORT, actor=actor,
                     target=("compliance_report", span),
                     payload={"from": period.start.isoformat(), "to": period.end.isoformat(),
                              "received": figures.received,
                              "sha256": hashlib.sha256(content).hexdigest()})
    return ExportFile(content=content, content_type="application/pdf",
                      filename=f"compliance-report-{period.start:%Y%m%d}-{period.end:%Y%m%d}.pdf")
