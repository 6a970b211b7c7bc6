"""Is every complaint on the record, and is everything the record filed still here?

Run by ``audit.services.verify`` (``AUDIT_COMPLETENESS_CHECKS``), so by ``verify_audit``,
the scheduled verification and ``GET audit/verify/``. Set-based queries, each an anti-join
or a correlated lookup on an index (the log's ``audit_target_seq`` and
``audit_action_seq``, the complaint's unique reference, the permit's complaint), reading
at most ``limit`` rows: memory stays constant however long the log.

The application's database role cannot delete a complaint (migration 0014), and the
retention purge keeps the row, so "still here" means the row exists. Its parts go only
under a purge permit, so a permit without a purge event is reported too.

The same role must UPDATE complaints, conflicts and deadlines (that is the application's
work), so the database cannot stop it from writing a state, lifting a conflict or moving a
deadline behind the services' back. Those writes are caught here instead, against the log
the role cannot rewrite: a complaint whose state is not the one its last event left it in,
a conflict marked removed without the approval event naming it, and a running deadline
further out than any clock the bounds allow.
"""

from __future__ import annotations

from datetime import timedelta

from django.db.models import CharField, Exists, F, OuterRef, Subquery, Value
from django.db.models.functions import Cast, Concat
from django.utils import timezone

from audit.actions import Action
from audit.models import AuditEvent
from complaints.models import Complaint, Conflict, PurgePermit
from escalation.models import Deadline, Kind
from escalation.policy import BOUNDS, span

FILED = Action.COMPLAINT_SUBMITTED.value
PURGED = Action.COMPLAINT_PURGED.value
REMOVAL_APPROVED = Action.COMPLAINT_CONFLICT_REMOVAL_APPROVED.value


def _events(action: str) -> Exists:
    return Exists(AuditEvent.objects.filter(action=action, target_type="complaint",
                                            target_id=OuterRef("reference")))


def audit_completeness(*, limit: int) -> list[str]:
    """Up to ``limit`` problems, each naming a complaint reference."""
    if limit <= 0:
        return []
    problems = [f"complaint {reference} has no filing event ({FILED})" for reference in
                Complaint.objects.filter(~_events(FILED)).order_by("pk")
                .values_list("reference", flat=True)[:limit]]
    gone = (AuditEvent.objects.filter(action=FILED, target_type="complaint")
            .filter(~Exists(Complaint.objects.filter(reference=OuterRef("target_id"))))
            .order_by("seq").values_list("target_id", "seq")[:limit - len(problems)])
    problems += [f"complaint {reference} was filed (event #{seq}) and no longer exists"
                 for reference, seq in gone]
    if len(problems) < limit:
        problems += [f"complaint {reference} was purged without a purge event ({PURGED})"
                     for reference in Complaint.objects.filter(purged_at__isnull=False)
                     .filter(~_events(PURGED)).order_by("pk")
                     .values_list("reference", flat=True)[:limit - len(problems)]]
    if len(problems) < limit:
        # A permit lets a case's parts be deleted (complaints/guard.py); only the purge,
        # which records its event in the same transaction, should ever have taken one.
        permitted = PurgePermit.objects.filter(complaint_id=OuterRef("pk"))
        problems += [f"complaint {reference} holds a purge permit without a purge event "
                     f"({PURGED})" for reference in
                     Complaint.objects.filter(Exists(permitted)).filter(~_events(PURGED))
                     .order_by("pk").values_list("reference", flat=True)
                     [:limit - len(problems)]]
    for check in (_state_not_logged, _removal_not_approved, _deadline_moved_out):
        if len(problems) >= limit:
            break
        problems += check(limit - len(problems))
    return problems


def _state_not_logged(limit: int) -> list[str]:
    # Which states, what conflict and which deadline are left out of the messages: the API
    # shows each line, the reference hidden, to readers who may not open the case.
    # Every step that changes a state records to_state, and every other event on a case
    # repeats its state there (complaints/services), so the last one is the state now.
    logged = Subquery(AuditEvent.objects.filter(target_type="complaint",
                                                target_id=OuterRef("reference"))
                      .exclude(to_state="").order_by("-seq").values("to_state")[:1])
    rows = (Complaint.objects.annotate(logged=logged).filter(logged__isnull=False)
            .exclude(logged=F("state")).order_by("pk")
            .values_list("reference", flat=True)[:limit])
    return [f"complaint {reference} is not in the state its last event left it in"
            for reference in rows]


def _removal_not_approved(limit: int) -> list[str]:
    # conflict_removal_decide names the conflict in its payload, canonical JSON with sorted
    # keys, where "conflict" is always followed by another key.
    named = Concat(Value('"conflict":'), Cast(OuterRef("pk"), CharField()), Value(","),
                   output_field=CharField())
    approved = AuditEvent.objects.filter(action=REMOVAL_APPROVED, target_type="complaint",
                                         target_id=OuterRef("complaint__reference"),
                                         payload__contains=named)
    rows = (Conflict.objects.filter(removed_at__isnull=False).filter(~Exists(approved))
            .order_by("pk").values_list("complaint__reference", flat=True)[:limit])
    return [f"complaint {reference} has a conflict marked removed without an approved "
            f"removal ({REMOVAL_APPROVED})" for reference in rows]


def deadline_reach() -> timedelta:
    """How far past its start (or now, for a clock started in the past) a running
    deadline can legally be due: the longest any clock may run, plus a wait on the
    reporter's reply. Pauses move due_at on by the time paused, which never exceeds the
    time since the start, so measured from now this holds generously."""
    longest = max(span(bound.longest).longest for bound in BOUNDS.values())
    return longest + span(BOUNDS[Kind.REPORTER_REPLY].longest).longest


def _deadline_moved_out(limit: int) -> list[str]:
    reach = deadline_reach()
    rows = (Deadline.objects.filter(closed_at=None, due_at__gt=timezone.now() + reach)
            .filter(due_at__gt=F("started_at") + reach)
            .order_by("pk").values_list("complaint__reference", flat=True)[:limit])
    return [f"complaint {reference} has a running deadline due further out than any clock "
            "allows" for reference in rows]
