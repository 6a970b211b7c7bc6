"""Witnessed checkpoints: signed by the beat, chained, sent outside the database, and
verifiable by anyone holding the public key; a log cut back below one fails."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.core import mail
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from audit import checkpoints, keys, services, triggers
from audit.models import AuditEvent, ChainHead, Checkpoint, CheckpointDelivery
from audit.sinks import DirectorySink, SinkError
from complaints import access
from tests.audit.test_log import append, raw, run_verify
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def sink(settings: Any, tmp_path: Path) -> Path:
    settings.AUDIT_CHECKPOINT_SINK = str(tmp_path / "sink")
    return tmp_path / "sink"


@pytest.fixture
def committee(db: None) -> Any:
    return UserFactory(username="chair", email="chair@example.com",
                       roles=[access.AUDIT_COMMITTEE])


def cut_back_to(seq: int) -> None:
    """Cut the tail and the head back together, past the triggers, as someone with the
    database owner's rights could: the chain alone then verifies."""
    for sql in triggers.DOWN[connection.vendor]:
        raw(sql)
    raw(f"DELETE FROM {triggers.TABLE} WHERE seq > %s", [seq])  # noqa: S608
    digest = AuditEvent.objects.get(seq=seq).hash
    raw(f"UPDATE {triggers.HEAD} SET seq = %s, hash = %s", [seq, digest])  # noqa: S608
    for sql in triggers.UP[connection.vendor]:
        raw(sql)


def test_the_first_tick_signs_a_checkpoint_of_the_head_and_records_it(committee: Any) -> None:
    append(3)
    head = ChainHead.objects.get()

    made = checkpoints.checkpoint_due()

    assert made is not None and (made.seq, made.head_hash) == (3, head.hash)
    assert made.previous_seq is None
    event = AuditEvent.objects.order_by("-seq").first()
    assert (event.seq, event.action) == (4, "audit.checkpoint_signed")
    assert json.loads(event.payload)["seq"] == 3
    document = checkpoints.checkpoint_document(made)
    assert set(document) == {"seq", "head_hash", "made_at", "previous", "signature", "key_id"}
    assert services.checkpoint_verify(document) == 3


@pytest.mark.usefixtures("checkpoints_at_chosen_times")
def test_checkpoints_follow_the_interval_and_the_event_count(settings: Any) -> None:
    settings.AUDIT_CHECKPOINT_EVERY_SECONDS = 3600
    settings.AUDIT_CHECKPOINT_EVERY_EVENTS = 5
    now = timezone.now()
    first = checkpoints.checkpoint_due(now=now)
    assert first is not None
    append(4)
    assert checkpoints.checkpoint_due(now=now + timedelta(minutes=1)) is None
    append(1)  # the fifth event since the checkpoint (its own event not counted)
    second = checkpoints.checkpoint_due(now=now + timedelta(minutes=2))
    assert second is not None and second.seq == first.seq + 6
    assert checkpoints.checkpoint_due(now=now + timedelta(minutes=3)) is None
    third = checkpoints.checkpoint_due(now=now + timedelta(minutes=2, seconds=3600))
    assert third is not None
    # Each names the one before it, inside what was signed.
    assert (third.previous_seq, third.previous_hash) == (second.seq, second.head_hash)
    assert json.loads(third.body)["previous"] == {"seq": second.seq,
                                                  "head_hash": second.head_hash}
    assert Checkpoint.objects.count() == 3


def test_each_checkpoint_is_mailed_to_the_committee_and_written_to_the_sink(
        committee: Any, sink: Path) -> None:
    UserFactory(username="other", roles=[access.HR_LEAD])
    append(2)

    made = checkpoints.checkpoint_due()

    assert made is not None
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["chair@example.com"]
    name, content, _ = mail.outbox[0].attachments[0]
    stored = (sink / name).read_text()
    assert json.loads(stored) == json.loads(content) == checkpoints.checkpoint_document(made)
    assert set(made.deliveries.values_list("channel", flat=True)) == {"mail", "sink"}
    checkpoints.checkpoint_deliver()
    assert len(mail.outbox) == 1  # delivered once


def test_a_failed_mail_loses_nothing_and_is_retried(committee: Any, sink: Path) -> None:
    with mock.patch("django.core.mail.EmailMessage.send", side_effect=OSError("smtp down")):
        made = checkpoints.checkpoint_due()
    assert made is not None and Checkpoint.objects.filter(pk=made.pk).exists()
    assert list(made.deliveries.values_list("channel", flat=True)) == ["sink"]
    assert mail.outbox == []

    assert checkpoints.checkpoint_deliver() == 1

    assert len(mail.outbox) == 1
    assert made.deliveries.filter(channel=CheckpointDelivery.Channel.MAIL).exists()


def test_without_a_committee_the_mail_waits(sink: Path) -> None:
    made = checkpoints.checkpoint_due()
    assert made is not None
    assert list(made.deliveries.values_list("channel", flat=True)) == ["sink"]


