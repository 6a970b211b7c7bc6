"""Filing, queues, one case, transitions and messages through the API: the same services
and need-to-know rules as the web, and every bad input a 4xx with a JSON body."""

from __future__ import annotations

import json
from typing import Any

import pytest

from audit.models import AuditEvent
from complaints import access
from complaints.models import Category, Complaint, Severity, State
from complaints.services import complaint_acknowledge, complaint_submit
from escalation.models import Deadline
from tests.api.conftest import REPORT, Api
from tests.factories import UserFactory


def _events(action: str, target: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action, target_id=target))


# --- Filing ------------------------------------------------------------------------------------

def test_anonymous_filing_gets_a_receipt_key_once(api: Api, org: Any) -> None:
    response = api.post("complaints/", {**REPORT, "subjects": ["ACC1", "a stranger"],
                                        "occurred_at": "2026-01-05T10:00:00Z"})

    assert response.status_code == 201
    body = response.json()
    complaint = Complaint.objects.get(reference=body["reference"])
    assert body["state"] == "submitted" and len(body["receipt_key"]) == 24
    assert complaint.anonymous and complaint.reporter_user is None
    assert body["receipt_key"] not in complaint.receipt_key_hash
    assert complaint.subjects.count() == 2
    assert len(_events("complaint.submitted", complaint.reference)) == 1


def test_a_signed_in_filing_is_linked_and_has_no_receipt_key(api: Api, reporter: Any) -> None:
    response = api.as_user(reporter).post("complaints/", REPORT)

    assert response.status_code == 201
    assert "receipt_key" not in response.json()
    assert Complaint.objects.get(reporter_user=reporter).reference == response.json()["reference"]


def test_a_signed_in_user_may_still_file_anonymously(api: Api, reporter: Any) -> None:
    response = api.as_user(reporter).post("complaints/", {**REPORT, "anonymous": True})

    assert "receipt_key" in response.json()
    assert not Complaint.objects.filter(reporter_user=reporter).exists()


@pytest.mark.parametrize(("body", "fields"), [
    ({}, {"category", "summary", "narrative"}),
    ({**REPORT, "category": "gossip"}, {"category"}),
    ({**REPORT, "summary": 5, "anonymous": "yes", "subjects": "ACC1"},
     {"summary", "anonymous", "subjects"}),
    ({**REPORT, "subjects": [1, None]}, {"subjects"}),
    ({**REPORT, "occurred_at": "yesterday"}, {"occurred_at"}),
    ({**REPORT, "occurred_at": "2999-01-01T00:00:00Z"}, {"occurred_at"}),
    ({**REPORT, "occurred_at": "0001-01-01T00:00:00+05:00"}, {"occurred_at"}),
    ({**REPORT, "narrative": "x" * 50_001}, {"narrative"}),
    ({**REPORT, "summary": "   "}, {"summary"}),
    ({**REPORT, "summary": "a\x00b"}, {"summary"}),
    ({**REPORT, "colour": "red", "priority": 1}, {"colour", "priority"}),
    ({**REPORT, "subjects": ["x"] * 21}, {"subjects"}),
])
def test_bad_filings_are_refused_field_by_field(api: Api, body: dict[str, Any],
                                                fields: set[str]) -> None:
    response = api.post("complaints/", body)

    assert response.status_code == 400
    errors = response.json()
    assert set(errors) == fields
    assert all(isinstance(m, list) and all(isinstance(x, str) for x in m)
               for m in errors.values())
    assert not Complaint.objects.exists()


def test_an_unknown_field_is_named(api: Api) -> None:
    response = api.post("complaints/", {**REPORT, "severity": "critical"})

    assert response.json() == {"severity": ["Unknown field."]}


@pytest.mark.parametrize("raw", [
    b'{"category": ', b"not json", b'{"a": \xff\xfe}', b"[" * 50_000, b'{"n": NaN}',
    b'{"n": 1e999}', b"[]", b'"text"', b"null",
])
def test_malformed_bodies_are_a_400_naming_the_body(api: Api, raw: bytes) -> None:
    response = api.post("complaints/", raw=raw)

    assert response.status_code == 400
    assert list(response.json()) == ["non_field_errors"]


def test_a_body_that_is_not_json_is_a_415(api: Api) -> None:
    response = api.post("complaints/", raw=b"category=bullying",
                        content_type="application/x-www-form-urlencoded")

    assert response.status_code == 415
    assert "detail" in response.json()


