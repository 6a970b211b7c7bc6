"""Locking a complaint row for a step, and saving what the step changed."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import BooleanField, ExpressionWrapper

from complaints.access import conflicted_exists, remember
from complaints.models import Complaint

# What permissions and transitions read: the lock fetches only these, so a step neither
# builds nor decrypts the whole complaint. Other fields load when something reads them,
# and a field a transition sets is saved whether it was loaded or not (``save_step``).
LOCK_FIELDS = ("id", "reference", "state", "category", "severity", "reporter_user",
               "assignee", "co_owner", "dismissal_proposed_by", "withdrawal_requested_at",
               "purged_at")


def lock_complaint(complaint: Complaint, *, actor: Any = None) -> Complaint:
    """The complaint row, locked until the transaction ends (a no-op lock on SQLite, whose
    IMMEDIATE transactions already serialise writers). Raises Complaint.DoesNotExist.

    With a signed-in ``actor``, also learns in the same query whether they are conflicted
    on it (``access.conflicted_exists``), so the permission check that follows needs no
    query of its own.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("lock_complaint outside a transaction would lock nothing")
    rows = Complaint.objects.select_for_update().only(*LOCK_FIELDS)
    user_id = getattr(actor, "pk", None) if getattr(actor, "_meta", None) else None
    if user_id is not None:
        rows = rows.annotate(actor_conflicted=ExpressionWrapper(
            conflicted_exists(actor), output_field=BooleanField()))
    locked = rows.get(pk=complaint.pk)
    if user_id is not None:
        remember(locked, user_id, bool(locked.actor_conflicted))  # type: ignore[attr-defined]
    return locked


def snapshot(complaint: Complaint) -> dict[str, Any]:
    """The values of the complaint's loaded fields, to tell afterwards what a step changed."""
    return {f.attname: complaint.__dict__[f.attname] for f in Complaint._meta.concrete_fields
            if f.attname in complaint.__dict__}


def save_step(complaint: Complaint, before: dict[str, Any]) -> list[str]:
    """Save every field that differs from ``before`` (a ``snapshot``), and ``updated_at``.

    Any field a transition sets is found here, loaded by the lock or not, so a new field
    is saved without being listed anywhere. Returns the fields saved.
    """
    changed = [f.name for f in Complaint._meta.concrete_fields
               if f.attname in complaint.__dict__ and not f.primary_key
               and (f.attname not in before
                    or complaint.__dict__[f.attname] != before[f.attname])]
    fields = [*changed, "updated_at"]
    complaint.save(update_fields=fields)
    return fields
