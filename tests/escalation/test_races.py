"""Concurrent sweeps and handlers on PostgreSQL: every missed deadline ends exactly once."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from django.db import connections, transaction
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import verify
from complaints import access
from complaints.errors import TransitionNotAllowed
from complaints.models import Complaint
from complaints.services import complaint_acknowledge
from complaints.services.next_due import next_due_refresh
from complaints.services.sweep import sweep
from escalation.models import Deadline, Escalation
from tests.audit.test_postgres import run_together
from tests.factories import ComplaintFactory, UserFactory

pytestmark = pytest.mark.services


def overdue_complaints(n: int) -> list[Complaint]:
    past = timezone.now() - timedelta(days=30)
    complaints = [ComplaintFactory(submitted_at=past) for _ in range(n)]
    Deadline.objects.bulk_create([
        Deadline(complaint=c, kind="acknowledge", started_at=past, due_at=past + timedelta(days=7))
        for c in complaints])
    # Written directly, not by the services that keep next_due_at: set it as they would.
    next_due_refresh([c.pk for c in complaints])
    return complaints


def test_two_sweeps_at_once_escalate_each_missed_deadline_once(committed_db: None) -> None:
    for role in (access.HR_LEAD, access.COMPLIANCE_OFFICER, access.AUDIT_COMMITTEE):
        UserFactory(username=role, roles=[role])
    complaints = overdue_complaints(60)
    now = timezone.now()
    results: list[int] = []

    def work(index: int) -> None:
        # Small batches so the two sweeps interleave, each itself on two connections.
        results.append(sweep(now=now, batch_size=7, workers=2).escalated)

    assert run_together(2, work) == []
    # Catching up climbs each complaint through the levels it missed (the next level's
    # deadline is counted from the missed time, also in the past); every (complaint,
    # level) is escalated exactly once, whichever sweep did it.
    pairs = list(Escalation.objects.values_list("complaint_id", "level"))
    assert len(pairs) == len(set(pairs))
    assert sum(results) == len(pairs) == AuditEvent.objects.filter(
        action="complaint.escalated").count()
    for complaint in Complaint.objects.filter(pk__in=[c.pk for c in complaints]):
        levels = sorted(level for cid, level in pairs if cid == complaint.pk)
        assert levels == [1, 2, 3] == list(range(1, complaint.escalation_level + 1))
    assert verify().intact


def test_a_handler_acknowledging_while_the_sweep_escalates_one_outcome(
    committed_db: None
) -> None:
    reviewer = UserFactory(username="reviewer", roles=[access.HR_REVIEWER])
    UserFactory(username="lead", roles=[access.HR_LEAD])
    for _ in range(20):  # the race goes either way; both orders are seen over 20 rounds
        complaint = overdue_complaints(1)[0]
        missed = Deadline.objects.get(complaint=complaint)
        outcome: dict[str, Any] = {}

        def work(index: int, complaint: Complaint = complaint,
                 outcome: dict[str, Any] = outcome) -> None:
            if index == 0:
                outcome["swept"] = sweep(now=timezone.now()).escalated
            else:
                try:
                    complaint_acknowledge(complaint=complaint, actor=reviewer)
                    outcome["acknowledged"] = True
                except TransitionNotAllowed:
                    outcome["acknowledged"] = False

        assert run_together(2, work) == []
        missed.refresh_from_db()
        assert missed.closed_at is not None
        if missed.outcome == "met":
            assert not Escalation.objects.filter(deadline=missed).exists()
        else:
            assert missed.outcome == "escalated"
            assert Escalation.objects.filter(deadline=missed).count() == 1
        # The acknowledgement always stands: it either met the deadline or came after the
        # escalation, which stays on the record.
        assert outcome["acknowledged"] is True
        assert Complaint.objects.get(pk=complaint.pk).state == "acknowledged"
        assert not Deadline.objects.filter(complaint=complaint, kind="acknowledge",
                                           closed_at=None).exists()
    assert verify().intact


@contextmanager
def held_by_a_handler(complaint: Complaint) -> Iterator[None]:
    """The complaint's row locked by another connection (a handler mid-step) meanwhile."""
    holding, release = threading.Event(), threading.Event()

    def handler() -> None:
        try:
            with transaction.atomic():
                Complaint.objects.select_for_update().get(pk=complaint.pk)
                holding.set()
                release.wait(timeout=30)
        finally:
            connections.close_all()

    thread = threading.Thread(target=handler)
    thread.start()
    assert holding.wait(timeout=10)
    try:
        yield
    finally:
        release.set()
        thread.join(timeout=30)


def test_a_sweep_leaves_a_case_a_handler_holds_and_does_not_spin(committed_db: None) -> None:
    UserFactory(username="lead", roles=[access.HR_LEAD])
    complaint = overdue_complaints(1)[0]
    with held_by_a_handler(complaint):
        started = time.monotonic()
        result = sweep(now=timezone.now())
        elapsed = time.monotonic() - started
    assert (result.escalated, result.passes) == (0, 1)
    assert elapsed < 5
    # The next sweep gets it, catching up from level 1 (it was missed a month ago).
    assert sweep(now=timezone.now()).escalated >= 1
    assert Escalation.objects.filter(complaint=complaint).order_by("pk").first().level == 1


def test_a_sweep_carries_on_past_cases_held_by_others(committed_db: None) -> None:
    """What a handler or another sweep holds is left to them; the rest of what is due is
    still escalated by this sweep (two sweeps at once share the work, neither stops)."""
    UserFactory(username="lead", roles=[access.HR_LEAD])
    held, *free = overdue_complaints(3)
    # The held case is the first due, so it fills the first batch.
    Deadline.objects.filter(complaint=held).update(due_at=timezone.now() - timedelta(days=40))
    next_due_refresh([held.pk])
    with held_by_a_handler(held):
        result = sweep(now=timezone.now(), batch_size=1, workers=1)
    assert not Escalation.objects.filter(complaint=held).exists()
    assert set(Escalation.objects.values_list("complaint_id", flat=True)) == {
        c.pk for c in free}
    assert result.failed == []
    assert verify().intact


def test_a_sweep_on_several_connections_climbs_each_case_in_order(committed_db: None) -> None:
    """Batches are read again as soon as one is done, leaving out the cases still in
    flight: a case is never in two batches at once, so each climbs its missed levels one
    after another, each level once."""
    for role in (access.HR_LEAD, access.COMPLIANCE_OFFICER, access.AUDIT_COMMITTEE):
        UserFactory(username=role, roles=[role])
    complaints = overdue_complaints(40)
    result = sweep(now=timezone.now(), batch_size=3, workers=3)
    assert result.escalated == 3 * len(complaints) and result.failed == []
    for complaint in complaints:
        target_type, target_id = complaint.audit_target
        logged = [json.loads(payload)["level"] for payload in AuditEvent.objects.filter(
            action="complaint.escalated", target_type=target_type, target_id=target_id,
        ).order_by("seq").values_list("payload", flat=True)]
        assert logged == [1, 2, 3]
    assert verify().intact
