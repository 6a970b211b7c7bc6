"""The directory, complaints and their investigations.

Transition methods only change fields on ``self``: the services lock the row, call them,
save, and write the audit event in one transaction.
"""

from __future__ import annotations

import secrets
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models.functions import Upper
from django.utils.translation import gettext_lazy as _
from django_fsm import FSMField, FSMModelMixin, transition

from complaints.encryption import EncryptedTextField

# Crockford-like: no 0/O, 1/I/L, so a reference read aloud or handwritten survives.
REFERENCE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


def new_reference() -> str:
    groups = ("".join(secrets.choice(REFERENCE_ALPHABET) for _char in range(4))
              for _group in range(2))
    return "MC-" + "-".join(groups)


class Person(models.Model):
    """Someone in the organisation's directory, imported from the HR system."""

    employee_id = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    email = models.EmailField(blank=True, db_index=True)
    department = models.CharField(max_length=200, blank=True)
    manager = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="reports"
    )
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="person",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        indexes = [
            # A reporter may name people instead of giving ids: the lookup ignores case
            # (``name__iexact`` is UPPER(name) = UPPER(%s) on PostgreSQL).
            models.Index(Upper("name"), name="person_name_upper"),
            models.Index(Upper("email"), name="person_email_upper"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.employee_id})"


class Category(models.TextChoices):
    SEXUAL_HARASSMENT = "sexual_harassment", _("Sexual harassment")
    SEXUAL_ASSAULT = "sexual_assault", _("Sexual assault")
    VIOLENCE = "violence", _("Violence or threats")
    DISCRIMINATION = "discrimination", _("Discrimination")
    BULLYING = "bullying", _("Bullying")
    RETALIATION = "retaliation", _("Retaliation")
    FRAUD = "fraud", _("Fraud")
    ACCOUNTING = "accounting", _("Accounting or auditing")
    SAFETY = "safety", _("Health and safety")
    OTHER = "other", _("Other")


CRITICAL_CATEGORIES = frozenset({Category.SEXUAL_ASSAULT, Category.VIOLENCE, Category.RETALIATION})
# SOX 301: the audit committee hears of these on filing.
AUDIT_COMMITTEE_CATEGORIES = frozenset({Category.ACCOUNTING, Category.FRAUD})


class Severity(models.TextChoices):
    STANDARD = "standard", _("Standard")
    CRITICAL = "critical", _("Critical")


class State(models.TextChoices):
    SUBMITTED = "submitted", _("Submitted")
    ACKNOWLEDGED = "acknowledged", _("Acknowledged")
    AWAITING_REPORTER = "awaiting_reporter", _("Awaiting the reporter")
    DISMISSAL_PROPOSED = "dismissal_proposed", _("Dismissal proposed")
    DISMISSED = "dismissed", _("Dismissed")
    INVESTIGATING = "investigating", _("Investigating")
    FINDINGS_RECORDED = "findings_recorded", _("Findings recorded")
    RESOLVED = "resolved", _("Resolved")
    CLOSED = "closed", _("Closed")
    WITHDRAWN = "withdrawn", _("Withdrawn")


OPEN_STATES = frozenset(
    {State.SUBMITTED, State.ACKNOWLEDGED, State.AWAITING_REPORTER, State.DISMISSAL_PROPOSED,
     State.INVESTIGATING, State.FINDINGS_RECORDED, State.RESOLVED}
)
WITHDRAWABLE = [State.SUBMITTED, State.ACKNOWLEDGED, State.AWAITING_REPORTER, State.INVESTIGATING]
ENDED = [State.CLOSED, State.DISMISSED, State.WITHDRAWN]