def test_a_body_over_the_limit_is_a_413(api: Api, settings: Any) -> None:
    settings.API_MAX_REQUEST_BYTES = 1000
    response = api.post("complaints/", {**REPORT, "narrative": "x" * 2000})

    assert response.status_code == 413
    assert "detail" in response.json()


def test_filing_is_rate_limited_per_client_address(api: Api, settings: Any) -> None:
    settings.API_FILING_RATE = "2/m"
    statuses = [api.post("complaints/", REPORT).status_code for _ in range(3)]
    elsewhere = api.client.post("/api/v1/complaints/", REPORT, content_type="application/json",
                                REMOTE_ADDR="10.0.0.9")

    assert statuses == [201, 201, 429]
    assert elsewhere.status_code == 201


# --- Queues and one case ---------------------------------------------------------------------

def test_staff_get_their_queue_with_counts(api: Api, hr_reviewer: Any, filed: Any) -> None:
    response = api.as_user(hr_reviewer).get("complaints/", {"queue": "unassigned"})

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1 and body["counts"]["unassigned"] == 1
    assert body["results"][0]["reference"] == filed.reference
    assert body["results"][0]["next_due"] is not None


def test_a_reporter_lists_their_own_complaints(api: Api, reporter: Any, filed: Any) -> None:
    body = api.as_user(reporter).get("complaints/").json()

    assert [c["reference"] for c in body["results"]] == [filed.reference]
    assert body["counts"] is None and body["results"][0]["assignee"] is None


def test_page_size_is_capped(api: Api, hr_lead: Any) -> None:
    for _ in range(3):
        complaint_submit(reporter=None, **REPORT)

    body = api.as_user(hr_lead).get("complaints/", {"queue": "unassigned", "page_size": 2}).json()
    capped = api.as_user(hr_lead).get("complaints/", {"queue": "unassigned",
                                                      "page_size": 10_000}).json()

    assert (body["count"], len(body["results"])) == (3, 2) and "page=2" in body["next"]
    assert len(capped["results"]) == 3


@pytest.mark.parametrize("query", [{"queue": "everything"}, {"page": "0"}, {"page": "x"},
                                   {"page_size": "1.5"}, {"state": ""}])
def test_bad_queue_queries_are_a_400(api: Api, hr_lead: Any, query: dict[str, str]) -> None:
    response = api.as_user(hr_lead).get("complaints/", query)

    assert response.status_code == 400
    assert set(response.json()) == set(query)


def test_a_case_has_the_contract_fields_and_its_read_is_audited(
        api: Api, hr_lead: Any, filed: Any) -> None:
    complaint_acknowledge(complaint=filed, actor=hr_lead)

    response = api.as_user(hr_lead).get(f"complaints/{filed.reference.lower()}/")

    assert response.status_code == 200
    body = response.json()
    assert {"reference", "state", "category", "severity", "escalation_level", "assignee",
            "deadlines", "available_transitions"} <= set(body)
    assert (body["state"], body["assignee"], body["viewer"]) == ("acknowledged", "hr_lead",
                                                                 "staff")
    acknowledge = next(d for d in body["deadlines"] if d["kind"] == "acknowledge")
    closed = Deadline.objects.get(complaint=filed, kind="acknowledge").closed_at
    assert acknowledge["met_at"] == closed.isoformat().replace("+00:00", "Z")
    running = next(d for d in body["deadlines"] if d["kind"] == "triage")
    assert set(running) >= {"kind", "due_at", "met_at", "level"} and running["met_at"] is None
    assert body["available_transitions"] == ["request_information", "propose_dismissal",
                                             "start_investigation"]
    viewed = _events("complaint.viewed", filed.reference)
    assert len(viewed) == 1 and '"via":"api"' in viewed[0].payload


def test_a_conflicted_handler_gets_404_and_the_attempt_is_audited(
        api: Api, conflicted: Any, filed: Any) -> None:
    caller = api.as_user(conflicted)

    assert caller.get(f"complaints/{filed.reference}/").status_code == 404
    assert caller.post(f"complaints/{filed.reference}/transitions/acknowledge/",
                       {}).status_code == 404
    assert caller.get(f"complaints/{filed.reference}/messages/").status_code == 404
    denied = _events("complaint.access_denied", filed.reference)
    assert len(denied) == 3 and all('"reason":"conflicted"' in e.payload for e in denied)
    assert Complaint.objects.get(pk=filed.pk).state == State.SUBMITTED


@pytest.mark.parametrize("reference", ["MC-2222-2222", "nonsense", "MC-7KQ2-93TX-EXTRA"])
def test_unknown_references_are_a_json_404(api: Api, compliance: Any, reference: str) -> None:
    response = api.as_user(compliance).get(f"complaints/{reference}/")

    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


