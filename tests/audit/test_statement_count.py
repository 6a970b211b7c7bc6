"""The statements one audited step sends to the database, pinned so a regression shows.

On PostgreSQL a step is four statements in three round trips: BEGIN; the row lock (which
also asks whether the actor is conflicted); one statement for the step's writes and the
audit append, sent with the COMMIT (psycopg's pipeline mode, which then syncs twice more,
after the commit, with no statement: leaving the transaction and the pipeline).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.db import IntegrityError, connection, transaction
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
    if first == "WITH":
        writes = re.findall(r'(UPDATE|INSERT INTO) "?(\w+)"?', sql)
        tail = re.search(r"FROM (audit_append\w*)", sql)
        return "WITH " + ", ".join(f"{verb} {table}" for verb, table in writes) + (
            f" -> {tail.group(1)}" if tail else "")
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
    access.roles_of(reviewer)  # read once per user object, as a request's first check does
    complaint = Complaint.objects.get(pk=complaint.pk)
    with CaptureQueriesContext(connection) as captured:
        complaint_acknowledge(complaint=complaint, actor=reviewer)
    return [_shape(query["sql"]) for query in captured.captured_queries]


@pytest.mark.services
def test_an_acknowledge_is_a_lock_one_write_and_a_commit_on_postgresql(
        filed: Complaint) -> None:
    assert connection.vendor == "postgresql"
    assert _acknowledge_statements(filed) == [
        "BEGIN",
        "SELECT complaints_complaint FOR UPDATE",
        "WITH UPDATE complaints_complaint, UPDATE escalation_deadline, "
        "INSERT INTO escalation_deadline -> audit_append",
        "COMMIT",
    ]
    # And it did all it says: state, clocks and one event, in one transaction.
    complaint = Complaint.objects.get(pk=filed.pk)
    assert complaint.state == "acknowledged"
    assert set(Deadline.objects.filter(complaint=complaint, closed_at=None)
               .values_list("kind", flat=True)) == {"triage", "feedback"}
    assert Deadline.objects.get(complaint=complaint, kind="acknowledge").outcome == "met"
    assert AuditEvent.objects.filter(action="complaint.acknowledged").count() == 1


def test_an_acknowledge_issues_a_fixed_set_of_statements_on_either_database(
        filed: Complaint) -> None:
    # The PostgreSQL list is pinned, with its effects, by the test above; this one runs in
    # both suites so neither database's count can drift unnoticed.
    if connection.vendor == "postgresql":
        assert _acknowledge_statements(filed) == [
            "BEGIN", "SELECT complaints_complaint FOR UPDATE",
            "WITH UPDATE complaints_complaint, UPDATE escalation_deadline, "
            "INSERT INTO escalation_deadline -> audit_append", "COMMIT"]
        return
    assert connection.vendor == "sqlite"
    assert _acknowledge_statements(filed) == [
        "BEGIN",
        "SELECT complaints_complaint",
        "UPDATE complaints_complaint",
        "UPDATE escalation_deadline",
        "INSERT INTO escalation_deadline",
        "SELECT audit_chainhead",
        "INSERT INTO audit_auditevent",
        "UPDATE audit_chainhead",
        "COMMIT",
    ]


@pytest.mark.services
def test_the_steps_writes_run_before_the_append_locks_the_chain_head(db: None) -> None:
    # The append's WHERE reads every write; PostgreSQL evaluates it once, as a one-time
    # filter, before the function scan: so the head is locked only after the writes.
    sql = audit._append_after_sql(("UPDATE audit_chainhead SET seq = seq WHERE id = 0",))
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + sql, ["2026-01-01T00:00:00Z", "system", "", "audit.x",
                                          "", "", "", "", "{}"])
        plan = "\n".join(row[0] for row in cursor.fetchall())
    gate, scan = plan.index("One-Time Filter"), plan.index("Function Scan on audit_append")
    assert gate < scan
    assert plan.lstrip().startswith("Result")


def test_the_writes_handed_to_record_run_first_and_roll_back_with_it(db: None) -> None:
    user = UserFactory(username="named_before")
    write = audit.Write(f"UPDATE {user._meta.db_table} SET first_name = %s WHERE id = %s",
                        ["Renamed", user.pk])
    with transaction.atomic():
        appended = audit.record(action=Action.AUDIT_LOG_VIEWED, actor=audit.SYSTEM,
                                writes=[write])
    user.refresh_from_db()
    assert user.first_name == "Renamed"
    assert AuditEvent.objects.get(seq=appended.seq).hash == appended.hash

    broken = audit.Write(f"UPDATE {user._meta.db_table} SET username = NULL WHERE id = %s",
                         [user.pk])
    events = AuditEvent.objects.count()
    with pytest.raises(Exception, match="(?i)null"), transaction.atomic():
        audit.record(action=Action.AUDIT_LOG_VIEWED, actor=audit.SYSTEM, writes=[broken])
    assert AuditEvent.objects.count() == events


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


# --- The final event, sent with the COMMIT ------------------------------------------------

def _rename(user: Any, name: str | None) -> audit.Write:
    return audit.Write(f"UPDATE {user._meta.db_table} SET first_name = %s WHERE id = %s",
                       [name, user.pk])


def test_a_final_event_is_appended_with_the_commit(committed_db: None) -> None:
    user = UserFactory(username="final_ok")
    with audit.final_append() as final, transaction.atomic():
        final.record(action=Action.AUDIT_LOG_VIEWED, actor=audit.SYSTEM,
                     writes=[_rename(user, "Final")])
        # On PostgreSQL nothing has been read back yet: the answer comes with the COMMIT.
        assert (final.appended is None) == (connection.vendor == "postgresql")
    assert final.appended is not None
    assert AuditEvent.objects.get(seq=final.appended.seq).hash == final.appended.hash
    user.refresh_from_db()
    assert user.first_name == "Final"
    assert audit.verify().intact


def test_a_final_event_whose_statement_fails_commits_nothing(committed_db: None) -> None:
    user = UserFactory(username="final_broken")
    events = AuditEvent.objects.count()
    with pytest.raises(IntegrityError), audit.final_append() as final, transaction.atomic():
        final.record(action=Action.AUDIT_LOG_VIEWED, actor=audit.SYSTEM,
                     writes=[_rename(user, "Half"), audit.Write(
                         f"UPDATE {user._meta.db_table} SET username = NULL WHERE id = %s",
                         [user.pk])])
    assert AuditEvent.objects.count() == events
    user.refresh_from_db()
    assert user.first_name == ""
    # The connection is usable again, in and out of pipeline mode.
    with audit.final_append() as final, transaction.atomic():
        final.record(action=Action.AUDIT_LOG_VIEWED, actor=audit.SYSTEM)
    assert AuditEvent.objects.count() == events + 1
    assert audit.verify().intact


def test_a_failure_after_the_final_event_rolls_it_back(committed_db: None) -> None:
    user = UserFactory(username="final_then_fail")
    events = AuditEvent.objects.count()
    with pytest.raises(RuntimeError, match="later"), audit.final_append() as final, \
            transaction.atomic():
        final.record(action=Action.AUDIT_LOG_VIEWED, actor=audit.SYSTEM,
                     writes=[_rename(user, "Rolled back")])
        raise RuntimeError("something later in the block failed")
    assert AuditEvent.objects.count() == events
    user.refresh_from_db()
    assert user.first_name == ""


def test_on_commit_work_after_a_final_event_can_use_the_database(committed_db: None) -> None:
    seen: list[int] = []
    with audit.final_append() as final, transaction.atomic():
        final.record(action=Action.AUDIT_LOG_VIEWED, actor=audit.SYSTEM)
        transaction.on_commit(lambda: seen.append(AuditEvent.objects.count()))
    assert seen == [1]
    assert final.appended is not None and final.appended.seq == 1


def test_inside_a_callers_transaction_the_final_event_is_an_ordinary_one(db: None) -> None:
    # The test's own transaction is outermost: the COMMIT is not this block's to send.
    with audit.final_append() as final, transaction.atomic():
        final.record(action=Action.AUDIT_LOG_VIEWED, actor=audit.SYSTEM)
        assert final.appended is not None
    with pytest.raises(RuntimeError, match="one final event"), transaction.atomic():
        final.record(action=Action.AUDIT_LOG_VIEWED, actor=audit.SYSTEM)
