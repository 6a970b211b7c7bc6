"""Each service writes exactly the audit event it must, and nothing when it fails."""

from __future__ import annotations

import json
from typing import Any

import pytest

from audit import services as audit_services
from audit.models import AuditEvent
from complaints import services
from complaints.errors import InvalidInput, TransitionForbidden
from complaints.models import CaseNote, Category, Complaint, Investigation, Outcome, Severity
from complaints.receipts import receipt_key_hash
from tests.complaints.lifecycle import drive


def last_event() -> AuditEvent:
    return AuditEvent.objects.order_by("-seq").first()


@pytest.fixture
def people(reporter: Any, hr_reviewer: Any, hr_lead: Any, investigator: Any,
           compliance: Any) -> dict[str, Any]:
    return {"reporter": reporter, "hr_reviewer": hr_reviewer, "hr_lead": hr_lead,
            "investigator": investigator, "compliance": compliance}


# Each step's service and the event it must write: (state, service, persona, kwargs, action).
STEPS = [
    ("submitted", services.complaint_acknowledge, "hr_reviewer", {}, "complaint.acknowledged"),
    ("acknowledged", services.complaint_request_information, "hr_reviewer",
     {"reason": "Dates?"}, "complaint.information_requested"),
    ("awaiting_reporter", services.complaint_reporter_replies, "reporter", {},
     "complaint.reporter_replied"),
    ("acknowledged", services.complaint_propose_dismissal, "hr_reviewer", {"reason": "x"},
     "complaint.dismissal_proposed"),
    ("dismissal_proposed", services.complaint_approve_dismissal, "hr_lead", {},
     "complaint.dismissal_approved"),
    ("dismissal_proposed", services.complaint_reject_dismissal, "hr_lead", {"reason": "x"},
     "complaint.dismissal_rejected"),
    ("acknowledged", services.complaint_start_investigation, "hr_lead",
     {"investigator": "investigator"}, "complaint.investigation_started"),
    ("investigating", services.complaint_record_findings, "investigator",
     {"outcome": Outcome.INCONCLUSIVE, "findings": "No witness."}, "complaint.findings_recorded"),
    ("findings_recorded", services.complaint_approve_findings, "compliance", {},
     "complaint.findings_approved"),
    ("findings_recorded", services.complaint_return_for_work, "hr_lead", {"reason": "x"},
     "complaint.returned_for_work"),
    ("resolved", services.complaint_close, "hr_reviewer", {}, "complaint.closed"),
    ("acknowledged", services.complaint_withdraw, "reporter", {}, "complaint.withdrawn"),
    ("dismissed", services.complaint_reopen, "compliance", {"reason": "Appeal"},
     "complaint.reopened"),
]


@pytest.mark.parametrize(("state", "service", "persona", "kwargs", "action"), STEPS,
                         ids=[s[4] for s in STEPS])
def test_each_service_writes_its_audit_event(state: str, service: Any, persona: str,
                                            kwargs: dict[str, Any], action: str,
                                            filed: Complaint, people: dict[str, Any]) -> None:
    complaint = drive(filed, state, people)
    before = last_event().seq
    after = service(complaint=complaint, actor=people[persona], **kwargs)
    events = list(AuditEvent.objects.filter(seq__gt=before))
    assert len(events) == 1
    event = events[0]
    assert event.action == action
    assert (event.actor_type, event.actor_id) == ("user", str(people[persona].pk))
    assert (event.target_type, event.target_id) == ("complaint", complaint.reference)
    assert (event.from_state, event.to_state) == (state, after.state)
    assert audit_services.verify().intact