class Complaint(FSMModelMixin, models.Model):
    # Unique through a constraint, not unique=True, so PostgreSQL builds no second
    # (LIKE-pattern) index on it: every index is written again on each transition.
    reference = models.CharField(max_length=12, default=new_reference, editable=False)
    category = models.CharField(max_length=32, choices=Category.choices)
    severity = models.CharField(max_length=16, choices=Severity.choices)
    summary = EncryptedTextField()
    narrative = EncryptedTextField()
    occurred_at = models.DateTimeField(null=True, blank=True)
    location = EncryptedTextField(blank=True, default="")
    anonymous = models.BooleanField(default=False)
    reporter_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
        related_name="reported_complaints",
    )
    reporter_person = models.ForeignKey(
        Person, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        db_index=False,
    )
    # Argon2id of an anonymous reporter's receipt key (complaints/receipts.py); the key
    # itself is shown once. Deterministic, so the key alone finds its case through an index.
    receipt_key_hash = models.CharField(max_length=64, blank=True)
    # What an anonymous reporter chose to tell about themselves later (name, how to reach).
    reporter_identity = EncryptedTextField(blank=True, default="")

    state = FSMField(default=State.SUBMITTED, choices=State.choices, protected=True)
    escalation_level = models.PositiveSmallIntegerField(default=0)
    # No index of its own: complaint_assignee_state leads with it.
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
        related_name="assigned_complaints", db_index=False,
    )
    # Compliance joins as co-owner at escalation level 2 (and stays).
    co_owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
        related_name="co_owned_complaints", db_index=False,
    )
    dismissal_proposed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
        related_name="+", db_index=False,
    )
    withdrawal_requested_at = models.DateTimeField(null=True, blank=True)

    submitted_at = models.DateTimeField()
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    investigation_started_at = models.DateTimeField(null=True, blank=True)
    dismissal_proposed_at = models.DateTimeField(null=True, blank=True)
    findings_recorded_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    reopened_at = models.DateTimeField(null=True, blank=True)
    # Set when the retention period has passed and the case's personal data was erased.
    purged_at = models.DateTimeField(null=True, blank=True)
    # When the earliest of the case's running clocks falls due (closed and paused ones left
    # out); null when none runs. Written only by complaints.services.next_due, which every
    # write that starts, closes, pauses, resumes or re-times a deadline calls, so the
    # queues sort by a column and the unassigned queue's page is an index read however
    # long that queue grows.
    next_due_at = models.DateTimeField(null=True, blank=True, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["reference"], name="complaint_reference_unique"),
            # Used by complaints.receipts.complaint_for_receipt_key: the key alone finds it.
            models.UniqueConstraint(fields=["receipt_key_hash"], name="complaint_receipt_key",
                                    condition=~models.Q(receipt_key_hash="")),
        ]
        indexes = [
            models.Index(fields=["state", "submitted_at"], name="complaint_state_submitted"),
            models.Index(fields=["assignee", "state"], name="complaint_assignee_state"),
            # Used by complaints.selectors.staff_queue, for open cases only: the unassigned
            # queue and its count (read from the index alone: it holds every column the
            # need-to-know filter and the queue filters look at) and the user's own cases.
            models.Index(fields=["assignee", "state", "co_owner", "escalation_level",
                                 "category", "severity", "reporter_user", "id"],
                         name="complaint_open_assignee",
                         condition=models.Q(state__in=sorted(OPEN_STATES))),
            # Used by complaints.selectors.staff_queue: the unassigned queue's page, in the
            # queues' order (nearest deadline first), read from the index 25 rows at a time.
            models.Index(fields=["next_due_at", "submitted_at", "id"],
                         name="complaint_unassigned_due",
                         condition=models.Q(assignee=None, state__in=sorted(OPEN_STATES))),
            # Used by complaints.selectors.staff_queue: open cases co-owned by the user.
            models.Index(fields=["co_owner"], name="complaint_open_co_owner",
                         condition=models.Q(co_owner__isnull=False,
                                            state__in=sorted(OPEN_STATES))),
            # Used by complaints.services.retention: ended cases not yet purged.
            models.Index(fields=["ended_at"], name="complaint_purge_due",
                         condition=models.Q(purged_at=None, ended_at__isnull=False)),
        ]

    def __str__(self) -> str:
        return self.reference

    @property
    def audit_target(self) -> tuple[str, str]:
        return "complaint", self.reference

    @property
    def is_critical(self) -> bool:
        return self.severity == Severity.CRITICAL

    # --- Transitions: fields on self only ----------------------------------------------

    @transition(field=state, source=State.SUBMITTED, target=State.ACKNOWLEDGED)
    def acknowledge(self, *, by: Any, at: Any) -> None:
        self.acknowledged_at = at
        if self.assignee_id is None:
            self.assignee = by

    @transition(field=state, source=State.ACKNOWLEDGED, target=State.AWAITING_REPORTER)
    def request_information(self, *, by: Any, at: Any) -> None:
        pass

    @transition(field=state, source=State.AWAITING_REPORTER, target=State.ACKNOWLEDGED)
    def reporter_replies(self, *, by: Any, at: Any) -> None:
        pass

    @transition(field=state, source=State.AWAITING_REPORTER, target=State.ACKNOWLEDGED)
    def reply_window_expired(self, *, by: Any, at: Any) -> None:
        """The reporter did not answer in time: the case goes back to the handler."""

    @transition(field=state, source=State.ACKNOWLEDGED, target=State.DISMISSAL_PROPOSED)
    def propose_dismissal(self, *, by: Any, at: Any) -> None:
        self.dismissal_proposed_by = by
        self.dismissal_proposed_at = at

    @transition(field=state, source=State.DISMISSAL_PROPOSED, target=State.DISMISSED)
    def approve_dismissal(self, *, by: Any, at: Any) -> None:
        self.ended_at = at

    @transition(field=state, source=State.DISMISSAL_PROPOSED, target=State.ACKNOWLEDGED)
    def reject_dismissal(self, *, by: Any, at: Any) -> None:
        self.dismissal_proposed_by = None
        self.dismissal_proposed_at = None

    @transition(field=state, source=State.ACKNOWLEDGED, target=State.INVESTIGATING)
    def start_investigation(self, *, by: Any, at: Any) -> None:
        self.investigation_started_at = at

    @transition(field=state, source=State.INVESTIGATING, target=State.FINDINGS_RECORDED)
    def record_findings(self, *, by: Any, at: Any) -> None:
        self.findings_recorded_at = at

    @transition(field=state, source=State.FINDINGS_RECORDED, target=State.RESOLVED)
    def approve_findings(self, *, by: Any, at: Any) -> None:
        self.resolved_at = at

    @transition(field=state, source=State.FINDINGS_RECORDED, target=State.INVESTIGATING)
    def return_for_work(self, *, by: Any, at: Any) -> None:
        self.findings_recorded_at = None

    @transition(field=state, source=State.RESOLVED, target=State.CLOSED)
    def close(self, *, by: Any, at: Any) -> None:
        self.ended_at = at

    @transition(field=state, source=WITHDRAWABLE, target=State.WITHDRAWN)
    def withdraw(self, *, by: Any, at: Any) -> None:
        self.ended_at = at
        self.withdrawal_requested_at = None

    @transition(field=state, source=ENDED, target=State.ACKNOWLEDGED)
    def reopen(self, *, by: Any, at: Any) -> None:
        self.reopened_at = at
        self.ended_at = None
        self.dismissal_proposed_by = None
        self.dismissal_proposed_at = None


