"""Staff reads of a case are on the record, and so is every refused attempt."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from audit import services as audit
from audit.actions import Action
from complaints.access import is_conflicted, visible_complaints
from complaints.models import Complaint


class CaseNotFound(Exception):
    """No such case for this caller: it does not exist, or they may not know it does.
    Views answer 404 either way, so a refusal never confirms that a case exists."""


def complaint_open(*, actor: Any, reference: str, via: str = "web",
                   audit_read: bool = True) -> Complaint:
    """The case this member of staff asked for, if they may see it.

    Audits ``complaint.viewed`` (with ``via``: web, api, export...) or, for a case that
    exists but is not theirs to see, ``complaint.access_denied`` with why (``conflicted``
    or ``not_involved``). Raises ``CaseNotFound`` in both the missing and the refused case.
    ``audit_read=False`` is for callers that audit the read themselves (a download).
    """
    reference = (reference or "").strip().upper()[:12]
    with transaction.atomic():
        complaint = (visible_complaints(actor).filter(reference=reference)
                     .select_related("assignee", "co_owner").first())
        if complaint is not None:
            if audit_read:
                complaint_read_recorded(actor=actor, complaint=complaint, via=via)
            return complaint
        hidden = Complaint.objects.filter(reference=reference).only("id", "reference").first()
        if hidden is not None:
            why = "conflicted" if is_conflicted(actor, hidden) else "not_involved"
            audit.record(action=Action.COMPLAINT_ACCESS_DENIED, actor=actor, target=hidden,
                         payload={"via": via, "reason": why})
    raise CaseNotFound(reference)


def complaint_read_recorded(*, actor: Any, complaint: Complaint, via: str) -> None:
    """Audits ``complaint.viewed``: this member of staff was shown the case."""
    with transaction.atomic():
        audit.record(action=Action.COMPLAINT_VIEWED, actor=actor, target=complaint,
                     payload={"via": via})