def test_filing_writes_submitted_event_without_the_text(reporter: Any, org: dict) -> None:
    filed = services.complaint_submit(
        reporter=reporter, category=Category.SEXUAL_ASSAULT, summary="Assault at offsite",
        narrative="He followed me to my room.", subjects=["ACC1", "Someone Unlisted"],
        witnesses=["PEER1"],
    )
    complaint = filed.complaint
    assert complaint.severity == Severity.CRITICAL
    assert filed.receipt_key is None
    assert complaint.subjects.count() == 2
    assert complaint.witnesses.get().person.employee_id == "PEER1"
    event = last_event()
    assert event.action == "complaint.submitted"
    assert event.to_state == "submitted"
    assert json.loads(event.payload) == {"anonymous": False, "category": "sexual_assault",
                                         "severity": "critical", "subjects": 2, "witnesses": 1}
    assert "followed" not in event.payload and "Unlisted" not in event.payload


def test_anonymous_filing_links_no_account_and_hashes_the_receipt_key(reporter: Any) -> None:
    filed = services.complaint_submit(
        reporter=reporter, anonymous=True, category=Category.FRAUD, summary="Invoices",
        narrative="Invoices are split to stay under the approval limit.",
    )
    complaint = Complaint.objects.get(pk=filed.complaint.pk)
    assert complaint.reporter_user is None and complaint.reporter_person is None
    assert filed.receipt_key and len(filed.receipt_key.replace("-", "")) == 20
    assert filed.receipt_key not in complaint.receipt_key_hash
    assert complaint.receipt_key_hash == receipt_key_hash(filed.receipt_key)
    event = last_event()
    assert (event.actor_type, event.actor_id) == ("reporter", complaint.reference)


def test_filing_refuses_bad_input_field_by_field(reporter: Any) -> None:
    with pytest.raises(InvalidInput) as caught:
        services.complaint_submit(reporter=reporter, category="gossip", summary="",
                                  narrative="  ")
    assert set(caught.value.errors) == {"category", "summary", "narrative"}
    assert not Complaint.objects.exists()


def test_a_reason_lives_in_a_case_note_and_the_log_keeps_only_its_digest(
    filed: Complaint, people: dict[str, Any]
) -> None:
    complaint = drive(filed, "acknowledged", people)
    services.complaint_propose_dismissal(complaint=complaint, actor=people["hr_reviewer"],
                                         reason="The reporter's manager says it was a joke")
    event = last_event()
    payload = json.loads(event.payload)
    note = CaseNote.objects.get(pk=payload["reason_note"])
    assert note.body == "The reporter's manager says it was a joke"
    assert "joke" not in event.payload
    assert len(payload["reason_sha256"]) == 64


