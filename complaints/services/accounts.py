"""Accounts: who holds which role is part of the record.

Roles are granted in the Django admin (the only thing left there besides groups). Who may
see and handle cases follows from them, so a change made there is an audit event, written
in the admin's own transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction

from audit import services as audit
from audit.actions import Action


@dataclass(frozen=True)
class AccountAccess:
    """What an account may do, as the admin can change it."""

    roles: tuple[str, ...]
    permissions: tuple[str, ...]
    is_staff: bool
    is_superuser: bool
    is_active: bool

    @classmethod
    def of(cls, user: Any) -> AccountAccess:
        """Read from the database, not from ``user``: the admin changes the instance before
        it saves it, and the groups only after."""
        row = get_user_model().objects.get(pk=user.pk)
        return cls(
            roles=tuple(sorted(row.groups.values_list("name", flat=True))),
            permissions=tuple(sorted(
                f"{app}.{codename}" for app, codename in row.user_permissions.values_list(
                    "content_type__app_label", "codename"))),
            is_staff=row.is_staff, is_superuser=row.is_superuser, is_active=row.is_active)

    def as_payload(self) -> dict[str, Any]:
        return {"roles": list(self.roles), "permissions": list(self.permissions),
                "is_staff": self.is_staff, "is_superuser": self.is_superuser,
                "is_active": self.is_active}


@transaction.atomic
def account_access_record(*, user: Any, before: AccountAccess | None, actor: Any) -> bool:
    """Put a change of an account's roles, permissions or flags on the record.

    ``before`` is what the account held before the change (``AccountAccess.of`` read
    then), None for an account just created. Audits ``account.roles_changed`` on the
    account with the before and after (names only) when anything differs, or always for a
    new account; returns whether it wrote an event.
    """
    after = AccountAccess.of(user)
    if before == after:
        return False
    audit.record(action=Action.ACCOUNT_ROLES_CHANGED, actor=actor, target=("user", str(user.pk)),
                 payload={"created": before is None,
                          "before": before.as_payload() if before is not None else None,
                          "after": after.as_payload()})
    return True
