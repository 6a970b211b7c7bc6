"""Each complaint's ``next_due_at``: the earliest due time among its running deadlines,
kept on the row so the queues sort by it through an index.

``next_due_refresh`` is the one place it is written: every writer that starts, closes,
pauses, resumes or re-times a deadline calls it afterwards, in the same transaction
(filing, each step, the sweep).
"""

from __future__ import annotations

from complaints.models import Complaint
from escalation.services.deadlines import running_min


def next_due_refresh(complaint_ids: list[int]) -> None:
    """Set these complaints' ``next_due_at`` from their running deadlines: one UPDATE."""
    Complaint.objects.filter(pk__in=complaint_ids).update(next_due_at=running_min())