class Subject(models.Model):
    """Someone the complaint is about: a directory person, or a name typed by the reporter."""

    complaint = models.ForeignKey(Complaint, on_delete=models.CASCADE, related_name="subjects")
    person = models.ForeignKey(Person, null=True, blank=True, on_delete=models.PROTECT,
                               related_name="+")
    name_given = EncryptedTextField(blank=True, default="")

    def __str__(self) -> str:
        return str(self.person) if self.person_id else "(named by the reporter)"


class Witness(models.Model):
    complaint = models.ForeignKey(Complaint, on_delete=models.CASCADE, related_name="witnesses")
    person = models.ForeignKey(Person, null=True, blank=True, on_delete=models.PROTECT,
                               related_name="+")
    name_given = EncryptedTextField(blank=True, default="")

    def __str__(self) -> str:
        return str(self.person) if self.person_id else "(named by the reporter)"


class CaseNote(models.Model):
    """Free text that belongs to a case (a transition's reason, an internal note).

    The audit log points at these by id and digest and never holds the text itself, so
    purging a closed case's personal data leaves the chain verifiable.
    """

    class Kind(models.TextChoices):
        REASON = "reason", _("Reason for a step")
        INTERNAL = "internal", _("Internal note")

    complaint = models.ForeignKey(Complaint, on_delete=models.CASCADE, related_name="notes")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    action = models.CharField(max_length=64, blank=True)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                               on_delete=models.PROTECT, related_name="+")
    body = EncryptedTextField()
    # Salts the digest the audit log keeps, so the digest cannot be matched against guessed
    # text, and means nothing once this note is purged.
    digest_salt = models.CharField(max_length=32, blank=True)
    created_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.kind} on {self.complaint_id}"


