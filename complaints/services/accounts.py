"""Accounts: who holds which role is part of the record.

Roles are granted in the Django admin (the only thing left there). Who may
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
from complaints import access
from complaints.models import Person

LINK_FIRST = ("link this account to its directory entry first: staff roles are only for "
              "people in the directory, so that conflicts can apply")


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


def roles_refused(*, user: Any, roles_after: set[str], email: str | None) -> set[str]:
    """The staff roles an admin save would newly give an account that is not linked to a
    directory person, and would not be linked by this save (``email`` matching an unlinked
    person): such an account is never conflicted on anything, so it must not hold a role.
    Roles it already holds are left for the admin to take away."""
    held = set(user.groups.values_list("name", flat=True)) if user.pk else set()
    added = (roles_after & set(access.ALL_ROLES)) - held
    if not added or (user.pk and Person.objects.filter(user=user).exists()):
        return set()
    if email and Person.objects.filter(email__iexact=email, user__isnull=True).exists():
        return set()  # linked by this save (``person_link_user``), before the roles are
    return added


def linked_person(user: Any) -> int | None:
    return Person.objects.filter(user=user).values_list("pk", flat=True).first()


@transaction.atomic
def account_link_record(*, user: Any, linked_before: int | None, created: bool,
                        actor: Any) -> bool:
    """Put on the record an admin save that linked an account to its directory person
    (the account is that person from then on, conflicts and all). Audits
    ``account.person_linked`` with the person's id and whether the account was just made;
    returns whether it wrote an event."""
    person = linked_person(user)
    if person is None or person == linked_before:
        return False
    audit.record(action=Action.ACCOUNT_PERSON_LINKED, actor=actor,
                 target=("user", str(user.pk)), payload={"person": person, "created": created})
    return True


@transaction.atomic
def account_password_record(*, user_id: int, actor: Any) -> None:
    """Put a password set (or disabled) for someone in the admin on the record: whoever
    holds it may sign in as them. Audits ``account.password_set`` (ids only)."""
    usable = get_user_model().objects.get(pk=user_id).has_usable_password()
    audit.record(action=Action.ACCOUNT_PASSWORD_SET, actor=actor, target=("user", str(user_id)),
                 payload={"usable": usable})
