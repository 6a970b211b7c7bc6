"""A complaint's ``next_due_at`` is always the earliest due time of its running clocks
(closed and paused ones left out), whatever step changed them: filing, each transition,
the pause while the case waits on the reporter and the resume after, the sweep's
escalations and its expiry of a reply window, a reopening. The queues sort by it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from importlib import import_module
from typing import Any

import pytest
from django.db import connection, transaction
from django.db.models import Min

from complaints import services
from complaints.models import Category, Complaint, Outcome
from complaints.selectors import staff_queue
from complaints.services.sweep import sweep
from escalation.models import Deadline
from tests.escalation.helpers import MONDAY, file_complaint, open_deadlines


def running_min(complaint: Complaint) -> datetime | None:
    return Deadline.objects.filter(complaint=complaint, closed_at=None,
                                   paused_at=None).aggregate(due=Min("due_at"))["due"]


def kept(complaint: Complaint) -> datetime | None:
    """The stored next_due_at, after checking that it is what the clocks say."""
    stored = Complaint.objects.values_list("next_due_at", flat=True).get(pk=complaint.pk)
    assert stored == running_min(complaint), complaint.state
    return stored


def file(reporter: Any, category: str = Category.BULLYING) -> Complaint:
    return file_complaint(reporter, category)


def test_filing_sets_it_to_the_acknowledgement_deadline(clock: Any, reporter: Any) -> None:
    complaint = file(reporter, Category.SEXUAL_ASSAULT)
    assert kept(complaint) == MONDAY + timedelta(days=1) == \
        open_deadlines(complaint)["acknowledge"].due_at


def test_every_step_of_an_investigated_case_keeps_it(clock: Any, reporter: Any,
                                                     hr_reviewer: Any, hr_lead: Any,
                                                     hr_lead_2: Any, investigator: Any) -> None:
    complaint = file(reporter, Category.RETALIATION)
    acknowledge_by = kept(complaint)
    clock.shift(timedelta(hours=3))
    services.complaint_acknowledge(complaint=complaint, actor=hr_reviewer)
    # The triage clock (2 business days), not the three-month feedback one.
    assert kept(complaint) == open_deadlines(complaint)["triage"].due_at != acknowledge_by
    services.complaint_start_investigation(complaint=complaint, actor=hr_lead,
                                           investigator=investigator)
    assert kept(complaint) == open_deadlines(complaint)["findings"].due_at
    services.complaint_record_findings(complaint=complaint, actor=investigator,
                                       outcome=Outcome.SUBSTANTIATED, findings="Confirmed.")
    assert kept(complaint) == open_deadlines(complaint)["decision"].due_at
    services.complaint_return_for_work(complaint=complaint, actor=hr_lead_2, reason="More.")
    assert kept(complaint) == open_deadlines(complaint)["findings"].due_at
    services.complaint_record_findings(complaint=complaint, actor=investigator,
                                       outcome=Outcome.SUBSTANTIATED, findings="Confirmed.")
    services.complaint_approve_findings(complaint=complaint, actor=hr_lead_2)
    # Only the feedback clock runs while the resolved case waits to be closed.
    assert kept(complaint) == open_deadlines(complaint)["feedback"].due_at
    services.complaint_close(complaint=complaint, actor=hr_reviewer)
    assert kept(complaint) is None
    clock.shift(timedelta(days=2))
    services.complaint_reopen(complaint=complaint, actor=hr_lead, reason="New evidence.")
    assert kept(complaint) == open_deadlines(complaint)["triage"].due_at


def test_dismissal_and_withdrawal(clock: Any, reporter: Any, hr_reviewer: Any,
                                  hr_lead: Any) -> None:
    complaint = file(reporter, Category.OTHER)
    services.complaint_acknowledge(complaint=complaint, actor=hr_reviewer)
    services.complaint_propose_dismissal(complaint=complaint, actor=hr_reviewer, reason="x")
    assert kept(complaint) == open_deadlines(complaint)["decision"].due_at
    services.complaint_reject_dismissal(complaint=complaint, actor=hr_lead, reason="No.")
    assert kept(complaint) == open_deadlines(complaint)["triage"].due_at
    services.complaint_propose_dismissal(complaint=complaint, actor=hr_reviewer, reason="x")
    services.complaint_approve_dismissal(complaint=complaint, actor=hr_lead)
    assert kept(complaint) is None

    withdrawn = file(reporter)
    services.complaint_withdraw(complaint=withdrawn, actor=reporter)
    assert kept(withdrawn) is None


def test_withdrawn_while_waiting_on_the_reporter_and_reopened(clock: Any, reporter: Any,
                                                                hr_reviewer: Any, hr_lead: Any
                                                                ) -> None:
    complaint = file(reporter)
    services.complaint_acknowledge(complaint=complaint, actor=hr_reviewer)
    services.complaint_request_information(complaint=complaint, actor=hr_reviewer,
                                           reason="Which meeting?")
    services.complaint_withdraw(complaint=complaint, actor=reporter)
    assert kept(complaint) is None
    clock.shift(timedelta(days=1))
    services.complaint_reopen(complaint=complaint, actor=hr_lead, reason="New evidence.")
    assert kept(complaint) == open_deadlines(complaint)["triage"].due_at


def test_the_pause_and_the_resume(clock: Any, reporter: Any, hr_reviewer: Any) -> None:
    complaint = file(reporter)
    services.complaint_acknowledge(complaint=complaint, actor=hr_reviewer)
    triage_due = kept(complaint)
    services.complaint_request_information(complaint=complaint, actor=hr_reviewer,
                                           reason="Which meeting?")
    # Triage and feedback are paused: only the reporter's window runs.
    assert kept(complaint) == open_deadlines(complaint)["reporter_reply"].due_at
    clock.shift(timedelta(days=3, hours=2))
    services.complaint_reporter_replies(complaint=complaint, actor=reporter)
    # The handler has the waiting time back.
    assert kept(complaint) == triage_due + timedelta(days=3, hours=2)


def test_the_sweep_keeps_it(clock: Any, reporter: Any, hr_reviewer: Any, hr_lead: Any,
                            compliance: Any, audit_committee: Any) -> None:
    ignored = file(reporter)
    waiting = file(reporter)
    services.complaint_acknowledge(complaint=waiting, actor=hr_reviewer)
    services.complaint_request_information(complaint=waiting, actor=hr_reviewer,
                                           reason="Which meeting?")
    first_due = kept(ignored)
    # Past the acknowledgement deadline and the reporter's 20 business days.
    clock.move_to(datetime(2026, 12, 21, 9, 1, tzinfo=UTC))
    result = sweep()
    assert result.escalated >= 2 and result.replies_expired == 1
    # Escalated up the ladder; its clock now runs at the level it reached.
    escalated = kept(ignored)
    assert escalated is not None and escalated > first_due
    assert open_deadlines(ignored)["acknowledge"].due_at == escalated
    # The reply window expired: the handler's clocks run again, and may have climbed.
    assert kept(waiting) is not None


def test_it_commits_with_the_step(committed_db: Any, reporter: Any, hr_reviewer: Any) -> None:
    """In a service's own transaction the complaint UPDATE and the clocks' statements go to
    the server with the audit append (on PostgreSQL, one prepared statement sent with the
    COMMIT): the value is read from the clocks as they stood before that statement."""
    complaint = file(reporter)
    kept(complaint)
    services.complaint_acknowledge(complaint=complaint, actor=hr_reviewer)
    assert kept(complaint) == open_deadlines(complaint)["triage"].due_at
    services.complaint_request_information(complaint=complaint, actor=hr_reviewer,
                                           reason="Which meeting?")
    assert kept(complaint) == open_deadlines(complaint)["reporter_reply"].due_at
    services.complaint_reporter_replies(complaint=complaint, actor=reporter)
    assert kept(complaint) == open_deadlines(complaint)["triage"].due_at


def test_the_unassigned_queue_is_in_deadline_order(clock: Any, reporter: Any, hr_reviewer: Any
                                                   ) -> None:
    """Read in next_due_at order (cases with no running clock last), then filing time."""
    later = file(reporter, Category.BULLYING)            # 7 calendar days
    sooner = file(reporter, Category.SEXUAL_ASSAULT)     # 1 business day
    clock.shift(timedelta(minutes=1))
    tied = file(reporter, Category.SEXUAL_ASSAULT)       # a minute after ``sooner``
    paused = file(reporter, Category.BULLYING)
    Deadline.objects.filter(complaint=paused).update(paused_at=MONDAY)
    Complaint.objects.filter(pk=paused.pk).update(next_due_at=None)
    page = staff_queue(hr_reviewer, name="unassigned").page
    assert [c.pk for c in page] == [sooner.pk, tied.pk, later.pk, paused.pk]
    assert [c.next_due for c in page][-1] is None


def test_the_migration_fills_it_from_the_clocks(clock: Any, reporter: Any,
                                                hr_reviewer: Any) -> None:
    waiting = file(reporter)
    services.complaint_acknowledge(complaint=waiting, actor=hr_reviewer)
    services.complaint_request_information(complaint=waiting, actor=hr_reviewer,
                                           reason="Which meeting?")
    ended = file(reporter)
    services.complaint_withdraw(complaint=ended, actor=reporter)
    fresh = file(reporter)
    Complaint.objects.update(next_due_at=None)
    migration = import_module("complaints.migrations.0011_next_due_at")
    with connection.cursor() as cursor:
        cursor.execute(migration.BACKFILL)
    assert kept(waiting) == open_deadlines(waiting)["reporter_reply"].due_at
    assert kept(fresh) == open_deadlines(fresh)["acknowledge"].due_at
    assert kept(ended) is None


@pytest.mark.services
def test_the_unassigned_page_is_read_in_order_from_its_index(clock: Any, reporter: Any,
                                                             hr_reviewer: Any) -> None:
    """The page's ORDER BY (next_due_at NULLS LAST, submitted_at, id) is the partial index's
    own order, so PostgreSQL can read the first 25 rows from it and stop, with no sort of
    the whole queue. Sorting and whole-table reads are priced out here: a tiny table would
    otherwise be read whole, and a plan still needing a Sort would show the index cannot
    give the order."""
    for category in (Category.BULLYING, Category.SEXUAL_ASSAULT, Category.FRAUD):
        file(reporter, category)
    rows = staff_queue(hr_reviewer, name="unassigned").page.paginator.object_list[:25]
    sql, params = rows.query.sql_with_params()
    with transaction.atomic(), connection.cursor() as cursor:
        for setting in ("enable_seqscan", "enable_sort", "enable_bitmapscan"):
            cursor.execute(f"SET LOCAL {setting} = off")
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "complaint_unassigned_due" in plan, plan
    assert "Sort" not in plan, plan
