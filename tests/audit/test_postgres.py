"""The audit log under real concurrency and under the production role, on PostgreSQL."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from django.db import connection, connections

from audit import services
from audit.management.commands.audit_db_roles import app_role_sql
from audit.models import AuditEvent
from complaints import roles
from complaints.errors import TransitionNotAllowed
from complaints.models import Complaint
from complaints.services import complaint_acknowledge
from tests.factories import ComplaintFactory, UserFactory

pytestmark = pytest.mark.services


def run_together(workers: int, work: Callable[[int], None]) -> list[BaseException]:
    """Start ``workers`` threads at one barrier; each gets its own database connection."""
    barrier = threading.Barrier(workers)
    errors: list[BaseException] = []

    def body(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            work(index)
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=body, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return errors


def test_eight_concurrent_writers_leave_no_gap_and_no_fork(committed_db: None) -> None:
    writers, per_writer = 8, 30
    reviewer = UserFactory(username="reviewer", roles=[roles.HR_REVIEWER])
    complaints = [ComplaintFactory() for _ in range(writers * per_writer)]

    def work(index: int) -> None:
        for complaint in complaints[index::writers]:
            complaint_acknowledge(complaint=complaint, actor=reviewer)

    assert run_together(writers, work) == []
    events = list(AuditEvent.objects.order_by("seq").values_list("seq", "prev_hash", "hash"))
    assert [seq for seq, _, _ in events] == list(range(1, writers * per_writer + 1))
    hashes = [digest for _, _, digest in events]
    assert len(set(hashes)) == len(hashes)
    assert [prev for _, prev, _ in events[1:]] == hashes[:-1]  # one chain, no fork
    # Factory-made complaints have no filing event: only the chain is in question here.
    assert services.verify(completeness=False).as_dict() == {
        "intact": True, "events": writers * per_writer, "first_broken_seq": None,
        "head_hash": hashes[-1], "complete": True, "missing": [],
    }
    assert Complaint.objects.filter(state="acknowledged").count() == writers * per_writer


def test_two_reviewers_acknowledging_one_case_at_once_one_wins(committed_db: None) -> None:
    reviewers = [UserFactory(username=f"rev{i}", roles=[roles.HR_REVIEWER]) for i in range(2)]
    complaint = ComplaintFactory()
    outcomes: list[str] = []

    def work(index: int) -> None:
        try:
            complaint_acknowledge(complaint=complaint, actor=reviewers[index])
            outcomes.append("won")
        except TransitionNotAllowed:
            outcomes.append("lost")

    assert run_together(2, work) == []
    assert sorted(outcomes) == ["lost", "won"]
    assert AuditEvent.objects.filter(action="complaint.acknowledged").count() == 1
    winner = Complaint.objects.get(pk=complaint.pk).assignee
    assert winner in reviewers


# Roles are server-wide: a name of its own per run, so runs against one server never meet.
ROLE = f"complaints_app_probe_{os.getpid()}"


@pytest.fixture
def app_role(committed_db: None) -> Any:
    settings = connection.settings_dict
    with connection.cursor() as cursor:
        cursor.execute(f"DROP ROLE IF EXISTS {ROLE}")
        cursor.execute(f"CREATE ROLE {ROLE} LOGIN PASSWORD 'probe' NOSUPERUSER NOCREATEDB")
        for sql in app_role_sql(ROLE, settings["NAME"]):
            cursor.execute(sql)
    probe = psycopg.connect(host=settings["HOST"] or "127.0.0.1", port=settings["PORT"] or 5432,
                            dbname=settings["NAME"], user=ROLE, password="probe",
                            autocommit=True)
    yield probe
    probe.close()
    with connection.cursor() as cursor:
        cursor.execute(f"DROP OWNED BY {ROLE}")
        cursor.execute(f"DROP ROLE {ROLE}")


@pytest.mark.parametrize("sql", [
    "UPDATE audit_auditevent SET action = 'x'",
    "DELETE FROM audit_auditevent",
    "TRUNCATE audit_auditevent",
    "INSERT INTO audit_auditevent (seq, occurred_at, actor_type, actor_id, action, target_type,"
    " target_id, from_state, to_state, payload, prev_hash, hash) VALUES (2, now(), 'system', '',"
    " 'x', '', '', '', '', '{}', '', '')",
    "UPDATE audit_chainhead SET seq = 0",
    "DELETE FROM audit_chainhead",
    "ALTER TABLE audit_auditevent DISABLE TRIGGER ALL",
    "DROP TRIGGER audit_event_no_update_delete ON audit_auditevent",
    "SET session_replication_role = replica",
    "CREATE OR REPLACE FUNCTION audit_event_hash(text, bigint, timestamptz, text, text, text,"
    " text, text, text, text, text) RETURNS text LANGUAGE sql AS $$ SELECT 'x' $$",
])
def test_the_production_role_has_no_way_around_the_log(app_role: Any, sql: str) -> None:
    from django.db import transaction

    with transaction.atomic():
        services.record(action="audit.chain_verified", actor=services.SYSTEM)
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        app_role.execute(sql)
    assert AuditEvent.objects.count() == 1
    assert services.verify().intact


def test_the_production_role_appends_only_through_the_log_functions(app_role: Any) -> None:
    app_role.execute("SELECT audit_append(now(), 'system', '', 'audit.chain_verified', '', '',"
                     " '', '', '{}')")
    app_role.execute("SELECT * FROM audit_append_many(now(), ARRAY['system','system'],"
                     " ARRAY['',''], ARRAY['complaint.escalated','complaint.escalated'],"
                     " ARRAY['complaint','complaint'], ARRAY['MC-1','MC-2'], ARRAY['',''],"
                     " ARRAY['',''], ARRAY['{}','{}'])")
    assert app_role.execute("SELECT count(*) FROM audit_auditevent").fetchone() == (3,)
    assert services.verify().as_dict()["events"] == 3
    assert services.verify().intact