class Outcome(models.TextChoices):
    SUBSTANTIATED = "substantiated", _("Substantiated")
    NOT_SUBSTANTIATED = "not_substantiated", _("Not substantiated")
    INCONCLUSIVE = "inconclusive", _("Inconclusive")


class Investigation(models.Model):
    complaint = models.OneToOneField(Complaint, on_delete=models.CASCADE,
                                     related_name="investigation")
    investigator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                     related_name="investigations")
    plan = EncryptedTextField(blank=True, default="")
    started_at = models.DateTimeField()
    outcome = models.CharField(max_length=32, choices=Outcome.choices, blank=True)
    findings = EncryptedTextField(blank=True, default="")
    recommended_actions = EncryptedTextField(blank=True, default="")
    findings_recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                             on_delete=models.PROTECT, related_name="+")
    findings_recorded_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                    on_delete=models.PROTECT, related_name="+")
    approved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            # An investigator's cases, read from the index alone (the "mine" queue and who
            # may see a case): an investigator may hold tens of thousands over the years.
            models.Index(fields=["investigator", "complaint"],
                         name="investigation_investigator"),
        ]

    def __str__(self) -> str:
        return f"investigation of {self.complaint_id}"


class Interview(models.Model):
    investigation = models.ForeignKey(Investigation, on_delete=models.CASCADE,
                                      related_name="interviews")
    interviewee = models.ForeignKey(Person, null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="+")
    interviewee_name = EncryptedTextField(blank=True, default="")
    held_at = models.DateTimeField()
    notes = EncryptedTextField()
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                    related_name="+")
    recorded_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"interview {self.pk}"


class EvidenceItem(models.Model):
    investigation = models.ForeignKey(Investigation, on_delete=models.CASCADE,
                                      related_name="evidence")
    description = EncryptedTextField()
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                    related_name="+")
    recorded_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"evidence {self.pk}"


class Conflict(models.Model):
    """Someone who must never see, handle or hear about a complaint.

    Kept as rows, not worked out on each read, so a queue excludes conflicted cases with one
    indexed NOT EXISTS whatever its size. Rows are only ever added (DESIGN.md: conflicts
    only grow by themselves): a directory change adds ``subject`` and ``chain`` rows and
    never takes one away. A conflict stops applying only when compliance removes it and a
    second person approves (``ConflictRemoval``); the row stays, marked ``removed_at``, and
    every check reads active rows only.
    """

    class Source(models.TextChoices):
        SUBJECT = "subject", _("A subject of the complaint")
        CHAIN = "chain", _("Above a subject in the management chain")
        DECLARED = "declared", _("Declared a conflict of interest")
        NAMED = "named", _("Named as conflicted by the reporter")

    complaint = models.ForeignKey(Complaint, on_delete=models.CASCADE, related_name="conflicts")
    # PROTECT: a conflict outlives no one silently. Deleting the person or account would
    # lift it (and the delete guard, migration 0013, refuses that outside the purge).
    person = models.ForeignKey(Person, null=True, blank=True, on_delete=models.PROTECT,
                               related_name="+")
    # A declared conflict by an account that has no directory entry.
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                             on_delete=models.PROTECT, related_name="+")
    source = models.CharField(max_length=16, choices=Source.choices)
    created_at = models.DateTimeField()
    # Set only by an approved ConflictRemoval (complaints/services/conflicts.py).
    removed_at = models.DateTimeField(null=True, blank=True)
    removal = models.ForeignKey("ConflictRemoval", null=True, blank=True,
                                on_delete=models.SET_NULL, related_name="+")

    class Meta:
        constraints = [
            # Once per active conflict: a removed one may come back as a new row when the
            # directory says so again (a new manager above a subject).
            models.UniqueConstraint(fields=["complaint", "person", "source"],
                                    condition=models.Q(removed_at=None),
                                    name="conflict_person_once"),
            models.UniqueConstraint(fields=["complaint", "user", "source"],
                                    condition=models.Q(removed_at=None),
                                    name="conflict_user_once"),
            models.CheckConstraint(condition=models.Q(person__isnull=False)
                                   | models.Q(user__isnull=False), name="conflict_has_someone"),
        ]
        indexes = [
            # Used by complaints.conflicts: "is this person conflicted on this case?", for a
            # queue, a case, a notification. Active rows only, as every check asks.
            models.Index(fields=["person", "complaint"], name="conflict_person",
                         condition=models.Q(removed_at=None)),
            models.Index(fields=["user", "complaint"], name="conflict_user",
                         condition=models.Q(user__isnull=False, removed_at=None)),
        ]

    def __str__(self) -> str:
        return f"{self.source} conflict on {self.complaint_id}"


