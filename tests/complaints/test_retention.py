from __future__ import annotations

import io
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.conf import settings as django_settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import verify
from complaints import tasks
from complaints.access import ReporterPrincipal
from complaints.errors import DomainError
from complaints.models import (
    Attachment,
    CaseNote,
    Category,
    Complaint,
    Conflict,
    EvidenceItem,
    Interview,
    Investigation,
    Message,
    Subject,
    Witness,
)
from complaints.receipts import receipt_key_hash
from complaints.services import (
    complaint_reopen,
    complaint_submit,
    investigation_record_evidence,
    investigation_record_interview,
)
from complaints.services import retention as retention_module
from complaints.services.attachments import attachment_add
from complaints.services.retention import retention_purge
from escalation.models import Deadline, Notification
from tests.complaints.lifecycle import drive, take

SECRETS = ("Distinctive narrative about the storeroom", "Storeroom incident",
           "Basement storeroom", "Typed Subject Quill", "Interview notes about Quill",
           "Evidence: the CCTV log", "Message from the reporter about Quill")


@pytest.fixture
def media(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = str(tmp_path)
    return tmp_path


@pytest.fixture
def people(reporter: Any, hr_reviewer: Any, hr_lead: Any, investigator: Any) -> dict[str, Any]:
    return {"reporter": reporter, "hr_reviewer": hr_reviewer, "hr_lead": hr_lead,
            "investigator": investigator}


def long_ago() -> datetime:
    return timezone.now() - timedelta(days=django_settings.RETENTION_DAYS + 30)


def full_case(org: dict[str, Any], people: dict[str, Any], end: str = "closed") -> Complaint:
    """A case with something in every place personal data lives, driven to ``end``."""
    summary, narrative, location, typed, interview, evidence, message = (
        SECRETS[1], SECRETS[0], SECRETS[2], SECRETS[3], SECRETS[4], SECRETS[5], SECRETS[6])
    reporter = people["reporter"]
    complaint = complaint_submit(
        reporter=reporter, category=Category.BULLYING, summary=summary, narrative=narrative,
        location=location, subjects=[org["accused"].employee_id, typed],
        witnesses=[org["manager"].employee_id],
    ).complaint
    now = timezone.now()
    Message.objects.create(complaint=complaint, from_reporter=True, body=message, created_at=now)
    CaseNote.objects.create(complaint=complaint, kind=CaseNote.Kind.INTERNAL,
                            author=people["hr_reviewer"], body=f"Note on {typed}", created_at=now)
    Conflict.objects.get_or_create(complaint=complaint, person=org["vp"],
                                   source=Conflict.Source.NAMED, defaults={"created_at": now})
    Notification.objects.create(
        complaint=complaint, recipient=reporter, for_reporter=True,
        kind=Notification.Kind.REPORTER_ESCALATED, subject=f"Your report {complaint.reference}",
        body="Your report was escalated.", email=reporter.email, created_at=now,
        next_attempt_at=now, delivered_at=now)
    attachment_add(complaint=complaint, actor=reporter,
                   upload=SimpleUploadedFile("photo-of-quill.txt", b"Quill's note"))
    if end == "open":
        return complaint
    complaint = drive(complaint, "investigating", people)
    investigation_record_interview(complaint=complaint, actor=people["investigator"],
                                   notes=interview, interviewee_name=typed)
    investigation_record_evidence(complaint=complaint, actor=people["investigator"],
                                  description=evidence)
    for name, persona in [("record_findings", "investigator"), ("approve_findings", "hr_lead"),
                          ("close", "hr_reviewer")]:
        complaint = take(complaint, name, people[persona])
    return complaint


def file_names(media: Path) -> set[str]:
    return {p.relative_to(media).as_posix() for p in media.rglob("*") if p.is_file()}


def stored_name(complaint: Complaint) -> str:
    return Attachment.objects.get(complaint=complaint).stored_name


def test_a_case_past_retention_is_erased_and_recent_or_open_cases_are_not(
    org: dict[str, Any], people: dict[str, Any], media: Path,
    django_capture_on_commit_callbacks: Any,
) -> None:
    with time_machine.travel(long_ago(), tick=True):
        old = full_case(org, people)
    recent = full_case(org, people)
    still_open = full_case(org, people, end="open")
    old_file, recent_file, open_file = (stored_name(c) for c in (old, recent, still_open))
    old_deadlines = Deadline.objects.filter(complaint=old).count()
    assert old_deadlines > 0
    before = Complaint.objects.get(pk=old.pk)
    # Conflict rows and reason notes come from other services: counted, not assumed.
    conflicts = Conflict.objects.filter(complaint=old).count()
    notes = CaseNote.objects.filter(complaint=old).count()
    assert conflicts >= 1 and notes >= 1
    events_before = AuditEvent.objects.count()

    now = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        assert retention_purge(now=now) == 1

    erased = Complaint.objects.get(pk=old.pk)
    assert erased.purged_at == now
    assert (erased.summary, erased.narrative, erased.location, erased.reporter_identity) == (
        "[erased]", "", "", "")
    assert erased.reporter_user_id is None and erased.reporter_person_id is None
    # Kept for the dashboard's statistics.
    for name in ("reference", "category", "severity", "state", "submitted_at",
                 "acknowledged_at", "investigation_started_at", "resolved_at", "ended_at",
                 "escalation_level", "assignee_id"):
        assert getattr(erased, name) == getattr(before, name), name
    assert Deadline.objects.filter(complaint=old).count() == old_deadlines
    for model in (Subject, Witness, CaseNote, Message, Attachment, Conflict):
        assert not model.objects.filter(complaint=old).exists(), model.__name__
    assert not Interview.objects.filter(investigation__complaint=old).exists()
    assert not EvidenceItem.objects.filter(investigation__complaint=old).exists()
    investigation = Investigation.objects.get(complaint=old)
    assert (investigation.plan, investigation.findings, investigation.recommended_actions) == (
        "", "", "")
    assert investigation.outcome == "substantiated" and investigation.approved_at is not None
    notification = Notification.objects.get(complaint=old)
    assert (notification.subject, notification.body, notification.email) == ("", "", "")
    assert notification.recipient_id is None
    assert old_file not in file_names(media)

    for untouched in (recent, still_open):
        kept = Complaint.objects.get(pk=untouched.pk)
        assert kept.purged_at is None and kept.narrative == SECRETS[0]
        assert kept.reporter_user_id == people["reporter"].pk
        assert Subject.objects.filter(complaint=untouched).count() == 2
        assert Message.objects.filter(complaint=untouched).exists()
        assert Notification.objects.get(complaint=untouched).body != ""
    assert {recent_file, open_file} <= file_names(media)

    [event] = AuditEvent.objects.filter(seq__gt=events_before)
    assert (event.action, event.actor_type) == ("complaint.purged", "system")
    assert (event.target_type, event.target_id) == ("complaint", old.reference)
    assert json.loads(event.payload) == {
        "subjects": 2, "witnesses": 1, "notes": notes, "messages": 1, "attachments": 1,
        "conflicts": conflicts, "interviews": 1, "evidence": 1, "investigation": 1,
        "notifications": 1,
    }
    assert verify().intact
    for payload in AuditEvent.objects.values_list("payload", flat=True):
        assert not any(secret in payload for secret in SECRETS), payload

    # Done is done: a second run finds nothing, and the case cannot be reopened.
    assert retention_purge(now=now) == 0
    assert AuditEvent.objects.count() == events_before + 1
    with pytest.raises(DomainError):
        complaint_reopen(complaint=erased, actor=people["hr_lead"], reason="New evidence")


def test_an_anonymous_reporters_receipt_key_opens_nothing_once_purged(
    db: None, media: Path
) -> None:
    with time_machine.travel(long_ago(), tick=True):
        filed = complaint_submit(reporter=None, category=Category.FRAUD, summary="Invoices",
                                 narrative="Inflated invoices.")
        principal = ReporterPrincipal(filed.complaint.pk, filed.complaint.reference)
        withdrawn = take(filed.complaint, "withdraw", principal)
    assert withdrawn.state == "withdrawn" and filed.receipt_key
    assert retention_purge() == 1
    assert Complaint.objects.get(pk=withdrawn.pk).receipt_key_hash == ""
    assert not Complaint.objects.filter(
        receipt_key_hash=receipt_key_hash(filed.receipt_key)).exists()


def _ended_long_ago(reporter: Any, summary: str, when: datetime | None = None) -> Complaint:
    # Through the services at that time, so the log says so too: on PostgreSQL the database
    # gives the purge its permit only on the log's word that the case ended a year ago.
    with time_machine.travel(when or long_ago(), tick=True):
        complaint = complaint_submit(reporter=reporter, category=Category.BULLYING,
                                     summary=summary, narrative="Shouting.").complaint
        return take(complaint, "withdraw", reporter)


def test_one_failing_case_does_not_stop_the_others(
    reporter: Any, media: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = _ended_long_ago(reporter, "First")
    good = _ended_long_ago(reporter, "Second")
    real_record_many = retention_module.audit.record_many

    def record_many(entries: list[Any]) -> Any:
        if any(entry.target == ("complaint", bad.reference) for entry in entries):
            raise RuntimeError("this case cannot be written")
        return real_record_many(entries)

    monkeypatch.setattr(retention_module.audit, "record_many", record_many)
    assert retention_purge() == 1
    assert Complaint.objects.get(pk=good.pk).purged_at is not None
    failed = Complaint.objects.get(pk=bad.pk)
    assert failed.purged_at is None and failed.narrative == "Shouting."  # rolled back whole


def test_the_command_lists_on_a_dry_run_and_purges_as_of_now(
    reporter: Any, media: Path
) -> None:
    old = _ended_long_ago(reporter, "Old")
    # Not due today, but past the least retention any setting allows (a year), which the
    # database checks by its own clock before it lets the purge delete anything.
    recent = _ended_long_ago(reporter, "Recent", timezone.now() - timedelta(days=400))
    out = io.StringIO()
    call_command("purge_retention", "--dry-run", stdout=out)
    assert old.reference in out.getvalue() and recent.reference not in out.getvalue()
    assert "1 case(s)" in out.getvalue()
    assert not Complaint.objects.filter(purged_at__isnull=False).exists()

    later = timezone.now() + timedelta(days=django_settings.RETENTION_DAYS + 1)
    out = io.StringIO()
    call_command("purge_retention", "--now", later.isoformat(), stdout=out)
    assert "2 case(s) purged" in out.getvalue()
    assert Complaint.objects.filter(purged_at__isnull=False).count() == 2

    with pytest.raises(CommandError):
        call_command("purge_retention", "--now", "next tuesday")


def test_the_beat_task_calls_the_service(reporter: Any, media: Path) -> None:
    _ended_long_ago(reporter, "Old")
    assert tasks.retention_purge() == {"purged": 1, "held_files_deleted": 0}
    assert tasks.retention_purge.name == "complaints.tasks.retention_purge"
