"""PUT directory/people/{employee_id}/: the HR system's sync (the directory_sync account
only), idempotent, adding conflicts when a manager changes and never removing one."""

from __future__ import annotations

import json
from typing import Any

import pytest

from audit.models import AuditEvent
from complaints import roles
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
    assert '"cases_reevaluated":1' in _synced()[-1].payload
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


@pytest.mark.parametrize("role", roles.ALL_ROLES)
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
    lead = UserFactory(username="line_manager", roles=[roles.HR_LEAD])
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
