"""Who may call what. The same role checks as the web pages; a case itself is guarded by
``complaint_open`` (need-to-know, conflicts), which answers 404 rather than 403."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission

from complaints import access
from complaints.access import ReporterPrincipal, is_staff_member


def _user(request: Any) -> Any:
    user = request.user
    if isinstance(user, ReporterPrincipal) or not getattr(user, "is_authenticated", False):
        return None
    return user


class IsAuthenticated(BasePermission):
    """A user's token or a reporter's token."""

    message = "Authenticate with a bearer token."

    def has_permission(self, request: Any, view: Any) -> bool:
        return bool(getattr(request.user, "is_authenticated", False))


class IsComplianceOfficer(BasePermission):
    message = "Only compliance officers may read the audit log."

    def has_permission(self, request: Any, view: Any) -> bool:
        user = _user(request)
        return user is not None and access.COMPLIANCE_OFFICER in access.roles_of(user)


class MayReadCheckpoints(BasePermission):
    message = "Only compliance officers and the audit committee may list checkpoints."

    def has_permission(self, request: Any, view: Any) -> bool:
        user = _user(request)
        return user is not None and access.has_role(
            user, frozenset({access.COMPLIANCE_OFFICER, access.AUDIT_COMMITTEE}))


class MaySyncDirectory(BasePermission):
    """Only the HR system's ``directory_sync`` account. Never staff: someone conflicted on a
    case could otherwise move the accused away from under themselves (DESIGN.md)."""

    message = "Only the HR system's directory_sync account may change the directory."

    def has_permission(self, request: Any, view: Any) -> bool:
        user = _user(request)
        return user is not None and access.is_directory_sync(user)


def is_staff(request: Any) -> bool:
    user = _user(request)
    return user is not None and is_staff_member(user)
