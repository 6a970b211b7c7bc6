"""Each complaint's ``next_due_at``: the earliest due time among its running deadlines,
kept on the row so the queues sort by it through an index."""

from __future__ import annotations

from django.db import transaction
from django.db.models import F, Q

from complaints.models import OPEN_STATES, Complaint
from escalation.services.deadlines import running_min


def next_due_refresh(complaint_ids: list[int]) -> None:
    """Set these complaints' ``next_due_at`` from their running deadlines, as one UPDATE:
    for writers that change deadlines in bulk (the sweep on SQLite) and for tests that
    write deadlines directly."""
    Complaint.objects.filter(pk__in=complaint_ids).update(next_due_at=running_min())


def next_due_repair(batch_size: int = 1000) -> list[str]:
    """Set ``next_due_at`` wherever it differs from the running deadlines, and return the
    references of the complaints put right.

    Nothing in this code lets them differ; a process still running older code after the
    migration that added the column can (it files and steps without setting it). Each
    batch locks its complaints first, as every step does, so a step that commits meanwhile
    is read, not overwritten. Open complaints and any with a value are looked at: an ended
    one has no running deadline and no value.
    """
    candidates = (Complaint.objects.filter(Q(state__in=OPEN_STATES) | Q(next_due_at__isnull=False))
                  .annotate(due=running_min()))
    stale = candidates.filter(
        Q(next_due_at__isnull=True, due__isnull=False) | Q(next_due_at__isnull=False, due=None)
        | (Q(next_due_at__isnull=False, due__isnull=False) & ~Q(next_due_at=F("due"))))
    ids = list(stale.order_by("pk").values_list("pk", flat=True))
    repaired: list[str] = []
    for start in range(0, len(ids), batch_size):
        batch = ids[start:start + batch_size]
        with transaction.atomic():
            list(Complaint.objects.filter(pk__in=batch).order_by("pk").select_for_update()
                 .values_list("pk", flat=True))
            next_due_refresh(batch)
        repaired += Complaint.objects.filter(pk__in=batch).order_by("pk").values_list(
            "reference", flat=True)
    return repaired
