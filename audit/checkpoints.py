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
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMessage
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from audit import keys, triggers
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
    previous = last_trusted()
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


# An application-wide advisory lock key: "audit checkpoint signer". The checkpoint insert
# guard takes it too (audit/triggers.py).
_SIGNER_LOCK = triggers.SIGNER_LOCK


def checkpoint_trusted(checkpoint: Checkpoint,
                       public_keys: dict[str, Ed25519PublicKey] | None = None) -> bool:
    """Whether a stored checkpoint is one this log signed: its signature verifies with a
    published key over its body, and the body says what the row says. The application's
    role may insert rows (the insert guard keeps them in order and on the log, but cannot
    check a signature), so nothing that decides or sends checkpoints trusts a row before
    this; a malformed one is simply not trusted."""
    trusted = public_keys if public_keys is not None else keys.published_keys()
    try:
        body = json.loads(checkpoint.body)
        trusted[checkpoint.key_id].verify(
            base64.b64decode(checkpoint.signature, validate=True), checkpoint.body.encode())
        return bool(body["seq"] == checkpoint.seq and body["head_hash"] == checkpoint.head_hash
                    and body["made_at"] == format_time(checkpoint.made_at)
                    and body["key_id"] == checkpoint.key_id)
    except (InvalidSignature, KeyError, TypeError, ValueError):
        return False


def last_trusted(*, public_keys: dict[str, Ed25519PublicKey] | None = None
                 ) -> Checkpoint | None:
    """The newest checkpoint whose signature verifies; each newer one that does not is
    logged and passed over."""
    trusted = public_keys if public_keys is not None else keys.published_keys()
    for checkpoint in _in_pages(Checkpoint.objects.all(), newest_first=True):
        if checkpoint_trusted(checkpoint, trusted):
            return checkpoint
        log.error("checkpoint #%s (row %s) is not signed by this log's key: ignored",
                  checkpoint.seq, checkpoint.pk)
    return None


def _in_pages(rows: QuerySet[Checkpoint], *, newest_first: bool,
              size: int = 100) -> Iterator[Checkpoint]:
    # Page by seq (keyset): rows that are passed over never pile up in memory.
    bound: int | None = None
    while True:
        page = rows if bound is None else rows.filter(
            **{"seq__lt" if newest_first else "seq__gt": bound})
        found = list(page.order_by("-seq" if newest_first else "seq")[:size])
        yield from found
        if len(found) < size:
            return
        bound = found[-1].seq


def checkpoint_is_due(*, now: datetime) -> bool:
    """Whether the newest trusted checkpoint is older than the interval, or that many
    events behind the head (its own ``audit.checkpoint_signed`` event not counted)."""
    last = last_trusted()
    if last is None:
        return True
    head_seq = ChainHead.objects.filter(pk=1).values_list("seq", flat=True).first() or 0
    every = timedelta(seconds=settings.AUDIT_CHECKPOINT_EVERY_SECONDS)
    return (now - last.made_at >= every
            or head_seq - last.seq - 1 >= settings.AUDIT_CHECKPOINT_EVERY_EVENTS)


def checkpoint_due(*, now: datetime | None = None) -> Checkpoint | None:
    """The beat's tick: sign a checkpoint when one is due, then deliver every checkpoint
    not yet delivered. Returns the new checkpoint, or None."""
    now = now or timezone.now()
    made = None
    if checkpoint_is_due(now=now):
        try:
            with transaction.atomic():
                _one_signer_at_a_time()
                # Again under the lock: another worker may have signed one meanwhile.
                if checkpoint_is_due(now=now):
                    made = checkpoint_sign(now=now)
        except DatabaseError:
            # The insert guard refused it: a row someone else put in holds this head, or
            # is dated ahead of us (at most a minute). The next tick tries again; what
            # was signed before still goes out.
            log.exception("checkpoint not signed; trying again on the next tick")
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
    """Send every trusted checkpoint that has not reached the committee's mail or the sink
    yet, oldest first (one whose signature does not verify is logged and never sent). A
    failure is logged and left for the next tick; nothing is lost, since the checkpoint is
    already stored. Changes: adds a ``CheckpointDelivery`` per arrival. Returns how many
    deliveries were made."""
    made = 0
    senders = {CheckpointDelivery.Channel.MAIL: _mail,
               CheckpointDelivery.Channel.SINK: _sink_write}
    trusted = keys.published_keys()
    for channel, send in senders.items():
        pending = _in_pages(Checkpoint.objects.exclude(deliveries__channel=channel),
                            newest_first=False, size=batch)
        sent = 0
        for checkpoint in pending:
            if not checkpoint_trusted(checkpoint, trusted):
                log.error("checkpoint #%s (row %s) is not signed by this log's key: not "
                          "delivered", checkpoint.seq, checkpoint.pk)
                continue
            if sent >= batch:
                break
            sent += 1
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
