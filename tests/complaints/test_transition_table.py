"""The whole lifecycle as one table: every transition from every state, by every persona."""

from __future__ import annotations

from typing import Any

import pytest

from audit.models import AuditEvent
from complaints import access
from complaints.errors import TransitionForbidden, TransitionNotAllowed
from complaints.models import Complaint, State
from complaints.services import TRANSITIONS, available_transitions
from tests.complaints.lifecycle import drive, take

PERSONAS = ["reporter", "hr_reviewer", "hr_lead", "investigator", "compliance",
            "audit_committee", "outsider", "conflicted"]

# (transition, from state, to state, who may take it). Everyone else in PERSONAS may not.
ALLOWED = [
    ("acknowledge", "submitted", "acknowledged", {"hr_reviewer", "hr_lead", "compliance"}),
    ("request_information", "acknowledged", "awaiting_reporter",
     {"hr_reviewer", "hr_lead", "compliance"}),
    ("reporter_replies", "awaiting_reporter", "acknowledged", {"reporter"}),
    ("propose_dismissal", "acknowledged", "dismissal_proposed",
     {"hr_reviewer", "hr_lead", "compliance"}),
    # Proposed by hr_reviewer in the path, so both deciders are a second person here.
    ("approve_dismissal", "dismissal_proposed", "dismissed", {"hr_lead", "compliance"}),
    ("reject_dismissal", "dismissal_proposed", "acknowledged", {"hr_lead", "compliance"}),
    ("start_investigation", "acknowledged", "investigating", {"hr_lead", "compliance"}),
    ("record_findings", "investigating", "findings_recorded", {"investigator"}),
    ("approve_findings", "findings_recorded", "resolved", {"hr_lead", "compliance"}),
    ("return_for_work", "findings_recorded", "investigating", {"hr_lead", "compliance"}),
    ("close", "resolved", "closed", {"hr_reviewer", "hr_lead", "compliance"}),
    ("withdraw", "submitted", "withdrawn", {"reporter"}),
    ("withdraw", "acknowledged", "withdrawn", {"reporter"}),
    ("withdraw", "awaiting_reporter", "withdrawn", {"reporter"}),
    ("withdraw", "investigating", "withdrawn", {"reporter"}),
    ("reopen", "closed", "acknowledged", {"hr_lead", "compliance"}),
    ("reopen", "dismissed", "acknowledged", {"hr_lead", "compliance"}),
    ("reopen", "withdrawn", "acknowledged", {"hr_lead", "compliance"}),
]

SOURCES = {(name, source) for name, source, _, _ in ALLOWED}
NOT_FROM = [(name, state) for name in TRANSITIONS for state in State.values
            if (name, state) not in SOURCES]


@pytest.fixture
def people(reporter: Any, hr_reviewer: Any, hr_lead: Any, investigator: Any, compliance: Any,
           audit_committee: Any, outsider: Any, conflicted: Any) -> dict[str, Any]:
    return {"reporter": reporter, "hr_reviewer": hr_reviewer, "hr_lead": hr_lead,
            "investigator": investigator, "compliance": compliance,
            "audit_committee": audit_committee, "outsider": outsider, "conflicted": conflicted}


# Taken only by the system (the sweep), never through the web or the API.
SYSTEM_ONLY = {("reply_window_expired", "awaiting_reporter")}


def test_the_table_covers_every_transition_of_the_model() -> None:
    declared = {(t.name, t.source) for t in Complaint._meta.get_field("state")
                .get_all_transitions(Complaint)}
    assert declared == SOURCES | SYSTEM_ONLY


@pytest.mark.parametrize("persona", PERSONAS)
def test_nobody_but_the_system_expires_the_reply_window(persona: str, filed: Complaint,
                                                       people: dict[str, Any]) -> None:
    from audit.services import SYSTEM
    from complaints.services import complaint_reply_window_expired

    complaint = drive(filed, "awaiting_reporter", people)
    assert "reply_window_expired" not in available_transitions(complaint, people[persona])
    assert [t.name for t in complaint.get_available_state_transitions()
            if access.may_take(complaint, t.name, SYSTEM)] == ["reply_window_expired"]
    after = complaint_reply_window_expired(complaint=complaint)
    assert after.state == "acknowledged"
    assert AuditEvent.objects.order_by("-seq").first().actor_type == "system"


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize(("name", "source", "target", "allowed"), ALLOWED,
                         ids=[f"{n}-from-{s}" for n, s, _, _ in ALLOWED])
def test_who_may_take_each_transition(name: str, source: str, target: str, allowed: set[str],
                                      persona: str, filed: Complaint,
                                      people: dict[str, Any]) -> None:
    complaint = drive(filed, source, people)
    actor = people[persona]
    offered = name in available_transitions(complaint, actor)
    events_before = AuditEvent.objects.count()

    if persona in allowed:
        assert offered
        after = take(complaint, name, actor)
        assert after.state == target
        event = AuditEvent.objects.order_by("-seq").first()
        assert (event.from_state, event.to_state) == (source, target)
        assert event.target_id == complaint.reference
        assert AuditEvent.objects.count() == events_before + 1
    else:
        assert not offered
        with pytest.raises(TransitionForbidden):
            take(complaint, name, actor)
        assert Complaint.objects.get(pk=complaint.pk).state == source
        assert AuditEvent.objects.count() == events_before


@pytest.mark.parametrize(("name", "state"), NOT_FROM, ids=[f"{n}-from-{s}" for n, s in NOT_FROM])
def test_a_transition_from_a_state_without_it_is_not_allowed(
    name: str, state: str, filed: Complaint, people: dict[str, Any]
) -> None:
    complaint = drive(filed, state, people)
    events_before = AuditEvent.objects.count()
    with pytest.raises(TransitionNotAllowed):
        take(complaint, name, people["compliance"])
    assert Complaint.objects.get(pk=complaint.pk).state == state
    assert AuditEvent.objects.count() == events_before


def test_an_unknown_transition_name_is_not_allowed(filed: Complaint, compliance: Any) -> None:
    from complaints.services import complaint_transition

    with pytest.raises(TransitionNotAllowed):
        complaint_transition(complaint=filed, actor=compliance, name="delete")
