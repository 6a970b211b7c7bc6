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
import time_machine
from django.db import connection, connections, transaction
from django.utils import timezone

from audit import checkpoints, services, tasks
from audit.management.commands.audit_db_roles import app_role_sql
from audit.models import AuditEvent, Checkpoint
from complaints import access
from complaints.errors import TransitionNotAllowed
from complaints.models import Complaint, Conflict, Message, PurgePermit
from complaints.services import (
    complaint_acknowledge,
    complaint_approve_dismissal,
    complaint_propose_dismissal,
    complaint_submit,
)
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
    reviewer = UserFactory(username="reviewer", roles=[access.HR_REVIEWER])
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
    reviewers = [UserFactory(username=f"rev{i}", roles=[access.HR_REVIEWER]) for i in range(2)]
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
    "UPDATE complaints_purgepermit SET permitted_at = now()",
    "DELETE FROM complaints_purgepermit",
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


def test_the_production_role_reads_the_permits(app_role: Any,
                                               case_with_parts: Complaint) -> None:
    # The verification reports a permit without its purge event: it must read them.
    assert app_role.execute("SELECT count(*) FROM complaints_purgepermit").fetchone() == (0,)


# A case's end is proved by the log (complaints/guard.py): the purge's cases are closed
# through the services, years ago by the application's clock, as they really would be.
YEARS_AGO = timedelta(days=5 * 365)


def dismissed_at(when: Any) -> Complaint:
    """A case with parts, filed and dismissed through the services at ``when``."""
    reviewer = UserFactory(username=f"rev{when:%Y%m%d%H%M%S%f}", roles=[access.HR_REVIEWER])
    lead = UserFactory(username=f"lead{when:%Y%m%d%H%M%S%f}", roles=[access.HR_LEAD])
    with time_machine.travel(when, tick=True):
        complaint = complaint_submit(reporter=None, category="bullying", summary="Shouting",
                                     narrative="He shouts.").complaint
        Message.objects.create(complaint=complaint, from_reporter=True, body="hi",
                               created_at=timezone.now())
        Conflict.objects.create(complaint=complaint, user=UserFactory(),
                                source=Conflict.Source.DECLARED, created_at=timezone.now())
        complaint_acknowledge(complaint=complaint, actor=reviewer)
        complaint_propose_dismissal(complaint=complaint, actor=reviewer, reason="Not conduct")
        return complaint_approve_dismissal(complaint=complaint, actor=lead)


def signed_at(when: Any) -> Checkpoint:
    """A checkpoint of the head as the beat made it at ``when``: past the insert guard, as
    only the owner could (the guard refuses any time but the database's own)."""
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE audit_checkpoint DISABLE TRIGGER audit_checkpoint_insert_guard")
    try:
        return checkpoints.checkpoint_sign(now=when)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE audit_checkpoint ENABLE TRIGGER "
                           "audit_checkpoint_insert_guard")


def purged(complaint: Complaint) -> bool:
    return Complaint.objects.get(pk=complaint.pk).purged_at is not None


def test_the_purge_works_as_the_production_role(app_role: Any) -> None:
    case = dismissed_at(timezone.now() - YEARS_AGO)
    checkpoints.checkpoint_due()  # the first checkpoint: the case's end was before it

    with as_role(ROLE):
        assert retention_purge() == 1

    assert not Message.objects.exists() and not Conflict.objects.exists()
    assert purged(case)
    assert PurgePermit.objects.filter(complaint=case).exists()
    assert AuditEvent.objects.filter(action="complaint.purged").count() == 1
    assert services.verify().complete


@pytest.mark.parametrize(("checkpoint_age", "permitted"), [(timedelta(days=2 * 365), True),
                                                            (timedelta(days=100), False)])
def test_after_the_first_checkpoint_an_end_counts_once_a_year_old_checkpoint_covers_it(
        app_role: Any, checkpoint_age: timedelta, permitted: bool) -> None:
    now = timezone.now()
    dismissed_at(now - YEARS_AGO)
    signed_at(now - YEARS_AGO)
    # Its time alone (three years ago) proves nothing: audit_append takes the caller's.
    case = dismissed_at(now - timedelta(days=3 * 365))
    signed_at(now - checkpoint_age)

    with as_role(ROLE):
        retention_purge()

    assert purged(case) is permitted
    assert Message.objects.filter(complaint=case).exists() is not permitted


def test_no_setting_lets_the_purge_in_before_a_year(app_role: Any, settings: Any) -> None:
    settings.RETENTION_DAYS = 30  # a mistake, or a hand on the settings
    case = dismissed_at(timezone.now() - timedelta(days=100))

    with as_role(ROLE):
        assert retention_purge() == 0

    assert Message.objects.filter(complaint=case).exists()
    assert not purged(case)


