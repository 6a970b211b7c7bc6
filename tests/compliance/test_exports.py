"""Exports for auditors: a case's audit trail as CSV and PDF, the compliance report as PDF.
Each export is on the record before it is handed over; a case the exporter may not see is
refused with a 404, and the refusal is on the record too."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from datetime import UTC, datetime
from typing import Any

import pytest
import time_machine

from audit.actions import Action
from audit.chain import format_time
from audit.models import AuditEvent
from audit.opaque import event_id
from complaints import services
from complaints.models import Category, Complaint
from tests.audit.test_log import rewrite_event

NOW = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def worked(filed: Complaint, hr_reviewer: Any) -> Complaint:
    """The bullying case against the accused, acknowledged."""
    return services.complaint_acknowledge(complaint=filed, actor=hr_reviewer)


def last_event() -> AuditEvent:
    event = AuditEvent.objects.order_by("-seq").first()
    assert event is not None
    return event


def case_rows(reference: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(target_type="complaint", target_id=reference)
                .order_by("seq"))


def test_the_csv_holds_the_case_trail_as_stored(worked: Complaint, compliance: Any,
                                                client: Any) -> None:
    client.force_login(compliance)
    response = client.get(f"/compliance/cases/{worked.reference.lower()}/audit.csv")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    disposition = response["Content-Disposition"]
    assert disposition.startswith(f'attachment; filename="{worked.reference}-audit-')
    assert disposition.endswith('.csv"')
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    export = last_event()
    stored = [e for e in case_rows(worked.reference) if e.seq < export.seq]
    assert [row["id"] for row in rows] == [event_id(e) for e in stored]
    assert [row["action"] for row in rows] == [Action.COMPLAINT_SUBMITTED,
                                               Action.COMPLAINT_ACKNOWLEDGED,
                                               Action.COMPLAINT_VIEWED]
    # No seq and no hashes: from them a reader could count the events hidden between.
    assert list(rows[0]) == ["id", "occurred_at", "actor_type", "actor_id", "action",
                             "from_state", "to_state", "payload"]
    assert rows[1]["occurred_at"] == format_time(stored[1].occurred_at)
    assert rows[1]["payload"] == stored[1].payload
    assert json.loads(rows[2]["payload"]) == {"via": "export"}


def test_each_export_is_audited_with_the_files_digest(worked: Complaint, compliance: Any,
                                                      client: Any) -> None:
    client.force_login(compliance)
    for fmt, action in (("csv", Action.EXPORT_CASE_AUDIT_CSV),
                        ("pdf", Action.EXPORT_CASE_AUDIT_PDF)):
        response = client.get(f"/compliance/cases/{worked.reference}/audit.{fmt}")
        assert response.status_code == 200
        event = last_event()
        assert (event.action, event.actor_id) == (action, str(compliance.pk))
        assert (event.target_type, event.target_id) == ("complaint", worked.reference)
        payload = json.loads(event.payload)
        assert payload["sha256"] == hashlib.sha256(response.content).hexdigest()
        # The export's own read, just before, named by its opaque id.
        assert payload["last_event"] == event_id(
            AuditEvent.objects.filter(seq__lt=event.seq).order_by("-seq")[0])
        assert "last_seq" not in payload
        assert payload["events"] == len(case_rows(worked.reference)) - 1


def test_the_pdf_is_a_pdf_and_says_the_trail_is_intact(worked: Complaint, compliance: Any,
                                                       client: Any) -> None:
    client.force_login(compliance)
    response = client.get(f"/compliance/cases/{worked.reference}/audit.pdf")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")
    assert response["Content-Disposition"].endswith('.pdf"')
    assert json.loads(last_event().payload)["trail_intact"] is True


def test_a_tampered_trail_is_reported_broken_in_the_pdf_export(
        worked: Complaint, compliance: Any, client: Any) -> None:
    acknowledged = case_rows(worked.reference)[1]
    rewrite_event(acknowledged.seq, to_state="dismissed")
    client.force_login(compliance)
    response = client.get(f"/compliance/cases/{worked.reference}/audit.pdf")
    assert response.status_code == 200
    assert json.loads(last_event().payload)["trail_intact"] is False


@pytest.mark.parametrize("fmt", ["csv", "pdf"])
def test_a_conflicted_officer_is_refused_the_export_and_the_refusal_audited(
        filed: Complaint, officer_on_chain: Any, client: Any, fmt: str) -> None:
    client.force_login(officer_on_chain)
    response = client.get(f"/compliance/cases/{filed.reference}/audit.{fmt}")
    assert response.status_code == 404
    event = last_event()
    assert (event.action, event.actor_id, event.target_id) == (
        Action.COMPLAINT_ACCESS_DENIED, str(officer_on_chain.pk), filed.reference)
    assert json.loads(event.payload) == {"via": "export", "reason": "conflicted"}
    assert not AuditEvent.objects.filter(action__startswith="export.").exists()


def test_an_unknown_case_is_a_404_with_nothing_exported(compliance: Any, client: Any) -> None:
    client.force_login(compliance)
    assert client.get("/compliance/cases/MC-2222-2222/audit.csv").status_code == 404
    assert not AuditEvent.objects.filter(action__startswith="export.").exists()


def test_the_committee_exports_the_cases_it_may_see_only(
        reporter: Any, filed: Complaint, audit_committee: Any, client: Any) -> None:
    sox = services.complaint_submit(reporter=reporter, category=Category.ACCOUNTING,
                                    summary="s", narrative="books cooked",
                                    subjects=["Someone"]).complaint
    client.force_login(audit_committee)
    assert client.get(f"/compliance/cases/{sox.reference}/audit.csv").status_code == 200
    assert last_event().action == Action.EXPORT_CASE_AUDIT_CSV
    assert client.get(f"/compliance/cases/{filed.reference}/audit.csv").status_code == 404
    assert json.loads(last_event().payload) == {"via": "export", "reason": "not_involved"}


def test_the_compliance_report_is_a_pdf_and_audited(reporter: Any, compliance: Any,
                                                    client: Any) -> None:
    client.force_login(compliance)
    with time_machine.travel(datetime(2026, 3, 2, 9, 0, tzinfo=UTC), tick=False) as clock:
        for _ in range(2):
            services.complaint_submit(reporter=reporter, category=Category.FRAUD, summary="s",
                                      narrative="n", subjects=["Someone"])
        clock.move_to(NOW)
        response = client.get("/compliance/report.pdf", {"from": "2026-01-01",
                                                         "to": "2026-06-30"})
    assert response.status_code == 200
    assert response.content.startswith(b"%PDF")
    assert response["Content-Disposition"] == (
        'attachment; filename="compliance-report-20260101-20260630.pdf"')
    event = last_event()
    assert (event.action, event.actor_id) == (Action.EXPORT_COMPLIANCE_REPORT,
                                              str(compliance.pk))
    assert (event.target_type, event.target_id) == ("compliance_report",
                                                    "2026-01-01..2026-06-30")
    payload = json.loads(event.payload)
    assert payload["sha256"] == hashlib.sha256(response.content).hexdigest()
    assert (payload["from"], payload["to"]) == ("2026-01-01", "2026-06-30")
    assert payload["received"] == 2


def test_a_bad_report_period_is_a_400_and_nothing_exported(compliance: Any,
                                                            client: Any) -> None:
    client.force_login(compliance)
    with time_machine.travel(NOW, tick=False):
        response = client.get("/compliance/report.pdf", {"from": "2026-13-01"})
    assert response.status_code == 400
    assert "Enter the first day as a date" in response.content.decode()
    assert not AuditEvent.objects.filter(action__startswith="export.").exists()


def test_exports_are_not_cached(worked: Complaint, compliance: Any, client: Any) -> None:
    client.force_login(compliance)
    response = client.get(f"/compliance/cases/{worked.reference}/audit.csv")
    assert "no-store" in response["Cache-Control"]
