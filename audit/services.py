"""The one writer of the audit log, and its verifier.

``record`` appends an event inside the caller's transaction: it locks the one-row chain
head, so appends are serialised and sequence numbers stay gapless (a rolled-back
transaction rolls back its sequence number with it), then inserts the event and moves the
head. ``final_append`` is the same append for a service whose own transaction ends with
it, sent to the server with the COMMIT. ``verify`` streams the chain in constant memory.
``checkpoint_*`` sign and check the chain head with Ed25519, so a rewrite of the whole
chain is caught too.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager, nullcontext
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, NamedTuple
from weakref import WeakKeyDictionary

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.db.backends.utils import CursorDebugWrapper, CursorWrapper
from django.utils import timezone
from django.utils.module_loading import import_string
from psycopg.pq import ExecStatus

from audit import keys
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


class Write(NamedTuple):
    """One INSERT or UPDATE of the caller's step, handed to ``record`` to run just before
    the append, in the same round trip: plain SQL with ``%s`` placeholders, and no
    RETURNING clause of its own."""

    sql: str
    params: Sequence[Any]


def execute_prepared(sql: str, params: Sequence[Any]) -> tuple[Any, ...] | None:
    """Run one of the statements every step sends; return its first row, or None.

    On PostgreSQL the statement is parsed and planned once per connection (server-side
    binding, a named prepared statement) instead of on every call, through a cursor the
    connection keeps for these statements. Django still wraps it (its errors, query
    logging and execute wrappers). Elsewhere it is the ordinary cursor.

    Django leaves prepared statements off so that a transaction-pooling PgBouncer older
    than 1.21 keeps working; these are protocol-level statements, which 1.21 and later
    track (``max_prepared_statements``).
    """
    conn = connections[DEFAULT_DB_ALIAS]
    if conn.vendor != "postgresql":
        with conn.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchone() if cursor.description else None
    return _first_row(_run_prepared(conn, sql, params))


def fetch_prepared(sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    """Like ``execute_prepared``, on PostgreSQL only, returning every row.

    For the set-based statements that carry a batch as arrays: their text is the same for
    any batch, so it is planned once per connection, and an array written ``%b`` is sent
    in binary. psycopg sends ``%s`` arrays as text, escaping every element that holds a
    quote with a regular expression: about 10 µs per JSON payload, most of the Python a
    sweep of a thousand cases spent on its writes (bench/README.md)."""
    return _run_prepared(connections[DEFAULT_DB_ALIAS], sql, params).fetchall()


def _run_prepared(conn: Any, sql: str, params: Sequence[Any]) -> Any:
    raw = _PREPARED_CURSORS.get(_connected(conn))
    if raw is None or raw.closed:
        raw = _PREPARED_CURSORS[conn.connection] = _new_prepared_cursor(conn)
    _wrapped(conn, raw).execute(sql, params)
    return raw


def _connected(conn: Any) -> Any:
    conn.ensure_connection()
    conn.validate_thread_sharing()
    return conn.connection


def _new_prepared_cursor(conn: Any) -> Any:
    pg = conn.connection
    if pg.prepare_threshold is None:
        # Django sets None, which psycopg reads as "never prepare", even when asked. A
        # threshold no statement reaches keeps every other statement unprepared.
        pg.prepare_threshold = _ONLY_WHEN_ASKED
    return _prepared_cursor_class()(pg)


def _wrapped(conn: Any, raw: Any) -> CursorWrapper:
    return _PreparedDebugWrapper(raw, conn) if conn.queries_logged else conn.make_cursor(raw)


def _first_row(raw: Any) -> tuple[Any, ...] | None:
    # The rows are already here: fetching needs neither Django's error wrapping nor the
    # column descriptions psycopg would build to answer ``description``.
    result = raw.pgresult
    return raw.fetchone() if result is not None and result.status == ExecStatus.TUPLES_OK else None


# One per database connection, and gone with it; never closed by its users.
_PREPARED_CURSORS: WeakKeyDictionary[Any, Any] = WeakKeyDictionary()
_ONLY_WHEN_ASKED = 2**62


class _PreparedDebugWrapper(CursorDebugWrapper):
    # Django logs the text psycopg last sent, and a prepared statement's execution sends
    # none: log the statement with its values instead.
    def execute(self, sql: Any, params: Any = None) -> Any:
        try:
            logged = self.db.ops.compose_sql(sql, params)
        except Exception:  # noqa: BLE001 - a log line is never worth a failed step
            logged = sql
        with self.debug_sql(logged):
            return CursorWrapper.execute(self, sql, params)


@lru_cache(maxsize=1)
def _prepared_cursor_class() -> type:
    # Imported on first use: the PostgreSQL backend module needs psycopg loaded.
    from django.db.backends.postgresql.base import ServerBindingCursor

    class PreparedCursor(ServerBindingCursor):  # type: ignore[misc, valid-type]
        def execute(self, query: Any, params: Any = None, *, prepare: bool | None = None,
                    binary: bool | None = None) -> Any:
            return super().execute(  # type: ignore[misc]
                query, params, prepare=True, binary=binary)

    return PreparedCursor


def record(
    *,
    action: Action | str,
    actor: Any,
    target: Any = None,
    from_state: str = "",
    to_state: str = "",
    payload: dict[str, Any] | None = None,
    writes: Sequence[Write] = (),
) -> Appended:
    """Append one event to the chain, inside the caller's transaction.

    ``writes`` are the caller's own INSERTs and UPDATEs for the step being recorded: they
    run first, in order, and on PostgreSQL in the same statement as the append (one round
    trip, and the chain head is still locked only by the append, after them).

    Changes: runs ``writes``, inserts an ``AuditEvent`` and moves the ``ChainHead``.
    Raises: ``RuntimeError`` outside a transaction (an event must commit or roll back with
    the change it records); ``ValueError`` for an unknown action or a payload that is not
    plain JSON of strings, integers, booleans and nulls.
    """
    conn = connections[DEFAULT_DB_ALIAS]
    if not conn.in_atomic_block:
        raise RuntimeError("audit.record must be called inside the caller's transaction")
    if conn.vendor != "postgresql":  # one writer at a time: the writes, then a batch of one
        if writes:
            with conn.cursor() as cursor:
                for write in writes:
                    cursor.execute(write.sql, write.params)
        return record_many([Entry(action=action, actor=actor, target=target,
                                  from_state=from_state, to_state=to_state, payload=payload)])[0]
    sql, params, now = _append_statement(action, actor, target, from_state, to_state,
                                         payload, writes)
    return _appended(execute_prepared(sql, params), now)


def _append_statement(action: Action | str, actor: Any, target: Any, from_state: str,
                      to_state: str, payload: dict[str, Any] | None,
                      writes: Sequence[Write]) -> tuple[str, list[Any], datetime]:
    action = Action(action)
    _check_payload(payload or {})
    who = actor_ref(actor)
    target_type, target_id = target_ref(target)
    text = canonical_payload(payload)
    # Everything above runs before the lock. One round trip: the caller's writes, then the
    # database function locks the head, hashes, inserts and moves the head (migration
    # 0004), so the lock is held for the end of one statement and the commit.
    now = timezone.now()
    params: list[Any] = [now, who.type, who.id, action.value, target_type, target_id,
                         from_state, to_state, text]
    if not writes:
        return _APPEND_SQL, params, now
    sql = _append_after_sql(tuple(write.sql for write in writes))
    return sql, [value for write in writes for value in write.params] + params, now


def _appended(row: tuple[Any, ...] | None, now: datetime) -> Appended:
    if row is None:
        raise RuntimeError("the audit append returned nothing")
    seq, prev_hash, digest = row
    return Appended(seq, now, prev_hash, digest)


class FinalAppend:
    """The event that ends a service's own transaction; see ``final_append``."""

    def __init__(self) -> None:
        self.appended: Appended | None = None
        self._pending: tuple[Any, datetime] | None = None
        self._stack = ExitStack()

    def record(self, *, action: Action | str, actor: Any, target: Any = None,
               from_state: str = "", to_state: str = "",
               payload: dict[str, Any] | None = None, writes: Sequence[Write] = ()) -> None:
        """``record``, as the last statement of the transaction. Same rules and errors;
        the event appended is ``appended`` once the transaction has committed."""
        if self.appended is not None or self._pending is not None:
            raise RuntimeError("a transaction ends with one final event")
        conn = connections[DEFAULT_DB_ALIAS]
        if (conn.vendor != "postgresql" or len(conn.atomic_blocks) != 1
                or not conn.commit_on_exit or conn.needs_rollback
                or not _pipeline_supported()):
            # Inside a caller's transaction (or not on PostgreSQL, or with a libpq older
            # than 14, which has no pipeline mode) the COMMIT is not ours to send: an
            # ordinary append.
            self.appended = record(action=action, actor=actor, target=target,
                                   from_state=from_state, to_state=to_state,
                                   payload=payload, writes=writes)
            return
        sql, params, now = _append_statement(action, actor, target, from_state, to_state,
                                             payload, writes)
        pg = _connected(conn)
        # Its own cursor: an on-commit hook may use the shared one before the row is read.
        raw = _new_prepared_cursor(conn)
        self._stack.enter_context(pg.pipeline())
        _wrapped(conn, raw).execute(sql, params)  # sent with the COMMIT, not before it
        self._pending = (raw, now)

    def _finished(self) -> None:
        if self._pending is not None:
            raw, now = self._pending
            self._pending = None
            self.appended = _appended(_first_row(raw), now)
            raw.close()


