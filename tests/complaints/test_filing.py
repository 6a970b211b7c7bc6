"""Filing, as cheap as it can be and no less careful.

A filing writes its conflicts in one statement (the management chain walked by the
database) and asks in one EXISTS whether any HR handler is clear; these tests hold the rows
it writes to what ``directory_conflicts`` derives (the rule the directory re-evaluation
uses), routing to its promise, and the statements a signed-in filing sends to the count it
was cut to.
"""

from __future__ import annotations

import json
import random
import re
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit.actions import Action
from audit.models import AuditEvent
from complaints import access
from complaints.models import Category, Complaint, Conflict, Person, Subject
from complaints.services import complaint_submit
from complaints.services.conflicts import MAX_CHAIN_DEPTH, directory_conflicts
from escalation.models import Deadline, Notification
from escalation.policy import Policies
from tests.factories import PersonFactory, UserFactory


def _file(reporter: Any, subjects: list[str], conflicted: list[str] | None = None,
          category: str = Category.BULLYING) -> Complaint:
    return complaint_submit(reporter=reporter, category=category, summary="Shouting",
                            narrative="My manager shouts at me.", subjects=subjects,
                            conflicted=conflicted or []).complaint


def _rows(complaint: Complaint) -> set[tuple[int, str]]:
    return set(Conflict.objects.filter(complaint=complaint).values_list("person_id", "source"))


def _directory_rows(complaint: Complaint) -> set[tuple[int, str]]:
    return set(directory_conflicts([complaint.pk])[complaint.pk].items())


def _account(person: Person, username: str, *role_names: str, active: bool = True) -> Any:
    user = UserFactory(username=username, roles=list(role_names), is_active=active)
    person.user = user
    person.save()
    return user


# --- The conflict rows -----------------------------------------------------------------------

def test_a_filing_keeps_the_subject_and_every_level_above_them_away(
        reporter: Any, org: dict[str, Any]) -> None:
    complaint = _file(reporter, [org["accused"].employee_id])
    assert _rows(complaint) == {(org["accused"].pk, "subject"), (org["manager"].pk, "chain"),
                                (org["vp"].pk, "chain"), (org["ceo"].pk, "chain")}
    assert _rows(complaint) == _directory_rows(complaint)


def test_a_subject_above_another_subject_stays_a_subject(reporter: Any,
                                                         org: dict[str, Any]) -> None:
    complaint = _file(reporter, [org["accused"].employee_id, org["vp"].employee_id],
                      conflicted=[org["manager"].employee_id, "PEER1"])
    assert _rows(complaint) == {
        (org["accused"].pk, "subject"), (org["vp"].pk, "subject"),
        (org["manager"].pk, "chain"), (org["ceo"].pk, "chain"),
        (org["manager"].pk, "named"), (org["peer"].pk, "named")}
    event = AuditEvent.objects.get(action=Action.COMPLAINT_SUBMITTED,
                                   target_id=complaint.reference)
    assert json.loads(event.payload)["named_conflicted"] == 2


def test_a_cycle_in_the_manager_data_ends(reporter: Any, db: None) -> None:
    first = PersonFactory(employee_id="LOOP1")
    second = PersonFactory(employee_id="LOOP2", manager=first)
    third = PersonFactory(employee_id="LOOP3", manager=second)
    first.manager = third
    first.save()
    complaint = _file(reporter, ["LOOP2"])
    assert _rows(complaint) == {(second.pk, "subject"), (first.pk, "chain"),
                                (third.pk, "chain")}
    assert _rows(complaint) == _directory_rows(complaint)


def test_a_chain_longer_than_the_walk_stops_where_the_directory_rule_stops(
        reporter: Any, db: None) -> None:
    top = PersonFactory(employee_id="L0")
    for level in range(1, MAX_CHAIN_DEPTH + 6):
        top = PersonFactory(employee_id=f"L{level}", manager=top)
    complaint = _file(reporter, [top.employee_id])
    assert len(_rows(complaint)) == MAX_CHAIN_DEPTH + 1
    assert _rows(complaint) == _directory_rows(complaint)


