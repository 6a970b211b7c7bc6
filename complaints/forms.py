"""Forms. Field names are the API's (DESIGN.md), so one validation serves both: the
services validate, and a form only splits what a person typed into the service's shape."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from complaints.models import Category, Outcome
from complaints.receipts import KEY_LENGTH


def split_people(text: str) -> list[str]:
    """Employee ids or names, one per line or separated by commas."""
    return [part.strip() for line in (text or "").splitlines() for part in line.split(",")
            if part.strip()]


class ReportForm(forms.Form):
    category = forms.ChoiceField(
        label=_("What is it about?"),
        choices=[("", _("Choose one")), *Category.choices])
    summary = forms.CharField(label=_("A short title"), max_length=200)
    narrative = forms.CharField(
        label=_("What happened?"), widget=forms.Textarea,
        help_text=_("In your own words: what happened, when and where, and who was there."))
    subjects = forms.CharField(
        label=_("Who is it about?"), required=False, widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Names, work email addresses or employee ids, one per line. These "
                    "people, and everyone above them in the organisation, will never see "
                    "your report."))
    conflicted = forms.CharField(
        label=_("Anyone else who must not handle it?"), required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Names, work email addresses or employee ids, one per line: for "
                    "example someone close to the people involved. They will not see or "
                    "handle your report."))
    occurred_at = forms.DateTimeField(
        label=_("When did it happen? (optional)"), required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    location = forms.CharField(label=_("Where? (optional)"), required=False, max_length=500)
    anonymous = forms.BooleanField(
        label=_("Report anonymously"), required=False,
        help_text=_("We will not record your name, account, address or browser. You get a "
                    "receipt key instead, to follow up."))
    attachment = forms.FileField(
        label=_("Add a file (optional)"), required=False,
        help_text=_("A document, photo, recording or screenshot, up to 10 MB. We remove hidden "
                    "information such as location, device and author from your files before "
                    "we store them."))

    def service_fields(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {"category": data["category"], "summary": data["summary"],
                "narrative": data["narrative"], "subjects": split_people(data["subjects"]),
                "conflicted": split_people(data["conflicted"]),
                "occurred_at": data["occurred_at"], "location": data["location"]}


class ReceiptKeyForm(forms.Form):
    receipt_key = forms.CharField(
        label=_("Your receipt key"), max_length=KEY_LENGTH * 2,
        help_text=_("The twenty letters and digits you were given, e.g. ABCD-EFGH-JKMN-PQRS-TUVW."),
        widget=forms.TextInput(attrs={"autocomplete": "off", "autocapitalize": "characters",
                                      "spellcheck": "false"}))


class MessageForm(forms.Form):
    body = forms.CharField(label=_("Message"), widget=forms.Textarea(attrs={"rows": 4}))


class RevealForm(forms.Form):
    identity = forms.CharField(
        label=_("Your name and how to reach you"), required=False,
        widget=forms.Textarea(attrs={"rows": 2}))


class TransitionForm(forms.Form):
    """What a transition may ask for; the service says which are required."""

    reason = forms.CharField(label=_("Reason"), required=False, widget=forms.Textarea(
        attrs={"rows": 2}))
    investigator = forms.CharField(label=_("Investigator (username)"), required=False)
    outcome = forms.ChoiceField(label=_("Outcome"), required=False,
                                choices=[("", "—")] + list(Outcome.choices))
    findings = forms.CharField(label=_("Findings"), required=False, widget=forms.Textarea)
    recommended_actions = forms.CharField(label=_("Recommended actions"), required=False,
                                          widget=forms.Textarea(attrs={"rows": 3}))

    # Which fields each transition's service takes.
    TAKES = {
        "start_investigation": ("investigator", "reason"),
        "record_findings": ("outcome", "findings", "recommended_actions"),
    }

    def fields_for(self, name: str) -> dict[str, Any]:
        wanted = self.TAKES.get(name, ("reason",))
        return {f: self.cleaned_data.get(f) or "" for f in wanted}


class NoteForm(forms.Form):
    body = forms.CharField(label=_("Internal note (staff only, never shown to the reporter)"),
                           widget=forms.Textarea(attrs={"rows": 3}))


class PlanForm(forms.Form):
    plan = forms.CharField(
        label=_("Investigation plan"), required=False,
        help_text=_("Who to interview, what to gather, in what order."),
        widget=forms.Textarea(attrs={"rows": 5}))


class InterviewForm(forms.Form):
    interviewee_employee_id = forms.CharField(
        label=_("Interviewee's employee id"), required=False,
        help_text=_("From the directory; or type a name below for someone outside it."))
    interviewee_name = forms.CharField(label=_("Interviewee's name"), required=False,
                                       max_length=200)
    held_at = forms.DateTimeField(
        label=_("When it was held"), required=False,
        help_text=_("Leave empty for now."),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"},
                                   format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d"])
    notes = forms.CharField(label=_("What was said"), widget=forms.Textarea(attrs={"rows": 5}))


class EvidenceForm(forms.Form):
    description = forms.CharField(label=_("Evidence"), help_text=_(
        "What it is, where it is kept, and what it shows."),
        widget=forms.Textarea(attrs={"rows": 3}))


class ConflictRemovalForm(forms.Form):
    reason = forms.CharField(
        label=_("Why this conflict should no longer apply"),
        widget=forms.Textarea(attrs={"rows": 2}))


class RemovalDecisionForm(forms.Form):
    decision = forms.ChoiceField(label=_("Decision"), choices=[
        ("approve", _("Approve the removal")), ("reject", _("Reject the removal"))])
    reason = forms.CharField(label=_("Reason (optional)"), required=False,
                             widget=forms.Textarea(attrs={"rows": 2}))
