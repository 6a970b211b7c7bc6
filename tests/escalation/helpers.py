from __future__ import annotations

from typing import Any

from complaints.models import Complaint
from escalation.models import Deadline


def open_deadlines(complaint: Complaint) -> dict[str, Deadline]:
    return {d.kind: d for d in Deadline.objects.filter(complaint=complaint, closed_at=None)}


def closed(complaint: Complaint, kind: str) -> list[Any]:
    return list(Deadline.objects.filter(complaint=complaint, kind=kind)
                .exclude(closed_at=None).values_list("outcome", "level"))