def test_an_unrelated_employee_gets_404(api: Api, outsider: Any, filed: Any) -> None:
    assert api.as_user(outsider).get(f"complaints/{filed.reference}/").status_code == 404
    assert _events("complaint.access_denied", filed.reference)


def test_a_reporter_sees_less_than_staff(api: Api, reporter: Any, filed: Any) -> None:
    body = api.as_user(reporter).get(f"complaints/{filed.reference}/").json()

    assert body["viewer"] == "reporter"
    assert body["assignee"] is None and body["narrative"] is None and body["subjects"] is None
    assert body["available_transitions"] == ["withdraw"]
    assert not _events("complaint.viewed", filed.reference)


def test_unauthenticated_reads_are_a_401(api: Api, filed: Any) -> None:
    assert api.get("complaints/").status_code == 401
    assert api.get(f"complaints/{filed.reference}/").status_code == 401


# --- Transitions -------------------------------------------------------------------------------

def _step(caller: Api, complaint: Any, name: str, body: Any = None) -> Any:
    return caller.post(f"complaints/{complaint.reference}/transitions/{name}/", body or {})


def test_a_transition_answers_with_the_new_state(api: Api, hr_reviewer: Any,
                                                  filed: Any) -> None:
    response = _step(api.as_user(hr_reviewer), filed, "acknowledge", {"reason": "On it."})

    assert response.status_code == 200
    assert response.json() == {"reference": filed.reference, "state": "acknowledged",
                               "withdrawal_requested": False,
                               "available_transitions": ["request_information",
                                                         "propose_dismissal"]}
    assert len(_events("complaint.acknowledged", filed.reference)) == 1


def test_a_transition_not_possible_now_is_a_409(api: Api, hr_lead: Any, filed: Any) -> None:
    caller = api.as_user(hr_lead)
    _step(caller, filed, "acknowledge")

    again = _step(caller, filed, "acknowledge")
    unknown = _step(caller, filed, "teleport")

    assert again.status_code == 409 and again.json()["state"] == "acknowledged"
    assert unknown.status_code == 409 and "detail" in unknown.json()


def test_a_transition_the_caller_may_not_take_is_a_403(api: Api, hr_reviewer: Any,
                                                       investigator: Any, filed: Any) -> None:
    caller = api.as_user(hr_reviewer)
    _step(caller, filed, "acknowledge")

    response = _step(caller, filed, "start_investigation", {"investigator": "investigator"})

    assert response.status_code == 403
    assert "detail" in response.json()
    assert Complaint.objects.get(pk=filed.pk).state == State.ACKNOWLEDGED


def test_a_reporter_may_not_take_a_handlers_step(api: Api, reporter: Any, filed: Any) -> None:
    assert _step(api.as_user(reporter), filed, "acknowledge").status_code == 403


@pytest.mark.parametrize(("name", "body", "fields"), [
    ("request_information", {}, {"reason"}),
    ("start_investigation", {}, {"investigator"}),
    ("start_investigation", {"investigator": "nobody"}, {"investigator"}),
    ("start_investigation", {"investigator": "\u00b2"}, {"investigator"}),
    ("start_investigation", {"investigator": "9" * 40}, {"investigator"}),
    ("propose_dismissal", {"reason": "x" * 10_001}, {"reason"}),
    ("propose_dismissal", {"reason": "No case.", "outcome": "substantiated"}, {"outcome"}),
    ("request_information", {"reason": 7}, {"reason"}),
    ("request_information", {"reason": "Why?", "when": "now"}, {"when"}),
])
def test_missing_or_bad_transition_fields_are_a_400(
        api: Api, hr_lead: Any, filed: Any, name: str, body: dict[str, Any],
        fields: set[str]) -> None:
    caller = api.as_user(hr_lead)
    _step(caller, filed, "acknowledge")

    response = _step(caller, filed, name, body)

    assert response.status_code == 400
    assert set(response.json()) == fields
    assert Complaint.objects.get(pk=filed.pk).state == State.ACKNOWLEDGED


def test_an_investigation_runs_through_the_api(api: Api, hr_lead: Any, hr_lead_2: Any,
                                               investigator: Any, filed: Any) -> None:
    lead, other = api.as_user(hr_lead), api.as_user(hr_lead_2)
    assert _step(lead, filed, "acknowledge").status_code == 200
    assert _step(lead, filed, "start_investigation",
                 {"investigator": "investigator", "reason": "Serious."}).status_code == 200
    findings = _step(api.as_user(investigator), filed, "record_findings",
                     {"outcome": "substantiated", "findings": "It happened.", "reason": ""})
    assert findings.status_code == 200
    assert _step(other, filed, "approve_findings").json()["state"] == "resolved"
    assert _step(lead, filed, "close").json()["state"] == "closed"


