"""The admin keeps accounts and roles (users and groups) and nothing else of ours.

No domain model is registered here: the admin applies no need-to-know, audits no read and
runs no service, so a superuser above an accused person could list and edit every case in
it. Staff work in the product's own pages, and the audit log is read in its log viewer,
both of which apply need-to-know. What stays is made part of the record: a change to an
account's roles or flags is an audit event, an account is never deleted (deactivated
instead), and a linked account's email, which tied it to its directory person, is fixed.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.db.models import Model
from django.forms import ModelForm
from django.http import HttpRequest

from complaints.models import Person
from complaints.services.accounts import AccountAccess, account_access_record

User = get_user_model()
# The access an account had before the admin saved it, kept on the request until the
# groups are saved too (the admin saves the account first and its groups after).
_BEFORE = "_account_access_before"


class AccountAdmin(UserAdmin):  # type: ignore[type-arg]
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
        super().save_model(request, obj, form, change)

    def save_related(self, request: HttpRequest, form: ModelForm[Any], formsets: Any,
                     change: bool) -> None:
        super().save_related(request, form, formsets, change)
        # The admin runs save_model and save_related in one transaction: the event commits
        # or rolls back with the change.
        account_access_record(user=form.instance, before=getattr(request, _BEFORE, None),
                              actor=request.user)


admin.site.unregister(User)
admin.site.register(User, AccountAdmin)
