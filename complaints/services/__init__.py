"""The complaint services most callers need, under one name.

Each lifecycle step (``complaint_<transition>``) owns its transaction, locks the complaint
row, takes one transition and writes exactly one audit event, so a step that fails halfway
leaves neither the change nor the event. Filing writes one event too; the other services
are in their own modules.
"""

from complaints.services.directory import directory_import, person_link_user
from complaints.services.intake import complaint_submit
from complaints.services.investigation import (
    investigation_record_evidence,
    investigation_record_interview,
)
from complaints.services.lifecycle import (
    TRANSITIONS,
    available_transitions,
    complaint_acknowledge,
    complaint_approve_dismissal,
    complaint_approve_findings,
    complaint_close,
    complaint_decline_withdrawal,
    complaint_propose_dismissal,
    complaint_record_findings,
    complaint_reject_dismissal,
    complaint_reopen,
    complaint_reply_window_expired,
    complaint_reporter_replies,
    complaint_request_information,
    complaint_return_for_work,
    complaint_start_investigation,
    complaint_transition,
    complaint_withdraw,
)

__all__ = [
    "TRANSITIONS",
    "available_transitions",
    "complaint_acknowledge",
    "complaint_approve_dismissal",
    "complaint_approve_findings",
    "complaint_close",
    "complaint_decline_withdrawal",
    "complaint_propose_dismissal",
    "complaint_record_findings",
    "complaint_reject_dismissal",
    "complaint_reopen",
    "complaint_reply_window_expired",
    "complaint_reporter_replies",
    "complaint_request_information",
    "complaint_return_for_work",
    "complaint_start_investigation",
    "complaint_submit",
    "complaint_transition",
    "complaint_withdraw",
    "directory_import",
    "investigation_record_evidence",
    "investigation_record_interview",
    "person_link_user",
]
