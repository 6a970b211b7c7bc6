"""Is every complaint on the record, and is everything the record filed still here?

Run by ``audit.services.verify`` (``AUDIT_COMPLETENESS_CHECKS``), so by ``verify_audit``,
the scheduled verification and ``GET audit/verify/``. Four set-based queries, each an
anti-join on an index (the log's ``audit_target_seq`` and ``audit_action_seq``, the
complaint's unique reference, the permit's complaint), reading at most ``limit`` rows:
memory stays constant however long the log.

The application's database role cannot delete a complaint (migration 0013), and the
retention purge keeps the row, so "still here" means the row exists. Its parts go only
under a purge permit, so a permit without a purge event is reported too.
"""

from __future__ import annotations

from django.db.models import Exists, OuterRef

from audit.actions import Action
from audit.models import AuditEvent
from complaints.models import Complaint, PurgePermit

FILED = Action.COMPLAINT_SUBMITTED.value
PURGED = Action.COMPLAINT_PURGED.value


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
    return problems
