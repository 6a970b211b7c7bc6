"""The statements one audited step sends to the database, pinned so a regression shows.

A step is the row lock (which also asks whether the actor is conflicted), the complaint's
UPDATE, the clocks' statements, the complaint's next due time, and the audit append (on
PostgreSQL one call of the database's append function), in one transaction.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from audit import services as audit
from audit.actions import Action
from audit.models import AuditEvent
from complaints import access
from complaints.models import Complaint
from complaints.services import complaint_acknowledge, complaint_submit
from escalation.models import Deadline
from tests.factories import UserFactory


def _shape(sql: str) -> str:
    """The statement's kind and the tables it writes or locks: enough to tell one
    statement from another without pinning every column."""
    sql = re.sub(r"^\d+ times: ", "", sql.strip())  # how Django logs an executemany
    first = sql.split()[0].upper()
    if first in ("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE", "ROLLBACK"):
        return first
    if first == "SELECT":  # the last FROM is the statement's own table
        table = re.findall(r'FROM "?(\w+)"?', sql)[-1]
        return f"SELECT {table}" + (" FOR UPDATE" if sql.endswith("FOR UPDATE") else "")
    match = re.match(r'(UPDATE|INSERT INTO|DELETE FROM) "?(\w+)"?', sql)
    return f"{match.group(1)} {match.group(2)}" if match else sql[:40]


@pytest.fixture
def filed(committed_db: None, org: dict[str, Any], reporter: Any) -> Complaint:
    return complaint_submit(reporter=reporter, category="bullying", summary="Shouting",
                            narrative="My manager shouts at me.",
                            subjects=[org["accused"].employee_id]).complaint


def _acknowledge_statements(complaint: Complaint) -> list[str]:
    reviewer = UserFactory(username="counting_reviewer", roles=[access.HR_REVIEWER])
    # Read once per user object, as a request's first checks do.
    access.roles_of(reviewer)
    access.person_id_of(reviewer)
    complaint = Complaint.objects.get(pk=complaint.pk)
    with CaptureQueriesContext(connection) as captured:
        complaint_acknowledge(complaint=complaint, actor=reviewer)
    return [_shape(query["sql"]) for query in captured.captured_queries]


ACKNOWLEDGE_WRITES = [
    "UPDATE complaints_complaint",
    "UPDATE escalation_deadline",
    "INSERT INTO escalation_deadline",
    "UPDATE complaints_complaint",
]


def test_an_acknowledge_issues_a_fixed_set_of_statements_on_either_database(
        filed: Complaint) -> None:
    statements = _acknowledge_statements(filed)
    if connection.vendor == "postgresql":
        assert statements == ["BEGIN", "SELECT complaints_complaint FOR UPDATE",
                              *ACKNOWLEDGE_WRITES, "SELECT audit_append", "COMMIT"]
    else:
        assert statements == ["BEGIN", "SELECT complaints_complaint", *ACKNOWLEDGE_WRITES,
                              "SELECT audit_chainhead", "INSERT INTO audit_auditevent",
                              "UPDATE audit_chainhead", "COMMIT"]
    # And it did all it says: state, clocks and one event, in one transaction.
    complaint = Complaint.objects.get(pk=filed.pk)
    assert complaint.state == "acknowledged"
    assert set(Deadline.objects.filter(complaint=complaint, closed_at=None)
               .values_list("kind", flat=True)) == {"triage", "feedback"}
    assert Deadline.objects.get(complaint=complaint, kind="acknowledge").outcome == "met"
    assert AuditEvent.objects.filter(action="complaint.acknowledged").count() == 1


def test_an_event_rolls_back_with_the_callers_transaction(db: None) -> None:
    user = UserFactory(username="named_before")
    events = AuditEvent.objects.count()
    with pytest.raises(RuntimeError, match="later"), transaction.atomic():
        type(user).objects.filter(pk=user.pk).update(first_name="Renamed")
        audit.record(action=Action.AUDIT_LOG_VIEWED, actor=audit.SYSTEM)
        raise RuntimeError("something later in the block failed")
    assert AuditEvent.objects.count() == events
    user.refresh_from_db()
    assert user.first_name == ""
    with transaction.atomic():
        appended = audit.record(action=Action.AUDIT_LOG_VIEWED, actor=audit.SYSTEM)
    assert AuditEvent.objects.get(seq=appended.seq).hash == appended.hash
    assert appended.seq == events + 1


@pytest.mark.services
def test_the_event_hash_is_inlined_into_the_append_and_unchanged(db: None) -> None:
    # A SET clause, or IMMUTABLE over stable functions, would stop PostgreSQL inlining it,
    # and each append would plan the hash's body again under the chain head's lock.
    from datetime import UTC, datetime

    from audit.chain import event_hash, format_time

    with connection.cursor() as cursor:
        cursor.execute("SELECT proconfig, provolatile FROM pg_proc "
                       "WHERE proname = 'audit_event_hash'")
        assert cursor.fetchall() == [(None, "s")]
        event = ("f" * 64, 987654321, datetime(2026, 3, 29, 1, 30, 0, 1, tzinfo=UTC),
                 "reporter", "MC-X", "a\"b\\c\x01\x1f", "t<>&'", "id\u00e9\u2028",
                 "s", "t", '{"k":[1,true,null,"\\u0000 \U0001f600"]}')
        cursor.execute("SELECT audit_event_hash(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                       list(event))
        assert cursor.fetchone()[0] == event_hash(event[0], event[1], format_time(event[2]),
                                                  *event[3:])