def test_named_people_alone_need_no_chain(reporter: Any, org: dict[str, Any]) -> None:
    complaint = _file(reporter, ["A visiting contractor"], conflicted=["MGR1"])
    assert _rows(complaint) == {(org["manager"].pk, "named")}
    assert Subject.objects.get(complaint=complaint).name_given == "A visiting contractor"


@pytest.mark.parametrize("seed", range(5))
def test_the_rows_match_the_directory_rule_on_a_random_org_with_loops(
        seed: int, reporter: Any, db: None) -> None:
    rng = random.Random(seed)
    people = [PersonFactory(employee_id=f"R{seed}-{i}") for i in range(40)]
    for i, person in enumerate(people[1:], start=1):
        # Mostly a tree; now and then a manager further down, which makes a loop.
        person.manager = people[rng.randrange(len(people) if rng.random() < 0.1 else i)]
        person.save()
    for _ in range(8):
        chosen = rng.sample(people, rng.randint(1, 4))
        complaint = _file(reporter, [p.employee_id for p in chosen])
        assert {(p, s) for p, s in _rows(complaint)} == _directory_rows(complaint)


# --- Routing ---------------------------------------------------------------------------------

def _routed(complaint: Complaint) -> bool:
    event = AuditEvent.objects.get(action=Action.COMPLAINT_SUBMITTED,
                                   target_id=complaint.reference)
    return json.loads(event.payload).get("routed_to") == "compliance"


def test_an_inactive_hr_handler_does_not_keep_a_case_from_compliance(
        reporter: Any, org: dict[str, Any]) -> None:
    _account(org["manager"], "hr_manager", access.HR_REVIEWER)
    UserFactory(username="hr_gone", roles=[access.HR_LEAD], is_active=False)
    officer = UserFactory(username="officer", roles=[access.COMPLIANCE_OFFICER])
    complaint = _file(reporter, ["ACC1"])
    assert _routed(complaint)
    assert Complaint.objects.get(pk=complaint.pk).assignee_id == officer.pk


def test_an_hr_handler_with_no_directory_entry_is_clear(reporter: Any,
                                                        org: dict[str, Any]) -> None:
    _account(org["manager"], "hr_manager", access.HR_REVIEWER)
    UserFactory(username="hr_unlisted", roles=[access.HR_LEAD])
    UserFactory(username="officer", roles=[access.COMPLIANCE_OFFICER])
    complaint = _file(reporter, ["ACC1"])
    assert not _routed(complaint)
    assert Complaint.objects.get(pk=complaint.pk).assignee_id is None


def test_the_reporter_does_not_count_as_a_clear_hr_handler(org: dict[str, Any]) -> None:
    _account(org["manager"], "hr_manager", access.HR_LEAD)
    hr_reporter = _account(org["peer"], "hr_reporter", access.HR_REVIEWER)
    officer = UserFactory(username="officer", roles=[access.COMPLIANCE_OFFICER])
    complaint = _file(hr_reporter, ["ACC1"])
    assert _routed(complaint)
    assert Complaint.objects.get(pk=complaint.pk).assignee_id == officer.pk
    # Anonymously, nobody is the reporter: the same reviewer is a clear handler.
    anonymous = complaint_submit(reporter=None, category=Category.BULLYING, summary="x",
                                 narrative="y", subjects=["ACC1"]).complaint
    assert not _routed(anonymous)


def test_an_hr_handler_the_reporter_names_is_conflicted(reporter: Any,
                                                        org: dict[str, Any]) -> None:
    named = _account(PersonFactory(employee_id="HRN1"), "hr_named", access.HR_REVIEWER)
    officer = UserFactory(username="officer", roles=[access.COMPLIANCE_OFFICER])
    complaint = _file(reporter, ["A visiting contractor"], conflicted=["HRN1"])
    assert _routed(complaint)
    complaint = Complaint.objects.get(pk=complaint.pk)
    assert complaint.assignee_id == officer.pk != named.pk
    assert Notification.objects.filter(complaint=complaint, recipient=officer,
                                       kind=Notification.Kind.ROUTED).exists()