def test_the_sink_never_overwrites(tmp_path: Path) -> None:
    target = DirectorySink(str(tmp_path))
    target.write("checkpoint-1.json", b"one")
    target.write("checkpoint-1.json", b"one")  # a retry of the same checkpoint
    with pytest.raises(SinkError, match="another checkpoint"):
        target.write("checkpoint-1.json", b"two")
    assert (tmp_path / "checkpoint-1.json").read_bytes() == b"one"


def test_a_custom_sink_class_is_used(settings: Any) -> None:
    settings.AUDIT_CHECKPOINT_SINK_CLASS = "tests.audit.test_checkpoints.MemorySink"
    settings.AUDIT_CHECKPOINT_SINK = "bucket"
    MemorySink.written.clear()
    checkpoints.checkpoint_due()
    assert [location for location, _, _ in MemorySink.written] == ["bucket"]


class MemorySink:
    written: list[tuple[str, str, bytes]] = []

    def __init__(self, location: str) -> None:
        self.location = location

    def write(self, name: str, content: bytes) -> None:
        self.written.append((self.location, name, content))


@pytest.mark.parametrize("sql", [
    "UPDATE audit_checkpoint SET seq = 0",
    "DELETE FROM audit_checkpoint",
    "UPDATE audit_checkpointdelivery SET channel = 'mail'",
    "DELETE FROM audit_checkpointdelivery",
])
def test_checkpoints_are_append_only_at_the_database(sql: str) -> None:
    checkpoints.checkpoint_due()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        raw(sql)
    assert Checkpoint.objects.count() == 1


# --- Verifying with the public key only -----------------------------------------------------

def _public_key_forms(tmp_path: Path) -> dict[str, str]:
    public = keys.signing_key().public_key()
    as_json = tmp_path / "public-key.json"
    as_json.write_text(json.dumps(keys.published_keys_document()))
    pem = tmp_path / "public-key.pem"
    pem.write_bytes(public.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo))
    return {"json file": str(as_json), "pem file": str(pem),
            "base64 text": keys.public_key_text(public)}


@pytest.mark.parametrize("form", ["json file", "pem file", "base64 text"])
def test_a_checkpoint_verifies_with_the_public_key_and_no_signing_secret(
        settings: Any, tmp_path: Path, form: str) -> None:
    append(3)
    made = checkpoints.checkpoint_due()
    assert made is not None
    path = tmp_path / "cp.json"
    path.write_text(json.dumps(checkpoints.checkpoint_document(made)))
    key = _public_key_forms(tmp_path)[form]
    settings.AUDIT_SIGNING_KEY = ""  # no secret on the verifying machine

    code, out, err = run_verify("--checkpoint", str(path), "--public-key", key)

    assert (code, err) == (0, "")
    assert "still holds" in out


def test_the_old_export_format_verifies_with_the_public_key_too(settings: Any,
                                                                tmp_path: Path) -> None:
    append(2)
    path = tmp_path / "cp.json"
    path.write_text(json.dumps(services.checkpoint_export()))
    key = keys.public_key_text(keys.signing_key().public_key())
    settings.AUDIT_SIGNING_KEY = ""
    assert run_verify("--checkpoint", str(path), "--public-key", key)[0] == 0


def test_a_whole_page_of_the_api_verifies(settings: Any, tmp_path: Path) -> None:
    now = timezone.now()
    checkpoints.checkpoint_due(now=now)
    append(2)
    checkpoints.checkpoint_due(now=now + timedelta(hours=2))
    page = {"results": [checkpoints.checkpoint_document(c) for c in Checkpoint.objects.all()]}
    path = tmp_path / "page.json"
    path.write_text(json.dumps(page))
    key = keys.public_key_text(keys.signing_key().public_key())
    assert run_verify("--checkpoint", str(path), "--public-key", key)[0] == 0


def test_another_public_key_is_refused(settings: Any, tmp_path: Path) -> None:
    made = checkpoints.checkpoint_due()
    assert made is not None
    path = tmp_path / "cp.json"
    path.write_text(json.dumps(checkpoints.checkpoint_document(made)))
    stranger = base64.b64encode(bytes(range(32))).decode()
    settings.AUDIT_SIGNING_KEY = stranger
    stranger_public = keys.public_key_text(keys.signing_key().public_key())

    code, _, err = run_verify("--checkpoint", str(path), "--public-key", stranger_public)

    assert code == 1 and "key other than this log's" in err


def test_a_bad_public_key_is_a_clear_error() -> None:
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="--public-key"):
        call_command("verify_audit", "--public-key", "not a key")


def test_a_log_cut_back_below_a_published_checkpoint_fails(settings: Any,
                                                           tmp_path: Path) -> None:
    append(8)
    made = checkpoints.checkpoint_due()
    assert made is not None and made.seq == 8
    path = tmp_path / "cp.json"
    path.write_text(json.dumps(checkpoints.checkpoint_document(made)))
    key = keys.public_key_text(keys.signing_key().public_key())
    settings.AUDIT_SIGNING_KEY = ""

    cut_back_to(3)  # the last five events and the checkpoint's own event, head and all

    assert services._verify_chain(5000).intact is False  # the stored checkpoint is below
    code, _, err = run_verify("--checkpoint", str(path), "--public-key", key)
    assert code == 1
    assert "cut back" in err


