"""Complaints and their parts are deleted only by the retention purge, at the database
(complaints/guard.py): whatever code asks, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.db import DatabaseError, connection, transaction
from django.db.models import ProtectedError
from django.utils import timezone

from audit.models import AuditEvent
from complaints.access import ReporterPrincipal
from complaints.models import (
    CaseNote,
    Complaint,
    Conflict,
    EvidenceItem,
    Interview,
    Investigation,
    Message,
    PurgePermit,
    Subject,
)
from complaints.services import complaint_submit
from complaints.services.retention import retention_purge
from escalation.models import Deadline
from tests.complaints.lifecycle import take
from tests.factories import PersonFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def case(org: dict[str, Any], hr_reviewer: Any) -> Complaint:
    complaint = complaint_submit(reporter=None, category="bullying", summary="Shouting",
                                 narrative="He shouts.",
                                 subjects=[org["accused"].employee_id]).complaint
    now = timezone.now()
    Message.objects.create(complaint=complaint, from_reporter=True, body="hello", created_at=now)
    CaseNote.objects.create(complaint=complaint, kind=CaseNote.Kind.INTERNAL,
                            author=hr_reviewer, body="note", created_at=now)
    Conflict.objects.create(complaint=complaint, person=org["vp"],
                            source=Conflict.Source.NAMED, created_at=now)
    Conflict.objects.create(complaint=complaint, user=hr_reviewer,
                            source=Conflict.Source.DECLARED, created_at=now)
    investigation = Investigation.objects.create(complaint=complaint, investigator=hr_reviewer,
                                                 started_at=now)
    Interview.objects.create(investigation=investigation, held_at=now, notes="notes",
                             recorded_by=hr_reviewer, recorded_at=now)
    EvidenceItem.objects.create(investigation=investigation, description="cctv",
                                recorded_by=hr_reviewer, recorded_at=now)
    return complaint


def refused(delete: Any) -> None:
    with pytest.raises(DatabaseError, match="deleted only by the retention purge|never "
                                            "deleted"), transaction.atomic():
        delete()


def raw(sql: str, params: list[Any]) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def test_a_complaint_is_never_deleted_not_by_the_orm_nor_by_sql(case: Complaint) -> None:
    refused(lambda: Complaint.objects.filter(pk=case.pk).delete())
    refused(lambda: raw("DELETE FROM complaints_complaint WHERE id = %s", [case.pk]))
    refused(lambda: raw("DELETE FROM complaints_investigation WHERE complaint_id = %s",
                        [case.pk]))
    assert Complaint.objects.filter(pk=case.pk).exists()


@pytest.mark.parametrize("model", [Message, CaseNote, Subject, Interview, EvidenceItem])
def test_a_part_is_not_deleted_outside_the_purge(case: Complaint, model: Any) -> None:
    rows = model.objects.all()
    assert rows.exists()
    refused(lambda: rows.delete())
    refused(lambda: raw(f"DELETE FROM {model._meta.db_table}", []))  # noqa: S608
    assert rows.exists()


def test_every_conflict_stays_directory_derived_ones_too(case: Complaint) -> None:
    # Conflicts only grow (a removal marks the row): a deleted row, of any source, could
    # only be someone hiding the case from its rules.
    for source in Conflict.Source:
        rows = Conflict.objects.filter(complaint=case, source=source)
        before = rows.count()
        refused(lambda rows=rows: rows.delete())
        assert rows.count() == before
    assert Conflict.objects.filter(complaint=case, source=Conflict.Source.CHAIN).exists()


def test_deadlines_and_escalations_are_never_deleted(case: Complaint) -> None:
    deadlines = Deadline.objects.filter(complaint=case)
    assert deadlines.exists()
    with pytest.raises(DatabaseError, match="never deleted"), transaction.atomic():
        deadlines.delete()
    with pytest.raises(DatabaseError, match="never deleted"), transaction.atomic():
        raw("DELETE FROM escalation_deadline WHERE complaint_id = %s", [case.pk])
    assert deadlines.exists()


def test_a_permit_lets_the_parts_go(case: Complaint) -> None:
    PurgePermit.objects.create(complaint=case, permitted_at=timezone.now())
    Message.objects.filter(complaint=case).delete()
    Interview.objects.all().delete()
    Conflict.objects.filter(complaint=case).delete()
    assert not Message.objects.exists() and not Conflict.objects.exists()


def test_the_purge_still_deletes_the_parts_and_keeps_the_complaint(case: Complaint) -> None:
    # Withdrawn through the service five years ago, so the log says so too: on PostgreSQL
    # the database gives the purge its permit only on the log's word.
    with time_machine.travel(timezone.now() - timedelta(days=5 * 365), tick=True):
        take(case, "withdraw", ReporterPrincipal(case.pk, case.reference))

    assert retention_purge() == 1

    assert Complaint.objects.get(pk=case.pk).purged_at is not None
    for model in (Message, CaseNote, Subject, Conflict, Interview, EvidenceItem):
        assert not model.objects.exists(), model
    assert AuditEvent.objects.filter(action="complaint.purged",
                                     target_id=case.reference).count() == 1
    assert PurgePermit.objects.filter(complaint=case).exists()


def test_people_and_accounts_named_in_a_conflict_cannot_be_deleted_under_it(
        case: Complaint, org: dict[str, Any], hr_reviewer: Any) -> None:
    # A cascade would silently lift the conflict; PROTECT refuses before the database must.
    with pytest.raises(ProtectedError):
        org["vp"].delete()
    with pytest.raises(ProtectedError):
        hr_reviewer.delete()
    PersonFactory(employee_id="FREE1").delete()  # anyone else still can be
    UserFactory(username="free").delete()
