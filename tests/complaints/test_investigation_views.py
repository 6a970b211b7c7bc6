"""The investigation workspace and internal notes through the web: the investigator plans,
interviews and records evidence and findings; a second person approves; everyone else is
kept out; every step is on the record and no typed word is lost on an error."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from audit.actions import Action
from audit.models import AuditEvent
from complaints.models import CaseNote, Complaint, Interview, Outcome
from tests.complaints.lifecycle import drive


@pytest.fixture
def people(reporter: Any, hr_reviewer: Any, hr_lead: Any, hr_lead_2: Any,
           investigator: Any) -> dict[str, Any]:
    return {"reporter": reporter, "hr_reviewer": hr_reviewer, "hr_lead": hr_lead,
            "hr_lead_2": hr_lead_2, "investigator": investigator}


@pytest.fixture
def investigating(filed: Complaint, people: dict[str, Any]) -> Complaint:
    return drive(filed, "investigating", people)


def _as(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _last() -> AuditEvent:
    event = AuditEvent.objects.order_by("-seq").first()
    assert event is not None
    return event


def test_the_investigator_works_the_case_and_a_second_person_approves(
        investigating: Complaint, people: dict[str, Any]) -> None:
    ref = investigating.reference
    base = f"/staff/cases/{ref}/investigation/"
    me = _as(people["investigator"])

    page = me.get(base)
    assert page.status_code == 200
    assert _last().action == Action.COMPLAINT_VIEWED
    assert json.loads(_last().payload)["via"] == "web:investigation"

    assert me.post(base + "plan/", {"plan": "1. Talk to the peer\n2. Get the recording"}
                   ).status_code == 302
    assert _last().action == Action.INVESTIGATION_PLAN_UPDATED
    assert "recording" not in _last().payload

    answer = me.post(base + "interviews/", {
        "interviewee_employee_id": "PEER1", "held_at": "2026-01-05T10:30",
        "notes": "Confirms the shouting in the Monday meeting."}, follow=True)
    assert answer.status_code == 200
    assert "Confirms the shouting" in answer.content.decode()
    assert "Reporter Person (PEER1)" in answer.content.decode()
    recorded, shown = AuditEvent.objects.order_by("-seq")[:2][::-1]
    assert (recorded.action, shown.action) == (Action.INVESTIGATION_INTERVIEW_RECORDED,
                                               Action.COMPLAINT_VIEWED)
    assert Interview.objects.get().held_at.year == 2026

    assert me.post(base + "evidence/", {"description": "Meeting recording, 3 March"}
                   ).status_code == 302
    assert _last().action == Action.INVESTIGATION_EVIDENCE_RECORDED

    done = me.post(f"/staff/cases/{ref}/transitions/record_findings/", {
        "next": "investigation", "outcome": Outcome.SUBSTANTIATED,
        "findings": "It happened, twice.", "recommended_actions": "Training and a warning."})
    assert done.status_code == 302 and done["Location"] == base
    page = me.get(base).content.decode()
    assert "Training and a warning." in page
    assert "Waiting for a second person" in page
    # The investigator cannot approve their own findings: no button for it.
    assert "/transitions/approve_findings/" not in page

    lead = _as(people["hr_lead"])
    page = lead.get(base).content.decode()
    assert "/transitions/approve_findings/" in page
    assert "Save the plan" not in page  # only the investigator works the investigation
    assert lead.post(f"/staff/cases/{ref}/transitions/approve_findings/",
                     {"next": "investigation"}).status_code == 302
    page = lead.get(base).content.decode()
    assert "Approved by hr_lead" in page
    assert Complaint.objects.get(pk=investigating.pk).state == "resolved"


def test_an_interview_with_a_mistake_keeps_everything_typed(
        investigating: Complaint, people: dict[str, Any]) -> None:
    me = _as(people["investigator"])
    url = f"/staff/cases/{investigating.reference}/investigation/interviews/"
    answer = me.post(url, {"interviewee_employee_id": "NOBODY", "interviewee_name": "",
                           "notes": "Long careful notes about the meeting."})
    assert answer.status_code == 400
    body = answer.content.decode()
    assert "No one in the directory has this id." in body
    assert "Long careful notes about the meeting." in body and 'value="NOBODY"' in body

    tomorrow = (timezone.localtime() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    answer = me.post(url, {"interviewee_name": "A contractor", "held_at": tomorrow,
                           "notes": "Notes"})
    assert answer.status_code == 400
    assert "cannot be recorded before it is held" in answer.content.decode()

    answer = me.post(url, {"interviewee_name": "A contractor", "notes": " "})
    assert answer.status_code == 400 and 'value="A contractor"' in answer.content.decode()
    assert not Interview.objects.exists()


def test_findings_without_text_are_asked_for_again_on_the_investigation_page(
        investigating: Complaint, people: dict[str, Any]) -> None:
    me = _as(people["investigator"])
    answer = me.post(f"/staff/cases/{investigating.reference}/transitions/record_findings/", {
        "next": "investigation", "outcome": Outcome.INCONCLUSIVE, "findings": "",
        "recommended_actions": "Mediation"})
    assert answer.status_code == 400
    body = answer.content.decode()
    assert "Investigation of case" in body and "Write the findings." in body
    assert "Mediation" in body
    assert Complaint.objects.get(pk=investigating.pk).state == "investigating"


@pytest.mark.parametrize("who", ["hr_reviewer", "outsider", "conflicted", "other_investigator"])
def test_people_without_need_to_know_do_not_find_the_investigation(
        investigating: Complaint, people: dict[str, Any], who: str, outsider: Any,
        conflicted: Any) -> None:
    from tests.factories import UserFactory

    users = {"hr_reviewer": people["hr_reviewer"], "outsider": outsider,
             "conflicted": conflicted,
             "other_investigator": UserFactory(username="inv2", roles=["investigator"])}
    client = _as(users[who])
    base = f"/staff/cases/{investigating.reference}/investigation/"
    assert client.get(base).status_code == 404
    assert client.post(base + "evidence/", {"description": "x"}).status_code == 404
    assert not Complaint.objects.get(pk=investigating.pk).investigation.evidence.exists()


def test_a_case_without_an_investigation_has_no_workspace(filed: Complaint,
                                                          hr_lead: Any) -> None:
    assert _as(hr_lead).get(f"/staff/cases/{filed.reference}/investigation/").status_code == 404


def test_internal_notes_are_for_staff_and_on_the_record_without_their_words(
        filed: Complaint, people: dict[str, Any]) -> None:
    ref = filed.reference
    staff = _as(people["hr_reviewer"])
    assert staff.post(f"/staff/cases/{ref}/notes/",
                      {"body": "Called the reporter's manager's office: not yet."}
                      ).status_code == 302
    event = _last()
    assert event.action == Action.COMPLAINT_NOTE_ADDED
    assert "manager" not in event.payload
    note = CaseNote.objects.get(kind=CaseNote.Kind.INTERNAL)
    assert json.loads(event.payload)["note"] == note.pk
    assert "not yet." in staff.get(f"/staff/cases/{ref}/").content.decode()
    # The reporter's own page never shows it.
    reporter_page = _as(people["reporter"]).get(f"/my/{ref}/").content.decode()
    assert "not yet." not in reporter_page

    empty = staff.post(f"/staff/cases/{ref}/notes/", {"body": "  "})
    assert empty.status_code == 400
    assert CaseNote.objects.filter(kind=CaseNote.Kind.INTERNAL).count() == 1


def test_the_case_page_shows_time_left_and_overdue(filed: Complaint, hr_reviewer: Any) -> None:
    from complaints.services.next_due import next_due_refresh
    from escalation.models import Deadline

    page = _as(hr_reviewer).get(f"/staff/cases/{filed.reference}/").content.decode()
    assert "overdue" not in page
    Deadline.objects.filter(complaint=filed).update(due_at=timezone.now() - timedelta(hours=5))
    next_due_refresh([filed.pk])
    page = _as(hr_reviewer).get(f"/staff/cases/{filed.reference}/").content.decode()
    assert "overdue by 5" in page


def test_the_investigation_page_costs_the_same_queries_however_long_the_file(
        investigating: Complaint, people: dict[str, Any]) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from complaints.services.investigation import (
        investigation_record_evidence,
        investigation_record_interview,
    )

    me = _as(people["investigator"])
    url = f"/staff/cases/{investigating.reference}/investigation/"

    def cost() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert me.get(url).status_code == 200
        return len(captured)

    investigation_record_interview(complaint=investigating, actor=people["investigator"],
                                   notes="first", interviewee_employee_id="PEER1")
    one = cost()
    for i in range(6):
        investigation_record_interview(complaint=investigating, actor=people["investigator"],
                                       notes=f"n{i}", interviewee_name=f"Person {i}")
        investigation_record_evidence(complaint=investigating, actor=people["investigator"],
                                      description=f"e{i}")
    assert cost() == one