def test_a_step_that_fails_halfway_leaves_neither_change_nor_event(
    filed: Complaint, hr_reviewer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    complaint = drive(filed, "acknowledged", {"hr_reviewer": hr_reviewer})
    events_before = AuditEvent.objects.count()

    def broken_record(**kwargs: Any) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(audit_services, "record", broken_record)
    with pytest.raises(RuntimeError):
        services.complaint_propose_dismissal(complaint=complaint, actor=hr_reviewer, reason="x")
    complaint = Complaint.objects.get(pk=filed.pk)
    assert complaint.state == "acknowledged"
    assert complaint.dismissal_proposed_by is None
    assert not CaseNote.objects.filter(complaint=complaint).exists()
    assert AuditEvent.objects.count() == events_before


def test_the_proposer_of_a_dismissal_cannot_approve_or_reject_it(
    filed: Complaint, hr_lead: Any, hr_lead_2: Any
) -> None:
    complaint = drive(filed, "acknowledged", {"hr_reviewer": hr_lead})
    complaint = services.complaint_propose_dismissal(complaint=complaint, actor=hr_lead,
                                                     reason="Outside policy")
    assert services.available_transitions(complaint, hr_lead) == []
    with pytest.raises(TransitionForbidden):
        services.complaint_approve_dismissal(complaint=complaint, actor=hr_lead)
    with pytest.raises(TransitionForbidden):
        services.complaint_reject_dismissal(complaint=complaint, actor=hr_lead, reason="x")
    done = services.complaint_approve_dismissal(complaint=complaint, actor=hr_lead_2)
    assert done.state == "dismissed"


def test_the_investigator_cannot_approve_their_own_findings(
    filed: Complaint, hr_reviewer: Any, hr_lead: Any, compliance: Any
) -> None:
    from complaints import access
    from tests.factories import UserFactory

    lead_investigator = UserFactory(username="lead_inv",
                                    roles=[access.HR_LEAD, access.INVESTIGATOR])
    complaint = drive(filed, "acknowledged", {"hr_reviewer": hr_reviewer})
    complaint = services.complaint_start_investigation(complaint=complaint, actor=hr_lead,
                                                       investigator=lead_investigator)
    complaint = services.complaint_record_findings(
        complaint=complaint, actor=lead_investigator, outcome=Outcome.SUBSTANTIATED,
        findings="Confirmed by two witnesses.")
    with pytest.raises(TransitionForbidden):
        services.complaint_approve_findings(complaint=complaint, actor=lead_investigator)
    done = services.complaint_approve_findings(complaint=complaint, actor=compliance)
    investigation = Investigation.objects.get(complaint=done)
    assert investigation.approved_by == compliance
    assert investigation.findings_recorded_by == lead_investigator


def test_an_investigator_who_is_conflicted_cannot_be_assigned(
    filed: Complaint, org: dict, hr_reviewer: Any, hr_lead: Any
) -> None:
    from complaints import access
    from tests.factories import UserFactory

    manager_user = UserFactory(username="mgr", roles=[access.INVESTIGATOR])
    org["manager"].user = manager_user
    org["manager"].save()
    complaint = drive(filed, "acknowledged", {"hr_reviewer": hr_reviewer})
    with pytest.raises(InvalidInput) as caught:
        services.complaint_start_investigation(complaint=complaint, actor=hr_lead,
                                               investigator=manager_user)
    assert "investigator" in caught.value.errors
    assert Complaint.objects.get(pk=complaint.pk).state == "acknowledged"


def test_withdrawing_a_critical_complaint_goes_to_compliance(
    reporter: Any, org: dict, compliance: Any, hr_lead: Any
) -> None:
    complaint = services.complaint_submit(
        reporter=reporter, category=Category.RETALIATION, summary="Moved off my team",
        narrative="After I reported, I was moved.", subjects=["MGR1"],
    ).complaint
    after = services.complaint_withdraw(complaint=complaint, actor=reporter, reason="Scared")
    assert after.state == "submitted"
    assert after.withdrawal_requested_at is not None
    assert last_event().action == "complaint.withdrawal_requested"
    assert "withdraw" not in services.available_transitions(after, reporter)
    assert "withdraw" not in services.available_transitions(after, hr_lead)
    assert "withdraw" in services.available_transitions(after, compliance)

    kept = services.complaint_decline_withdrawal(complaint=after, actor=compliance,
                                                 reason="Pattern of retaliation")
    assert kept.withdrawal_requested_at is None
    assert last_event().action == "complaint.withdrawal_declined"

    services.complaint_withdraw(complaint=kept, actor=reporter)
    ended = services.complaint_withdraw(complaint=kept, actor=compliance)
    assert ended.state == "withdrawn"
    assert last_event().action == "complaint.withdrawn"
    assert (last_event().actor_id) == str(compliance.pk)


def test_a_required_reason_is_asked_for(filed: Complaint, hr_reviewer: Any) -> None:
    complaint = drive(filed, "acknowledged", {"hr_reviewer": hr_reviewer})
    with pytest.raises(InvalidInput) as caught:
        services.complaint_propose_dismissal(complaint=complaint, actor=hr_reviewer, reason=" ")
    assert caught.value.errors == {"reason": ["A reason is required for this step."]}


def test_interviews_and_evidence_are_recorded_and_audited(
    filed: Complaint, hr_reviewer: Any, hr_lead: Any, investigator: Any
) -> None:
    complaint = drive(filed, "acknowledged", {"hr_reviewer": hr_reviewer})
    complaint = services.complaint_start_investigation(complaint=complaint, actor=hr_lead,
                                                       investigator=investigator, plan="Talk")
    interview = services.investigation_record_interview(
        complaint=complaint, actor=investigator, notes="Confirms shouting.",
        interviewee_employee_id="PEER1")
    assert last_event().action == "investigation.interview_recorded"
    assert json.loads(last_event().payload) == {"interview": interview.pk}
    services.investigation_record_evidence(complaint=complaint, actor=investigator,
                                           description="Meeting recording, 3 March")
    assert last_event().action == "investigation.evidence_recorded"
    with pytest.raises(TransitionForbidden):
        services.investigation_record_evidence(complaint=complaint, actor=hr_lead,
                                               description="x")


def test_text_is_encrypted_at_rest(filed: Complaint) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT narrative, summary FROM complaints_complaint WHERE id = %s",
                       [filed.pk])
        narrative, summary = cursor.fetchone()
    assert "shouts" not in narrative and narrative.startswith("gAAAA")
    assert Complaint.objects.get(pk=filed.pk).narrative == "He shouts at me in meetings."


