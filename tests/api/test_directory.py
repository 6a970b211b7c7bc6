"""PUT directory/people/{employee_id}/: the HR system's sync, idempotent, re-evaluating
conflicts when a manager changes."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Permission

from audit.models import AuditEvent
from complaints.models import Conflict, Person
from tests.api.conftest import Api
from tests.factories import UserFactory

ADA = {"name": "Ada Lovelace", "email": "Ada@Example.com", "department": "Engineering",
       "manager_employee_id": "CEO1"}


def _synced() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action="directory.person_synced"))


def test_a_new_person_is_201_and_the_same_put_again_changes_nothing(
        api: Api, hr_lead: Any, org: Any) -> None:
    caller = api.as_user(hr_lead)

    created = caller.put("directory/people/E900/", ADA)
    again = caller.put("directory/people/E900/", ADA)

    assert created.status_code == 201
    assert created.json() == {"employee_id": "E900", "name": "Ada Lovelace",
                              "email": "ada@example.com", "department": "Engineering",
                              "manager_employee_id": "CEO1"}
    assert again.status_code == 200 and again.json() == created.json()
    assert len(_synced()) == 1
    assert '"created":true' in _synced()[0].payload


def test_an_update_is_200_and_audits_what_changed(api: Api, compliance: Any, org: Any) -> None:
    caller = api.as_user(compliance)
    caller.put("directory/people/E900/", ADA)

    response = caller.put("directory/people/E900/", {**ADA, "department": "Research",
                                                     "manager_employee_id": None})

    assert response.status_code == 200
    person = Person.objects.get(employee_id="E900")
    assert (person.department, person.manager) == ("Research", None)
    assert '"changed":["department","manager"]' in _synced()[-1].payload
    assert "Research" not in _synced()[-1].payload


def test_a_new_manager_above_the_accused_is_conflicted_from_then_on(
        api: Api, compliance: Any, hr_lead: Any, filed: Any, org: Any) -> None:
    boss = Person.objects.create(employee_id="BOSS", name="New Boss", user=hr_lead)
    lead = api.as_user(hr_lead)
    assert lead.get(f"complaints/{filed.reference}/").status_code == 200

    response = api.as_user(compliance).put("directory/people/ACC1/", {
        "name": "Accused Person", "email": org["accused"].email,
        "department": org["accused"].department, "manager_employee_id": "BOSS"})

    assert response.status_code == 200
    assert Conflict.objects.filter(complaint=filed, person=boss).exists()
    assert lead.get(f"complaints/{filed.reference}/").status_code == 404
    assert '"cases_reevaluated":1' in _synced()[-1].payload
    assert AuditEvent.objects.filter(action="complaint.conflicts_changed",
                                     target_id=filed.reference).exists()


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
def test_bad_people_are_a_400_field_by_field(api: Api, hr_lead: Any, org: Any, path: str,
                                             body: dict[str, Any], fields: set[str]) -> None:
    before = list(Person.objects.values_list("employee_id", "manager_id").order_by("pk"))

    response = api.as_user(hr_lead).put(f"directory/people/{path}/", body)

    assert response.status_code == 400
    assert set(response.json()) == fields
    assert list(Person.objects.values_list("employee_id", "manager_id").order_by("pk")) == before


def test_only_hr_leads_compliance_or_a_sync_account_may_write(api: Api, hr_reviewer: Any,
                                                              org: Any) -> None:
    sync = UserFactory(username="hr-system")
    sync.user_permissions.add(Permission.objects.get(codename="sync_directory"))

    assert api.put("directory/people/E900/", ADA).status_code == 401
    assert api.as_user(hr_reviewer).put("directory/people/E900/", ADA).status_code == 403
    assert api.as_user(sync).put("directory/people/E900/", ADA).status_code == 201


def test_a_person_is_linked_to_the_account_with_their_email(api: Api, hr_lead: Any,
                                                            org: Any) -> None:
    account = UserFactory(username="ada", email="ada@example.com")

    api.as_user(hr_lead).put("directory/people/E900/", ADA)

    assert Person.objects.get(employee_id="E900").user == account
