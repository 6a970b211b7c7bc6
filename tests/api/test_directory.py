"""PUT directory/people/{employee_id}/: the HR system's sync (the directory_sync account
only), idempotent, adding conflicts when a manager changes and never removing one."""

from __future__ import annotations

import json
from typing import Any

import pytest

from audit.models import AuditEvent
from complaints import access
from complaints.models import Complaint, Conflict, Person
from tests.api.conftest import Api
from tests.factories import UserFactory

ADA = {"name": "Ada Lovelace", "email": "Ada@Example.com", "department": "Engineering",
       "manager_employee_id": "CEO1"}


def _synced() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action="directory.person_synced"))


def test_a_new_person_is_201_and_the_same_put_again_changes_nothing(
        api: Api, directory_sync: Any, org: Any) -> None:
    caller = api.as_user(directory_sync)

    created = caller.put("directory/people/E900/", ADA)
    again = caller.put("directory/people/E900/", ADA)

    assert created.status_code == 201
    assert created.json() == {"employee_id": "E900", "name": "Ada Lovelace",
                              "email": "ada@example.com", "department": "Engineering",
                              "manager_employee_id": "CEO1"}
    assert again.status_code == 200 and again.json() == created.json()
    assert len(_synced()) == 1
    assert '"created":true' in _synced()[0].payload


def test_an_update_is_200_and_audits_what_changed(api: Api, directory_sync: Any,
                                                  org: Any) -> None:
    caller = api.as_user(directory_sync)
    caller.put("directory/people/E900/", ADA)

    response = caller.put("directory/people/E900/", {**ADA, "department": "Research",
                                                     "manager_employee_id": None})

    assert response.status_code == 200
    person = Person.objects.get(employee_id="E900")
    assert (person.department, person.manager) == ("Research", None)
    assert '"changed":["department","manager"]' in _synced()[-1].payload
    assert "Research" not in _synced()[-1].payload


def test_a_new_manager_above_the_accused_is_conflicted_from_then_on(
        api: Api, directory_sync: Any, hr_lead: Any, filed: Any, org: Any) -> None:
    boss = Person.objects.create(employee_id="BOSS", name="New Boss", user=hr_lead)
    lead = api.as_user(hr_lead)
    assert lead.get(f"complaints/{filed.reference}/").status_code == 200

    response = api.as_user(directory_sync).put("directory/people/ACC1/", {
        "name": "Accused Person", "email": org["accused"].email,
        "department": org["accused"].department, "manager_employee_id": "BOSS"})

    assert response.status_code == 200
    assert Conflict.objects.filter(complaint=filed, person=boss).exists()
    assert lead.get(f"complaints/{filed.reference}/").status_code == 404
    # The sync's own event counts no cases: every reader of the log sees it.
    assert json.loads(_synced()[-1].payload) == {"changed": ["manager"], "created": False,
                                                 "linked": 0}
    changed = AuditEvent.objects.get(action="complaint.conflicts_changed",
                                     target_id=filed.reference)
    assert json.loads(changed.payload) == {
        "added": [{"person": boss.pk, "source": "chain"}], "removed": [],
        "handlers_removed": {}}


@pytest.mark.parametrize(("path", "body", "fields"), [
    ("E900", {**ADA, "manager_employee_id": "NOBODY"}, {"manager_employee_id"}),
    ("E900", {**ADA, "manager_employee_id": "E900"}, {"manager_employee_id"}),
    ("CEO1", {**ADA, "manager_employee_id": "ACC1"}, {"manager_employee_id"}),
    ("E900", {**ADA, "email": "not an email"}, {"email"}),
    ("E900", {**ADA, "name": ""}, {"name"}),
    ("E900", {**ADA, "name": "x" * 201}, {"name"}),
    ("E" * 65, ADA, {"employee_id"}),
    ("E%00", ADA, {"employee_id"}),
    ("E900", {"email": "a@example.com"}, {"name"}),
    ("E900", {**ADA, "role": "ceo"}, {"role"}),
    ("E900", {**ADA, "department": 3}, {"department"}),
])
def test_bad_people_are_a_400_field_by_field(api: Api, directory_sync: Any, org: Any,
                                             path: str, body: dict[str, Any],
                                             fields: set[str]) -> None:
    before = list(Person.objects.values_list("employee_id", "manager_id").order_by("pk"))

    response = api.as_user(directory_sync).put(f"directory/people/{path}/", body)

    assert response.status_code == 400
    assert set(response.json()) == fields
    assert list(Person.objects.values_list("employee_id", "manager_id").order_by("pk")) == before


