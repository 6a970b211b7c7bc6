"""Roles are Django groups with these exact names (DESIGN.md, "Users and roles")."""

from __future__ import annotations

from typing import Any

HR_REVIEWER = "hr_reviewer"
HR_LEAD = "hr_lead"
INVESTIGATOR = "investigator"
COMPLIANCE_OFFICER = "compliance_officer"
AUDIT_COMMITTEE = "audit_committee"

ALL_ROLES = (HR_REVIEWER, HR_LEAD, INVESTIGATOR, COMPLIANCE_OFFICER, AUDIT_COMMITTEE)
# Who works the intake queue, and who may be the second person on a decision.
HANDLERS = frozenset({HR_REVIEWER, HR_LEAD, COMPLIANCE_OFFICER})
DECIDERS = frozenset({HR_LEAD, COMPLIANCE_OFFICER})


def roles_of(user: Any) -> frozenset[str]:
    """The user's role names, read once per user object."""
    if not getattr(user, "is_authenticated", False) or not hasattr(user, "groups"):
        return frozenset()
    cached = getattr(user, "_complaint_roles", None)
    if cached is None:
        cached = frozenset(user.groups.filter(name__in=ALL_ROLES).values_list("name", flat=True))
        user._complaint_roles = cached
    return cached


def has_role(user: Any, roles: frozenset[str] | set[str]) -> bool:
    return not roles_of(user).isdisjoint(roles)
