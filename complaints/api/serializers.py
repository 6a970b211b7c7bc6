"""Request and response shapes. Input serializers only check types and shapes (and refuse
unknown fields); what the input means is the services' to judge, as for the web forms."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from rest_framework import serializers

from audit.opaque import BadCursor, Cursor, cursor_decode
from complaints.models import Category, Outcome, Severity, State
from complaints.receipts import KEY_LENGTH
from complaints.selectors import QUEUES
from complaints.services.intake import NARRATIVE_MAX, SUBJECTS_MAX, SUMMARY_MAX
from complaints.services.lifecycle import REASON_MAX
from complaints.services.reporter import MESSAGE_MAX

# Larger page sizes are capped to this.
PAGE_SIZE_MAX = 100
SEQ_MAX = 2**63 - 1
LOCATION_MAX = 500  # as the report form
RECEIPT_KEY_INPUT_MAX = KEY_LENGTH * 2  # as the follow-up form: room for spaces and dashes


# --- Strict fields: DRF would turn a number into a string, "yes" into a boolean ------------

class StrictCharField(serializers.CharField):
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictChoiceField(serializers.ChoiceField):
    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, str):
            self.fail("invalid_choice", input=str(data)[:50])
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


class StrictDateTimeField(serializers.DateTimeField):
    def to_internal_value(self, value: Any) -> datetime:
        if not isinstance(value, str):
            self.fail("invalid", format="ISO 8601")
        try:
            return super().to_internal_value(value)
        except (OverflowError, ValueError):  # a year at the calendar's edge, moved by its offset
            self.fail("invalid", format="ISO 8601")
            raise  # unreachable: fail() raises


class QueryIntegerField(serializers.IntegerField):
    """A whole number in a query string: digits only (DRF would also take "1.0")."""

    def to_internal_value(self, data: Any) -> int:
        if not (isinstance(data, str) and re.fullmatch(r"-?[0-9]{1,20}", data)):
            self.fail("invalid")
        return super().to_internal_value(data)


def _names(field: str) -> serializers.ListField:
    return serializers.ListField(
        child=StrictCharField(max_length=200, allow_blank=True), required=False,
        max_length=SUBJECTS_MAX, help_text=field)


class StrictSerializer(serializers.Serializer):
    """Unknown fields are refused: a 400 naming each."""

    def to_internal_value(self, data: Any) -> Any:
        errors: dict[str, Any] = {}
        if isinstance(data, Mapping):
            errors = {str(name): ["Unknown field."] for name in data if name not in self.fields}
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            detail = exc.detail if isinstance(exc.detail, dict) else {
                "non_field_errors": exc.detail}
            raise serializers.ValidationError({**detail, **errors}) from None
        if errors:
            raise serializers.ValidationError(errors)
        return value


# --- Authentication ------------------------------------------------------------------------

class TokenCredentialsSerializer(StrictSerializer):
    username = StrictCharField(max_length=150)
    password = StrictCharField(max_length=4096)
    otp = StrictCharField(max_length=16, required=False, allow_blank=True,
                          help_text="The 6-digit code, for an account with two-factor sign-in.")


class ReceiptKeySerializer(StrictSerializer):
    receipt_key = StrictCharField(max_length=RECEIPT_KEY_INPUT_MAX)


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="Send as `Authorization: Bearer <token>`. Shown once.")
    expires_at = serializers.DateTimeField()


class ReporterTokenSerializer(TokenSerializer):
    reference = serializers.CharField(help_text="The one complaint this token opens.")


# --- Complaints ----------------------------------------------------------------------------

class ComplaintFileSerializer(StrictSerializer):
    category = StrictChoiceField(choices=Category.choices)
    summary = StrictCharField(max_length=SUMMARY_MAX, allow_blank=True)
    narrative = StrictCharField(max_length=NARRATIVE_MAX, allow_blank=True)
    subjects = _names("Who it is about: employee ids, work email addresses or names. A name "
                      "or address that is one directory person is that person (their "
                      "management chain is then conflicted); one several people share is a "
                      "400 listing their ids; anything else is kept as typed.")
    witnesses = _names("Who saw it: employee ids, work email addresses or names.")
    conflicted = _names("Anyone else who must not handle it: employee ids, work email "
                        "addresses or names, each of which must be one directory person "
                        "(otherwise 400).")
    occurred_at = StrictDateTimeField(required=False, allow_null=True)
    location = StrictCharField(max_length=LOCATION_MAX, required=False, allow_blank=True)
    anonymous = StrictBooleanField(
        required=False, help_text="File without any link to your account (always so without "
                                  "a token); you get a receipt key instead.")


class FiledSerializer(serializers.Serializer):
    reference = serializers.CharField()
    state = serializers.ChoiceField(choices=State.choices)
    receipt_key = serializers.CharField(
        required=False, help_text="Anonymous filings only: shown once, stored only as a hash. "
                                  "Exchange it at POST reporter/session/ to follow up.")


class QueueQuerySerializer(serializers.Serializer):
    queue = serializers.ChoiceField(choices=list(QUEUES), default="mine", required=False,
                                    help_text="Staff only: which queue.")
    category = serializers.ChoiceField(choices=Category.choices, required=False)
    severity = serializers.ChoiceField(choices=Severity.choices, required=False)
    state = serializers.ChoiceField(choices=State.choices, required=False)
    page = QueryIntegerField(min_value=1, max_value=10**9, default=1, required=False)
    page_size = QueryIntegerField(min_value=1, max_value=10**9, default=25, required=False,
                                  help_text=f"Capped at {PAGE_SIZE_MAX}.")


class ComplaintSummarySerializer(serializers.Serializer):
    reference = serializers.CharField()
    state = serializers.ChoiceField(choices=State.choices)
    category = serializers.ChoiceField(choices=Category.choices)
    severity = serializers.ChoiceField(choices=Severity.choices)
    escalation_level = serializers.IntegerField(allow_null=True)
    assignee = serializers.CharField(allow_null=True, help_text="Username; null for reporters.")
    submitted_at = serializers.DateTimeField()
    next_due = serializers.DateTimeField(allow_null=True,
                                         help_text="Staff: the nearest running deadline.")


class QueueCountsSerializer(serializers.Serializer):
    mine = serializers.IntegerField()
    unassigned = serializers.IntegerField()
    overdue = serializers.IntegerField()
    escalated = serializers.IntegerField()


class ComplaintPageSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = ComplaintSummarySerializer(many=True)
    counts = QueueCountsSerializer(allow_null=True, help_text="Staff: the size of each queue.")


class DeadlineSerializer(serializers.Serializer):
    kind = serializers.CharField()
    due_at = serializers.DateTimeField()
    met_at = serializers.DateTimeField(allow_null=True)
    level = serializers.IntegerField()
    outcome = serializers.CharField(allow_null=True,
                                    help_text="met, escalated, cancelled, expired; null while open")
    paused = serializers.BooleanField(help_text="Paused while the case waits on the reporter.")


class SubjectSerializer(serializers.Serializer):
    employee_id = serializers.CharField(allow_null=True)
    name = serializers.CharField()


class ComplaintDetailSerializer(serializers.Serializer):
    reference = serializers.CharField()
    state = serializers.ChoiceField(choices=State.choices)
    category = serializers.ChoiceField(choices=Category.choices)
    severity = serializers.ChoiceField(choices=Severity.choices)
    escalation_level = serializers.IntegerField(
        allow_null=True, help_text="For a reporter, shown from level 2, when they are told.")
    assignee = serializers.CharField(allow_null=True, help_text="Username; null for reporters.")
    deadlines = DeadlineSerializer(many=True)
    available_transitions = serializers.ListField(child=serializers.CharField())
    viewer = serializers.ChoiceField(choices=["staff", "reporter"],
                                     help_text="Whose view this is: reporters see less.")
    co_owner = serializers.CharField(allow_null=True)
    anonymous = serializers.BooleanField()
    summary = serializers.CharField(allow_null=True)
    narrative = serializers.CharField(allow_null=True)
    location = serializers.CharField(allow_null=True)
    occurred_at = serializers.DateTimeField(allow_null=True)
    subjects = SubjectSerializer(many=True, allow_null=True)
    submitted_at = serializers.DateTimeField()
    withdrawal_requested = serializers.BooleanField()


class TransitionSerializer(StrictSerializer):
    reason = StrictCharField(max_length=REASON_MAX, required=False, allow_blank=True)
    investigator = StrictCharField(max_length=150, required=False, allow_blank=True,
                                   help_text="start_investigation: the investigator's username.")
    plan = StrictCharField(required=False, allow_blank=True)
    outcome = StrictChoiceField(choices=Outcome.choices, required=False,
                                help_text="record_findings")
    findings = StrictCharField(required=False, allow_blank=True, help_text="record_findings")
    recommended_actions = StrictCharField(required=False, allow_blank=True,
                                          help_text="record_findings")

    def validate_investigator(self, value: str) -> str:
        # The service looks a user up by id when str.isdigit(), which is also true of "²"
        # and then fails in int(): such a value can be neither an id nor a username.
        if value.isdigit() and not value.isdecimal():
            raise serializers.ValidationError("Give the investigator's username.")
        return value


class TransitionResultSerializer(serializers.Serializer):
    reference = serializers.CharField()
    state = serializers.ChoiceField(choices=State.choices)
    withdrawal_requested = serializers.BooleanField()
    available_transitions = serializers.ListField(child=serializers.CharField())


class MessageInputSerializer(StrictSerializer):
    body = StrictCharField(max_length=MESSAGE_MAX, allow_blank=True)


class MessageSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    from_reporter = serializers.BooleanField()
    author = serializers.CharField(allow_null=True,
                                   help_text="Staff author's username; null for reporters.")
    body = serializers.CharField()
    created_at = serializers.DateTimeField()


class MessagePageSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = MessageSerializer(many=True)


class PageQuerySerializer(serializers.Serializer):
    page = QueryIntegerField(min_value=1, max_value=10**9, default=1, required=False)
    page_size = QueryIntegerField(min_value=1, max_value=10**9, default=PAGE_SIZE_MAX,
                                  required=False, help_text=f"Capped at {PAGE_SIZE_MAX}.")


# --- Audit -----------------------------------------------------------------------------------

class AuditQuerySerializer(serializers.Serializer):
    cursor = serializers.CharField(
        max_length=400, required=False,
        help_text="Resume after the events already read: the `cursor` of the previous page. "
                  "Opaque: it cannot be made or read by the client (a forged one is a 400).")
    target = serializers.CharField(max_length=64, required=False,
                                   help_text="A complaint reference: only its events.")
    limit = QueryIntegerField(min_value=1, max_value=10**9, default=PAGE_SIZE_MAX,
                              required=False, help_text=f"Capped at {PAGE_SIZE_MAX}.")

    def validate_cursor(self, value: str) -> Cursor:
        try:
            return cursor_decode(value)
        except BadCursor:
            raise serializers.ValidationError(
                "Not a cursor from this server: start again without one.") from None


class AuditEventSerializer(serializers.Serializer):
    # No sequence number and no hashes: either would let a reader who may not see some
    # events find where they are (audit/selectors/opaque.py).
    id = serializers.CharField(help_text="The event's stable, opaque id (16 hex characters). "
                                         "It reveals neither its position in the chain nor "
                                         "its neighbours.")
    occurred_at = serializers.DateTimeField()
    actor = serializers.CharField(help_text="User id, complaint reference (a reporter) or empty.")
    actor_type = serializers.CharField(help_text="user, reporter, system or anonymous")
    action = serializers.CharField()
    target = serializers.CharField(help_text="For a complaint, its reference.")
    target_type = serializers.CharField()
    from_state = serializers.CharField()
    to_state = serializers.CharField()
    payload = serializers.DictField(help_text="Small, and never free text about a person; "
                                              "without chain positions or counts of events.")


class AuditPageSerializer(serializers.Serializer):
    results = AuditEventSerializer(many=True)
    next = serializers.URLField(allow_null=True, help_text="The next page, while there is one.")
    cursor = serializers.CharField(help_text="Resume after this page with ?cursor= (later, "
                                             "for the events written since).")


class VerifySerializer(serializers.Serializer):
    intact = serializers.BooleanField()
    checked_at = serializers.DateTimeField(help_text="When this check was made.")
    first_broken_seq = serializers.IntegerField(
        required=False, help_text="Only when the chain is broken: the first broken link's "
                                  "position, so the incident can be located.")
    problem = serializers.CharField(required=False, help_text="Only when the chain is broken.")
    complete = serializers.BooleanField(
        help_text="Every complaint has its filing event and every filed complaint still "
                  "exists (a purged one with its purge event). Reported apart from the chain.")
    missing = serializers.ListField(
        child=serializers.CharField(),
        help_text="What makes it incomplete (at most 10), naming only complaints the reader "
                  "may see.")


class CheckpointQuerySerializer(serializers.Serializer):
    before = QueryIntegerField(min_value=0, max_value=SEQ_MAX, required=False,
                               help_text="Only checkpoints of heads below this sequence "
                                         "number (the next page).")
    limit = QueryIntegerField(min_value=1, max_value=10**9, default=PAGE_SIZE_MAX,
                              required=False, help_text=f"Capped at {PAGE_SIZE_MAX}.")


class CheckpointLinkSerializer(serializers.Serializer):
    seq = serializers.IntegerField()
    head_hash = serializers.CharField()


class CheckpointSerializer(serializers.Serializer):
    seq = serializers.IntegerField(help_text="The chain head's sequence number when signed.")
    head_hash = serializers.CharField(help_text="That event's hash.")
    made_at = serializers.CharField(help_text="When it was signed (UTC, microseconds).")
    previous = CheckpointLinkSerializer(allow_null=True,
                                        help_text="The checkpoint before this one.")
    key_id = serializers.CharField(help_text="The signing key, as GET audit/public-key/ "
                                             "lists it.")
    signature = serializers.CharField(
        help_text="Base64 Ed25519 signature over the other five fields as JSON with sorted "
                  "keys and no spaces.")


class CheckpointPageSerializer(serializers.Serializer):
    results = CheckpointSerializer(many=True)
    next = serializers.CharField(allow_null=True)


class PublicKeySerializer(serializers.Serializer):
    key_id = serializers.CharField()
    algorithm = serializers.CharField(help_text="Ed25519")
    public_key = serializers.CharField(help_text="Base64 of the 32 raw bytes.")
    current = serializers.BooleanField(help_text="The key signing now; the others are "
                                                 "retired and verify older signatures.")


class PublicKeysSerializer(serializers.Serializer):
    keys = PublicKeySerializer(many=True)


# --- Directory -------------------------------------------------------------------------------

class PersonInputSerializer(StrictSerializer):
    name = StrictCharField(max_length=200, allow_blank=True)
    email = StrictCharField(max_length=254, required=False, allow_blank=True)
    department = StrictCharField(max_length=200, required=False, allow_blank=True)
    manager_employee_id = StrictCharField(max_length=64, required=False, allow_blank=True,
                                          allow_null=True)


class PersonSerializer(serializers.Serializer):
    employee_id = serializers.CharField()
    name = serializers.CharField()
    email = serializers.CharField()
    department = serializers.CharField()
    manager_employee_id = serializers.CharField(allow_null=True,
                                                source="manager.employee_id", default=None)