@pytest.mark.parametrize("role", access.ALL_ROLES)
def test_no_staff_role_may_write_the_directory_only_the_sync_account(
        api: Api, directory_sync: Any, org: Any, role: str) -> None:
    staff = UserFactory(username=f"staff_{role}", roles=[role])

    assert api.put("directory/people/E900/", ADA).status_code == 401
    assert api.as_user(staff).put("directory/people/E900/", ADA).status_code == 403
    assert not Person.objects.filter(employee_id="E900").exists()
    assert api.as_user(directory_sync).put("directory/people/E900/", ADA).status_code == 201


def test_the_sync_account_reaches_nothing_but_the_directory(
        api: Api, directory_sync: Any, filed: Any, client: Any) -> None:
    sync = api.as_user(directory_sync)

    assert sync.get(f"complaints/{filed.reference}/").status_code == 404
    assert sync.get("complaints/").json().get("results", []) == []
    assert sync.post(f"complaints/{filed.reference}/transitions/acknowledge/",
                     {}).status_code in (403, 404)
    assert sync.get("audit/events/").status_code == 403
    client.force_login(directory_sync)
    assert client.get("/staff/").status_code == 404
    assert client.get(f"/staff/cases/{filed.reference}/").status_code == 404


def test_an_hr_lead_above_the_accused_cannot_move_the_accused_away_to_read_the_case(
        api: Api, directory_sync: Any, filed: Any, org: Any) -> None:
    """The insider attack: the accused's own manager, an hr_lead, reparents the accused
    so that his conflict disappears, reads the narrative, and puts the manager back."""
    lead = UserFactory(username="line_manager", roles=[access.HR_LEAD])
    org["manager"].user = lead
    org["manager"].save()
    caller = api.as_user(lead)
    assert caller.get(f"complaints/{filed.reference}/").status_code == 404
    move = {"name": "Accused Person", "email": org["accused"].email,
            "department": org["accused"].department, "manager_employee_id": "CEO1"}

    assert caller.put("directory/people/ACC1/", move).status_code == 403
    assert Person.objects.get(employee_id="ACC1").manager == org["manager"]
    # Even the HR system's own move leaves him conflicted: conflicts only grow.
    assert api.as_user(directory_sync).put("directory/people/ACC1/", move).status_code == 200
    assert Person.objects.get(employee_id="ACC1").manager == org["ceo"]
    assert caller.get(f"complaints/{filed.reference}/").status_code == 404
    assert Conflict.objects.filter(complaint=filed, person=org["manager"],
                                   removed_at=None).exists()
    assert not AuditEvent.objects.filter(action="complaint.viewed", actor_id=str(lead.pk),
                                         target_id=filed.reference).exists()
    assert Complaint.objects.get(pk=filed.pk).conflicts.count() == 4


def test_a_person_is_linked_to_the_account_with_their_email(api: Api, directory_sync: Any,
                                                            org: Any) -> None:
    account = UserFactory(username="ada", email="ada@example.com")

    api.as_user(directory_sync).put("directory/people/E900/", ADA)

    assert Person.objects.get(employee_id="E900").user == account


# --- Nobody is left to free a case: refused ---------------------------------------------------


def _linked(eid: str, username: str, role: str, manager: Any = None) -> tuple[Any, Person]:
    person = Person.objects.create(employee_id=eid, name=username, manager=manager,
                                   email=f"{username}@example.com")
    user = UserFactory(username=username, email=person.email, roles=[role])
    person.refresh_from_db()
    assert person.user == user
    return user, person


def _put(api: Api, sync: Any, person: Person, manager: str) -> Any:
    return api.as_user(sync).put(f"directory/people/{person.employee_id}/", {
        "name": person.name, "email": person.email, "department": person.department,
        "manager_employee_id": manager})