def test_compliance_answers_a_critical_withdrawal_request(api: Api, reporter: Any,
                                                          compliance: Any, org: Any) -> None:
    complaint = api.as_user(reporter).post(
        "complaints/", {**REPORT, "category": Category.VIOLENCE, "subjects": ["ACC1"]}).json()
    case = Complaint.objects.get(reference=complaint["reference"])
    assert case.severity == Severity.CRITICAL

    asked = _step(api.as_user(reporter), case, "withdraw", {"reason": "Scared."})
    officer = api.as_user(compliance)
    offered = officer.get(f"complaints/{case.reference}/").json()["available_transitions"]
    refused = _step(officer, case, "decline_withdrawal", {})
    declined = _step(officer, case, "decline_withdrawal", {"reason": "Too serious to drop."})

    assert (asked.status_code, asked.json()["state"]) == (200, "submitted")
    assert asked.json()["withdrawal_requested"] is True
    assert "decline_withdrawal" in offered and "withdraw" in offered
    assert refused.status_code == 400 and set(refused.json()) == {"reason"}
    assert declined.status_code == 200 and declined.json()["withdrawal_requested"] is False
    assert len(_events("complaint.withdrawal_declined", case.reference)) == 1


def test_decline_withdrawal_without_a_request_is_a_403(api: Api, compliance: Any,
                                                       filed: Any) -> None:
    response = _step(api.as_user(compliance), filed, "decline_withdrawal", {"reason": "No."})

    assert response.status_code == 403


# --- Messages ----------------------------------------------------------------------------------

def test_messages_go_both_ways(api: Api, reporter: Any, hr_lead: Any, filed: Any) -> None:
    staff, own = api.as_user(hr_lead), api.as_user(reporter)
    _step(staff, filed, "acknowledge")
    asked = _step(staff, filed, "request_information", {"reason": "When exactly?"})
    assert asked.json()["state"] == "awaiting_reporter"

    sent = own.post(f"complaints/{filed.reference}/messages/", {"body": "Last Tuesday."})
    answered = staff.post(f"complaints/{filed.reference}/messages/", {"body": "Thank you."})
    seen_by_staff = staff.get(f"complaints/{filed.reference}/messages/").json()
    seen_by_reporter = own.get(f"complaints/{filed.reference}/messages/").json()

    assert sent.status_code == 201 and sent.json()["from_reporter"] is True
    assert answered.status_code == 201 and answered.json()["author"] == "hr_lead"
    # The reporter's message answered the request for information, as on the web.
    assert Complaint.objects.get(pk=filed.pk).state == State.ACKNOWLEDGED
    assert [m["body"] for m in seen_by_staff["results"]] == ["Last Tuesday.", "Thank you."]
    assert [m["author"] for m in seen_by_staff["results"]] == [None, "hr_lead"]
    assert [m["author"] for m in seen_by_reporter["results"]] == [None, None]
    assert len(_events("message.sent", filed.reference)) == 2


@pytest.mark.parametrize(("body", "fields"), [
    ({}, {"body"}), ({"body": ""}, {"body"}), ({"body": ["x"]}, {"body"}),
    ({"body": "x" * 20_001}, {"body"}), ({"body": "hi", "to": "all"}, {"to"}),
])
def test_bad_messages_are_a_400(api: Api, reporter: Any, filed: Any, body: Any,
                                fields: set[str]) -> None:
    response = api.as_user(reporter).post(f"complaints/{filed.reference}/messages/", body)

    assert response.status_code == 400
    assert set(response.json()) == fields


def test_staff_who_may_not_see_a_case_cannot_write_on_it(api: Api, filed: Any) -> None:
    investigator = UserFactory(username="inv2", roles=[access.INVESTIGATOR])

    response = api.as_user(investigator).post(f"complaints/{filed.reference}/messages/",
                                              {"body": "Hello"})

    assert response.status_code == 404


def test_every_error_body_is_json(api: Api, hr_lead: Any, filed: Any) -> None:
    caller = api.as_user(hr_lead)
    for response in (caller.get("no/such/path/"), caller.post("complaints/", raw=b"{"),
                     caller.delete("complaints/"), _step(caller, filed, "close")):
        assert response.status_code >= 400
        assert response["Content-Type"] == "application/json"
        json.loads(response.content)
