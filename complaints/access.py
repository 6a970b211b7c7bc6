"""Need-to-know: which complaints a member of staff may see (DESIGN.md, "Users and roles").

A case is visible when the user's role covers its stage, or it is assigned, co-owned,
under investigation by or escalated to them; and never when they are conflicted on it or
reported it themselves. ``visible_complaints`` is the one definition: queues filter with
it, and the single-case check (``may_view``, registered with ``rules`` as
``complaints.view_complaint``) asks it about one row, so a queue and a case page can never
disagree.
"""

from __future__ import annotations

from typing import Any

import rules
from django.db.models import Exists, OuterRef, Q, QuerySet

from complaints import roles
from complaints.conflicts import not_conflicted
from complaints.models import (
    AUDIT_COMMITTEE_CATEGORIES,
    Complaint,
    ConflictRemoval,
    Investigation,
    State,
)

# The stages whose work an HR reviewer's role covers: intake, and closing once resolved.
HR_REVIEWER_STATES = (State.SUBMITTED, State.ACKNOWLEDGED, State.AWAITING_REPORTER,
                      State.DISMISSAL_PROPOSED, State.RESOLVED)
# The audit committee hears of cases at the top of the escalation ladder, and of SOX ones.
COMMITTEE_LEVEL = 3


def _role_q(user: Any) -> Q | None:
    """Cases the user's roles cover; None when they cover every case."""
    held = roles.roles_of(user)
    if held & {roles.COMPLIANCE_OFFICER, roles.HR_LEAD}:
        # Compliance reads everything not conflicted; senior HR assigns, decides and
        # reopens at every stage.
        return None
    covered = Q(assignee=user) | Q(co_owner=user) | _investigating(user, held)
    if roles.HR_REVIEWER in held:
        covered |= Q(state__in=HR_REVIEWER_STATES)
    if roles.AUDIT_COMMITTEE in held:
        covered |= Q(escalation_level__gte=COMMITTEE_LEVEL)
        covered |= Q(category__in=AUDIT_COMMITTEE_CATEGORIES)
        # The second person on a conflict's removal reads the case to judge it.
        covered |= Q(pk__in=ConflictRemoval.objects.filter(decided_at=None)
                     .values("complaint_id"))
    return covered


def _investigating(user: Any, held: frozenset[str]) -> Q:
    """Cases the user investigates. Not a join to the investigation, which makes every row
    drag its investigation along (and a count need DISTINCT); which of two equivalent forms
    depends on how many investigations the user can have. An investigator may have
    thousands, most of them closed: EXISTS, which PostgreSQL answers with a probe per case
    or one hash, whichever is cheaper. Anyone else has few or none: IN, one hash of them.
    (An EXISTS is costed as a probe per case even when hashed, which sets the planner
    against the index-only plans of the queues and, on a whole caseload, on JIT
    compilation.)"""
    if roles.INVESTIGATOR in held:
        return Q(Exists(Investigation.objects.filter(complaint=OuterRef("pk"),
                                                     investigator=user)))
    return Q(pk__in=Investigation.objects.filter(investigator=user).values("complaint_id"))


def is_staff_member(user: Any) -> bool:
    return bool(roles.roles_of(user))


def visible_complaints(user: Any) -> QuerySet[Complaint]:
    """Every complaint this member of staff may see; none for anyone else."""
    if not is_staff_member(user):
        return Complaint.objects.none()
    covered = _role_q(user)
    queryset = Complaint.objects.all() if covered is None else Complaint.objects.filter(covered)
    return queryset.exclude(reporter_user=user).filter(not_conflicted(user))


@rules.predicate
def may_view(user: Any, complaint: Complaint | None) -> bool:
    if complaint is None or not getattr(user, "is_authenticated", False):
        return False
    return visible_complaints(user).filter(pk=complaint.pk).exists()


rules.add_perm("complaints.view_complaint", may_view)
