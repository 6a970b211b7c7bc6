"""Locking a complaint row and saving what a step changed: the hot path of every step.

Every transition locks one complaint row and updates a few columns of it. Through the ORM
that cost more CPU than the rest of the step together (compiling a SELECT and an UPDATE
each time), so both statements are built once from the model's own metadata and values
pass through the fields' own converters, exactly as the ORM would. The complaint model
has no save() override and no receivers, so nothing is skipped by not calling save().
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.models import Field
from django.utils import timezone

from audit.services import Write, execute_prepared
from complaints.access import conflict_exists_sql, remember
from complaints.models import Complaint

if TYPE_CHECKING:
    from escalation.services.deadlines import NextDue

# What permissions and transitions read: the lock fetches only these, so a step neither
# builds nor decrypts the whole complaint. Other fields load lazily if someone asks.
LOCK_FIELDS = ("id", "reference", "state", "category", "severity", "reporter_user",
               "assignee", "co_owner", "dismissal_proposed_by", "withdrawal_requested_at",
               "purged_at")
# What a transition may change.
STATE_FIELDS = (
    "state", "assignee", "dismissal_proposed_by", "withdrawal_requested_at", "acknowledged_at",
    "investigation_started_at", "dismissal_proposed_at", "findings_recorded_at", "resolved_at",
    "ended_at", "reopened_at",
)
_FIELDS: dict[str, Field[Any, Any]] = {f.name: f for f in Complaint._meta.concrete_fields}
_STATE_ATTNAMES = {_FIELDS[name].attname: name for name in STATE_FIELDS}
_MISSING = object()


def _quote(name: str | None) -> str:
    return connection.ops.quote_name(str(name))


@lru_cache(maxsize=8)
def _lock_plan(vendor: str, with_conflict: bool = False
               ) -> tuple[str, list[str], list[list[Callable[..., Any]]]]:
    # In the model's field order: from_db matches values to fields by that order.
    fields = [f for f in Complaint._meta.concrete_fields if f.name in LOCK_FIELDS]
    columns = ", ".join(_quote(f.column) for f in fields)
    if with_conflict:
        # Whether the acting user is conflicted, answered in the same round trip: every
        # step asks it (complaints/conflicts.py is_conflicted), so it rides on the lock.
        table = _quote(Complaint._meta.db_table)
        columns += f", {conflict_exists_sql(f'{table}.' + _quote(_FIELDS['id'].column))}"
    sql = (f"SELECT {columns} FROM {_quote(Complaint._meta.db_table)} "  # noqa: S608
           f"WHERE {_quote(_FIELDS['id'].column)} = %s")
    if connection.features.has_select_for_update:
        sql += " FOR UPDATE"
    converters = []
    for field in fields:
        col = field.get_col(Complaint._meta.db_table)
        converters.append(connection.ops.get_db_converters(col) + col.get_db_converters(connection))
    return sql, [f.attname for f in fields], converters


def lock_complaint(complaint: Complaint, *, actor: Any = None) -> Complaint:
    """The complaint row, locked until the transaction ends (a no-op lock on SQLite, whose
    IMMEDIATE transactions already serialise writers). Raises Complaint.DoesNotExist.

    With a signed-in ``actor``, also learns in the same statement whether they are
    conflicted on it, so the permission check that follows needs no query of its own.
    """
    conn = connections[DEFAULT_DB_ALIAS]
    if not conn.in_atomic_block:
        raise RuntimeError("lock_complaint outside a transaction would lock nothing")
    user_id = getattr(actor, "pk", None) if getattr(actor, "_meta", None) else None
    sql, attnames, converters = _lock_plan(conn.vendor, user_id is not None)
    params = [user_id, user_id, complaint.pk] if user_id is not None else [complaint.pk]
    row = execute_prepared(sql, params)
    if row is None:
        raise Complaint.DoesNotExist(f"no complaint {complaint.pk}")
    values = []
    for value, field_converters in zip(row, converters, strict=False):
        for convert in field_converters:
            value = convert(value, None, conn)
        values.append(value)
    locked = Complaint.from_db(conn.alias, attnames, values)
    if user_id is not None:
        remember(locked, user_id, bool(row[-1]))
    return locked


def snapshot(complaint: Complaint) -> dict[str, Any]:
    return {k: v for k, v in complaint.__dict__.items() if k in _STATE_ATTNAMES}


@lru_cache(maxsize=128)
def _update_sql(vendor: str, names: Sequence[str], next_due: str = "") -> str:
    sets = ", ".join(f"{_quote(_FIELDS[name].column)} = %s" for name in names)
    if next_due:
        sets += f", {_quote(_FIELDS['next_due_at'].column)} = {next_due}"
    return (f"UPDATE {_quote(Complaint._meta.db_table)} SET {sets} "  # noqa: S608
            f"WHERE {_quote(_FIELDS['id'].column)} = %s")


def changed_write(complaint: Complaint, before: dict[str, Any],
                  next_due: NextDue | None = None) -> Write:
    """The UPDATE of the state columns that differ from ``before``, and ``updated_at``,
    for ``audit.record`` to run with the step's event (or ``save_changed`` on its own).
    With ``next_due`` (from ``deadlines_follow``), also sets ``next_due_at``. Sets
    ``updated_at`` on the instance."""
    return _write(complaint, _changed_names(complaint, before), next_due)


def save_changed(complaint: Complaint, before: dict[str, Any]) -> list[str]:
    """Write the state columns that differ from ``before``, and ``updated_at``."""
    names = _changed_names(complaint, before)
    execute_prepared(*_write(complaint, names))
    return list(names)


def _changed_names(complaint: Complaint, before: dict[str, Any]) -> tuple[str, ...]:
    after = complaint.__dict__
    return tuple(
        name for attname, name in _STATE_ATTNAMES.items()
        if attname in after and after[attname] != before.get(attname, _MISSING)
    ) + ("updated_at",)


def _write(complaint: Complaint, names: tuple[str, ...], next_due: NextDue | None = None
           ) -> Write:
    conn = connections[DEFAULT_DB_ALIAS]
    complaint.updated_at = timezone.now()
    values = [_FIELDS[name].get_db_prep_save(getattr(complaint, _FIELDS[name].attname), conn)
              for name in names]
    if next_due is None:
        return Write(_update_sql(conn.vendor, names), [*values, complaint.pk])
    return Write(_update_sql(conn.vendor, names, next_due.sql),
                 [*values, *next_due.params, complaint.pk])
