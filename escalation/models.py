"""Deadlines, escalations, SLA policies and the notification outbox."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from escalation.bounds import RETENTION_MAX_DAYS, RETENTION_MIN_DAYS


class Kind(models.TextChoices):
    ACKNOWLEDGE = "acknowledge", _("Acknowledge the report")
    TRIAGE = "triage", _("Start an investigation or propose dismissal")
    DECISION = "decision", _("Decide on a dismissal or findings")
    FINDINGS = "findings", _("Record findings")
    FEEDBACK = "feedback", _("Give the reporter feedback")
    REPORTER_REPLY = "reporter_reply", _("Wait for the reporter's reply")


class Unit(models.TextChoices):
    CALENDAR_DAYS = "calendar_days", _("calendar days")
    BUSINESS_DAYS = "business_days", _("business days")
    CALENDAR_MONTHS = "calendar_months", _("calendar months")
    HOURS = "hours", _("hours")
    SECONDS = "seconds", _("seconds (drills and tests)")


# The longest any clock may run, in days: three calendar months at their longest (July to
# September). Only the database's backstop (SlaPolicy's check constraint) uses it.
CEILING_DAYS = 92


class SlaPolicy(models.Model):
    """An override of a default deadline (escalation/policy.py) for a category, a severity,
    or both. ``escalation`` is the shorter deadline that starts at each escalation level.

    Written only by compliance.services.policies, which checks the legal bounds, audits the
    old and new values and asks a second person to approve a longer deadline."""

    kind = models.CharField(max_length=32, choices=[*Kind.choices, ("escalation", "Escalation")])
    category = models.CharField(max_length=32, blank=True, help_text="blank: every category")
    severity = models.CharField(max_length=16, blank=True, help_text="blank: every severity")
    amount = models.PositiveIntegerField()
    unit = models.CharField(max_length=16, choices=Unit.choices)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "SLA policy"
        verbose_name_plural = "SLA policies"
        constraints = [
            models.UniqueConstraint(fields=["kind", "category", "severity"],
                                    name="sla_policy_one_per_scope"),
            # The database's own floor and ceiling, whoever writes the row: no clock of zero
            # and none that can never fire. The exact legal bounds (7 days to acknowledge,
            # 3 months otherwise, on the organisation's calendar) are checked by
            # compliance.services.policies, the only writer; this is the coarse backstop.
            models.CheckConstraint(
                condition=Q(amount__gte=1) & (
                    Q(unit=Unit.SECONDS, amount__lte=CEILING_DAYS * 86400)
                    | Q(unit=Unit.HOURS, amount__lte=CEILING_DAYS * 24)
                    | Q(unit=Unit.CALENDAR_DAYS, amount__lte=CEILING_DAYS)
                    | Q(unit=Unit.BUSINESS_DAYS, amount__lte=CEILING_DAYS)
                    | Q(unit=Unit.CALENDAR_MONTHS, amount__lte=3)),
                name="sla_policy_amount_can_fire"),
        ]

    def __str__(self) -> str:
        scope = " / ".join(filter(None, [self.category, self.severity])) or "default"
        return f"{self.kind} ({scope}): {self.amount} {self.get_unit_display()}"



class RetentionPolicy(models.Model):
    """How long an ended case keeps its personal data. One row with a blank category is
    the default in force (per-category rows are for later); without it the setting
    RETENTION_DAYS is in force. Written only by compliance.services.policies."""

    category = models.CharField(max_length=32, blank=True, unique=True,
                                help_text="blank: every category")
    days = models.PositiveIntegerField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(days__gte=RETENTION_MIN_DAYS, days__lte=RETENTION_MAX_DAYS),
                name="retention_policy_days_in_bounds"),
        ]

    def __str__(self) -> str:
        return f"retention ({self.category or 'default'}): {self.days} days"


class PolicyChange(models.Model):
    """A proposed change of an SLA deadline or of the retention period, and what became of
    it. A change that tightens (or keeps) applies when proposed; one that loosens waits
    here for a second person. The audit log holds the same facts; this row holds the
    reason's words, which the log keeps only as a digest."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting for a second person")
        APPLIED = "applied", _("Applied")
        REJECTED = "rejected", _("Rejected")

    # A deadline kind, "escalation", or "retention".
    kind = models.CharField(max_length=32)
    category = models.CharField(max_length=32, blank=True)
    severity = models.CharField(max_length=16, blank=True)
    # None: remove the override, so the scope falls back to the next one.
    amount = models.PositiveIntegerField(null=True, blank=True)
    unit = models.CharField(max_length=16, blank=True)
    reason = models.TextField()
    loosens = models.BooleanField()
    status = models.CharField(max_length=16, choices=Status.choices)
    proposed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                    related_name="+")
    proposed_at = models.DateTimeField()
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                   null=True, blank=True, related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-proposed_at"]
        constraints = [
            # One loosening at a time per scope: the second person approves one clear
            # before -> after, not a queue of them.
            models.UniqueConstraint(fields=["kind", "category", "severity"],
                                    condition=Q(status="pending"),
                                    name="policy_change_one_pending_per_scope"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} change #{self.pk} ({self.status})"

    @property
    def value_text(self) -> str:
        if self.amount is None:
            return str(_("remove the override"))
        return f"{self.amount} {Unit(self.unit).label}"


class Deadline(models.Model):
    class Outcome(models.TextChoices):
        MET = "met", _("Met")
        ESCALATED = "escalated", _("Missed and escalated")
        CANCELLED = "cancelled", _("No longer needed")
        EXPIRED = "expired", _("Ran out (the reporter did not reply)")

    complaint = models.ForeignKey("complaints.Complaint", on_delete=models.CASCADE,
                                  related_name="deadlines")
    kind = models.CharField(max_length=32, choices=Kind.choices)
    # The escalation level this deadline was set at: 0 for the handler's own clock.
    level = models.PositiveSmallIntegerField(default=0)
    started_at = models.DateTimeField()
    due_at = models.DateTimeField()
    # While the case waits on the reporter the clock stops; resuming moves due_at on by
    # the time paused.
    paused_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, blank=True)

    class Meta:
        ordering = ["due_at"]
        constraints = [
            # No query reads it (escalation.services.deadlines closes a clock before it
            # starts that kind again, under the complaint's row lock): it is the database's
            # own check that no case ever runs two clocks of one kind, so the sweep can never
            # escalate one missed duty twice. It costs an index write per started clock.
            models.UniqueConstraint(fields=["complaint", "kind"], condition=Q(closed_at=None),
                                    name="deadline_one_open_per_kind"),
        ]
        indexes = [
            # Used by complaints.services.sweep to find what is due: open, running deadlines
            # by due time. Partial, so it stays small however many closed deadlines pile up.
            models.Index(fields=["due_at"], name="deadline_due_running",
                         condition=Q(closed_at=None, paused_at=None)),
        ]

    def __str__(self) -> str:
        return f"{self.kind} L{self.level} due {self.due_at:%Y-%m-%d %H:%M}"


