"""One service per transition of the complaint lifecycle (DESIGN.md, "Lifecycle")."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from django_fsm import can_proceed

from audit import services as audit
from audit.actions import Action
from complaints import access
from complaints.access import is_conflicted, is_reporter, may_decline_withdrawal
from complaints.errors import InvalidInput, TransitionForbidden, TransitionNotAllowed
from complaints.models import WITHDRAWABLE, CaseNote, Complaint, Investigation, Outcome
from complaints.services.locking import lock_complaint, save_step, snapshot
from complaints.services.next_due import next_due_refresh
from complaints.services.notes import note_write
from escalation.models import Deadline
from escalation.services.deadlines import deadlines_follow

REASON_MAX = 10_000


def _reason_note(complaint: Complaint, actor: Any, action: Action, reason: str,
                 at: datetime) -> dict[str, Any]:
    if not reason:
        return {}
    # The log keeps where the reason is and a salted digest of it, never the words: the note
    # can be checked against the log while it exists, and the digest is noise once purged.
    note, digest = note_write(complaint=complaint, actor=actor, kind=CaseNote.Kind.REASON,
                              action=action, body=reason, at=at)
    return {"reason_note": note.pk, "reason_sha256": digest}


def _clean_reason(reason: str, *, required: bool) -> str:
    reason = (reason or "").strip()
    if required and not reason:
        raise InvalidInput({"reason": ["A reason is required for this step."]})
    if len(reason) > REASON_MAX:
        raise InvalidInput({"reason": [f"Keep the reason under {REASON_MAX} characters."]})
    return reason


def _step(
    *,
    complaint: Complaint,
    actor: Any,
    name: str,
    action: Action,
    reason: str = "",
    reason_required: bool = False,
    prepare: Callable[[Complaint], dict[str, Any]] | None = None,
    after: Callable[[Complaint, datetime], None] | None = None,
    deadline_outcome: str = Deadline.Outcome.MET,
) -> Complaint:
    """Lock, check state then permission, transition, save, audit: one transaction.

    ``prepare`` validates extra input against the locked row before anything changes and
    returns payload for the event; ``after`` writes rows that belong to the step.
    """
    reason = _clean_reason(reason, required=reason_required)
    with transaction.atomic():
        locked = lock_complaint(complaint, actor=actor)
        method = getattr(locked, name)
        if not can_proceed(method):
            raise TransitionNotAllowed(name, locked.state)
        if not access.may_take(locked, name, actor):
            raise TransitionForbidden(f"you may not {name.replace('_', ' ')} this case")
        payload = prepare(locked) if prepare else {}
        before = locked.state
        unchanged = snapshot(locked)
        now = timezone.now()
        method(by=actor, at=now)
        if locked.withdrawal_requested_at is not None and locked.state not in WITHDRAWABLE:
            # The case moved on (or ended) before compliance decided: the request lapses,
            # on the record, and the reporter may ask again if the case comes back.
            locked.withdrawal_requested_at = None
            payload["withdrawal_request_lapsed"] = True
        save_step(locked, unchanged)
        if deadlines_follow(complaint=locked, before=before, after=locked.state, now=now,
                            outcome=deadline_outcome):
            next_due_refresh([locked.pk])
        if after:
            after(locked, now)
        payload |= _reason_note(locked, actor, action, reason, now)
        audit.record(action=action, actor=actor, target=locked, from_state=before,
                     to_state=locked.state, payload=payload)
    return locked


def complaint_acknowledge(*, complaint: Complaint, actor: Any, reason: str = "") -> Complaint:
    """submitted -> acknowledged. Assigns the case to the actor if unassigned.
    Audits ``complaint.acknowledged``. Raises TransitionNotAllowed / TransitionForbidden."""
    return _step(complaint=complaint, actor=actor, name="acknowledge",
                 action=Action.COMPLAINT_ACKNOWLEDGED, reason=reason)


def complaint_request_information(*, complaint: Complaint, actor: Any, reason: str) -> Complaint:
    """acknowledged -> awaiting_reporter; ``reason`` says what is asked of the reporter.
    Audits ``complaint.information_requested``."""
    return _step(complaint=complaint, actor=actor, name="request_information",
                 action=Action.COMPLAINT_INFORMATION_REQUESTED, reason=reason,
                 reason_required=True)


def complaint_reporter_replies(*, complaint: Complaint, actor: Any, reason: str = "") -> Complaint:
    """awaiting_reporter -> acknowledged, by the reporter. Audits ``complaint.reporter_replied``."""
    return _step(complaint=complaint, actor=actor, name="reporter_replies",
                 action=Action.COMPLAINT_REPORTER_REPLIED, reason=reason)


def complaint_propose_dismissal(*, complaint: Complaint, actor: Any, reason: str) -> Complaint:
    """acknowledged -> dismissal_proposed; a second person must decide.
    Audits ``complaint.dismissal_proposed``."""
    return _step(complaint=complaint, actor=actor, name="propose_dismissal",
                 action=Action.COMPLAINT_DISMISSAL_PROPOSED, reason=reason,
                 reason_required=True)


def complaint_approve_dismissal(*, complaint: Complaint, actor: Any, reason: str = "") -> Complaint:
    """dismissal_proposed -> dismissed, by an hr_lead or compliance officer who did not
    propose it. Audits ``complaint.dismissal_approved``."""
    return _step(complaint=complaint, actor=actor, name="approve_dismissal",
                 action=Action.COMPLAINT_DISMISSAL_APPROVED, reason=reason)


def complaint_reject_dismissal(*, complaint: Complaint, actor: Any, reason: str) -> Complaint:
    """dismissal_proposed -> acknowledged. Audits ``complaint.dismissal_rejected``."""
    return _step(complaint=complaint, actor=actor, name="reject_dismissal",
                 action=Action.COMPLAINT_DISMISSAL_REJECTED, reason=reason,
                 reason_required=True)


def _find_investigator(complaint: Complaint, investigator: Any) -> Any:
    user_model = get_user_model()
    if investigator in (None, ""):
        raise InvalidInput({"investigator": ["Choose an investigator."]})
    if not isinstance(investigator, user_model):
        typed = str(investigator)[:150]
        # ASCII digits only: "²".isdigit() is true and int() refuses it; huge numbers too.
        by_pk = typed.isascii() and typed.isdecimal() and len(typed) < 19
        lookup = {"pk": int(typed)} if by_pk else {"username": typed}
        investigator = user_model.objects.filter(is_active=True, **lookup).first()
    if (investigator is None or access.INVESTIGATOR not in access.roles_of(investigator)
            or is_reporter(complaint, investigator) or is_conflicted(investigator, complaint)):
        raise InvalidInput({"investigator": ["Choose an active investigator who is not "
                                             "conflicted on this case."]})
    return investigator


def complaint_start_investigation(*, complaint: Complaint, actor: Any, investigator: Any,
                                  plan: str = "", reason: str = "") -> Complaint:
    """acknowledged -> investigating, with an investigator who is not conflicted.
    Creates the Investigation (or reassigns it after a reopen).
    Audits ``complaint.investigation_started`` naming the investigator's user id.
    Raises InvalidInput for a missing, unknown or conflicted investigator."""
    chosen: dict[str, Any] = {}

    def prepare(locked: Complaint) -> dict[str, Any]:
        chosen["user"] = _find_investigator(locked, investigator)
        return {"investigator": chosen["user"].pk}

    def after(locked: Complaint, now: datetime) -> None:
        Investigation.objects.update_or_create(
            complaint=locked,
            defaults={"investigator": chosen["user"], "plan": plan, "started_at": now,
                      "outcome": "", "approved_by": None, "approved_at": None},
        )

    return _step(complaint=complaint, actor=actor, name="start_investigation",
                 action=Action.COMPLAINT_INVESTIGATION_STARTED, reason=reason,
                 prepare=prepare, after=after)


def complaint_record_findings(*, complaint: Complaint, actor: Any, outcome: str, findings: str,
                              recommended_actions: str = "") -> Complaint:
    """investigating -> findings_recorded, by the assigned investigator.
    Audits ``complaint.findings_recorded`` with the outcome (never the findings' text)."""
    errors: dict[str, list[str]] = {}
    if outcome not in Outcome.values:
        errors["outcome"] = [f"Choose one of: {', '.join(Outcome.values)}."]
    if not (findings or "").strip():
        errors["findings"] = ["Write the findings."]
    if errors:
        raise InvalidInput(errors)

    def after(locked: Complaint, now: datetime) -> None:
        Investigation.objects.filter(complaint=locked).update(
            outcome=outcome, findings=findings.strip(),
            recommended_actions=(recommended_actions or "").strip(),
            findings_recorded_by=actor, findings_recorded_at=now,
        )

    return _step(complaint=complaint, actor=actor, name="record_findings",
                 action=Action.COMPLAINT_FINDINGS_RECORDED,
                 prepare=lambda locked: {"outcome": outcome}, after=after)


def complaint_approve_findings(*, complaint: Complaint, actor: Any, reason: str = "") -> Complaint:
    """findings_recorded -> resolved, by a second person. Audits ``complaint.findings_approved``."""

    def after(locked: Complaint, now: datetime) -> None:
        Investigation.objects.filter(complaint=locked).update(approved_by=actor, approved_at=now)

    return _step(complaint=complaint, actor=actor, name="approve_findings",
                 action=Action.COMPLAINT_FINDINGS_APPROVED, reason=reason, after=after)


def complaint_return_for_work(*, complaint: Complaint, actor: Any, reason: str) -> Complaint:
    """findings_recorded -> investigating. Audits ``complaint.returned_for_work``."""
    return _step(complaint=complaint, actor=actor, name="return_for_work",
                 action=Action.COMPLAINT_RETURNED_FOR_WORK, reason=reason, reason_required=True)


def complaint_close(*, complaint: Complaint, actor: Any, reason: str = "") -> Complaint:
    """resolved -> closed, once feedback has gone to the reporter. Audits ``complaint.closed``."""
    return _step(complaint=complaint, actor=actor, name="close",
                 action=Action.COMPLAINT_CLOSED, reason=reason)


def complaint_withdraw(*, complaint: Complaint, actor: Any, reason: str = "") -> Complaint:
    """The reporter withdraws. A standard complaint ends (-> withdrawn, audits
    ``complaint.withdrawn``). A critical one does not: it stays where it is with a request
    that compliance decides (audits ``complaint.withdrawal_requested``); compliance then
    takes ``withdraw`` to end it or ``decline_withdrawal`` to carry on."""
    reason = _clean_reason(reason, required=False)
    with transaction.atomic():
        locked = lock_complaint(complaint)
        if locked.is_critical and is_reporter(locked, actor):
            return _request_withdrawal(locked, actor, reason)
        return _step(complaint=locked, actor=actor, name="withdraw",
                     action=Action.COMPLAINT_WITHDRAWN, reason=reason)


def _request_withdrawal(locked: Complaint, actor: Any, reason: str) -> Complaint:
    if not can_proceed(locked.withdraw):
        raise TransitionNotAllowed("withdraw", locked.state)
    if not access.may_take(locked, "withdraw", actor):
        raise TransitionForbidden("a withdrawal has already been asked for")
    return _set_withdrawal_request(locked, actor, timezone.now(),
                                   Action.COMPLAINT_WITHDRAWAL_REQUESTED, reason)


def _set_withdrawal_request(locked: Complaint, actor: Any, requested_at: datetime | None,
                            action: Action, reason: str) -> Complaint:
    """Ask for, or decline, a withdrawal: the state does not change; audited as ``action``."""
    now = timezone.now()
    unchanged = snapshot(locked)
    locked.withdrawal_requested_at = requested_at
    save_step(locked, unchanged)
    payload = _reason_note(locked, actor, action, reason, now)
    audit.record(action=action, actor=actor, target=locked, from_state=locked.state,
                 to_state=locked.state, payload=payload)
    return locked


def complaint_decline_withdrawal(*, complaint: Complaint, actor: Any, reason: str) -> Complaint:
    """Compliance keeps a critical case open despite the reporter's request.
    Audits ``complaint.withdrawal_declined``."""
    reason = _clean_reason(reason, required=True)
    with transaction.atomic():
        locked = lock_complaint(complaint)
        if not may_decline_withdrawal(locked, actor):
            raise TransitionForbidden("you may not decide this withdrawal")
        return _set_withdrawal_request(locked, actor, None,
                                       Action.COMPLAINT_WITHDRAWAL_DECLINED, reason)


def complaint_reply_window_expired(*, complaint: Complaint) -> Complaint:
    """awaiting_reporter -> acknowledged, by the system, when the reporter has not replied
    in time: the handler's clocks run again. Audits ``complaint.reply_window_expired``."""
    return _step(complaint=complaint, actor=audit.SYSTEM, name="reply_window_expired",
                 action=Action.COMPLAINT_REPLY_WINDOW_EXPIRED,
                 deadline_outcome=Deadline.Outcome.EXPIRED)


def complaint_reopen(*, complaint: Complaint, actor: Any, reason: str) -> Complaint:
    """{closed, dismissed, withdrawn} -> acknowledged, on appeal or new evidence.
    Audits ``complaint.reopened``."""
    return _step(complaint=complaint, actor=actor, name="reopen",
                 action=Action.COMPLAINT_REOPENED, reason=reason, reason_required=True)


# The lifecycle's names (DESIGN.md) mapped to their services, for the web and the API.
TRANSITIONS: dict[str, Callable[..., Complaint]] = {
    "acknowledge": complaint_acknowledge,
    "request_information": complaint_request_information,
    "reporter_replies": complaint_reporter_replies,
    "propose_dismissal": complaint_propose_dismissal,
    "approve_dismissal": complaint_approve_dismissal,
    "reject_dismissal": complaint_reject_dismissal,
    "start_investigation": complaint_start_investigation,
    "record_findings": complaint_record_findings,
    "approve_findings": complaint_approve_findings,
    "return_for_work": complaint_return_for_work,
    "close": complaint_close,
    "withdraw": complaint_withdraw,
    "reopen": complaint_reopen,
}


def complaint_transition(*, complaint: Complaint, actor: Any, name: str,
                         **fields: Any) -> Complaint:
    """Take the transition called ``name`` (the contract's names); raises
    TransitionNotAllowed for a name the lifecycle does not have."""
    service = TRANSITIONS.get(name)
    if service is None:
        raise TransitionNotAllowed(name, complaint.state)
    return service(complaint=complaint, actor=actor, **fields)


def available_transitions(complaint: Complaint, actor: Any) -> list[str]:
    """The transitions this actor may take now, in lifecycle order."""
    # FSMField adds get_available_<field>_transitions to the model at class creation.
    possible = complaint.get_available_state_transitions()  # type: ignore[attr-defined]
    allowed = {t.name for t in possible if access.may_take(complaint, t.name, actor)}
    return [name for name in TRANSITIONS if name in allowed]
