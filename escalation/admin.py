"""SLA policies are edited here by compliance officers and admins (they need the model's
change permission); deadlines, escalations and notifications are read-only records."""

from __future__ import annotations

from django.contrib import admin

from audit.admin import ReadOnlyAdmin
from escalation.models import Deadline, Escalation, Notification, SlaPolicy


@admin.register(SlaPolicy)
class SlaPolicyAdmin(admin.ModelAdmin):
    list_display = ("kind", "category", "severity", "amount", "unit", "updated_at")
    list_filter = ("kind", "unit")


@admin.register(Deadline)
class DeadlineAdmin(ReadOnlyAdmin):
    list_display = ("complaint", "kind", "level", "due_at", "paused_at", "closed_at", "outcome")
    list_filter = ("kind", "level", "outcome")


@admin.register(Escalation)
class EscalationAdmin(ReadOnlyAdmin):
    list_display = ("complaint", "level", "raised_at", "reporter_told")
    list_filter = ("level",)


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = ("kind", "recipient", "for_reporter", "complaint", "created_at",
                    "delivered_at", "attempts")
    list_filter = ("kind", "for_reporter")
