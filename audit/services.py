"""The one writer of the audit log, and its verifier.

``record`` appends an event inside the caller's transaction: it locks the one-row chain
head, so appends are serialised and sequence numbers stay gapless (a rolled-back
transaction rolls back its sequence number with it), then inserts the event and moves the
head (on PostgreSQL through the database's append function, ``audit.append_sql``).
``verify`` streams the chain in constant memory.
``checkpoint_*`` sign and check the chain head with Ed25519, so a rewrite of the whole
chain is caught too.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, NamedTuple

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from audit import append_sql, keys
from audit.actions import Action
from audit.chain import (
    GENESIS_HASH,
    POSTGRES_TIME_FORMAT,
    canonical_payload,
    event_hash,
    format_time,
)
from audit.models import AuditEvent, ChainHead, Checkpoint


class Appended(NamedTuple):
    """What ``record`` appended: enough to point at the event without reading it back."""

    seq: int
    occurred_at: datetime
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class ActorRef:
    """Who did something, as the log names them: never a name or an email."""

    type: str
    id: str = ""


SYSTEM = ActorRef(AuditEvent.ActorType.SYSTEM)


def actor_ref(actor: Any) -> ActorRef:
    if isinstance(actor, ActorRef):
        return actor
    if hasattr(actor, "audit_actor"):
        return actor.audit_actor
    if getattr(actor, "is_authenticated", False) and actor.pk is not None:
        return ActorRef(AuditEvent.ActorType.USER, str(actor.pk))
    raise TypeError(f"cannot name {actor!r} as an audit actor")


def target_ref(target: Any) -> tuple[str, str]:
    if target is None:
        return "", ""
    if isinstance(target, tuple):
        return str(target[0]), str(target[1])
    if hasattr(target, "audit_target"):
        return target.audit_target
    return target._meta.model_name, str(target.pk)


_PAYLOAD_SCALARS = (str, int, bool, type(None))


def _check_payload(value: Any, depth: int = 0) -> None:
    # Floats are refused: their text form is not canonical across databases and encoders.
    if depth > 4:
        raise ValueError("audit payload is nested too deeply")
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError("audit payload keys must be strings")
            _check_payload(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check_payload(item, depth + 1)
    elif not isinstance(value, _PAYLOAD_SCALARS):
        raise ValueError(f"audit payload cannot hold {type(value).__name__}")


def _lock_head() -> ChainHead:
    head = ChainHead.objects.select_for_update().filter(pk=1).first()
    if head is None:
        # Only on an empty database: the migration creates the row. A concurrent creator
        # makes get_or_create fall back to a (locking) get.
        head, _ = ChainHead.objects.select_for_update().get_or_create(
            pk=1, defaults={"seq": 0, "hash": GENESIS_HASH}
        )
    return head


def record(
    *,
    action: Action | str,
    actor: Any,
    target: Any = None,
    from_state: str = "",
    to_state: str = "",
    payload: dict[str, Any] | None = None,
) -> Appended:
    """Append one event to the chain, inside the caller's transaction.

    Changes: inserts an ``AuditEvent`` and moves the ``ChainHead``.
    Raises: ``RuntimeError`` outside a transaction (an event must commit or roll back with
    the change it records); ``ValueError`` for an unknown action or a payload that is not
    plain JSON of strings, integers, booleans and nulls.
    """
    return record_many([Entry(action=action, actor=actor, target=target,
                              from_state=from_state, to_state=to_state, payload=payload)])[0]


@dataclass(frozen=True)
class Entry:
    """One event for ``record_many``; the same fields ``record`` takes."""

    action: Action | str
    actor: Any
    target: Any = None
    from_state: str = ""
    to_state: str = ""
    payload: dict[str, Any] | None = None


def record_many(entries: list[Entry]) -> list[Appended]:
    """Append a batch of events under one lock of the chain head (the sweep's path).

    Same rules and errors as ``record``; the events get consecutive sequence numbers and
    one timestamp, in the order given.
    """
    if not entries:
        return []
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("audit.record must be called inside the caller's transaction")
    events = []
    for entry in entries:
        _check_payload(entry.payload or {})
        who = actor_ref(entry.actor)
        target_type, target_id = target_ref(entry.target)
        events.append((who.type, who.id, Action(entry.action).value, target_type, target_id,
                       entry.from_state, entry.to_state, canonical_payload(entry.payload)))
    # Everything above runs before the chain head is locked.
    now = timezone.now()
    if connection.vendor == "postgresql":
        return [Appended(seq, now, prev, digest)
                for seq, prev, digest in append_sql.append(now, events)]
    head = _lock_head()
    seq, prev_hash, when = head.seq, head.hash, format_time(now)
    rows, appended = [], []
    for fields in events:
        seq += 1
        digest = event_hash(prev_hash, seq, when, *fields)
        rows.append(AuditEvent(seq=seq, occurred_at=now, actor_type=fields[0],
                               actor_id=fields[1], action=fields[2], target_type=fields[3],
                               target_id=fields[4], from_state=fields[5], to_state=fields[6],
                               payload=fields[7], prev_hash=prev_hash, hash=digest))
        appended.append(Appended(seq, now, prev_hash, digest))
        prev_hash = digest
    AuditEvent.objects.bulk_create(rows)
    ChainHead.objects.filter(pk=1).update(seq=seq, hash=prev_hash)
    return appended


# --- Until the sweep is rewritten ------------------------------------------------------------
# complaints/services/sweep.py still sends its set-based statements through these two names.
# They are the ordinary Django cursor (nothing prepared, no driver internals); delete them
# with the sweep's last use of them.

def execute_prepared(sql: str, params: Sequence[Any]) -> tuple[Any, ...] | None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone() if cursor.description else None


def fetch_prepared(sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


_EVENT_COLUMNS = (
    "seq, occurred_at, actor_type, actor_id, action, target_type, target_id, "
    "from_state, to_state, payload, prev_hash, hash"
)



# --- Verification -------------------------------------------------------------------------

@dataclass(frozen=True)
class VerifyResult:
    intact: bool
    events: int
    first_broken_seq: int | None
    head_hash: str
    problem: str = ""
    # Completeness, reported apart from the chain: a complaint without its filing event,
    # or a filed complaint that is gone (``completeness_problems``).
    complete: bool = True
    missing: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "intact": self.intact,
            "events": self.events,
            "first_broken_seq": self.first_broken_seq,
            "head_hash": self.head_hash,
            "complete": self.complete,
            "missing": list(self.missing),
        }


# Reported at most this many at a time: a summary, not a dump.
MISSING_SHOWN = 10


def completeness_problems() -> list[str]:
    """What the log says happened and the database no longer shows, or the reverse.

    The checks belong to the apps whose rows they compare with the log (audit imports no
    other app of ours): ``AUDIT_COMPLETENESS_CHECKS`` names them, each a callable taking
    ``limit`` and returning at most that many problems, found by set-based queries (no
    memory that grows with the log).
    """
    problems: list[str] = []
    for path in getattr(settings, "AUDIT_COMPLETENESS_CHECKS", []):
        problems += import_string(path)(limit=MISSING_SHOWN - len(problems))
        if len(problems) >= MISSING_SHOWN:
            break
    return problems[:MISSING_SHOWN]


def _stream_rows(batch: int) -> Iterator[tuple[Any, ...]]:
    # On PostgreSQL chunked_cursor is a server-side cursor inside a transaction: constant
    # memory however long the log, and the database formats each time (on its own core)
    # exactly as format_time does. On SQLite a plain cursor steps through rows lazily; no
    # transaction there, since an IMMEDIATE one would hold the write lock for the walk.
    postgres = connection.vendor == "postgresql"
    columns = _EVENT_COLUMNS
    if postgres:
        columns = columns.replace(
            "occurred_at", f"to_char(occurred_at AT TIME ZONE 'UTC', '{POSTGRES_TIME_FORMAT}')")
    in_txn = transaction.atomic() if postgres else nullcontext()
    with in_txn, connection.chunked_cursor() as cursor:
        cursor.execute(f"SELECT {columns} FROM {AuditEvent._meta.db_table} ORDER BY seq")  # noqa: S608
        while rows := cursor.fetchmany(batch):
            yield from rows


def _utc_text(value: datetime | str) -> str:
    if isinstance(value, str):
        if value.endswith("Z"):  # already formatted by PostgreSQL
            return value
        value = datetime.fromisoformat(value)  # SQLite hands back its stored text, in UTC
    if value.tzinfo is None:  # stored in the connection's time zone (UTC unless configured)
        value = value.replace(tzinfo=connection.timezone or UTC)
    return format_time(value)


def verify(*, batch: int = 5000, completeness: bool = True) -> VerifyResult:
    """Walk the whole chain in sequence order and report the first broken link; then, with
    ``completeness``, what ``completeness_problems`` finds.

    A link is broken when its sequence number skips, its ``prev_hash`` is not the previous
    event's hash, or its own hash does not match its contents. A chain that ends before
    the head says (its tail deleted) breaks at the first missing sequence number, and so
    does one that ends before, or differs at, the newest signed checkpoint (the tail and
    the head cut back together).
    """
    result = _verify_chain(batch)
    if not completeness:
        return result
    missing = tuple(completeness_problems())
    return replace(result, complete=not missing, missing=missing)


def _verify_chain(batch: int) -> VerifyResult:
    # The head is read first: events committed while we walk only add to what we see, so
    # the walk must reach the head and match it there, whatever is appended meanwhile.
    head = ChainHead.objects.filter(pk=1).values_list("seq", "hash").first() or (0, GENESIS_HASH)
    head_seq, head_hash = head
    signed_seq, signed_hash = (Checkpoint.objects.order_by("-seq")
                               .values_list("seq", "head_hash").first() or (0, GENESIS_HASH))
    expected_seq = 1
    prev = GENESIS_HASH
    count = 0
    for (seq, occurred_at, actor_type, actor_id, action, target_type, target_id,
         from_state, to_state, payload, prev_hash, digest) in _stream_rows(batch):
        if seq != expected_seq:
            return VerifyResult(False, count, expected_seq, prev, "sequence number missing")
        if prev_hash != prev:
            return VerifyResult(False, count, seq, prev, "previous hash does not match")
        if digest != event_hash(
            prev, seq, _utc_text(occurred_at), actor_type, actor_id, action, target_type,
            target_id, from_state, to_state, payload,
        ):
            return VerifyResult(False, count, seq, prev, "event does not match its hash")
        if seq == head_seq and digest != head_hash:
            return VerifyResult(False, count, seq, prev, "event differs from the chain head")
        if seq == signed_seq and digest != signed_hash:
            return VerifyResult(False, count, seq, prev,
                                f"event differs from signed checkpoint #{signed_seq}")
        prev = digest
        expected_seq += 1
        count += 1
    if count < head_seq:
        return VerifyResult(False, count, count + 1, prev, "events before the head are missing")
    if count < signed_seq:
        return VerifyResult(False, count, count + 1, prev,
                            f"the log was cut back below signed checkpoint #{signed_seq}")
    # Every append moves the head in the same transaction, so once the walk is done the head
    # has reached at least the last event seen; an event beyond it was not appended by
    # audit_append (written straight into the table).
    head_after = ChainHead.objects.filter(pk=1).values_list("seq", flat=True).first() or 0
    if count > head_after:
        return VerifyResult(False, head_after, head_after + 1, prev,
                            "events past the chain head were not appended through the log")
    return VerifyResult(True, count, None, prev)


# --- Signed checkpoints ---------------------------------------------------------------------

class CheckpointError(Exception):
    """A checkpoint file that is malformed, signed by another key, or not in this log."""


# Kept under their old names: the signing key is read where it is used.
_signing_key = keys.signing_key
_public_key_text = keys.public_key_text
_signed_body = keys.signed_body


@transaction.atomic
def checkpoint_export(*, actor: Any = SYSTEM) -> dict[str, Any]:
    """Sign the current chain head and record that a checkpoint was exported.

    Changes: appends ``audit.checkpoint_exported``. Returns the checkpoint document:
    ``{"checkpoint": {seq, hash, created_at, public_key}, "signature": base64}``.
    """
    # Read, not locked: the application's role may not lock the head, and a committed head
    # is a state the log really had.
    head = ChainHead.objects.filter(pk=1).first() or ChainHead(seq=0, hash=GENESIS_HASH)
    key = _signing_key()
    body = {
        "seq": head.seq,
        "hash": head.hash,
        "created_at": format_time(timezone.now()),
        "public_key": _public_key_text(key.public_key()),
    }
    signature = base64.b64encode(key.sign(_signed_body(body))).decode()
    record(
        action=Action.AUDIT_CHECKPOINT_EXPORTED, actor=actor, target=("audit_chain", "head"),
        payload={"seq": head.seq, "hash": head.hash},
    )
    return {"checkpoint": body, "signature": signature}


CHAINED_FIELDS = ("seq", "head_hash", "made_at", "previous", "key_id")


def checkpoint_documents(data: Any) -> list[dict[str, Any]]:
    """The checkpoints in a file: one (as ``audit_checkpoint`` writes it, or one item of
    ``GET audit/checkpoints/``, as the sink and the mail hold it), a list of them, or a
    whole page of that API (``{"results": [...]}``)."""
    if isinstance(data, dict) and isinstance(data.get("results"), list):
        data = data["results"]
    items = data if isinstance(data, list) else [data]
    if not items or not all(isinstance(item, dict) for item in items):
        raise CheckpointError("malformed checkpoint: expected a JSON object")
    return items


def checkpoint_verify(document: dict[str, Any], *,
                      public_keys: dict[str, Ed25519PublicKey] | None = None) -> int:
    """Check a checkpoint's signature and that the log still holds its head.

    ``public_keys`` (by key id) are the keys to trust; without them, this deployment's own
    (which needs the signing key here). Takes both forms: ``audit_checkpoint``'s
    ``{"checkpoint": {...}, "signature"}`` and the chained ``{seq, head_hash, made_at,
    previous, signature, key_id}``. Returns the checkpoint's sequence number. Raises
    ``CheckpointError`` saying why not: a bad signature, another key, a log cut back below
    the checkpoint, or a rewritten event.
    """
    trusted = public_keys if public_keys is not None else keys.published_keys()
    try:
        if "checkpoint" in document:
            body = document["checkpoint"]
            seq, digest = int(body["seq"]), str(body["hash"])
            public = Ed25519PublicKey.from_public_bytes(
                base64.b64decode(body["public_key"], validate=True))
            kid = keys.key_id(public)
        else:
            body = {name: document[name] for name in CHAINED_FIELDS}
            seq, digest, kid = int(body["seq"]), str(body["head_hash"]), str(body["key_id"])
        signature = base64.b64decode(document["signature"], validate=True)
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"malformed checkpoint: {exc}") from exc
    if kid not in trusted:
        raise CheckpointError("checkpoint was signed by a key other than this log's")
    try:
        trusted[kid].verify(signature, _signed_body(body))
    except InvalidSignature as exc:
        raise CheckpointError("checkpoint signature is invalid") from exc
    if seq == 0:
        return seq
    head_seq = ChainHead.objects.filter(pk=1).values_list("seq", flat=True).first() or 0
    if head_seq < seq:
        raise CheckpointError(f"the log was cut back: its head is #{head_seq}, below the "
                              f"signed checkpoint #{seq}")
    stored = AuditEvent.objects.filter(seq=seq).values_list("hash", flat=True).first()
    if stored is None:
        raise CheckpointError(f"the log no longer holds event #{seq}")
    if stored != digest:
        raise CheckpointError(f"event #{seq} differs from the checkpoint: the chain was rewritten")
    return seq
