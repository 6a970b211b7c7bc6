"""What the policies page shows: the deadlines in force, the overrides, the changes waiting
for a second person."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from complaints.models import Severity
from escalation.models import Kind, PolicyChange, SlaPolicy
from escalation.policy import BOUNDS, ESCALATION, Bound, Duration, Policies


@dataclass(frozen=True)
class PolicyRow:
    kind: str
    label: str
    bound: Bound
    # (severity, duration, source) for each severity, for a case of any category.
    cells: list[tuple[str, Duration, str]]


def policy_table() -> list[PolicyRow]:
    """Every deadline kind by severity as in force for a case of any category, and where
    each value comes from ("default" or the override's scope). Read fresh: this is the
    page that says what is in force, so it must not lag behind the cache."""
    policies = Policies()
    labels = dict(Kind.choices) | {ESCALATION: _("Each escalation level")}
    return [PolicyRow(kind=str(kind), label=str(labels[kind]), bound=bound,
                      cells=[(severity, *policies.source(kind, "", severity))
                             for severity in Severity.values])
            for kind, bound in BOUNDS.items()]


def policy_overrides() -> QuerySet[SlaPolicy]:
    return SlaPolicy.objects.order_by("kind", "category", "severity")


def pending_policy_changes() -> QuerySet[PolicyChange]:
    return (PolicyChange.objects.filter(status=PolicyChange.Status.PENDING)
            .select_related("proposed_by").order_by("proposed_at"))
