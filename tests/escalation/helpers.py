from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from complaints import services
from complaints.models import Complaint
from escalation.models import Deadline

MONDAY = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # London is on UTC in winter


def file_complaint(reporter: Any, category: str, **extra: Any) -> Complaint:
    """A complaint filed through the service, about one directory person."""
    return services.complaint_submit(reporter=reporter, category=category, summary="s",
                                     narrative="what happened", subjects=["ACC1"],
                                     **extra).complaint


def open_deadlines(complaint: Complaint) -> dict[str, Deadline]:
    return {d.kind: d for d in Deadline.objects.filter(complaint=complaint, closed_at=None)}


def closed(complaint: Complaint, kind: str) -> list[Any]:
    return list(Deadline.objects.filter(complaint=complaint, kind=kind)
                .exclude(closed_at=None).values_list("outcome", "level"))
