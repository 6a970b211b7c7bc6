"""Who may take each transition. The state machine declares these as its permissions, so
``available_transitions`` and the services ask the same question.

A principal is a signed-in ``User`` or a ``ReporterPrincipal`` (an anonymous reporter
holding the receipt key). Staff never act on a case they are conflicted on, nor on one
they reported themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from audit.services import SYSTEM, ActorRef
from complaints import roles
from complaints.conflicts import is_conflicted

if TYPE_CHECKING:
    from complaints.models import Complaint


@dataclass(frozen=True)
class ReporterPrincipal:
    """An anonymous reporter, known only by the complaint their receipt key opens."""

    complaint_id: int
    reference: str
    is_authenticated = True

    @property
    def audit_actor(self) -> ActorRef:
        return ActorRef("reporter", self.reference)


def is_reporter(complaint: Complaint, who: Any) -> bool:
    if isinstance(who, ReporterPrincipal):
        return who.complaint_id == complaint.pk
    return (
        getattr(who, "is_authenticated", False)
        and complaint.reporter_user_id is not None
        and complaint.reporter_user_id == who.pk
    )


def _staff(complaint: Complaint, who: Any, allowed: frozenset[str]) -> bool:
    return (
        not isinstance(who, ReporterPrincipal)
        and roles.has_role(who, allowed)
        and not is_reporter(complaint, who)
        and not is_conflicted(who, complaint)
    )


def only_the_system(complaint: Complaint, who: Any) -> bool:
    return who == SYSTEM


def may_handle(complaint: Complaint, who: Any) -> bool:
    return _staff(complaint, who, roles.HANDLERS)


def may_decide(complaint: Complaint, who: Any) -> bool:
    return _staff(complaint, who, roles.DECIDERS)


def may_reply(complaint: Complaint, who: Any) -> bool:
    return is_reporter(complaint, who)


def may_decide_dismissal(complaint: Complaint, who: Any) -> bool:
    # The two-person rule: whoever proposed the dismissal cannot also decide it.
    return may_decide(complaint, who) and complaint.dismissal_proposed_by_id != who.pk


def may_start_investigation(complaint: Complaint, who: Any) -> bool:
    return may_decide(complaint, who)


def may_record_findings(complaint: Complaint, who: Any) -> bool:
    investigation = getattr(complaint, "investigation", None)
    return (
        investigation is not None
        and investigation.investigator_id == getattr(who, "pk", None)
        and _staff(complaint, who, frozenset({roles.INVESTIGATOR}))
    )


def may_decide_findings(complaint: Complaint, who: Any) -> bool:
    # The two-person rule: the investigator who recorded the findings cannot approve them.
    investigation = getattr(complaint, "investigation", None)
    return (
        may_decide(complaint, who)
        and investigation is not None
        and investigation.findings_recorded_by_id != who.pk
    )


def may_view_investigation(complaint: Complaint, who: Any) -> bool:
    # Interview notes and evidence are for the investigator and those who decide on or
    # oversee the findings, not for everyone whose role covers the case's intake.
    investigation = getattr(complaint, "investigation", None)
    if investigation is None or is_reporter(complaint, who) or is_conflicted(who, complaint):
        return False
    return (investigation.investigator_id == getattr(who, "pk", None)
            or roles.has_role(who, roles.DECIDERS | {roles.AUDIT_COMMITTEE}))


def may_write_note(complaint: Complaint, who: Any) -> bool:
    # Any member of staff working the case; callers have already checked they may see it.
    investigation = getattr(complaint, "investigation", None)
    return _staff(complaint, who, roles.HANDLERS) or (
        investigation is not None and investigation.investigator_id == getattr(who, "pk", None)
        and _staff(complaint, who, frozenset({roles.INVESTIGATOR})))


def may_withdraw(complaint: Complaint, who: Any) -> bool:
    # The reporter may always ask; a critical complaint's withdrawal is then compliance's
    # decision, so only compliance takes the transition once it has been asked for.
    if is_reporter(complaint, who):
        return complaint.withdrawal_requested_at is None
    return (
        complaint.is_critical
        and complaint.withdrawal_requested_at is not None
        and _staff(complaint, who, frozenset({roles.COMPLIANCE_OFFICER}))
    )


def may_reopen(complaint: Complaint, who: Any) -> bool:
    # A purged case has nothing left to reopen: its narrative and parties are gone.
    return complaint.purged_at is None and may_decide(complaint, who)


def may_decline_withdrawal(complaint: Complaint, who: Any) -> bool:
    return complaint.withdrawal_requested_at is not None and _staff(
        complaint, who, frozenset({roles.COMPLIANCE_OFFICER})
    )
