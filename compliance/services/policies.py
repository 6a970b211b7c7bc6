"""Changing the deadlines and the retention period (DESIGN.md, "Configuration is part of the
record").

The only writer of ``SlaPolicy`` and ``RetentionPolicy``. Every change is proposed with a
reason and checked against the law's bounds (escalation/policy.py ``BOUNDS``; retention
``RETENTION_MIN_DAYS`` to ``RETENTION_MAX_DAYS``). A change that tightens or keeps what is
in force applies at once; one that loosens it (a longer deadline anywhere it applies, or a
shorter retention, which erases records sooner) waits for a second person: a compliance
officer or an audit committee member who is not the proposer. Each proposal, application
and rejection is an audit event with the values before and after, in the same transaction.

Who: only a compliance officer proposes. The audit committee may approve or reject, as
the board's check on compliance: with one compliance officer, a loosening would otherwise
need a second, invented account. The proposer may withdraw (reject) their own proposal.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from audit import services as audit
from audit.actions import Action
from complaints import access
from complaints.errors import InvalidInput, TransitionForbidden, TransitionNotAllowed
from complaints.models import Category, Severity
from escalation.models import (
    RETENTION_MAX_DAYS,
    RETENTION_MIN_DAYS,
    PolicyChange,
    RetentionPolicy,
    SlaPolicy,
    Unit,
)
from escalation.policy import (
    BOUNDS,
    Duration,
    Policies,
    never_longer,
    retention_in_force,
)

RETENTION = "retention"
REASON_MAX = 2000
PROPOSERS = frozenset({access.COMPLIANCE_OFFICER})
APPROVERS = frozenset({access.COMPLIANCE_OFFICER, access.AUDIT_COMMITTEE})


@dataclass(frozen=True)
class Scope:
    kind: str
    category: str = ""
    severity: str = ""

    @property
    def target(self) -> tuple[str, str]:
        if self.kind == RETENTION:
            return "retention_policy", self.category or "default"
        return "sla_policy", f"{self.kind}/{self.category or '*'}/{self.severity or '*'}"

    @property
    def key(self) -> tuple[str, str, str]:
        return self.kind, self.category, self.severity


def may_propose(user: Any) -> bool:
    return access.has_role(user, PROPOSERS)


def may_approve(change: PolicyChange, user: Any) -> bool:
    return access.has_role(user, APPROVERS) and change.proposed_by_id != user.pk


def may_reject(change: PolicyChange, user: Any) -> bool:
    return may_approve(change, user) or change.proposed_by_id == user.pk


def _value(duration: Duration | None, source: str) -> dict[str, Any]:
    if duration is None:
        return {"amount": None, "unit": "", "source": source}
    return {"amount": duration.amount, "unit": str(duration.unit), "source": source}


def _cells(scope: Scope) -> list[tuple[str, str]]:
    """Every (category, severity) a policy at ``scope`` can apply to."""
    categories = [scope.category] if scope.category else list(Category.values)
    severities = [scope.severity] if scope.severity else list(Severity.values)
    return [(c, s) for c in categories for s in severities]


def _in_force(policies: Policies, scope: Scope) -> dict[str, Any]:
    """What is in force for ``scope``: one value, or none when it differs between the
    cells the scope covers (a scope of every severity over two different defaults)."""
    found = {policies.source(scope.kind, c, s) for c, s in _cells(scope)}
    if len(found) == 1:
        duration, source = found.pop()
        return _value(duration, source)
    return _value(None, "varies")


def _without(rows: dict[tuple[str, str, str], Duration], scope: Scope,
             duration: Duration | None) -> Policies:
    changed = dict(rows)
    changed.pop(scope.key, None)
    if duration is not None:
        changed[scope.key] = duration
    return Policies(overrides=[SlaPolicy(kind=k, category=c, severity=s, amount=d.amount,
                                         unit=d.unit) for (k, c, s), d in changed.items()])


@dataclass(frozen=True)
class _Effect:
    before: dict[str, Any]
    after: dict[str, Any]
    loosens: bool


def _sla_effect(scope: Scope, duration: Duration | None) -> _Effect:
    # Read fresh, not through the cache: the comparison must see what is really stored.
    now = Policies()
    then = _without(now.overrides(), scope, duration)
    loosens = any(not never_longer(then.duration(scope.kind, c, s),
                                   now.duration(scope.kind, c, s))
                  for c, s in _cells(scope))
    return _Effect(_in_force(now, scope), _in_force(then, scope), loosens)


def _retention_effect(days: int) -> _Effect:
    current, source = retention_in_force()
    # A shorter period erases records sooner: that is the loosening here.
    return _Effect(_value(Duration(current, Unit.CALENDAR_DAYS), source),
                   _value(Duration(days, Unit.CALENDAR_DAYS), "policy"), days < current)


def _clean(scope: Scope, amount: int | None, unit: str, reason: str
           ) -> tuple[Duration | None, str]:
    errors: dict[str, list[str]] = {}
    reason = (reason or "").strip()
    if not reason:
        errors["reason"] = [_("Say why this change is needed.")]
    elif len(reason) > REASON_MAX:
        errors["reason"] = [_("Keep the reason under %(max)d characters.") % {"max": REASON_MAX}]
    if scope.kind != RETENTION and scope.kind not in BOUNDS:
        errors["kind"] = [_("Choose a deadline or the retention period.")]
    if scope.category and scope.category not in Category.values:
        errors["category"] = [_("Choose a category from the list.")]
    if scope.severity and scope.severity not in Severity.values:
        errors["severity"] = [_("Choose a severity from the list.")]
    if scope.kind == RETENTION and (scope.category or scope.severity):
        errors["category"] = [_("The retention period is one for every case for now.")]
    duration = None
    if amount is None:
        if scope.kind == RETENTION:
            errors["amount"] = [_("Enter the retention period in days.")]
        elif not SlaPolicy.objects.filter(kind=scope.kind, category=scope.category,
                                          severity=scope.severity).exists():
            errors["amount"] = [_("There is no override at this scope to remove.")]
    elif scope.kind == RETENTION:
        if not RETENTION_MIN_DAYS <= amount <= RETENTION_MAX_DAYS:
            errors["amount"] = [_("Keep personal data between %(min)d and %(max)d days.")
                                % {"min": RETENTION_MIN_DAYS, "max": RETENTION_MAX_DAYS}]
        duration = Duration(amount, Unit.CALENDAR_DAYS)
    elif unit not in Unit.values:
        errors["unit"] = [_("Choose a unit from the list.")]
    elif amount < 1:
        errors["amount"] = [_("A deadline is at least 1 %(unit)s.")
                            % {"unit": Unit(unit).label}]
    elif scope.kind in BOUNDS:
        duration = Duration(amount, Unit(unit))
        bound = BOUNDS[scope.kind]
        if not bound.admits(duration):
            errors["amount"] = [
                _("%(amount)d %(unit)s is beyond the legal bound for this deadline: at most "
                  "%(max)d %(max_unit)s (%(why)s).")
                % {"amount": amount, "unit": Unit(unit).label, "max": bound.longest.amount,
                   "max_unit": Unit(bound.longest.unit).label, "why": bound.why}]
    if errors:
        raise InvalidInput(errors)
    return duration, reason


def _payload(change: PolicyChange, effect: _Effect) -> dict[str, Any]:
    return {
        "change": change.pk, "kind": change.kind, "category": change.category,
        "severity": change.severity,
        "operation": "remove" if change.amount is None else "set",
        "before": effect.before, "after": effect.after, "loosens": effect.loosens,
        "proposed_by": str(change.proposed_by_id),
        # The reason's words stay on the change row; the log keeps their digest, so the
        # row can be checked against it and the log holds no free text.
        "reason_sha256": hashlib.sha256(change.reason.encode()).hexdigest(),
    }


def _scope(change: PolicyChange) -> Scope:
    return Scope(change.kind, change.category, change.severity)


def _effect(scope: Scope, duration: Duration | None) -> _Effect:
    if scope.kind == RETENTION:
        assert duration is not None  # noqa: S101 (_clean refuses a retention without days)
        return _retention_effect(duration.amount)
    return _sla_effect(scope, duration)


def _apply(change: PolicyChange, duration: Duration | None) -> None:
    scope = _scope(change)
    if scope.kind == RETENTION:
        assert duration is not None  # noqa: S101
        RetentionPolicy.objects.update_or_create(category=scope.category,
                                                 defaults={"days": duration.amount})
        return
    if duration is None:
        SlaPolicy.objects.filter(kind=scope.kind, category=scope.category,
                                 severity=scope.severity).delete()
    else:
        SlaPolicy.objects.update_or_create(
            kind=scope.kind, category=scope.category, severity=scope.severity,
            defaults={"amount": duration.amount, "unit": duration.unit})
    # This process reads the new table at once (even before the commit, for the rest of
    # this transaction), and again after the commit so no read in between lingers; other
    # processes within Policies' CACHE_SECONDS.
    Policies.forget()
    transaction.on_commit(Policies.forget)


def _duration(change: PolicyChange) -> Duration | None:
    if change.amount is None:
        return None
    return Duration(change.amount, Unit(change.unit or Unit.CALENDAR_DAYS))


def policy_change_propose(*, actor: Any, kind: str, category: str = "", severity: str = "",
                          amount: int | None, unit: str = "", reason: str) -> PolicyChange:
    """Propose a deadline override (``kind`` a deadline kind or "escalation") at a scope,
    its removal (``amount`` None), or the retention period (``kind`` "retention",
    ``amount`` in days).

    Changes: applies at once when nothing gets looser (SlaPolicy or RetentionPolicy row
    written or deleted, the SLA cache forgotten); otherwise leaves a pending PolicyChange.
    Audits ``policy.change_proposed`` and, when applied, ``policy.changed``, each with the
    values before and after.
    Raises: ``TransitionForbidden`` unless the actor is a compliance officer;
    ``InvalidInput`` field by field (reason missing, unknown scope or unit, a value outside
    the legal bounds, nothing to remove, a loosening already waiting at this scope).
    """
    if not may_propose(actor):
        raise TransitionForbidden("only a compliance officer may change a policy")
    scope = Scope(kind, category or "", severity or "")
    duration, reason = _clean(scope, amount, unit, reason)
    now = timezone.now()
    with transaction.atomic():
        effect = _effect(scope, duration)
        try:
            # A savepoint: a loosening proposed at the same time at the same scope trips
            # policy_change_one_pending_per_scope, and the answer is the same field error.
            with transaction.atomic():
                change = PolicyChange.objects.create(
                    kind=scope.kind, category=scope.category, severity=scope.severity,
                    amount=None if duration is None else duration.amount,
                    unit="" if duration is None else str(duration.unit), reason=reason,
                    loosens=effect.loosens, proposed_by=actor, proposed_at=now,
                    status=PolicyChange.Status.PENDING if effect.loosens
                    else PolicyChange.Status.APPLIED,
                    decided_by=None if effect.loosens else actor,
                    decided_at=None if effect.loosens else now)
        except IntegrityError:
            raise InvalidInput({"__all__": [_(
                "A change at this scope is already waiting for a second person: approve or "
                "reject it first.")]}) from None
        payload = _payload(change, effect)
        audit.record(action=Action.POLICY_CHANGE_PROPOSED, actor=actor, target=scope.target,
                     to_state=change.status, payload=payload)
        if not effect.loosens:
            _apply(change, duration)
            audit.record(action=Action.POLICY_CHANGED, actor=actor, target=scope.target,
                         payload=payload | {"second_person": False})
    return change


def _locked_pending(change: PolicyChange) -> PolicyChange:
    locked = PolicyChange.objects.select_for_update().get(pk=change.pk)
    if locked.status != PolicyChange.Status.PENDING:
        raise TransitionNotAllowed("decide", locked.status)
    return locked


def policy_change_approve(*, change: PolicyChange, actor: Any) -> PolicyChange:
    """A second person approves a pending loosening, which applies now.

    Changes: the SlaPolicy or RetentionPolicy row; the change becomes applied, with who
    decided and when. Audits ``policy.changed`` with the values before and after as they
    stand now (another change may have landed since the proposal) and the proposer.
    Raises: ``TransitionNotAllowed`` unless pending; ``TransitionForbidden`` for the
    proposer or anyone but a compliance officer or audit committee member;
    ``InvalidInput`` if the value is outside the bounds in force today.
    """
    with transaction.atomic():
        locked = _locked_pending(change)
        if not may_approve(locked, actor):
            raise TransitionForbidden("a second person, not the proposer, must approve this")
        scope, duration = _scope(locked), _duration(locked)
        # The bounds again: a release may have narrowed them since the proposal.
        _clean(scope, locked.amount, locked.unit, locked.reason)
        effect = _effect(scope, duration)
        locked.status = PolicyChange.Status.APPLIED
        locked.decided_by, locked.decided_at = actor, timezone.now()
        locked.save(update_fields=["status", "decided_by", "decided_at"])
        _apply(locked, duration)
        audit.record(action=Action.POLICY_CHANGED, actor=actor, target=scope.target,
                     from_state=PolicyChange.Status.PENDING, to_state=locked.status,
                     payload=_payload(locked, effect) | {"second_person": True})
    return locked


def policy_change_reject(*, change: PolicyChange, actor: Any) -> PolicyChange:
    """Reject a pending change (or, by its proposer, withdraw it); nothing is applied.

    Changes: the change becomes rejected, with who decided and when. Audits
    ``policy.change_rejected`` with the values it would have changed.
    Raises: ``TransitionNotAllowed`` unless pending; ``TransitionForbidden`` for anyone
    who may not approve it and did not propose it.
    """
    with transaction.atomic():
        locked = _locked_pending(change)
        if not may_reject(locked, actor):
            raise TransitionForbidden("you may not decide on this change")
        scope = _scope(locked)
        effect = _effect(scope, _duration(locked))
        locked.status = PolicyChange.Status.REJECTED
        locked.decided_by, locked.decided_at = actor, timezone.now()
        locked.save(update_fields=["status", "decided_by", "decided_at"])
        audit.record(action=Action.POLICY_CHANGE_REJECTED, actor=actor, target=scope.target,
                     from_state=PolicyChange.Status.PENDING, to_state=locked.status,
                     payload=_payload(locked, effect)
                     | {"withdrawn": locked.proposed_by_id == actor.pk})
    return locked
