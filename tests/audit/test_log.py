"""The audit log: one writer, a gapless hash chain, immutable at the database."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction

from audit import services, triggers
from audit.actions import Action
from audit.chain import event_hash, format_time
from audit.models import AuditEvent


def append(n: int = 1) -> list[services.Appended]:
    with transaction.atomic():
        return [
            services.record(action=Action.AUDIT_CHAIN_VERIFIED, actor=services.SYSTEM,
                            target=("complaint", f"MC-TEST-{i:04d}"), payload={"i": i})
            for i in range(n)
        ]


def run_verify(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("verify_audit", *args, stdout=out, stderr=err)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()


def raw(sql: str, params: list[Any] | None = None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])


def hash_as(row: AuditEvent, prev_hash: str, action: str) -> str:
    """The hash ``row`` would have with another action and previous hash: a forger's work."""
    return event_hash(prev_hash, row.seq, format_time(row.occurred_at), row.actor_type,
                      row.actor_id, action, row.target_type, row.target_id, row.from_state,
                      row.to_state, row.payload)


def rewrite_event(seq: int, **changes: str) -> None:
    """Edit a row past the triggers, as someone with the database owner's rights could."""
    for sql in triggers.DOWN[connection.vendor]:
        raw(sql)
    sets = ", ".join(f"{column} = %s" for column in changes)
    raw(f"UPDATE {triggers.TABLE} SET {sets} WHERE seq = %s", [*changes.values(), seq])  # noqa: S608
    for sql in triggers.UP[connection.vendor]:
        raw(sql)


@pytest.mark.django_db
def test_events_are_gapless_and_each_links_to_the_previous() -> None:
    events = append(5)
    assert [e.seq for e in events] == [1, 2, 3, 4, 5]
    assert events[0].prev_hash == "0" * 64
    for previous, event in zip(events, events[1:], strict=False):
        assert event.prev_hash == previous.hash
    stored = AuditEvent.objects.get(seq=3)
    assert stored.hash == event_hash(
        stored.prev_hash, 3, format_time(stored.occurred_at), "system", "", stored.action,
        "complaint", "MC-TEST-0002", "", "", '{"i":2}')
    assert services.verify().as_dict() == {"intact": True, "events": 5,
                                           "first_broken_seq": None, "head_hash": events[-1].hash,
                                           "complete": True, "missing": []}


def test_record_refuses_to_run_outside_a_transaction(committed_db: None) -> None:
    with pytest.raises(RuntimeError, match="inside the caller's transaction"):
        services.record(action=Action.AUDIT_CHAIN_VERIFIED, actor=services.SYSTEM)


@pytest.mark.django_db
def test_record_refuses_unknown_actions_and_non_canonical_payloads() -> None:
    with transaction.atomic(), pytest.raises(ValueError):
        services.record(action="complaint.deleted", actor=services.SYSTEM)
    with transaction.atomic(), pytest.raises(ValueError):
        services.record(action=Action.AUDIT_CHAIN_VERIFIED, actor=services.SYSTEM,
                        payload={"ratio": 0.5})
    assert not AuditEvent.objects.exists()


@pytest.mark.django_db
def test_a_rolled_back_transaction_leaves_no_gap() -> None:
    append(2)
    with pytest.raises(ZeroDivisionError), transaction.atomic():
        append(1)
        1 / 0  # noqa: B018
    assert [e.seq for e in append(1)] == [3]
    assert services.verify().intact


@pytest.mark.django_db
@pytest.mark.parametrize("sql", [
    f"UPDATE {triggers.TABLE} SET action = 'complaint.closed' WHERE seq = 1",
    f"DELETE FROM {triggers.TABLE} WHERE seq = 1",
    f"DELETE FROM {triggers.TABLE}",
])
def test_raw_sql_cannot_update_or_delete_audit_events(sql: str) -> None:
    append(2)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        raw(sql)
    assert AuditEvent.objects.count() == 2


@pytest.mark.django_db
def test_the_orm_cannot_update_or_delete_audit_events_either() -> None:
    append(1)
    event = AuditEvent.objects.get(seq=1)
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(seq=1).update(action="complaint.closed")
    with pytest.raises(DatabaseError), transaction.atomic():
        event.action = "complaint.closed"
        event.save()
    with pytest.raises(DatabaseError), transaction.atomic():
        event.delete()
    assert AuditEvent.objects.get(seq=1).action == Action.AUDIT_CHAIN_VERIFIED