def test_a_reference_already_taken_is_drawn_again(reporter: Any, org: dict[str, Any],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    taken = _file(reporter, ["ACC1"]).reference
    field = Complaint._meta.get_field("reference")
    monkeypatch.setattr(field, "default", lambda: taken)
    complaint = _file(reporter, ["ACC1"])
    assert complaint.reference != taken
    assert _rows(complaint) == _directory_rows(complaint)
    assert Deadline.objects.filter(complaint=complaint).count() == 1
    assert AuditEvent.objects.filter(action=Action.COMPLAINT_SUBMITTED,
                                     target_id=complaint.reference).count() == 1


# --- What a signed-in filing sends to the database -------------------------------------------

def _shape(sql: str) -> str:
    """The statement's kind and the tables it reads first or writes."""
    sql = re.sub(r"^\d+ times: ", "", sql.strip())  # how Django logs an executemany
    first = sql.split()[0].upper()
    if first in ("BEGIN", "COMMIT"):
        return first
    if first == "SELECT":
        if "FROM audit_append" in sql:
            return "SELECT audit_append"
        return "SELECT " + re.findall(r'FROM "?(\w+)"?', sql)[0]
    match = re.match(r'(UPDATE|INSERT INTO) "?(\w+)"?', sql)
    return f"{match.group(1)} {match.group(2)}" if match else sql[:40]


_FILING_WRITES = [
    "SELECT complaints_person",  # the form's people and the reporter's own entry
    "BEGIN",
    "INSERT INTO complaints_complaint",
    "INSERT INTO complaints_subject",
    "INSERT INTO escalation_deadline",
    "UPDATE complaints_complaint",  # its next due time
    "SELECT complaints_complaint",
    "SELECT complaints_person",  # the subjects' management chains
    "INSERT INTO complaints_conflict",
    "SELECT auth_user",  # is any HR handler clear?
]
FILING = {
    "postgresql": [*_FILING_WRITES, "SELECT audit_append", "COMMIT"],
    "sqlite": [*_FILING_WRITES, "SELECT audit_chainhead", "INSERT INTO audit_auditevent",
               "UPDATE audit_chainhead", "COMMIT"],
}


@pytest.fixture
def policies_read(db: None) -> None:
    """The deadline policies are read once a minute per process, not per filing."""
    Policies.forget()
    Policies.current()


def test_a_signed_in_filing_sends_a_fixed_set_of_statements(
        committed_db: None, org: dict[str, Any], reporter: Any, policies_read: None) -> None:
    UserFactory(username="clear_reviewer", roles=[access.HR_REVIEWER])
    with CaptureQueriesContext(connection) as captured:
        complaint = _file(reporter, ["ACC1"])
    assert [_shape(q["sql"]) for q in captured.captured_queries] == FILING[connection.vendor]
    # And it wrote everything a filing writes, in that one transaction.
    complaint = Complaint.objects.get(pk=complaint.pk)
    assert complaint.reporter_person == org["peer"]
    assert Subject.objects.get(complaint=complaint).person == org["accused"]
    assert Deadline.objects.get(complaint=complaint).kind == "acknowledge"
    assert len(_rows(complaint)) == 4
    assert AuditEvent.objects.filter(action=Action.COMPLAINT_SUBMITTED,
                                     target_id=complaint.reference).count() == 1


def test_a_signed_in_filing_through_the_form_adds_only_the_session_and_the_user(
        committed_db: None, org: dict[str, Any], reporter: Any, policies_read: None,
        client: Any) -> None:
    # The session, the user, then the filing above; the answer is a redirect, not a page.
    UserFactory(username="clear_reviewer", roles=[access.HR_REVIEWER])
    client.force_login(reporter)
    with CaptureQueriesContext(connection) as captured:
        response = client.post("/report/", {
            "category": "bullying", "summary": "Shouting", "narrative": "It happened.",
            "subjects": "ACC1", "conflicted": "", "occurred_at": "", "location": ""})
    assert response.status_code == 302
    assert response["Location"].startswith("/my/MC-")
    shapes = [_shape(q["sql"]) for q in captured.captured_queries]
    assert shapes == ["SELECT django_session", "SELECT auth_user", *FILING[connection.vendor]]