class Escalation(models.Model):
    complaint = models.ForeignKey("complaints.Complaint", on_delete=models.CASCADE,
                                  related_name="escalations")
    deadline = models.ForeignKey(Deadline, on_delete=models.PROTECT, related_name="escalations")
    level = models.PositiveSmallIntegerField()
    raised_at = models.DateTimeField()
    # User ids notified at this level (never a name: this is read by auditors).
    recipients = models.JSONField(default=list)
    reporter_told = models.BooleanField(default=False)
    resolution = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["raised_at"]
        indexes = [models.Index(fields=["level", "raised_at"], name="escalation_level_raised")]

    def __str__(self) -> str:
        return f"L{self.level} on {self.complaint_id}"


class Notification(models.Model):
    """An outbox row, written in the same transaction as the event that causes it, and the
    in-app notification itself. A worker delivers it by email; the database is the truth,
    so a lost Celery message delays delivery but never loses it."""

    class Kind(models.TextChoices):
        FILED = "filed", _("A report was filed")
        ESCALATED = "escalated", _("A case was escalated to you")
        REMINDER = "reminder", _("A deadline on your case was missed")
        REPORTER_ESCALATED = "reporter_escalated", _("Your report was escalated")
        ROUTED = "routed", _("A case was routed to you")
        MESSAGE = "message", _("A new message on a case")

    # No index of its own: notification_recipient leads with it (one index fewer for every
    # notification the sweep writes).
    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                  on_delete=models.CASCADE, related_name="notifications",
                                  db_index=False)
    # For the reporter of this complaint, signed in or anonymous (shown on their case page).
    for_reporter = models.BooleanField(default=False)
    complaint = models.ForeignKey("complaints.Complaint", null=True, blank=True,
                                  on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=32, choices=Kind.choices)
    subject = models.CharField(max_length=200)
    body = models.TextField()
    created_at = models.DateTimeField()
    read_at = models.DateTimeField(null=True, blank=True)
    # Delivery by email: claimed by one worker until claimed_until, marked delivered once.
    email = models.EmailField(blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    claimed_until = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # Used by escalation.services.notifications.deliver_pending: undelivered mail.
            models.Index(fields=["next_attempt_at"], name="notification_undelivered",
                         condition=Q(delivered_at=None) & ~Q(email="")),
            models.Index(fields=["recipient", "created_at"], name="notification_recipient"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} to {self.recipient_id or 'reporter'}"


class SweepHeartbeat(models.Model):
    """One row: when the last sweep completed and how long it took, written by whoever ran
    it (the beat task, ``manage.py sweep_deadlines``). A sweep that no longer runs leaves it
    to age, and the web process notices (operations/sweep_watch.py): the beat stopping is
    the one way left to bury every complaint at once."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    # When the row was made: a sweep that never ran at all is measured from here.
    watched_since = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_seconds = models.FloatField(null=True, blank=True)
    # Set by the one web request that mailed the stale-sweep alert of this episode; each
    # completed sweep clears it, so the next episode alerts again.
    alerted_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"sweep finished at {self.finished_at}"