@pytest.mark.services
@pytest.mark.django_db
def test_truncate_is_refused_on_postgresql() -> None:
    append(1)
    with pytest.raises(DatabaseError, match="TRUNCATE refused"), transaction.atomic():
        raw(f"TRUNCATE {triggers.TABLE}")
    assert AuditEvent.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(("column", "value"), [
    ("action", "complaint.acknowledged"),
    ("to_state", "dismissed"),
    ("payload", '{"i":999}'),
    ("actor_id", "42"),
])
def test_verify_audit_names_the_event_edited_behind_the_triggers(column: str, value: str) -> None:
    append(6)
    rewrite_event(4, **{column: value})
    code, out, err = run_verify()
    assert code == 1
    assert "BROKEN at seq 4" in err
    assert services.verify().first_broken_seq == 4


@pytest.mark.django_db
def test_verify_audit_catches_a_recomputed_event_by_the_next_link() -> None:
    append(6)
    row = AuditEvent.objects.get(seq=3)
    rewrite_event(3, action="complaint.closed",
                  hash=hash_as(row, row.prev_hash, "complaint.closed"))
    result = services.verify()
    assert (result.intact, result.first_broken_seq) == (False, 4)


@pytest.mark.django_db
def test_verify_audit_catches_a_deleted_tail() -> None:
    append(5)
    for sql in triggers.DOWN[connection.vendor]:
        raw(sql)
    raw(f"DELETE FROM {triggers.TABLE} WHERE seq >= 4")  # noqa: S608
    assert services.verify().first_broken_seq == 4


@pytest.mark.django_db
def test_verify_audit_exits_zero_on_an_intact_chain() -> None:
    append(3)
    code, out, _ = run_verify()
    assert code == 0 and out.startswith("intact: 3 events")
    code, out, _ = run_verify("--json")
    assert json.loads(out)["intact"] is True


@pytest.mark.django_db
def test_a_checkpoint_proves_the_log_still_holds_its_head(tmp_path: Any) -> None:
    append(4)
    path = tmp_path / "checkpoint.json"
    call_command("audit_checkpoint", "--output", str(path), stdout=io.StringIO())
    document = json.loads(path.read_text())
    assert document["checkpoint"]["seq"] == 4
    assert AuditEvent.objects.order_by("-seq").first().action == "audit.checkpoint_exported"
    append(2)
    code, out, _ = run_verify("--checkpoint", str(path))
    assert code == 0 and "still holds" in out


@pytest.mark.django_db
def test_rewriting_the_whole_chain_is_caught_by_an_earlier_checkpoint(tmp_path: Any) -> None:
    append(4)
    document = services.checkpoint_export()
    # An attacker with the owner's rights rewrites event 2 and re-hashes everything after
    # it, so the chain on its own verifies again.
    for sql in triggers.DOWN[connection.vendor]:
        raw(sql)
    prev = AuditEvent.objects.get(seq=1).hash
    for row in AuditEvent.objects.filter(seq__gte=2).order_by("seq"):
        action = "complaint.closed" if row.seq == 2 else row.action
        digest = hash_as(row, prev, action)
        raw(f"UPDATE {triggers.TABLE} SET action = %s, prev_hash = %s, hash = %s "  # noqa: S608
            "WHERE seq = %s", [action, prev, digest, row.seq])
        prev = digest
    raw("UPDATE audit_chainhead SET hash = %s", [prev])
    assert services.verify().intact
    with pytest.raises(services.CheckpointError, match="rewritten"):
        services.checkpoint_verify(document)
    path = tmp_path / "cp.json"
    path.write_text(json.dumps(document))
    code, _, err = run_verify("--checkpoint", str(path))
    assert code == 1 and "rewritten" in err


@pytest.mark.django_db
def test_a_forged_or_foreign_checkpoint_is_refused(settings: Any) -> None:
    import base64

    append(2)
    document = services.checkpoint_export()
    forged = json.loads(json.dumps(document))
    forged["checkpoint"]["seq"] = 1
    with pytest.raises(services.CheckpointError, match="signature is invalid"):
        services.checkpoint_verify(forged)
    settings.AUDIT_SIGNING_KEY = base64.b64encode(b"k" * 32).decode()
    with pytest.raises(services.CheckpointError, match="another key|other than"):
        services.checkpoint_verify(document)


@pytest.mark.django_db
def test_the_scheduled_verification_puts_its_outcome_on_the_record() -> None:
    from audit.tasks import audit_verify_chain

    append(2)
    outcome = audit_verify_chain()
    assert outcome["intact"] is True and outcome["events"] == 2  # for the operator's log
    last = AuditEvent.objects.order_by("-seq").first()
    assert last.action == "audit.chain_verified"
    # On the record, which every reader of the log sees: the verdict, not the count.
    assert json.loads(last.payload) == {"intact": True, "head_hash": outcome["head_hash"],
                                        "complete": True}


