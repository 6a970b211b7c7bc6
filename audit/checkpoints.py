"""Witnessed checkpoints: the beat signs the chain head and sends it outside the database.

A checkpoint is signed on a schedule (``AUDIT_CHECKPOINT_EVERY_SECONDS``) and after every
``AUDIT_CHECKPOINT_EVERY_EVENTS`` events, each naming the one before it, and kept in the
append-only ``Checkpoint`` table. Each is then mailed to the audit committee and written
to the append-only sink (``audit.sinks``); a failed delivery is retried on the next tick,
and a ``CheckpointDelivery`` row records each one that arrived. Anyone holding a copy and
the public key can then prove the log was not cut back below it (``verify_audit
--checkpoint FILE --public-key KEY``).
"""

from __future__ import annotations

import base64
import json
import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMessage
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from audit import keys
from audit.actions import Action
from audit.chain import GENESIS_HASH, format_time
from audit.models import ChainHead, Checkpoint, CheckpointDelivery
from audit.services import SYSTEM, record
from audit.sinks import configured_sink

log = logging.getLogger(__name__)

# The Django auth group the checkpoints are mailed to (DESIGN.md "Users and roles"). Named
# here, not imported: the audit app imports no other app of ours.
COMMITTEE_GROUP = "audit_committee"
DELIVERY_BATCH = 50


def checkpoint_document(checkpoint: Checkpoint) -> dict[str, Any]:
    """The published form: what was signed, plus the signature. ``verify_audit
    --checkpoint`` reads it back."""
    return json.loads(checkpoint.body) | {"signature": checkpoint.signature}


@transaction.atomic
def checkpoint_sign(*, actor: Any = SYSTEM, now: datetime | None = None) -> Checkpoint:
    """Sign the chain head as a checkpoint naming the previous one.

    Changes: inserts a ``Checkpoint`` and appends ``audit.checkpoint_signed`` (after the
    head it signs, so the next checkpoint is always of a later event). Raises
    ``ValueError`` when ``AUDIT_SIGNING_KEY`` is not set.
    """
    _one_signer_at_a_time()
    head = ChainHead.objects.filter(pk=1).first() or ChainHead(seq=0, hash=GENESIS_HASH)
    previous = Checkpoint.objects.order_by("-seq").first()
    key = keys.signing_key()
    made_at = now or timezone.now()
    kid = keys.key_id(key.public_key())
    body: dict[str, Any] = {
        "seq": head.seq,
        "head_hash": head.hash,
        "made_at": format_time(made_at),
        "previous": ({"seq": previous.seq, "head_hash": previous.head_hash}
                     if previous is not None else None),
        "key_id": kid,
    }
    signed = keys.signed_body(body)
    checkpoint = Checkpoint.objects.create(
        seq=head.seq, head_hash=head.hash, made_at=made_at,
        previous_seq=previous.seq if previous else None,
        previous_hash=previous.head_hash if previous else "",
        key_id=kid, body=signed.decode(),
        signature=base64.b64encode(key.sign(signed)).decode(),
    )
    record(action=Action.AUDIT_CHECKPOINT_SIGNED, actor=actor, target=("audit_chain", "head"),
           payload={"seq": head.seq, "hash": head.hash, "key_id": kid})
    return checkpoint


