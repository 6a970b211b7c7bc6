"""Reads for the pages: queues and case pages, each a fixed number of queries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models import Count, Exists, Min, OuterRef, Prefetch, Q, QuerySet
from django.utils import timezone

from complaints import roles
from complaints.access import COMMITTEE_LEVEL, visible_complaints
from complaints.models import (
    OPEN_STATES,
    CaseNote,
    Complaint,
    EvidenceItem,
    Interview,
    Investigation,
    Message,
)
from escalation.models import Deadline

QUEUES = {
    "mine": "Mine",
    "unassigned": "Unassigned",
    "overdue": "Overdue",
    "escalated": "Escalated to me",
}
PAGE_SIZE = 25


def _running() -> Q:
    return Q(deadlines__closed_at=None, deadlines__paused_at=None)


def _queue_q(user: Any, name: str, now: datetime) -> Q:
    if name == "mine":
        return Q(assignee=user) | Q(co_owner=user) | Q(investigation__investigator=user)
    if name == "unassigned":
        return Q(assignee=None)
    if name == "overdue":
        return Q(Exists(Deadline.objects.filter(complaint_id=OuterRef("pk"), closed_at=None,
                                                paused_at=None, due_at__lt=now)))
    if name == "escalated":
        to_me = Q(assignee=user) | Q(co_owner=user)
        if roles.AUDIT_COMMITTEE in roles.roles_of(user):
            to_me |= Q(escalation_level__gte=COMMITTEE_LEVEL)
        return Q(escalation_level__gt=0) & to_me
    raise KeyError(name)


@dataclass
class Queue:
    name: str
    page: Page
    counts: dict[str, int]
    now: datetime


def staff_queue(user: Any, *, name: str = "mine", category: str = "", severity: str = "",
                state: str = "", page: int | str = 1, now: datetime | None = None) -> Queue:
    """One of the user's queues (open cases they may see), nearest deadline first, with the
    count of each queue. Queries: one for the counts, one for the page and one to count
    it, whatever the page size."""
    now = now or timezone.now()
    base = visible_complaints(user).filter(state__in=OPEN_STATES)
    if category:
        base = base.filter(category=category)
    if severity:
        base = base.filter(severity=severity)
    if state:
        base = base.filter(state=state)
    counts = base.aggregate(**{
        queue: _count(_queue_q(user, queue, now)) for queue in QUEUES})
    rows = (base.filter(_queue_q(user, name, now))
            .annotate(next_due=Min("deadlines__due_at", filter=_running()))
            .select_related("assignee")
            .only("reference", "category", "severity", "state", "escalation_level",
                  "submitted_at", "assignee__username")
            .order_by("next_due", "submitted_at", "pk"))
    return Queue(name=name, page=Paginator(rows, PAGE_SIZE).get_page(page), counts=counts,
                 now=now)


def _count(condition: Q) -> Any:
    return Count("pk", filter=condition, distinct=True)


def case_deadlines(complaint: Complaint) -> QuerySet[Deadline]:
    return complaint.deadlines.order_by("closed_at", "due_at")  # type: ignore[attr-defined]


def case_messages(complaint: Complaint) -> QuerySet[Message]:
    return complaint.messages.select_related("author").order_by("created_at", "pk")  # type: ignore[attr-defined]


def case_notes(complaint: Complaint) -> QuerySet[CaseNote]:
    """Internal notes and the reasons given for steps, oldest first."""
    return complaint.notes.select_related("author").order_by("created_at", "pk")  # type: ignore[attr-defined]


def case_investigation(complaint: Complaint) -> Investigation | None:
    """The investigation with its people, interviews and evidence: three queries, however
    many interviews and items there are."""
    return (Investigation.objects.filter(complaint=complaint)
            .select_related("investigator", "findings_recorded_by", "approved_by")
            .prefetch_related(
                Prefetch("interviews", queryset=Interview.objects.select_related(
                    "interviewee", "recorded_by").order_by("held_at", "pk")),
                Prefetch("evidence", queryset=EvidenceItem.objects.select_related(
                    "recorded_by").order_by("recorded_at", "pk")))
            .first())