@pytest.mark.django_db
def test_awkward_text_hashes_the_same_in_the_database_and_in_python() -> None:
    # On PostgreSQL the database computes each hash and Python verifies it; on SQLite
    # Python does both. Quotes, backslashes, control characters and non-ASCII text must
    # encode the same way in both.
    awkward = 'quote " back \\ nl \n tab \t cr \r bell \x07 unit \x1f é 中文 \u2028 😀'
    short = 'q"\\\n\x07é中😀'
    with transaction.atomic():
        services.record(action=Action.AUDIT_CHAIN_VERIFIED, actor=services.ActorRef("user", short),
                        target=("complaint", short), from_state=short, to_state=short,
                        payload={"k": awkward, "n": -7, "b": True, "z": None, "l": [1, "x"]})
    append(2)
    assert services.verify().intact
    stored = AuditEvent.objects.get(seq=1)
    assert stored.hash == event_hash(
        stored.prev_hash, 1, format_time(stored.occurred_at), "user", short,
        "audit.chain_verified", "complaint", short, short, short, stored.payload)


@pytest.mark.django_db
def test_an_event_slipped_in_past_the_head_is_caught() -> None:
    append(3)
    last = AuditEvent.objects.get(seq=3)
    # A well-formed event #4, chained to #3, written straight into the table.
    ghost = AuditEvent(seq=4, occurred_at=last.occurred_at, actor_type="system", actor_id="",
                       target_type="complaint", target_id="MC-GHST-0001", from_state="",
                       to_state="", payload="{}")
    raw(f"INSERT INTO {triggers.TABLE} (seq, occurred_at, actor_type, actor_id, action, "  # noqa: S608
        "target_type, target_id, from_state, to_state, payload, prev_hash, hash) "
        "VALUES (4, %s, 'system', '', 'complaint.closed', 'complaint', 'MC-GHST-0001', "
        "'', '', '{}', %s, %s)",
        [connection.ops.adapt_datetimefield_value(last.occurred_at), last.hash,
         hash_as(ghost, last.hash, "complaint.closed")])
    result = services.verify()
    assert (result.intact, result.first_broken_seq) == (False, 4)


@pytest.mark.django_db
@pytest.mark.parametrize("sql", [
    f"DELETE FROM {triggers.HEAD}",
    f"UPDATE {triggers.HEAD} SET seq = 0",
])
def test_the_chain_head_cannot_be_deleted_or_moved_back(sql: str) -> None:
    append(2)
    with pytest.raises(DatabaseError, match="only moves forward"), transaction.atomic():
        raw(sql)
    assert services.verify().intact


@pytest.mark.django_db
def test_an_upsert_cannot_overwrite_an_event() -> None:
    append(2)
    columns = ("seq, occurred_at, actor_type, actor_id, action, target_type, target_id, "
               "from_state, to_state, payload, prev_hash, hash")
    values = ("1, '2026-01-01 00:00:00', 'system', '', 'complaint.closed', '', '', '', '', "
              "'{}', '', ''")
    upsert = (f"INSERT OR REPLACE INTO {triggers.TABLE} ({columns}) VALUES ({values})"  # noqa: S608
              if connection.vendor == "sqlite" else
              f"INSERT INTO {triggers.TABLE} ({columns}) VALUES ({values}) "  # noqa: S608
              "ON CONFLICT (seq) DO UPDATE SET action = EXCLUDED.action")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        raw(upsert)
    assert AuditEvent.objects.get(seq=1).action == Action.AUDIT_CHAIN_VERIFIED


@pytest.mark.django_db
def test_a_batch_appends_in_order_under_one_lock() -> None:
    append(1)
    with transaction.atomic():
        batch = services.record_many([
            services.Entry(action=Action.COMPLAINT_ESCALATED, actor=services.SYSTEM,
                           target=("complaint", f"MC-BATCH-{i}"), payload={"level": i})
            for i in range(1, 4)])
    assert [a.seq for a in batch] == [2, 3, 4]
    assert batch[0].prev_hash == AuditEvent.objects.get(seq=1).hash
    assert [e.target_id for e in AuditEvent.objects.filter(seq__gt=1)] == [
        "MC-BATCH-1", "MC-BATCH-2", "MC-BATCH-3"]
    assert services.verify().intact