def _one_signer_at_a_time() -> None:
    """Serialise signers until the transaction ends, so each names the one before it.

    Not the chain head's row lock: the application's role may not lock the head (that
    needs UPDATE rights), and appends need not wait for a signer. The head a signer reads
    is committed with its event, so it is a state the log really had. SQLite runs one
    writer at a time anyway.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_SIGNER_LOCK])


# An application-wide advisory lock key: "audit checkpoint signer".
_SIGNER_LOCK = 0x61756469_74636b70


def checkpoint_is_due(*, now: datetime) -> bool:
    """Whether the newest checkpoint is older than the interval, or that many events
    behind the head (its own ``audit.checkpoint_signed`` event not counted)."""
    last = Checkpoint.objects.order_by("-seq").values_list("seq", "made_at").first()
    if last is None:
        return True
    head_seq = ChainHead.objects.filter(pk=1).values_list("seq", flat=True).first() or 0
    every = timedelta(seconds=settings.AUDIT_CHECKPOINT_EVERY_SECONDS)
    return (now - last[1] >= every
            or head_seq - last[0] - 1 >= settings.AUDIT_CHECKPOINT_EVERY_EVENTS)


def checkpoint_due(*, now: datetime | None = None) -> Checkpoint | None:
    """The beat's tick: sign a checkpoint when one is due, then deliver every checkpoint
    not yet delivered. Returns the new checkpoint, or None."""
    now = now or timezone.now()
    made = None
    if checkpoint_is_due(now=now):
        with transaction.atomic():
            _one_signer_at_a_time()
            # Again under the lock: another worker may have signed one meanwhile.
            if checkpoint_is_due(now=now):
                made = checkpoint_sign(now=now)
    checkpoint_deliver()
    return made


def _committee_emails() -> list[str]:
    users = get_user_model().objects.filter(groups__name=COMMITTEE_GROUP, is_active=True)
    return sorted({email for email in users.values_list("email", flat=True) if email})


def _mail(checkpoint: Checkpoint, content: bytes) -> None:
    recipients = _committee_emails()
    if not recipients:
        raise RuntimeError(f"no one with an email address is in the {COMMITTEE_GROUP} group")
    message = EmailMessage(
        subject=f"Audit log checkpoint #{checkpoint.seq}",
        body=("The audit log's chain head, signed. Keep this mail: with the public key "
              "(GET /api/v1/audit/public-key/) anyone can check that the log still holds "
              "this head:\n\n  manage.py verify_audit --checkpoint "
              f"{_file_name(checkpoint)} --public-key KEY\n\n"
              f"{content.decode()}\n"),
        to=recipients,
    )
    message.attach(_file_name(checkpoint), content, "application/json")
    message.send()


def _file_name(checkpoint: Checkpoint) -> str:
    # Sorts by sequence number; the signing time keeps apart two databases (a restore, a
    # rebuilt test system) writing to one sink.
    made_at = json.loads(checkpoint.body)["made_at"].replace(":", "").replace("-", "")
    return f"checkpoint-{checkpoint.seq:012d}-{made_at}.json"


def checkpoint_deliver(*, batch: int = DELIVERY_BATCH) -> int:
    """Send every checkpoint that has not reached the committee's mail or the sink yet,
    oldest first. A failure is logged and left for the next tick; nothing is lost, since
    the checkpoint is already stored. Changes: adds a ``CheckpointDelivery`` per arrival.
    Returns how many deliveries were made."""
    made = 0
    senders = {CheckpointDelivery.Channel.MAIL: _mail,
               CheckpointDelivery.Channel.SINK: _sink_write}
    for channel, send in senders.items():
        pending = (Checkpoint.objects.exclude(deliveries__channel=channel)
                   .order_by("seq")[:batch])
        for checkpoint in pending:
            content = (json.dumps(checkpoint_document(checkpoint), indent=2, sort_keys=True)
                       + "\n").encode()
            try:
                send(checkpoint, content)
            except Exception:  # noqa: BLE001 - retried on the next tick
                log.warning("checkpoint #%s not delivered by %s; retrying later",
                            checkpoint.seq, channel, exc_info=True)
                break  # in order: a later one waits for the earlier
            try:
                with transaction.atomic():
                    CheckpointDelivery.objects.create(checkpoint=checkpoint, channel=channel,
                                                      delivered_at=timezone.now())
                made += 1
            except IntegrityError:  # another worker recorded it first
                pass
    return made


def _sink_write(checkpoint: Checkpoint, content: bytes) -> None:
    configured_sink().write(_file_name(checkpoint), content)