@lru_cache(maxsize=1)
def _pipeline_supported() -> bool:
    from psycopg import Pipeline

    return bool(Pipeline.is_supported())


@contextmanager
def final_append() -> Iterator[FinalAppend]:
    """For a service whose own transaction ends with its audit event:

        with audit.final_append() as final, transaction.atomic():
            ...
            final.record(action=..., writes=[...])   # the block's last statement

    On PostgreSQL the event's statement goes to the server together with the COMMIT that
    Django sends when the block ends (psycopg's pipeline mode), in one round trip. The
    chain head is then locked only while the server appends and commits, not also while
    this process wakes up, reads the append's answer and sends the COMMIT: under load that
    wait was a quarter of the time the lock was held. Django still decides between COMMIT
    and ROLLBACK, so a failure anywhere in the block rolls the event back with the rest.
    Inside a caller's transaction, and on SQLite, ``final.record`` is ``record``.
    """
    final = FinalAppend()
    with final._stack:
        yield final
    final._finished()


@lru_cache(maxsize=64)
def _append_after_sql(writes: tuple[str, ...]) -> str:
    # The writes become data-modifying CTEs. The WHERE clause reads every one of them, and
    # PostgreSQL evaluates a condition like this one (no column of the function's row in
    # it) once, before it calls the function: so the writes are done before the append
    # locks the chain head. Unreferenced CTEs would run after the main query instead.
    ctes = ", ".join(f"w{i} AS ({sql} RETURNING 1)" for i, sql in enumerate(writes))
    ran = " + ".join(f"(SELECT count(*) FROM w{i})" for i in range(len(writes)))  # noqa: S608
    return f"WITH {ctes} {_APPEND_SQL} WHERE {ran} >= 0"


