"""The audit log under real concurrency and under the production role, on PostgreSQL."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from django.db import connection, connections
from django.utils import timezone

from audit import checkpoints, services
from audit.management.commands.audit_db_roles import app_role_sql
from audit.models import AuditEvent, Checkpoint
from complaints import roles
from complaints.errors import TransitionNotAllowed
from complaints.models import Complaint, Conflict, Message, PurgePermit
from complaints.services import complaint_acknowledge, complaint_submit
from complaints.services.retention import retention_purge
from escalation.models import Deadline
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


# --- The delete guard and the checkpoints under the production role ----------------------

@contextmanager
def as_role(role: str) -> Iterator[None]:
    """Run Django's own connection as ``role``: the services meet its rights exactly."""
    with connection.cursor() as cursor:
        cursor.execute(f"SET ROLE {role}")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET ROLE")


@pytest.fixture
def case_with_parts(app_role: Any) -> Complaint:
    complaint = complaint_submit(reporter=None, category="bullying", summary="Shouting",
                                 narrative="He shouts.").complaint
    now = timezone.now()
    Message.objects.create(complaint=complaint, from_reporter=True, body="hi", created_at=now)
    Conflict.objects.create(complaint=complaint, user=UserFactory(username="declarer"),
                            source=Conflict.Source.DECLARED, created_at=now)
    return complaint


@pytest.mark.parametrize("sql", [
    "DELETE FROM complaints_complaint",
    "DELETE FROM complaints_message",
    "DELETE FROM complaints_conflict",
    "DELETE FROM escalation_deadline",
    "TRUNCATE complaints_message",
    "INSERT INTO complaints_purgepermit (complaint_id, permitted_at)"
    " SELECT id, now() FROM complaints_complaint",
    "SELECT count(*) FROM complaints_purgepermit",
    "SELECT complaint_purge_permit(id) FROM complaints_complaint",
    "ALTER TABLE complaints_message DISABLE TRIGGER ALL",
    "DROP TRIGGER complaints_message_purge_only ON complaints_message",
])
def test_the_production_role_cannot_delete_a_complaint_or_its_parts(
        app_role: Any, case_with_parts: Complaint, sql: str) -> None:
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        app_role.execute(sql)
    assert Complaint.objects.filter(pk=case_with_parts.pk).exists()
    assert Message.objects.filter(complaint=case_with_parts).exists()
    assert Conflict.objects.filter(complaint=case_with_parts, source="declared").exists()
    assert not PurgePermit.objects.exists()
    assert Deadline.objects.filter(complaint=case_with_parts).exists()


def test_the_purge_works_as_the_production_role(app_role: Any,
                                                case_with_parts: Complaint) -> None:
    Complaint.objects.filter(pk=case_with_parts.pk).update(
        state="closed", ended_at=timezone.now() - timedelta(days=5 * 365))

    with as_role(ROLE):
        assert retention_purge() == 1

    assert not Message.objects.exists() and not Conflict.objects.exists()
    assert Complaint.objects.get(pk=case_with_parts.pk).purged_at is not None
    assert PurgePermit.objects.filter(complaint=case_with_parts).exists()
    assert AuditEvent.objects.filter(action="complaint.purged").count() == 1


def test_no_setting_lets_the_purge_in_before_a_year(app_role: Any, settings: Any,
                                                    case_with_parts: Complaint) -> None:
    settings.RETENTION_DAYS = 30  # a mistake, or a hand on the settings
    Complaint.objects.filter(pk=case_with_parts.pk).update(
        state="closed", ended_at=timezone.now() - timedelta(days=100))

    with as_role(ROLE):
        assert retention_purge() == 0

    assert Message.objects.filter(complaint=case_with_parts).exists()
    assert Complaint.objects.get(pk=case_with_parts.pk).purged_at is None


@pytest.mark.parametrize("sql", [
    "UPDATE audit_checkpoint SET seq = 0",
    "DELETE FROM audit_checkpoint",
    "DELETE FROM audit_checkpointdelivery",
    "TRUNCATE audit_checkpoint",
])
def test_the_production_role_signs_checkpoints_and_cannot_unsign_them(
        app_role: Any, sql: str) -> None:
    with as_role(ROLE):
        made = checkpoints.checkpoint_due()
    assert made is not None and made.deliveries.count() >= 1
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        app_role.execute(sql)
    assert Checkpoint.objects.filter(pk=made.pk, seq=made.seq).exists()
