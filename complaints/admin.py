"""The admin keeps accounts and their roles (users) and nothing else of ours.

No domain model is registered here: the admin applies no need-to-know, audits no read and
runs no service, so a superuser above an accused person could list and edit every case in
it. Staff work in the product's own pages, and the audit log is read in its log viewer,
both of which apply need-to-know. What stays is made part of the record: a change to an
account's roles or flags is an audit event, an account is never deleted (deactivated
instead), and a linked account's email, which tied it to its directory person, is fixed.

Nor can the admin make someone the product cannot hold to their conflicts: a staff role goes
only to an account linked to its directory person (an account outside the directory is
never conflicted, so a conflicted superuser could otherwise read his own case through a
second account); a password set for someone, an account linked to a person and a reset of
someone's two-factor devices are audit events; groups are not edited here (roles are fixed
groups made by migrations; renaming or deleting one would take the role from everyone
without an event), and django-otp's device admin is gone (it let a superuser add a device
to someone else's account and sign in as them).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.forms import UserChangeForm
from django.contrib.auth.models import Group
from django.db import transaction
from django.db.models import Model, QuerySet
from django.forms import ModelForm
from django.http import HttpRequest, HttpResponse

from complaints.models import Person
from complaints.services.accounts import (
    LINK_FIRST,
    AccountAccess,
    account_access_record,
    account_link_record,
    account_password_record,
    linked_person,
    roles_refused,
)
from complaints.two_factor import two_factor_reset

User = get_user_model()
# The access an account had before the admin saved it, kept on the request until the
# groups are saved too (the admin saves the account first and its groups after).
_BEFORE = "_account_access_before"
_LINKED_BEFORE = "_account_linked_before"


class AccountChangeForm(UserChangeForm):  # type: ignore[type-arg]
    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        groups = cleaned.get("groups")
        if groups is not None and roles_refused(
                user=self.instance, roles_after={g.name for g in groups},
                email=cleaned.get("email")):
            self.add_error("groups", LINK_FIRST)
        return cleaned


class AccountAdmin(UserAdmin):  # type: ignore[type-arg]
    form = AccountChangeForm
    actions = ["reset_two_factor"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        readonly = tuple(super().get_readonly_fields(request, obj))
        # A linked account stays linked whatever its email becomes (the link is the
        # person's ``user``, set once), but its email is the directory's to give: it is
        # fixed here so an account cannot be made to look like someone else's.
        if obj is not None and Person.objects.filter(user=obj).exists():
            readonly += ("email",)
        return readonly

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Deleting an account would take its declared conflicts, notifications and tokens
        # with it (on_delete CASCADE) and unlink its directory person: deactivate instead.
        return False

    def save_model(self, request: HttpRequest, obj: Model, form: ModelForm[Any],
                   change: bool) -> None:
        setattr(request, _BEFORE, AccountAccess.of(obj) if change else None)
        setattr(request, _LINKED_BEFORE, linked_person(obj) if change else None)
        super().save_model(request, obj, form, change)

    def save_related(self, request: HttpRequest, form: ModelForm[Any], formsets: Any,
                     change: bool) -> None:
        super().save_related(request, form, formsets, change)
        # The admin runs save_model and save_related in one transaction: the event commits
        # or rolls back with the change.
        account_access_record(user=form.instance, before=getattr(request, _BEFORE, None),
                              actor=request.user)
        # Saving an account may link it to the directory person with its email: from then
        # on it is that person, so who made it so is on the record too.
        account_link_record(user=form.instance, linked_before=getattr(request, _LINKED_BEFORE,
                                                                      None),
                            created=not change, actor=request.user)

    def user_change_password(self, request: HttpRequest, id: str,
                             form_url: str = "") -> HttpResponse:
        # Whoever sets a password for someone can sign in as them: on the record, in the
        # same transaction as the change, whichever way the form saved it.
        user_model = get_user_model()
        with transaction.atomic():
            before = user_model.objects.filter(pk=id).values_list("password", flat=True).first()
            response = super().user_change_password(request, id, form_url)
            after = user_model.objects.filter(pk=id).values_list("password", flat=True).first()
            if before is not None and after != before:
                account_password_record(user_id=int(id), actor=request.user)
        return response

    @admin.action(description="Reset two-factor (they set it up again at next sign-in)")
    def reset_two_factor(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        for user in queryset:
            two_factor_reset(user=user, actor=request.user)
        messages.success(request, f"Two-factor reset for {queryset.count()} account(s).")


admin.site.unregister(User)
admin.site.register(User, AccountAdmin)
# Roles are groups made by migrations, and who holds one is edited (and audited) on the
# account's form; a group renamed or deleted here would silently take a role from everyone.
admin.site.unregister(Group)
# django-otp's device admins let a superuser give anyone's account a device and sign in as
# them; resets go through the audited action above. Whichever of its plugins is installed.
for _model in list(admin.site._registry):
    if _model._meta.app_label.startswith("otp_"):
        admin.site.unregister(_model)