class ConflictRemoval(models.Model):
    """A compliance officer's request to remove one conflict, and a second person's decision.

    Two people, neither of them conflicted on the case nor the person being removed: the
    requester (a compliance officer) and the decider (another compliance officer or an audit
    committee member). The reason is a case note (encrypted, as every step's reason is); the
    audit log holds its id and digest.
    """

    class Outcome(models.TextChoices):
        APPROVED = "approved", _("Approved")
        REJECTED = "rejected", _("Rejected")

    complaint = models.ForeignKey(Complaint, on_delete=models.CASCADE,
                                  related_name="conflict_removals")
    conflict = models.ForeignKey(Conflict, on_delete=models.CASCADE, related_name="removals")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                     related_name="+")
    reason_note = models.ForeignKey(CaseNote, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    requested_at = models.DateTimeField()
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.PROTECT, related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, blank=True)

    class Meta:
        ordering = ["requested_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["conflict"], condition=models.Q(decided_at=None),
                                    name="conflict_removal_one_pending"),
        ]

    def __str__(self) -> str:
        return f"removal of conflict {self.conflict_id} ({self.outcome or 'pending'})"


class PurgePermit(models.Model):
    """The retention purge's leave to delete one complaint's parts (complaints/guard.py).

    On PostgreSQL only ``complaint_purge_permit()`` writes here: the application's role has
    no right on this table. The delete triggers on a complaint's parts look for a row.
    """

    complaint = models.OneToOneField(Complaint, on_delete=models.PROTECT, related_name="+")
    permitted_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"purge permit for {self.complaint_id}"


class Message(models.Model):
    """The two-way thread between the reporter and the handlers, encrypted at rest."""

    complaint = models.ForeignKey(Complaint, on_delete=models.CASCADE, related_name="messages")
    from_reporter = models.BooleanField()
    # The staff author; a reporter's messages name no account (they may be anonymous).
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                               on_delete=models.PROTECT, related_name="+")
    body = EncryptedTextField()
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "pk"]
        indexes = [models.Index(fields=["complaint", "created_at"], name="message_complaint")]

    def __str__(self) -> str:
        return f"message {self.pk} on {self.complaint_id}"


class Attachment(models.Model):
    """A file added to a case. The media folder holds only its Fernet ciphertext, under a
    random name; the name the user gave is encrypted here."""

    complaint = models.ForeignKey(Complaint, on_delete=models.CASCADE,
                                  related_name="attachments")
    from_reporter = models.BooleanField()
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                    on_delete=models.PROTECT, related_name="+")
    stored_name = models.CharField(max_length=100, unique=True)
    original_name = EncryptedTextField()
    # Detected from the content, never taken from the name or the browser.
    content_type = models.CharField(max_length=100)
    size = models.PositiveIntegerField()
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"attachment {self.pk} on {self.complaint_id}"


class ApiToken(models.Model):
    """A bearer token for the REST API (issued and revoked by complaints/api/tokens.py).

    Only the token's SHA-256 is kept: a token is 256 random bits, so a fast hash is enough
    and a request finds its token with one indexed equality. A token stands for a user, or
    for the anonymous reporter of one complaint (short-lived, from the receipt key).
    """

    key_hash = models.CharField(max_length=64, unique=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                             on_delete=models.CASCADE, related_name="api_tokens")
    complaint = models.ForeignKey(Complaint, null=True, blank=True, on_delete=models.CASCADE,
                                  related_name="+")
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(models.Q(user__isnull=False, complaint__isnull=True)
                           | models.Q(user__isnull=True, complaint__isnull=False)),
                name="api_token_one_holder"),
        ]

    def __str__(self) -> str:
        return f"API token {self.pk}"
