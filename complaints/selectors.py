"""Reads for the pages: queues and case pages, each a fixed number of queries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.postgres.expressions import ArraySubquery
from django.core.paginator import Page, Paginator
from django.db import connection
from django.db.models import (
    Count,
    F,
    Lookup,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.utils import timezone
from django.utils.functional import cached_property

from complaints import access
from complaints.access import COMMITTEE_LEVEL, conflicted_exists, visible_complaints
from complaints.models import (
    OPEN_STATES,
    CaseNote,
    Complaint,
    EvidenceItem,
    Interview,
    Investigation,
    Message,
)
from escalation.models import Deadline, Notification

QUEUES = {
    "mine": "Mine",
    "unassigned": "Unassigned",
    "overdue": "Overdue",
    "escalated": "Escalated to me",
}
PAGE_SIZE = 25


def _queue_q(user: Any, name: str, now: datetime) -> Q:
    if name == "mine":
        return _mine(user)
    if name == "unassigned":
        return Q(assignee=None)
    if name == "overdue":
        return _among(Deadline.objects.filter(closed_at=None, paused_at=None, due_at__lt=now)
                      .values("complaint_id"))
    if name == "escalated":
        to_me = Q(assignee=user) | Q(co_owner=user)
        if access.AUDIT_COMMITTEE in access.roles_of(user):
            to_me |= Q(escalation_level__gte=COMMITTEE_LEVEL)
        return Q(escalation_level__gt=0) & to_me
    raise KeyError(name)


def _mine(user: Any) -> Q:
    """Assigned to, co-owned by or investigated by the user: the ids of three indexed
    lookups (complaint_open_assignee, complaint_open_co_owner, the investigator's
    investigations). As one OR, an arm of which lives in another table, no index serves
    it and the whole open caseload is read."""
    open_cases = Complaint.objects.filter(state__in=OPEN_STATES)
    # Open ones only: an investigator's closed cases can outnumber the open caseload.
    investigated = Investigation.objects.filter(investigator=user,
                                                complaint__state__in=OPEN_STATES)
    return _among(open_cases.filter(assignee=user).values("pk").union(
        open_cases.filter(co_owner=user).values("pk"),
        investigated.values("complaint_id"), all=True))


def _among(ids: QuerySet[Any]) -> Q:
    """Complaints whose id the subquery ``ids`` yields. On PostgreSQL as ``= ANY(ARRAY(...))``:
    the ids are read first and each looked up by primary key, whatever the planner guesses
    their number to be. As ``IN``, a bad guess has it read every open case instead, and the
    guess for overdue deadlines is always bad: it is judged from all deadlines, the closed
    ones long past due."""
    if connection.vendor == "postgresql":
        return Q(_AnyOf(F("pk"), ArraySubquery(ids)))
    return Q(pk__in=ids)


class _AnyOf(Lookup):  # type: ignore[type-arg]
    """``lhs = ANY(rhs)``, rhs an array."""

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, tuple[Any, ...]]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} = ANY({rhs})", (*lhs_params, *rhs_params)


@dataclass
class Queue:
    name: str
    page: Page
    counts: dict[str, int]
    now: datetime


class _CountedPaginator(Paginator):
    """A paginator told its count: the counts query has it already, so the page does not
    pay for a second COUNT of the same rows."""

    def __init__(self, object_list: QuerySet[Complaint], per_page: int, count: int) -> None:
        super().__init__(object_list, per_page)
        self._count = count

    @cached_property
    def count(self) -> int:
        return self._count


def staff_queue(user: Any, *, name: str = "mine", category: str = "", severity: str = "",
                state: str = "", page: int | str = 1, now: datetime | None = None) -> Queue:
    """One of the user's queues (open cases they may see), nearest deadline first, with the
    count of each queue. Two queries, whatever the page size: the counts, then the page."""
    now = now or timezone.now()
    base = visible_complaints(user).filter(state__in=OPEN_STATES)
    if category:
        base = base.filter(category=category)
    if severity:
        base = base.filter(severity=severity)
    if state:
        base = base.filter(state=state)
    clauses = {queue: _queue_q(user, queue, now) for queue in QUEUES}
    counts = _counts(base, clauses)
    rows = (base.filter(clauses[name])
            .annotate(next_due=F("next_due_at"),
                      # A subquery, not a join: PostgreSQL reads it for the page's rows
                      # only, after the sort, where a join is made for the whole queue.
                      assignee_username=Subquery(get_user_model().objects.filter(
                          pk=OuterRef("assignee_id")).values("username")))
            .only("reference", "category", "severity", "state", "escalation_level",
                  "submitted_at")
            # Cases with no running clock last, on every database. The unassigned queue's
            # page is read in this order from the index complaint_unassigned_due.
            .order_by(F("next_due_at").asc(nulls_last=True), "submitted_at", "pk"))
    paginator = _CountedPaginator(rows, PAGE_SIZE, counts[name])
    return Queue(name=name, page=paginator.get_page(page), counts=counts, now=now)


def _counts(base: QuerySet[Complaint], clauses: dict[str, Q]) -> dict[str, int]:
    """How many of ``base``'s cases each queue's clause keeps, in one statement: a UNION ALL
    of one COUNT per queue, so each is answered from the indexes that suit it (a few hundred
    or thousand index entries) rather than all of them from one pass over every open case."""
    counted = [base.filter(clause).order_by().annotate(queue=Value(queue))
               .values("queue").annotate(n=Count("pk")).values_list("queue", "n")
               for queue, clause in clauses.items()]
    first, *rest = counted
    found = dict(first.union(*rest, all=True))
    return {queue: found.get(queue, 0) for queue in clauses}


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


# --- The reporter's timeline ------------------------------------------------------------

# The steps a reporter is shown, by the audit action that records each, under the name the
# reporter's page words it by. Only these are read from the log, and only their name and
# time: never who took them, why, or anything else the log holds (reads, conflicts, notes,
# messages, investigation work). A proposed dismissal and its rejection are a second
# person's internal review: the reporter sees its outcome, not the proposal.
REPORTER_STEPS: dict[str, str] = {
    "complaint.acknowledged": "acknowledged",
    "complaint.information_requested": "information_requested",
    "complaint.reporter_replied": "reporter_replied",
    "complaint.reply_window_expired": "reply_window_expired",
    "complaint.investigation_started": "investigation_started",
    "complaint.findings_recorded": "findings_recorded",
    "complaint.returned_for_work": "returned_for_work",
    "complaint.findings_approved": "resolved",
    "complaint.closed": "closed",
    "complaint.dismissal_approved": "dismissed",
    "complaint.withdrawal_requested": "withdrawal_requested",
    "complaint.withdrawal_declined": "withdrawal_declined",
    "complaint.withdrawn": "withdrawn",
    "complaint.reopened": "reopened",
}
# DESIGN.md: the reporter is told the case was escalated from level 2 on (never to whom);
# level 1 is the handler's own reminder and a change of hands inside HR.
REPORTER_TOLD_FROM_LEVEL = 2


@dataclass(frozen=True)
class ReporterStep:
    """One line of the reporter's timeline: ``event`` is "filed", "escalated" or a value of
    REPORTER_STEPS; an escalation carries the kinds of the deadlines that were missed."""

    event: str
    at: datetime
    missed: tuple[str, ...] = ()


@dataclass(frozen=True)
class ReporterDeadline:
    """A deadline running now: what it is (a deadline kind), when it falls due, and whether
    its clock is stopped while the case waits for the reporter."""

    kind: str
    due_at: datetime
    paused: bool


@dataclass(frozen=True)
class ReporterTimeline:
    steps: list[ReporterStep]
    deadlines: list[ReporterDeadline]
    escalated: bool


def reporter_timeline(complaint: Complaint) -> ReporterTimeline:
    """What the reporter may know of their case's history: when it was filed, each step it
    took, each escalation they were told of (with the deadlines missed), oldest first; the
    deadlines running now; and whether it was escalated.

    Steps come from the audit log: the complaint keeps only the latest time of each
    milestone (a reopen clears ``ended_at``) and none of a request for information or a
    reply. Three queries, however long the history.
    """
    from audit.models import AuditEvent

    target_type, target_id = complaint.audit_target
    # Served by the audit_target_seq index.
    logged = (AuditEvent.objects.filter(target_type=target_type, target_id=target_id,
                                        action__in=list(REPORTER_STEPS))
              .order_by("seq").values_list("action", "occurred_at"))
    steps = [ReporterStep("filed", complaint.submitted_at)]
    steps += [ReporterStep(REPORTER_STEPS[action], at) for action, at in logged]

    told = (complaint.escalations  # type: ignore[attr-defined]
            .filter(level__gte=REPORTER_TOLD_FROM_LEVEL)
            .order_by("raised_at", "pk").values_list("raised_at", "deadline__kind"))
    # One sweep writes a row per missed deadline, all at the same moment: one step each.
    missed_at: dict[datetime, list[str]] = {}
    for raised_at, kind in told:
        kinds = missed_at.setdefault(raised_at, [])
        if kind not in kinds:
            kinds.append(kind)
    steps += [ReporterStep("escalated", at, tuple(kinds)) for at, kinds in missed_at.items()]
    steps.sort(key=lambda step: step.at)  # stable: the log's order breaks ties

    running = (Deadline.objects.filter(complaint_id=complaint.pk, closed_at=None)
               .order_by("due_at", "pk").values_list("kind", "due_at", "paused_at"))
    deadlines = [ReporterDeadline(kind, due_at, paused_at is not None)
                 for kind, due_at, paused_at in running]
    return ReporterTimeline(
        steps=steps, deadlines=deadlines,
        escalated=bool(missed_at) or complaint.escalation_level >= REPORTER_TOLD_FROM_LEVEL)


@dataclass
class CaseConflicts:
    """The conflicts panel of a case: who is conflicted and since when, and the removals
    waiting for a second person."""

    active: list[Any]
    pending: list[Any]
    removed: list[Any]


def case_conflicts(complaint: Complaint) -> CaseConflicts:
    """Every conflict row of the case (active and removed), with its person or account and
    its removals: three queries."""
    from complaints.models import Conflict, ConflictRemoval

    rows = list(Conflict.objects.filter(complaint=complaint)
                .select_related("person", "user").order_by("created_at", "pk"))
    pending = list(ConflictRemoval.objects.filter(complaint=complaint, decided_at=None)
                   .select_related("conflict__person", "conflict__user", "requested_by",
                                   "reason_note"))
    waiting = {r.conflict_id for r in pending}
    for row in rows:
        row.removal_pending = row.pk in waiting  # type: ignore[attr-defined]
    return CaseConflicts(active=[r for r in rows if r.removed_at is None], pending=pending,
                         removed=[r for r in rows if r.removed_at is not None])


def notifications_for(user: Any, *, limit: int = 50) -> QuerySet[Notification]:
    """A signed-in user's in-app notifications, newest first: those addressed to them,
    including, for a reporter, news of their own reports. Never one about a case they are
    conflicted on now: a case that became conflicted for them leaves their inbox too."""
    return (Notification.objects.filter(recipient=user)
            .exclude(conflicted_exists(user, complaint="complaint_id"))
            .select_related("complaint").only("kind", "subject", "body", "created_at", "read_at",
                                              "complaint__reference")
            .order_by("-created_at")[:limit])
