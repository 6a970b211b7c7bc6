"""Each deadline kind, for each severity, started and met by the complaint services."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from complaints import services
from complaints.models import Category, Outcome
from complaints.services.sweep import sweep
from escalation.models import Deadline
from tests.escalation.helpers import MONDAY, closed, file_complaint, open_deadlines

file = file_complaint


@pytest.mark.parametrize(("category", "acknowledge_by"), [
    (Category.BULLYING, MONDAY + timedelta(days=7)),           # 7 calendar days (EU)
    (Category.SEXUAL_ASSAULT, MONDAY + timedelta(days=1)),     # 1 business day
])
def test_filing_starts_the_acknowledgement_clock(clock: Any, reporter: Any, category: str,
                                                 acknowledge_by: datetime) -> None:
    complaint = file(reporter, category)
    assert {k: d.due_at for k, d in open_deadlines(complaint).items()} == {
        "acknowledge": acknowledge_by}


@pytest.mark.parametrize(("category", "triage_by"), [
    (Category.BULLYING, datetime(2026, 12, 7, 9, tzinfo=UTC)),   # 10 business days
    (Category.VIOLENCE, datetime(2026, 11, 25, 9, tzinfo=UTC)),  # 2 business days
])
def test_acknowledging_meets_it_and_starts_triage_and_the_three_month_feedback(
    clock: Any, reporter: Any, hr_reviewer: Any, category: str, triage_by: datetime
) -> None:
    complaint = file(reporter, category)
    clock.shift(timedelta(hours=3))
    services.complaint_acknowledge(complaint=complaint, actor=hr_reviewer)
    running = open_deadlines(complaint)
    assert set(running) == {"triage", "feedback"}
    assert running["triage"].due_at == triage_by + timedelta(hours=3)
    assert running["feedback"].due_at == datetime(2027, 2, 23, 12, tzinfo=UTC)
    assert closed(complaint, "acknowledge") == [("met", 0)]


@pytest.mark.parametrize(("category", "findings_by", "decision_by"), [
    (Category.DISCRIMINATION, datetime(2027, 2, 18, 9, tzinfo=UTC),
     datetime(2026, 11, 30, 9, tzinfo=UTC)),
    (Category.RETALIATION, datetime(2027, 1, 7, 9, tzinfo=UTC),
     datetime(2026, 11, 25, 9, tzinfo=UTC)),
])
def test_investigation_and_decision_clocks(clock: Any, reporter: Any, hr_reviewer: Any,
                                           hr_lead: Any, hr_lead_2: Any, investigator: Any,
                                           category: str, findings_by: datetime,
                                           decision_by: datetime) -> None:
    complaint = file(reporter, category)
    services.complaint_acknowledge(complaint=complaint, actor=hr_reviewer)
    services.complaint_start_investigation(complaint=complaint, actor=hr_lead,
                                           investigator=investigator)
    # 60 / 30 business days, across Christmas and New Year's Day.
    assert open_deadlines(complaint)["findings"].due_at == findings_by
    assert closed(complaint, "triage") == [("met", 0)]
    services.complaint_record_findings(complaint=complaint, actor=investigator,
                                       outcome=Outcome.SUBSTANTIATED, findings="Confirmed.")
    running = open_deadlines(complaint)
    assert set(running) == {"decision", "feedback"}
    assert running["decision"].due_at == decision_by  # 5 / 2 business days
    services.complaint_approve_findings(complaint=complaint, actor=hr_lead_2)
    services.complaint_close(complaint=complaint, actor=hr_reviewer)
    assert open_deadlines(complaint) == {}
    assert closed(complaint, "feedback") == [("met", 0)]


def test_a_dismissal_proposal_starts_the_decision_clock(clock: Any, reporter: Any,
                                                        hr_reviewer: Any) -> None:
    complaint = file(reporter, Category.OTHER)
    services.complaint_acknowledge(complaint=complaint, actor=hr_reviewer)
    services.complaint_propose_dismissal(complaint=complaint, actor=hr_reviewer, reason="x")
    assert open_deadlines(complaint)["decision"].due_at == datetime(2026, 11, 30, 9,
                                                                    tzinfo=UTC)


def test_withdrawal_cancels_the_clocks(clock: Any, reporter: Any) -> None:
    complaint = file(reporter, Category.BULLYING)
    services.complaint_withdraw(complaint=complaint, actor=reporter)
    assert open_deadlines(complaint) == {}
    assert closed(complaint, "acknowledge") == [("cancelled", 0)]


def test_waiting_on_the_reporter_pauses_the_handler_clocks(clock: Any, reporter: Any,
                                                          hr_reviewer: Any) -> None:
    complaint = file(reporter, Category.BULLYING)
    services.complaint_acknowledge(complaint=complaint, actor=hr_reviewer)
    triage_due = open_deadlines(complaint)["triage"].due_at
    services.complaint_request_information(complaint=complaint, actor=hr_reviewer,
                                           reason="Which meeting?")
    running = open_deadlines(complaint)
    assert running["triage"].paused_at == MONDAY
    assert running["feedback"].paused_at == MONDAY
    # 20 business days for the reporter to answer.
    assert running["reporter_reply"].due_at == datetime(2026, 12, 21, 9, tzinfo=UTC)
    clock.shift(timedelta(days=3, hours=2))
    # Long past the triage deadline's own time, but it is paused: nothing escalates.
    assert sweep(now=triage_due + timedelta(days=1)).escalated == 0
    services.complaint_reporter_replies(complaint=complaint, actor=reporter)
    resumed = open_deadlines(complaint)
    assert resumed["triage"].paused_at is None
    assert resumed["triage"].due_at == triage_due + timedelta(days=3, hours=2)
    assert closed(complaint, "reporter_reply") == [("met", 0)]


def test_the_pause_expires_back_to_the_handler(clock: Any, reporter: Any,
                                               hr_reviewer: Any) -> None:
    complaint = file(reporter, Category.BULLYING)
    services.complaint_acknowledge(complaint=complaint, actor=hr_reviewer)
    services.complaint_request_information(complaint=complaint, actor=hr_reviewer,
                                           reason="Which meeting?")
    clock.move_to(datetime(2026, 12, 21, 9, 1, tzinfo=UTC))
    result = sweep()
    assert result.replies_expired == 1 and result.escalated == 0
    complaint.refresh_from_db()
    assert complaint.state == "acknowledged"
    assert closed(complaint, "reporter_reply") == [("expired", 0)]
    running = open_deadlines(complaint)
    assert running["triage"].paused_at is None
    # Paused for four weeks: the handler has those four weeks back.
    assert running["triage"].due_at == datetime(2026, 12, 7, 9, tzinfo=UTC) + timedelta(
        days=28, minutes=1)
    assert Deadline.objects.filter(complaint=complaint, kind="reporter_reply",
                                   closed_at=None).count() == 0


def test_a_clock_overdue_before_the_pause_escalates_in_the_sweep_that_ends_the_pause(
    clock: Any, reporter: Any, hr_reviewer: Any, hr_lead: Any
) -> None:
    complaint = file(reporter, Category.BULLYING)
    services.complaint_acknowledge(complaint=complaint, actor=hr_reviewer)
    triage_due = open_deadlines(complaint)["triage"].due_at
    # Overdue, and no sweep has run yet when the handler asks the reporter a question.
    clock.move_to(triage_due + timedelta(hours=1))
    services.complaint_request_information(complaint=complaint, actor=hr_reviewer,
                                           reason="Which meeting?")
    clock.move_to(open_deadlines(complaint)["reporter_reply"].due_at + timedelta(minutes=1))
    result = sweep()
    # The window expires, the triage clock runs again an hour overdue, and it escalates.
    assert (result.replies_expired, result.escalated) == (1, 1)
    assert closed(complaint, "triage") == [("escalated", 0)]
    complaint.refresh_from_db()
    assert (complaint.state, complaint.escalation_level) == ("acknowledged", 1)
