"""Investigation work that does not move the case: the plan, interviews and evidence."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from audit import services as audit
from audit.actions import Action
from complaints.access import may_record_findings
from complaints.errors import InvalidInput, TransitionForbidden
from complaints.models import (
    Complaint,
    EvidenceItem,
    Interview,
    Investigation,
    Person,
    State,
)
from complaints.services.locking import lock_complaint


def _locked_investigation(complaint: Complaint, actor: Any) -> Complaint:
    locked = lock_complaint(complaint)
    if locked.state != State.INVESTIGATING or not may_record_findings(locked, actor):
        raise TransitionForbidden("only the assigned investigator records work on an open "
                                  "investigation")
    return locked


PLAN_MAX = 20_000


def investigation_update_plan(*, complaint: Complaint, actor: Any, plan: str) -> Investigation:
    """Replace the investigation plan (who to interview, what to gather, in what order).
    Audits ``investigation.plan_updated`` with the plan's length, never its text."""
    plan = (plan or "").strip()
    if len(plan) > PLAN_MAX:
        raise InvalidInput({"plan": [_("Keep the plan under %(max)d characters.")
                                     % {"max": PLAN_MAX}]})
    with transaction.atomic():
        locked = _locked_investigation(complaint, actor)
        investigation = locked.investigation
        investigation.plan = plan
        investigation.save(update_fields=["plan"])
        audit.record(action=Action.INVESTIGATION_PLAN_UPDATED, actor=actor, target=locked,
                     payload={"investigation": investigation.pk, "chars": len(plan)})
    return investigation


def investigation_record_interview(*, complaint: Complaint, actor: Any, notes: str,
                                   held_at: datetime | None = None,
                                   interviewee_employee_id: str = "",
                                   interviewee_name: str = "") -> Interview:
    """Add an interview to the case's investigation.
    Audits ``investigation.interview_recorded`` (the interview's id, never its notes)."""
    if not notes.strip():
        raise InvalidInput({"notes": [_("Write what was said.")]})
    if held_at is not None and held_at > timezone.now():
        raise InvalidInput({"held_at": [_("An interview cannot be recorded before it is held.")]})
    if not (interviewee_employee_id or interviewee_name.strip()):
        raise InvalidInput({"interviewee": [_("Say who was interviewed.")]})
    person = None
    if interviewee_employee_id:
        person = Person.objects.filter(employee_id=interviewee_employee_id).first()
        if person is None:
            raise InvalidInput({"interviewee": [_("No one in the directory has this id.")]})
    with transaction.atomic():
        locked = _locked_investigation(complaint, actor)
        now = timezone.now()
        interview = Interview.objects.create(
            investigation=locked.investigation, interviewee=person,
            interviewee_name=interviewee_name.strip(), held_at=held_at or now, notes=notes,
            recorded_by=actor, recorded_at=now,
        )
        audit.record(action=Action.INVESTIGATION_INTERVIEW_RECORDED, actor=actor, target=locked,
                     payload={"interview": interview.pk})
    return interview


def investigation_record_evidence(*, complaint: Complaint, actor: Any,
                                  description: str) -> EvidenceItem:
    """Add an evidence note. Audits ``investigation.evidence_recorded``."""
    if not description.strip():
        raise InvalidInput({"description": [_("Describe the evidence.")]})
    with transaction.atomic():
        locked = _locked_investigation(complaint, actor)
        item = EvidenceItem.objects.create(
            investigation=locked.investigation, description=description, recorded_by=actor,
            recorded_at=timezone.now(),
        )
        audit.record(action=Action.INVESTIGATION_EVIDENCE_RECORDED, actor=actor, target=locked,
                     payload={"evidence": item.pk})
    return item