def test_a_cut_is_caught_by_the_outside_copy_even_when_the_stored_one_is_gone(
        tmp_path: Path) -> None:
    append(8)
    made = checkpoints.checkpoint_due()
    assert made is not None
    path = tmp_path / "cp.json"
    path.write_text(json.dumps(checkpoints.checkpoint_document(made)))
    cut_back_to(3)
    for sql in triggers.CHECKPOINT_DOWN[connection.vendor]:
        raw(sql)
    raw("DELETE FROM audit_checkpointdelivery")
    raw("DELETE FROM audit_checkpoint")
    for sql in triggers.CHECKPOINT_UP[connection.vendor]:
        raw(sql)
    assert services.verify().intact  # nothing inside the database notices

    code, _, err = run_verify("--checkpoint", str(path))

    assert code == 1 and "cut back" in err


def test_a_rewritten_event_at_the_checkpoint_fails(tmp_path: Path) -> None:
    append(4)
    made = checkpoints.checkpoint_due()
    assert made is not None
    document = checkpoints.checkpoint_document(made)
    document_seq = document["seq"]
    for sql in triggers.DOWN[connection.vendor]:
        raw(sql)
    raw(f"UPDATE {triggers.TABLE} SET hash = %s WHERE seq = %s",  # noqa: S608
        ["f" * 64, document_seq])
    for sql in triggers.UP[connection.vendor]:
        raw(sql)
    with pytest.raises(services.CheckpointError, match="rewritten"):
        services.checkpoint_verify(document)
    result = services._verify_chain(5000)
    assert (result.intact, result.first_broken_seq) == (False, document_seq)


def test_the_beat_ticks_every_minute_and_the_task_calls_the_service() -> None:
    from audit import tasks
    from config.settings import base

    entry = base.CELERY_BEAT_SCHEDULE["audit-checkpoint"]
    assert (entry["task"], entry["schedule"]) == ("audit.tasks.audit_checkpoint_tick", 60)
    assert (base.AUDIT_CHECKPOINT_EVERY_SECONDS, base.AUDIT_CHECKPOINT_EVERY_EVENTS) == (
        3600, 10_000)
    append(1)
    assert tasks.audit_checkpoint_tick() == 1
    assert tasks.audit_checkpoint_tick() is None


# --- Rows put into the table by hand -----------------------------------------------------------

INSERT = ("INSERT INTO audit_checkpoint (seq, head_hash, made_at, previous_seq, previous_hash,"
          " key_id, body, signature) VALUES (%s, %s, %s, NULL, '', %s, %s, %s)")


def event_hash_at(seq: int) -> str:
    return AuditEvent.objects.get(seq=seq).hash


@pytest.mark.parametrize("forged", ["no such event", "another hash", "below the last",
                                    "before the last", "far in the future"])
def test_a_checkpoint_row_must_name_the_log_and_come_in_order(forged: str) -> None:
    append(3)
    made = checkpoints.checkpoint_due()
    assert made is not None
    append(2)
    head = ChainHead.objects.get()
    seq, digest, when = head.seq, head.hash, timezone.now()
    if forged == "no such event":
        seq = 999_999_999
    elif forged == "another hash":
        digest = "f" * 64
    elif forged == "below the last":
        seq, digest = 1, event_hash_at(1)
    elif forged == "before the last":
        when = made.made_at - timedelta(seconds=1)
    else:
        when = timezone.now().replace(year=2999)
    with pytest.raises(DatabaseError, match="checkpoint refused"), transaction.atomic():
        raw(INSERT, [seq, digest, when, "k", "{}", "x"])
    assert list(Checkpoint.objects.all()) == [made]


@pytest.mark.usefixtures("checkpoints_at_chosen_times")
@pytest.mark.parametrize("body", ["malformed", "replayed"])
def test_a_row_not_signed_by_the_log_neither_stops_checkpoints_nor_is_sent(
        settings: Any, body: str, sink: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings.AUDIT_CHECKPOINT_EVERY_SECONDS = 3600
    now = timezone.now()
    append(3)
    first = checkpoints.checkpoint_due(now=now)
    assert first is not None
    append(2)
    head = ChainHead.objects.get()
    # In order and naming the head, so the guard lets it in; dated when the next is due.
    text, signature, kid = (("{}", "x", "k") if body == "malformed"
                            else (first.body, first.signature, first.key_id))
    raw(INSERT, [head.seq, head.hash, now + timedelta(hours=2), kid, text, signature])
    append(1)

    made = checkpoints.checkpoint_due(now=now + timedelta(hours=2))

    assert made is not None and made.previous_seq == first.seq
    forged = Checkpoint.objects.get(seq=head.seq)
    assert not forged.deliveries.exists()
    assert {p.name for p in sink.iterdir()} == {
        checkpoints._file_name(first), checkpoints._file_name(made)}
    assert "is not signed by this log's key" in caplog.text
