from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from complaints.conflicts import conflicted_exists
from complaints.models import Severity
from escalation.models import Kind, Notification, PolicyChange, SlaPolicy
from escalation.policy import BOUNDS, ESCALATION, Bound, Duration, Policies


def notifications_for(user: Any, *, limit: int = 50) -> QuerySet[Notification]:
    """A signed-in user's in-app notifications, newest first: those addressed to them,
    including, for a reporter, news of their own reports. Never one about a case they are
    conflicted on now: a case that became conflicted for them leaves their inbox too."""
    return (Notification.objects.filter(recipient=user)
            .exclude(conflicted_exists(user, complaint="complaint_id"))
            .select_related("complaint").only("kind", "subject", "body", "created_at", "read_at",
                                              "complaint__reference")
            .order_by("-created_at")[:limit])


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