def test_the_reason_digest_is_salted_per_note(filed: Complaint, hr_reviewer: Any,
                                              hr_lead: Any) -> None:
    import hashlib

    complaint = drive(filed, "acknowledged", {"hr_reviewer": hr_reviewer})
    services.complaint_propose_dismissal(complaint=complaint, actor=hr_reviewer, reason="No")
    payload = json.loads(last_event().payload)
    note = CaseNote.objects.get(pk=payload["reason_note"])
    assert payload["reason_sha256"] != hashlib.sha256(b"No").hexdigest()  # not guessable
    assert payload["reason_sha256"] == hashlib.sha256(
        f"{note.digest_salt}:No".encode()).hexdigest()


def test_a_withdrawal_request_lapses_when_the_case_moves_past_withdrawal(
    reporter: Any, org: dict, hr_reviewer: Any, hr_lead: Any, investigator: Any,
    compliance: Any
) -> None:
    complaint = services.complaint_submit(
        reporter=reporter, category=Category.VIOLENCE, summary="Threat",
        narrative="He threatened me.").complaint
    services.complaint_withdraw(complaint=complaint, actor=reporter)
    complaint = drive(complaint, "investigating", {"hr_reviewer": hr_reviewer,
                                                   "hr_lead": hr_lead})
    assert complaint.withdrawal_requested_at is not None  # still withdrawable: still pending
    complaint = services.complaint_record_findings(
        complaint=complaint, actor=investigator, outcome=Outcome.SUBSTANTIATED, findings="Yes.")
    assert Complaint.objects.get(pk=complaint.pk).withdrawal_requested_at is None
    assert json.loads(last_event().payload)["withdrawal_request_lapsed"] is True


def test_locking_a_complaint_outside_a_transaction_is_refused(committed_db: None) -> None:
    from complaints.services.locking import lock_complaint
    from tests.factories import ComplaintFactory

    with pytest.raises(RuntimeError, match="outside a transaction"):
        lock_complaint(ComplaintFactory())


@pytest.mark.parametrize("typed", ["²", "9" * 30, "x" * 500, "nobody"])
def test_an_odd_investigator_is_a_field_error_not_a_crash(filed: Any, hr_reviewer: Any,
                                                          hr_lead: Any, typed: str) -> None:
    complaint = services.complaint_acknowledge(complaint=filed, actor=hr_reviewer)
    with pytest.raises(InvalidInput) as caught:
        services.complaint_start_investigation(complaint=complaint, actor=hr_lead,
                                               investigator=typed)
    assert "investigator" in caught.value.errors