def test_the_production_role_cannot_fake_an_end_to_wipe_an_open_case(
        app_role: Any, case_with_parts: Complaint) -> None:
    complaint = case_with_parts
    checkpoints.checkpoint_due()  # the beat's first tick, long before the attack
    app_role.execute("UPDATE complaints_complaint SET state = 'closed', "
                     "ended_at = now() - interval '400 days' WHERE id = %s", [complaint.pk])
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="may not be purged"):
        app_role.execute("SELECT complaint_purge_permit(%s)", [complaint.pk])
    # Nor with a closing event of its own, dated back: no checkpoint a year old covers it.
    app_role.execute("SELECT audit_append(now() - interval '400 days', 'system', '', "
                     "'complaint.closed', 'complaint', %s, 'submitted', 'closed', '{}')",
                     [complaint.reference])
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="may not be purged"):
        app_role.execute("SELECT complaint_purge_permit(%s)", [complaint.pk])
    # Nor with a checkpoint dated back to cover it.
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="checkpoint refused"):
        app_role.execute(
            "INSERT INTO audit_checkpoint (seq, head_hash, made_at, previous_seq, previous_hash,"
            " key_id, body, signature) SELECT seq, hash, now() - interval '400 days', NULL, '',"
            " 'k', '{}', 'x' FROM audit_auditevent ORDER BY seq DESC LIMIT 1")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        app_role.execute("DELETE FROM complaints_message WHERE complaint_id = %s",
                         [complaint.pk])
    assert Message.objects.filter(complaint=complaint).exists()
    assert not PurgePermit.objects.exists()


@pytest.mark.parametrize("values", [
    "999999999, 'x', '2999-01-01'",  # no such event, and from the future
    "(SELECT max(seq) FROM audit_auditevent), 'x', now()",  # not the event's hash
    "(SELECT max(seq) FROM audit_auditevent),"
    " (SELECT hash FROM audit_auditevent ORDER BY seq DESC LIMIT 1), now() + interval '1 day'",
    "1, (SELECT hash FROM audit_auditevent WHERE seq = 1), now()",  # below the last one
])
def test_the_production_role_cannot_forge_a_checkpoint_out_of_order(
        app_role: Any, values: str) -> None:
    with transaction.atomic():
        for _ in range(3):
            services.record(action="audit.chain_verified", actor=services.SYSTEM)
    with as_role(ROLE):
        made = checkpoints.checkpoint_due()
    assert made is not None
    with transaction.atomic():
        services.record(action="audit.chain_verified", actor=services.SYSTEM)
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="checkpoint refused"):
        app_role.execute("INSERT INTO audit_checkpoint (seq, head_hash, made_at, previous_seq,"
                         " previous_hash, key_id, body, signature) VALUES"
                         f" ({values}, NULL, '', 'k', '{{}}', 'x')")
    assert list(Checkpoint.objects.values_list("pk", flat=True)) == [made.pk]


def test_a_row_the_production_role_slips_in_stops_no_checkpoint(app_role: Any,
                                                                settings: Any) -> None:
    settings.AUDIT_CHECKPOINT_EVERY_SECONDS = 3600
    with as_role(ROLE):
        first = checkpoints.checkpoint_due()
    assert first is not None
    with transaction.atomic():
        services.record(action="audit.chain_verified", actor=services.SYSTEM)
    # At the head, by its hash, dated now: the guard lets it in; it is not signed.
    app_role.execute("INSERT INTO audit_checkpoint (seq, head_hash, made_at, previous_seq,"
                     " previous_hash, key_id, body, signature) SELECT seq, hash, now(), NULL,"
                     " '', 'k', '{}', 'x' FROM audit_auditevent ORDER BY seq DESC LIMIT 1")
    settings.AUDIT_CHECKPOINT_EVERY_EVENTS = 1
    with transaction.atomic():
        services.record(action="audit.chain_verified", actor=services.SYSTEM)

    with as_role(ROLE):
        made = checkpoints.checkpoint_due()

    assert made is not None and made.previous_seq == first.seq
    forged = Checkpoint.objects.get(key_id="k")
    assert not forged.deliveries.exists() and made.deliveries.exists()


def test_the_verification_runs_as_the_production_role(app_role: Any,
                                                      case_with_parts: Complaint) -> None:
    from tests.api.conftest import Api
    from tests.audit.test_log import run_verify

    officer = UserFactory(username="officer", roles=[access.COMPLIANCE_OFFICER])
    with as_role(ROLE):
        result = services.verify()
        code, out, err = run_verify()
        body = Api().as_user(officer).get("audit/verify/").json()
        scheduled = tasks.audit_verify_chain()

    assert (result.intact, result.complete, result.missing) == (True, True, ())
    assert (code, err) == (0, "") and out.startswith("intact")
    assert (body["intact"], body["complete"]) == (True, True)
    assert scheduled["intact"] is True


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