def test_stacking_every_senior_above_the_accused_is_refused_and_recorded(
        api: Api, directory_sync: Any, filed: Any, org: Any) -> None:
    """The burial: put the compliance officer, an hr_lead and the audit committee above
    the accused's manager, so that everyone who could escalate to the case or remove a
    conflict on it is conflicted for good. The last move is refused whole."""
    ac, ac_person = _linked("A1", "ac1", access.AUDIT_COMMITTEE)
    comp, comp_person = _linked("C1", "comp1", access.COMPLIANCE_OFFICER)
    lead, lead_person = _linked("L1", "lead1", access.HR_LEAD)
    assert _put(api, directory_sync, comp_person, "A1").status_code == 200
    assert _put(api, directory_sync, lead_person, "C1").status_code == 200
    before = AuditEvent.objects.count()

    response = _put(api, directory_sync, org["manager"], "L1")

    assert response.status_code == 400
    assert list(response.json()) == ["manager_employee_id"]
    assert "no audit committee member or compliance officer who is not conflicted" in (
        response.json()["manager_employee_id"][0])
    assert Person.objects.get(employee_id="MGR1").manager == org["vp"]
    assert not Conflict.objects.filter(complaint=filed,
                                       person__in=[ac_person, comp_person, lead_person]).exists()
    assert api.as_user(comp).get(f"complaints/{filed.reference}/").status_code == 200
    refused = AuditEvent.objects.filter(seq__gt=before).exclude(
        action__in=["api.token_issued", "complaint.viewed"]).get()
    assert (refused.action, refused.actor_id, refused.target_type, refused.target_id) == (
        "directory.change_refused", str(directory_sync.pk), "complaint", filed.reference)
    assert json.loads(refused.payload) == {
        "people": ["MGR1"], "roles": ["audit_committee", "compliance_officer"]}


def test_a_move_that_leaves_another_compliance_officer_free_goes_through(
        api: Api, directory_sync: Any, filed: Any, org: Any, compliance: Any) -> None:
    comp, comp_person = _linked("C1", "comp1", access.COMPLIANCE_OFFICER)
    _linked("A1", "ac1", access.AUDIT_COMMITTEE)

    response = _put(api, directory_sync, org["manager"], "C1")

    assert response.status_code == 200
    assert Conflict.objects.filter(complaint=filed, person=comp_person).exists()
    assert api.as_user(compliance).get(f"complaints/{filed.reference}/").status_code == 200
    assert not AuditEvent.objects.filter(action="directory.change_refused").exists()


def test_linking_the_last_free_compliance_officer_to_a_conflicted_person_is_refused(
        api: Api, directory_sync: Any, filed: Any, org: Any) -> None:
    """The directory gives the accused's manager the compliance officer's address: linking
    that account would make the only compliance officer conflicted."""
    comp = UserFactory(username="comp1", email="comp1@example.com",
                       roles=[access.COMPLIANCE_OFFICER])
    manager = org["manager"]

    response = api.as_user(directory_sync).put("directory/people/MGR1/", {
        "name": manager.name, "email": "comp1@example.com", "department": manager.department,
        "manager_employee_id": "VP1"})

    assert response.status_code == 400
    assert list(response.json()) == ["email"]
    assert Person.objects.get(employee_id="MGR1").user is None
    assert api.as_user(comp).get(f"complaints/{filed.reference}/").status_code == 200
    assert AuditEvent.objects.filter(action="directory.change_refused",
                                     target_id=filed.reference).count() == 1


def test_an_account_linked_by_the_sync_is_on_the_record_and_taken_off_its_cases(
        api: Api, directory_sync: Any, filed: Any, org: Any, hr_lead: Any) -> None:
    """The sync's own link is audited, and an assignee it reveals as conflicted (here the
    accused's manager) is taken off the case."""
    Complaint.objects.filter(pk=filed.pk).update(assignee=hr_lead)
    manager = org["manager"]

    response = api.as_user(directory_sync).put("directory/people/MGR1/", {
        "name": manager.name, "email": hr_lead.email, "department": manager.department,
        "manager_employee_id": "VP1"})

    assert response.status_code == 200
    assert Person.objects.get(employee_id="MGR1").user == hr_lead
    linked = AuditEvent.objects.get(action="directory.account_linked", target_id="MGR1")
    assert (linked.actor_id, linked.target_id, json.loads(linked.payload)) == (
        str(directory_sync.pk), "MGR1", {"user": hr_lead.pk})
    assert Complaint.objects.get(pk=filed.pk).assignee is None
    changed = AuditEvent.objects.get(action="complaint.conflicts_changed",
                                     target_id=filed.reference)
    assert json.loads(changed.payload)["handlers_removed"] == {"assignee": hr_lead.pk}
