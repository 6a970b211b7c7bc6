"""A statement with more parameters than PostgreSQL's wire protocol carries (65,535)
still runs: Django's client-side binding composes it."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from audit.models import AuditEvent
from complaints.models import Person

pytestmark = [pytest.mark.services, pytest.mark.django_db]

# The protocol counts a statement's parameters in 16 bits.
MANY = 65_535 + 5_000


def test_an_in_list_longer_than_the_protocol_carries_still_runs() -> None:
    Person.objects.bulk_create(Person(employee_id=f"P{i}", name=f"P{i}") for i in range(3))
    pks = list(Person.objects.values_list("pk", flat=True))
    wanted = [*pks, *range(10**9, 10**9 + MANY)]
    assert Person.objects.filter(pk__in=wanted).count() == 3
    assert set(Person.objects.in_bulk(wanted)) == set(pks)


def test_a_bulk_update_with_more_values_than_the_protocol_carries_still_runs() -> None:
    # Django sends one UPDATE for the whole list on PostgreSQL (a CASE of the id and the
    # new value for each row, and the ids again in an IN list): three values a row.
    people = Person.objects.bulk_create(Person(employee_id=f"B{i}", name="B")
                                        for i in range(MANY // 3 + 1))
    for person in people:
        person.name = "C"
    Person.objects.bulk_update(people, ["name"])
    assert Person.objects.filter(name="C").count() == len(people)


def test_a_directory_of_seventy_thousand_people_imports_and_reorganises(tmp_path) -> None:
    header = "employee_id,name,email,department,manager_employee_id\n"
    people = MANY

    def run(boss: str) -> str:
        path = tmp_path / "people.csv"
        path.write_text(header + "E0,Chief,,Board,\nE1,Deputy,,Board,\n" + "".join(
            f"X{i},Person {i},,Ops,{boss}\n" for i in range(people)))
        out = io.StringIO()
        call_command("import_directory", str(path), stdout=out, stderr=io.StringIO())
        return out.getvalue()

    assert run("E0").startswith(f"{people + 2} created")
    run("E1")  # every one of them moves to a new manager
    assert Person.objects.filter(manager__employee_id="E1").count() == people
    assert AuditEvent.objects.filter(action="directory.imported").count() == 2
