"""The compliance pages' filters. Bound to GET data, so a rejected value stays in its field."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from django import forms
from django.utils import timezone

from audit.actions import Action
from audit.models import AuditEvent
from audit.opaque import BadCursor, Cursor, cursor_decode
from complaints.models import REFERENCE_ALPHABET, Category, Severity
from compliance.selectors import LogFilters, Period
from compliance.selectors.dashboard import MAX_PERIOD_DAYS
from compliance.services.policies import REASON_MAX, RETENTION
from escalation.models import Kind, Unit
from escalation.policy import BOUNDS

REFERENCE_RE = re.compile(rf"^MC-[{REFERENCE_ALPHABET}]{{4}}-[{REFERENCE_ALPHABET}]{{4}}$")
ACTOR_ID_RE = re.compile(r"^[A-Za-z0-9_.:-]*$")
DATETIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"]


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format="%Y-%m-%d", **kwargs)


class DateTimeInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format="%Y-%m-%dT%H:%M", **kwargs)


class PeriodForm(forms.Form):
    """``from`` and ``to`` (both optional): whole days, both included."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # "from" is a Python keyword, so these are added here rather than declared.
        self.fields["from"] = forms.DateField(
            label="From", required=False, widget=DateInput(),
            help_text="First day of the period (year-month-day). Default: 90 days ago.",
            error_messages={"invalid": "Enter the first day as a date, like 2026-01-31."})
        self.fields["to"] = forms.DateField(
            label="To", required=False, widget=DateInput(),
            help_text="Last day of the period, included. Default: today.",
            error_messages={"invalid": "Enter the last day as a date, like 2026-03-31."})

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.errors:
            return data
        today = timezone.localdate()
        end = data.get("to") or today
        start = data.get("from") or min(end, today) - timedelta(days=89)
        if end > today:
            self.add_error("to", "The period cannot end after today.")
        elif start > end:
            self.add_error("from", "The first day must be on or before the last day.")
        elif (end - start).days + 1 > MAX_PERIOD_DAYS:
            self.add_error("from", "Choose a period of at most five years.")
        else:
            data["period"] = Period(start=start, end=end)
        return data

    @property
    def period(self) -> Period:
        return self.cleaned_data["period"]


class LogFilterForm(forms.Form):
    reference = forms.CharField(
        label="Case reference", required=False, max_length=12,
        help_text="For example MC-7KQ2-93TX.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}))
    actor_type = forms.ChoiceField(
        label="Actor type", required=False,
        choices=[("", "Any"), *AuditEvent.ActorType.choices])
    actor_id = forms.CharField(
        label="Actor id", required=False, max_length=64,
        help_text="A user's number, or a reporter's case reference.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}))
    action = forms.ChoiceField(
        label="Action", required=False, choices=[("", "Any"), *[(a.value, a.value)
                                                                for a in Action]])
    since = forms.DateTimeField(
        label="From", required=False, input_formats=DATETIME_FORMATS, widget=DateTimeInput(),
        help_text="Events at or after this time.",
        error_messages={"invalid": "Enter a date and time, like 2026-01-31 09:00."})
    until = forms.DateTimeField(
        label="To", required=False, input_formats=DATETIME_FORMATS, widget=DateTimeInput(),
        help_text="Events before this time.",
        error_messages={"invalid": "Enter a date and time, like 2026-01-31 17:00."})
    # The page links' opaque cursor (audit.opaque): a position nobody can read.
    cursor = forms.CharField(label="Page link", required=False, max_length=400,
                             widget=forms.HiddenInput)

    def clean_reference(self) -> str:
        value = self.cleaned_data["reference"].strip().upper()
        if value and not REFERENCE_RE.match(value):
            raise forms.ValidationError("Enter a case reference like MC-7KQ2-93TX.")
        return value

    def clean_cursor(self) -> Cursor | None:
        value = self.cleaned_data["cursor"].strip()
        if not value:
            return None
        try:
            return cursor_decode(value)
        except BadCursor:
            raise forms.ValidationError(
                "This page link is not valid: start again from the first page.") from None

    def clean_actor_id(self) -> str:
        value = self.cleaned_data["actor_id"].strip()
        if not ACTOR_ID_RE.match(value):
            raise forms.ValidationError("An actor id has only letters, digits, and - _ . :")
        return value

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        since, until = data.get("since"), data.get("until")
        if since and until and since >= until:
            self.add_error("until", "The end must be after the start.")
        return data

    def filters(self) -> LogFilters:
        data = self.cleaned_data
        return LogFilters(reference=data["reference"], actor_type=data["actor_type"],
                          actor_id=data["actor_id"], action=data["action"],
                          since=data["since"], until=data["until"])


class PolicyChangeForm(forms.Form):
    """A proposed change of a deadline or of the retention period. Only the shape is checked
    here; the bounds and the second-person rule are the service's
    (compliance.services.policies), whose field errors come back onto these fields."""

    kind = forms.ChoiceField(
        label="What to change",
        choices=[*[(str(k), str(dict(Kind.choices).get(k, "Each escalation level")))
                   for k in BOUNDS], (RETENTION, "Retention period (days)")])
    category = forms.ChoiceField(label="Category", required=False,
                                 choices=[("", "Every category"), *Category.choices])
    severity = forms.ChoiceField(label="Severity", required=False,
                                 choices=[("", "Every severity"), *Severity.choices])
    amount = forms.IntegerField(
        label="Amount", required=False, min_value=1, max_value=2**31 - 1,
        help_text="A whole number, at least 1. For the retention period: days (365 to 3650).",
        error_messages={"invalid": "Enter a whole number, like 5."})
    unit = forms.ChoiceField(label="Unit", required=False,
                             choices=[("", "—"), *Unit.choices],
                             help_text="Not used for the retention period (always days).")
    remove = forms.BooleanField(
        label="Remove the override at this scope instead", required=False,
        help_text="The scope then follows the wider policy or the default.")
    reason = forms.CharField(
        label="Reason", max_length=REASON_MAX, widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Why this change is needed. Kept with the change; the audit log keeps a "
                  "digest of it.",
        error_messages={"required": "Say why this change is needed."})

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.errors:
            return data
        if data.get("remove"):
            if data["kind"] == RETENTION:
                self.add_error("remove", "The retention period can be changed, not removed.")
            data["amount"] = None
        elif data.get("amount") is None:
            self.add_error("amount", "Enter the new amount, or tick remove.")
        elif data["kind"] != RETENTION and not data.get("unit"):
            self.add_error("unit", "Choose a unit.")
        return data
