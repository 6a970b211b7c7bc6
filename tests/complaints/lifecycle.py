"""Drive a complaint to any state through the real services, for tests."""

from __future__ import annotations

from typing import Any

from complaints import services
from complaints.models import Complaint, Outcome

# The arguments each transition needs, so one table can call any of them.
ARGS: dict[str, dict[str, Any]] = {
    "acknowledge": {},
    "request_information": {"reason": "When did it start?"},
    "reporter_replies": {},
    "propose_dismissal": {"reason": "Not a conduct matter"},
    "approve_dismissal": {},
    "reject_dismissal": {"reason": "It is a conduct matter"},
    "start_investigation": {"investigator": "investigator"},
    "record_findings": {"outcome": Outcome.SUBSTANTIATED, "findings": "It happened."},
    "approve_findings": {},
    "return_for_work": {"reason": "Interview the witness"},
    "close": {},
    "withdraw": {},
    "reopen": {"reason": "New evidence"},
}

# How to reach each state from ``submitted``: (transition, persona) steps.
PATHS: dict[str, list[tuple[str, str]]] = {
    "submitted": [],
    "acknowledged": [("acknowledge", "hr_reviewer")],
    "awaiting_reporter": [("acknowledge", "hr_reviewer"), ("request_information", "hr_reviewer")],
    "dismissal_proposed": [("acknowledge", "hr_reviewer"), ("propose_dismissal", "hr_reviewer")],
    "dismissed": [("acknowledge", "hr_reviewer"), ("propose_dismissal", "hr_reviewer"),
                  ("approve_dismissal", "hr_lead")],
    "investigating": [("acknowledge", "hr_reviewer"), ("start_investigation", "hr_lead")],
    "findings_recorded": [("acknowledge", "hr_reviewer"), ("start_investigation", "hr_lead"),
                          ("record_findings", "investigator")],
    "resolved": [("acknowledge", "hr_reviewer"), ("start_investigation", "hr_lead"),
                 ("record_findings", "investigator"), ("approve_findings", "hr_lead")],
    "closed": [("acknowledge", "hr_reviewer"), ("start_investigation", "hr_lead"),
               ("record_findings", "investigator"), ("approve_findings", "hr_lead"),
               ("close", "hr_reviewer")],
    "withdrawn": [("withdraw", "reporter")],
}


def take(complaint: Complaint, name: str, actor: Any) -> Complaint:
    return services.complaint_transition(complaint=complaint, actor=actor, name=name,
                                         **ARGS[name])


def drive(complaint: Complaint, state: str, people: dict[str, Any]) -> Complaint:
    for name, persona in PATHS[state]:
        complaint = take(complaint, name, people[persona])
    assert complaint.state == state
    return complaint
