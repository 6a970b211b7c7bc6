"""Admin for the directory. Complaints are shown read-only: every change to a case goes
through a service so it is audited; the admin offers no way around that."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from complaints.models import Complaint, Person


@admin.register(Person)
class PersonAdmin(admin.ModelAdmin):
    list_display = ("employee_id", "name", "email", "department", "manager", "user")
    search_fields = ("employee_id", "name", "email")
    raw_id_fields = ("manager", "user")


@admin.register(Complaint)
class ComplaintAdmin(admin.ModelAdmin):
    list_display = ("reference", "category", "severity", "state", "escalation_level",
                    "submitted_at")
    list_filter = ("state", "category", "severity", "escalation_level")
    search_fields = ("=reference",)
    fields = ("reference", "category", "severity", "state", "escalation_level", "assignee",
              "submitted_at", "acknowledged_at", "ended_at")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
