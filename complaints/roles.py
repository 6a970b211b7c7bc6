"""Roles are Django groups with these exact names (DESIGN.md, "Users and roles")."""

from __future__ import annotations

from typing import Any

HR_REVIEWER = "hr_reviewer"
HR_LEAD = "hr_lead"
INVESTIGATOR = "investigator"
COMPLIANCE_OFFICER = "compliance_officer"
AUDIT_COMMITTEE = "audit_committee"
# The HR system's service account: writes the directory and nothing else. Not a staff
# role (not in ALL_ROLES), so it reaches no case, queue or staff page.
DIRECTORY_SYNC = "directory_sync"

# The staff roles: who may be given cases.
ALL_ROLES = (HR_REVIEWER, HR_LEAD, INVESTIGATOR, COMPLIANCE_OFFICER, AUDIT_COMMITTEE)
# Every group the product knows, for seeding.
ALL_GROUPS = (*ALL_ROLES, DIRECTORY_SYNC)
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


def is_directory_sync(user: Any) -> bool:
    """Whether this account is the HR system's, the only writer of the directory."""
    if not getattr(user, "is_authenticated", False) or not hasattr(user, "groups"):
        return False
    return bool(user.groups.filter(name=DIRECTORY_SYNC).exists())
