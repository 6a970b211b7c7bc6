"""The sweep: an ignored complaint moves up the ladder by itself, skipping the conflicted."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.db import connection

from audit.models import AuditEvent
from audit.services import verify
from complaints import access, services
from complaints.models import Category, Complaint
from complaints.services.sweep import sweep
from escalation.models import Deadline, Escalation, Notification
from tests.escalation.helpers import MONDAY, file_complaint, open_deadlines
from tests.factories import UserFactory


def file(reporter: Any, category: str = Category.SEXUAL_ASSAULT, **extra: Any) -> Complaint:
    return file_complaint(reporter, category, **extra)


def escalation_events(complaint: Complaint) -> list[dict[str, Any]]:
    return [json.loads(e.payload) for e in AuditEvent.objects.filter(
        action="complaint.escalated", target_id=complaint.reference).order_by("seq")]


def told(user: Any, kind: str = Notification.Kind.ESCALATED) -> list[Notification]:
    return list(Notification.objects.filter(recipient=user, kind=kind))


@pytest.fixture
def ladder(hr_reviewer: Any, hr_lead: Any, compliance: Any, audit_committee: Any) -> Any:
    return {"hr_reviewer": hr_reviewer, "hr_lead": hr_lead, "compliance": compliance,
            "audit_committee": audit_committee}


def test_ignored_critical_complaint_reaches_compliance_in_two_business_days(
    reporter: Any, ladder: dict[str, Any]
) -> None:
    with time_machine.travel(MONDAY, tick=False) as clock:
        complaint = file(reporter)
        clock.move_to(MONDAY + timedelta(days=1, minutes=1))      # Tue: 1 business day
        assert sweep().escalated == 1
        complaint.refresh_from_db()
        assert (complaint.escalation_level, complaint.assignee) == (1, ladder["hr_lead"])
        assert open_deadlines(complaint)["acknowledge"].level == 1
        assert len(told(ladder["hr_lead"])) == 1

        clock.move_to(MONDAY + timedelta(days=2, minutes=1))      # Wed: the next level
        assert sweep().escalated == 1
        complaint.refresh_from_db()
        assert (complaint.escalation_level, complaint.co_owner) == (2, ladder["compliance"])
        assert len(told(ladder["compliance"])) == 1
        to_reporter = Notification.objects.get(kind=Notification.Kind.REPORTER_ESCALATED)
        assert to_reporter.for_reporter and to_reporter.recipient == reporter
        for name in ("hr_lead", "compliance", "Compliance", "level 2"):
            assert name not in to_reporter.body + to_reporter.subject

        clock.move_to(MONDAY + timedelta(days=3, minutes=1))      # Thu: the audit committee
        assert sweep().escalated == 1
        complaint.refresh_from_db()
        assert complaint.escalation_level == 3
        assert len(told(ladder["audit_committee"])) == 1
    assert [(e["from_level"], e["level"]) for e in escalation_events(complaint)] == [
        (0, 1), (1, 2), (2, 3)]
    event = AuditEvent.objects.filter(action="complaint.escalated").last()
    assert (event.actor_type, event.from_state, event.to_state) == ("system", "submitted",
                                                                   "submitted")
    assert verify().intact


def test_nothing_escalates_before_the_deadline_or_once_it_is_met(reporter: Any,
                                                                ladder: dict[str, Any]) -> None:
    with time_machine.travel(MONDAY, tick=False) as clock:
        complaint = file(reporter)
        clock.move_to(MONDAY + timedelta(hours=23))
        assert sweep().escalated == 0
        services.complaint_acknowledge(complaint=complaint, actor=ladder["hr_reviewer"])
        clock.move_to(MONDAY + timedelta(days=1, minutes=1))
        assert sweep().escalated == 0
    assert not Escalation.objects.exists()


def test_at_the_top_the_committee_hears_again_and_the_level_stays(
    reporter: Any, ladder: dict[str, Any]
) -> None:
    with time_machine.travel(MONDAY, tick=False) as clock:
        complaint = file(reporter)
        for day in (1, 2, 3, 4):
            clock.move_to(MONDAY + timedelta(days=day, minutes=1))
            sweep()
    complaint.refresh_from_db()
    assert complaint.escalation_level == 3
    assert len(told(ladder["audit_committee"])) == 2


def test_a_conflicted_lead_is_skipped_and_never_told(reporter: Any, conflicted: Any,
                                                     ladder: dict[str, Any]) -> None:
    with time_machine.travel(MONDAY, tick=False) as clock:
        complaint = file(reporter)
        clock.move_to(MONDAY + timedelta(days=1, minutes=1))
        sweep()
    complaint.refresh_from_db()
    assert complaint.assignee == ladder["hr_lead"]
    assert told(conflicted) == []


def test_a_level_whose_people_are_all_conflicted_is_skipped(reporter: Any, conflicted: Any,
                                                           compliance: Any) -> None:
    # The only hr_lead sits above the accused: the case goes straight to compliance.
    with time_machine.travel(MONDAY, tick=False) as clock:
        complaint = file(reporter)
        clock.move_to(MONDAY + timedelta(days=1, minutes=1))
        sweep()
    complaint.refresh_from_db()
    assert complaint.escalation_level == 2
    assert complaint.co_owner == compliance
    assert escalation_events(complaint)[0]["skipped_levels"] == [1]
    assert told(conflicted) == []


def test_the_previous_assignee_is_reminded_when_the_case_moves(
    reporter: Any, ladder: dict[str, Any]
) -> None:
    with time_machine.travel(MONDAY, tick=False) as clock:
        complaint = file(reporter)
        services.complaint_acknowledge(complaint=complaint, actor=ladder["hr_reviewer"])
        clock.move_to(MONDAY + timedelta(days=3, minutes=1))  # triage: 2 business days
        sweep()
    complaint.refresh_from_db()
    assert complaint.assignee == ladder["hr_lead"]
    assert len(told(ladder["hr_reviewer"], Notification.Kind.REMINDER)) == 1


def test_a_conflicted_previous_assignee_is_not_reminded(
    reporter: Any, ladder: dict[str, Any]
) -> None:
    from complaints.models import Conflict

    with time_machine.travel(MONDAY, tick=False) as clock:
        complaint = file(reporter)
        services.complaint_acknowledge(complaint=complaint, actor=ladder["hr_reviewer"])
        # Conflicted since (say, a directory change not yet applied to the assignment).
        Conflict.objects.create(complaint=complaint, user=ladder["hr_reviewer"],
                                source=Conflict.Source.DECLARED, created_at=MONDAY)
        clock.move_to(MONDAY + timedelta(days=3, minutes=1))
        sweep()
    complaint.refresh_from_db()
    assert complaint.assignee == ladder["hr_lead"]
    assert told(ladder["hr_reviewer"], Notification.Kind.REMINDER) == []


def test_after_a_week_of_downtime_the_sweep_climbs_the_missed_levels_in_order(
    reporter: Any, ladder: dict[str, Any]
) -> None:
    with time_machine.travel(MONDAY, tick=False) as clock:
        complaint = file(reporter, category=Category.BULLYING)  # acknowledge within 7 days
        clock.move_to(MONDAY + timedelta(days=15))
        result = sweep()
    assert result.escalated == 3 and result.passes == 3
    assert [e["level"] for e in escalation_events(complaint)] == [1, 2, 3]
    levels = list(Escalation.objects.filter(complaint=complaint).values_list("level", flat=True))
    assert levels == [1, 2, 3]
    # The top level's next reminder is counted from now, not from the missed time.
    assert open_deadlines(complaint)["acknowledge"].due_at > MONDAY + timedelta(days=15)


def test_a_dry_run_lists_what_is_due_and_changes_nothing(reporter: Any,
                                                        ladder: dict[str, Any]) -> None:
    with time_machine.travel(MONDAY, tick=False):
        complaint = file(reporter)
    events = AuditEvent.objects.count()
    out = io.StringIO()
    call_command("sweep_deadlines", "--dry-run", "--now", "2026-11-24T09:30:00+00:00",
                 stdout=out)
    assert complaint.reference in out.getvalue()
    assert "1 deadline(s) due; nothing changed" in out.getvalue()
    assert AuditEvent.objects.count() == events
    assert not Escalation.objects.exists()


def test_the_command_sweeps_as_of_a_simulated_time(reporter: Any,
                                                   ladder: dict[str, Any]) -> None:
    with time_machine.travel(MONDAY, tick=False):
        complaint = file(reporter)
    out = io.StringIO()
    call_command("sweep_deadlines", "--now", "2026-11-24T09:30:00", stdout=out)
    assert out.getvalue().startswith("1 escalated")
    complaint.refresh_from_db()
    assert complaint.escalation_level == 1
    with pytest.raises(CommandError, match="ISO 8601"):
        call_command("sweep_deadlines", "--now", "next tuesday")


def test_one_broken_case_is_logged_and_skipped_not_a_crash_loop(
    reporter: Any, ladder: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    with time_machine.travel(MONDAY, tick=False) as clock:
        good, broken = file(reporter), file(reporter)
        with connection.cursor() as cursor:  # a row no policy covers
            cursor.execute("UPDATE complaints_complaint SET severity = 'bogus' WHERE id = %s",
                           [broken.pk])
        clock.move_to(MONDAY + timedelta(days=1, minutes=1))
        result = sweep()
    assert result.escalated == 1 and result.failed == [broken.pk]
    assert Complaint.objects.get(pk=good.pk).escalation_level == 1
    assert Complaint.objects.get(pk=broken.pk).escalation_level == 0
    assert Deadline.objects.get(complaint=broken, closed_at=None).outcome == ""
    assert "could not be processed" in caplog.text
    assert verify().intact


def test_accounting_and_fraud_reports_reach_the_audit_committee_on_filing(
    reporter: Any, audit_committee: Any, org: dict[str, Any]
) -> None:
    member_above = UserFactory(username="committee_ceo", roles=[access.AUDIT_COMMITTEE])
    org["ceo"].user = member_above
    org["ceo"].save()
    complaint = file(reporter, category=Category.ACCOUNTING)
    filed = Notification.objects.get(kind=Notification.Kind.FILED)
    assert (filed.recipient, filed.complaint) == (audit_committee, complaint)
    assert told(member_above, Notification.Kind.FILED) == []  # above the accused
    file(reporter, category=Category.BULLYING)
    assert Notification.objects.filter(kind=Notification.Kind.FILED).count() == 1


def test_a_case_escalated_to_nobody_is_marked_and_the_operators_are_told(
        reporter: Any, conflicted: Any, settings: Any, mailoutbox: Any,
        django_capture_on_commit_callbacks: Any) -> None:
    """The only hr_lead sits above the accused and nobody holds the higher roles: the case
    is escalated to nobody. The event says so and the operators hear of it by mail, but
    never an operator who is conflicted on it (here the conflicted lead's address)."""
    settings.ADMINS = [("Ops", "ops@example.com"), ("Lead", "Conflicted_Lead@example.com")]
    with time_machine.travel(MONDAY, tick=False) as clock:
        complaint = file(reporter)
        clock.move_to(MONDAY + timedelta(days=1, minutes=1))
        with django_capture_on_commit_callbacks(execute=True):
            sweep()
    complaint.refresh_from_db()

    assert complaint.escalation_level == 3
    event = escalation_events(complaint)[0]
    assert (event["nobody_left"], event["recipients"], event["skipped_levels"]) == (
        True, [], [1, 2, 3])
    assert Notification.objects.filter(complaint=complaint).exclude(
        kind=Notification.Kind.REPORTER_ESCALATED).count() == 0
    assert [m.to for m in mailoutbox] == [["ops@example.com"]]
    assert f"{complaint.reference}: level 3" in mailoutbox[0].body


def test_a_case_someone_receives_tells_the_operators_nothing(
        reporter: Any, ladder: dict[str, Any], settings: Any, mailoutbox: Any,
        django_capture_on_commit_callbacks: Any) -> None:
    settings.ADMINS = [("Ops", "ops@example.com")]
    with time_machine.travel(MONDAY, tick=False) as clock:
        complaint = file(reporter)
        clock.move_to(MONDAY + timedelta(days=1, minutes=1))
        with django_capture_on_commit_callbacks(execute=True):
            sweep()

    assert "nobody_left" not in escalation_events(complaint)[0]
    assert not [m for m in mailoutbox if "ops@example.com" in m.to]
