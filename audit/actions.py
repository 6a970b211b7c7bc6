"""The catalogue of audit action names. Every event's action is one of these."""

from __future__ import annotations

from enum import StrEnum


class Action(StrEnum):
    # Intake and lifecycle: one per transition of the complaint state machine.
    COMPLAINT_SUBMITTED = "complaint.submitted"
    COMPLAINT_ACKNOWLEDGED = "complaint.acknowledged"
    COMPLAINT_INFORMATION_REQUESTED = "complaint.information_requested"
    COMPLAINT_REPORTER_REPLIED = "complaint.reporter_replied"
    COMPLAINT_DISMISSAL_PROPOSED = "complaint.dismissal_proposed"
    COMPLAINT_DISMISSAL_APPROVED = "complaint.dismissal_approved"
    COMPLAINT_DISMISSAL_REJECTED = "complaint.dismissal_rejected"
    COMPLAINT_INVESTIGATION_STARTED = "complaint.investigation_started"
    COMPLAINT_FINDINGS_RECORDED = "complaint.findings_recorded"
    COMPLAINT_FINDINGS_APPROVED = "complaint.findings_approved"
    COMPLAINT_RETURNED_FOR_WORK = "complaint.returned_for_work"
    COMPLAINT_CLOSED = "complaint.closed"
    COMPLAINT_WITHDRAWN = "complaint.withdrawn"
    COMPLAINT_WITHDRAWAL_REQUESTED = "complaint.withdrawal_requested"
    COMPLAINT_WITHDRAWAL_DECLINED = "complaint.withdrawal_declined"
    COMPLAINT_REOPENED = "complaint.reopened"
    # Deadlines: the sweep's work, always by the system.
    COMPLAINT_ESCALATED = "complaint.escalated"
    COMPLAINT_REPLY_WINDOW_EXPIRED = "complaint.reply_window_expired"
    # Investigation work that does not change state.
    INVESTIGATION_INTERVIEW_RECORDED = "investigation.interview_recorded"
    INVESTIGATION_EVIDENCE_RECORDED = "investigation.evidence_recorded"
    INVESTIGATION_PLAN_UPDATED = "investigation.plan_updated"
    COMPLAINT_NOTE_ADDED = "complaint.note_added"
    # Conflicts of interest and need-to-know access.
    COMPLAINT_CONFLICT_DECLARED = "complaint.conflict_declared"
    COMPLAINT_CONFLICTS_CHANGED = "complaint.conflicts_changed"
    COMPLAINT_CONFLICT_REMOVAL_REQUESTED = "complaint.conflict_removal_requested"
    COMPLAINT_CONFLICT_REMOVAL_APPROVED = "complaint.conflict_removal_approved"
    COMPLAINT_CONFLICT_REMOVAL_REJECTED = "complaint.conflict_removal_rejected"
    COMPLAINT_VIEWED = "complaint.viewed"
    COMPLAINT_ACCESS_DENIED = "complaint.access_denied"
    # The reporter: follow-up by receipt key, messages, identity.
    REPORTER_KEY_ACCEPTED = "reporter.key_accepted"
    REPORTER_KEY_REJECTED = "reporter.key_rejected"
    REPORTER_KEY_THROTTLED = "reporter.key_throttled"
    COMPLAINT_IDENTITY_REVEALED = "complaint.identity_revealed"
    MESSAGE_SENT = "message.sent"
    # Directory.
    DIRECTORY_IMPORTED = "directory.imported"
    DIRECTORY_ACCOUNT_LINKED = "directory.account_linked"
    # A directory change refused because it would leave an open case with no unconflicted
    # compliance officer or audit committee member (on each such case; ids only).
    DIRECTORY_CHANGE_REFUSED = "directory.change_refused"
    # The log itself.
    AUDIT_CHECKPOINT_EXPORTED = "audit.checkpoint_exported"
    AUDIT_CHECKPOINT_SIGNED = "audit.checkpoint_signed"
    AUDIT_CHAIN_VERIFIED = "audit.chain_verified"
    # Accounts.
    ACCOUNT_TWO_FACTOR_ENABLED = "account.two_factor_enabled"
    ACCOUNT_TWO_FACTOR_VERIFIED = "account.two_factor_verified"
    ACCOUNT_TWO_FACTOR_FAILED = "account.two_factor_failed"
    # Roles (groups), staff, superuser or active changed on an account (in the admin).
    ACCOUNT_ROLES_CHANGED = "account.roles_changed"
    # In the admin: an account linked to its directory person by a save there (who did it,
    # and the person's id: an account made in someone's name is on the record), a password
    # set or disabled, the two-factor devices removed.
    ACCOUNT_PERSON_LINKED = "account.person_linked"
    ACCOUNT_PASSWORD_SET = "account.password_set"  # noqa: S105 (an action name)
    ACCOUNT_TWO_FACTOR_RESET = "account.two_factor_reset"
    # Attachments and retention.
    ATTACHMENT_ADDED = "attachment.added"
    ATTACHMENT_DOWNLOADED = "attachment.downloaded"
    COMPLAINT_PURGED = "complaint.purged"
    ENCRYPTION_KEYS_ROTATED = "encryption.keys_rotated"
    # Reports and exports.
    EXPORT_CASE_AUDIT_CSV = "export.case_audit_csv"
    EXPORT_CASE_AUDIT_PDF = "export.case_audit_pdf"
    EXPORT_COMPLIANCE_REPORT = "export.compliance_report"
    AUDIT_LOG_VIEWED = "audit.log_viewed"
    # Configuration (compliance.services.policies): deadlines and retention, each with the
    # values before and after; what the environment set, as a sweep last saw it.
    POLICY_CHANGE_PROPOSED = "policy.change_proposed"
    POLICY_CHANGED = "policy.changed"
    POLICY_CHANGE_REJECTED = "policy.change_rejected"
    CONFIG_OBSERVED = "config.observed"
    # API.
    API_TOKEN_ISSUED = "api.token_issued"  # noqa: S105 (an action name, not a secret)
    API_TOKEN_REVOKED = "api.token_revoked"  # noqa: S105
    DIRECTORY_PERSON_SYNCED = "directory.person_synced"