_APPEND_MANY_SQL = (
    "SELECT new_seq, new_prev_hash, new_hash FROM audit_append_many(%s, %b::text[], "
    "%b::text[], %b::text[], %b::text[], %b::text[], %b::text[], %b::text[], %b::text[])"
)
_APPEND_SQL = (
    "SELECT new_seq, new_prev_hash, new_hash "
    "FROM audit_append(%s, %s, %s, %s, %s, %s, %s, %s, %s)"
)


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
        raise RuntimeError("audit.record_many must be called inside the caller's transaction")
    prepared = []
    for entry in entries:
        _check_payload(entry.payload or {})
        who = actor_ref(entry.actor)
        target_type, target_id = target_ref(entry.target)
        prepared.append([who.type, who.id, Action(entry.action).value, target_type, target_id,
                         entry.from_state, entry.to_state, canonical_payload(entry.payload)])
    appended: list[Appended] = []
    now = timezone.now()
    if connection.vendor == "postgresql":
        # One call: the database function locks the head once, hashes and inserts in
        # order, and moves the head once (migration 0004).
        columns = [list(column) for column in zip(*prepared, strict=True)]
        return [Appended(int(seq), now, str(prev), str(digest))
                for seq, prev, digest in fetch_prepared(_APPEND_MANY_SQL, [now, *columns])]
    with connection.cursor() as cursor:
        seq, prev_hash = _lock_head_row(cursor)
        when, stored_time = format_time(now), connection.ops.adapt_datetimefield_value(now)
        rows = []
        for fields in prepared:
            seq += 1
            digest = event_hash(prev_hash, seq, when, *fields)
            rows.append([seq, stored_time, *fields, prev_hash, digest])
            appended.append(Appended(seq, now, prev_hash, digest))
            prev_hash = digest
        cursor.executemany(_INSERT_SQL, rows)
        cursor.execute(_SET_HEAD_SQL, [seq, prev_hash])
    return appended


def _lock_head_row(cursor: Any) -> tuple[int, str]:
    sql = _HEAD_SQL + (" FOR UPDATE" if connection.features.has_select_for_update else "")
    cursor.execute(sql)
    row = cursor.fetchone()
    if row is None:  # only on a database emptied since its migration created the head
        _lock_head()
        cursor.execute(sql)
        row = cursor.fetchone()
    return int(row[0]), str(row[1])


_EVENT_COLUMNS = (
    "seq, occurred_at, actor_type, actor_id, action, target_type, target_id, "
    "from_state, to_state, payload, prev_hash, hash"
)
_INSERT_SQL = (
    f"INSERT INTO {AuditEvent._meta.db_table} ({_EVENT_COLUMNS}) "  # noqa: S608
    f"VALUES ({', '.join(['%s'] * 12)})"
)
_HEAD_SQL = f"SELECT seq, hash FROM {ChainHead._meta.db_table} WHERE id = 1"  # noqa: S608
_SET_HEAD_SQL = f"UPDATE {ChainHead._meta.db_table} SET seq = %s, hash = %s WHERE id = 1"  # noqa: S608


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
