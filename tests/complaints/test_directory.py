from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from audit.models import AuditEvent
from complaints import access
from complaints.models import Conflict, Person
from complaints.services.directory import DirectoryImportError, directory_import
from tests.factories import UserFactory

HEADER = "employee_id,name,email,department,manager_employee_id\n"


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "people.csv"
    path.write_text(HEADER + body)
    return path


def run(path: Path) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("import_directory", str(path), stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.mark.django_db
def test_import_creates_people_with_their_managers_in_any_order(tmp_path: Path) -> None:
    out, _ = run(write(tmp_path, "E3,Cai Wen,cai@example.com,Sales,E2\n"
                                 "E2,Bo Li,bo@example.com,Sales,E1\n"
                                 "E1,An Zhou,an@example.com,Board,\n"))
    assert out.startswith("3 created")
    assert Person.objects.get(employee_id="E3").manager.manager.employee_id == "E1"
    event = AuditEvent.objects.get(action="directory.imported")
    assert json.loads(event.payload)["created"] == 3


@pytest.mark.django_db
def test_a_second_import_updates_and_moves_people(tmp_path: Path) -> None:
    run(write(tmp_path, "E1,An,an@example.com,Board,\nE2,Bo,bo@example.com,Sales,E1\n"
                        "E3,Cai,cai@example.com,Sales,E2\n"))
    out, _ = run(write(tmp_path, "E1,An,an@example.com,Board,\nE2,Bo Li,bo@example.com,Sales,E1\n"
                                 "E3,Cai,cai@example.com,Sales,E1\n"))
    assert out.startswith("0 created, 1 updated")
    assert Person.objects.get(employee_id="E2").name == "Bo Li"
    assert Person.objects.get(employee_id="E3").manager.employee_id == "E1"


@pytest.mark.django_db
def test_a_second_import_can_leave_someone_without_a_manager(tmp_path: Path) -> None:
    run(write(tmp_path, "E1,An,an@example.com,Board,\nE2,Bo,bo@example.com,Sales,E1\n"))
    run(write(tmp_path, "E1,An,an@example.com,Board,\nE2,Bo,bo@example.com,Sales,\n"))
    assert Person.objects.get(employee_id="E2").manager_id is None


@pytest.mark.django_db
def test_bad_lines_are_reported_by_number_and_nothing_is_imported(tmp_path: Path) -> None:
    path = write(tmp_path, "E1,An,an@example.com,Board,\n"
                           ",Nobody,x@example.com,Sales,E1\n"
                           "E2,Bo,not-an-email,Sales,E9\n"
                           "E1,An again,an2@example.com,Board,\n")
    err = io.StringIO()
    with pytest.raises(CommandError, match="nothing was imported"):
        call_command("import_directory", str(path), stdout=io.StringIO(), stderr=err)
    lines = err.getvalue()
    assert "line 3: employee_id is empty" in lines
    assert "line 4: E2: email 'not-an-email' is not an email address" in lines
    assert "line 4: E2: manager E9 is not in the directory" in lines
    assert "line 5: employee_id E1 already appears on line 2" in lines
    assert not Person.objects.exists()
    assert not AuditEvent.objects.exists()


@pytest.mark.django_db
def test_a_management_loop_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "E1,An,,Board,E3\nE2,Bo,,Sales,E1\nE3,Cai,,Sales,E2\n")
    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command("import_directory", str(path), stdout=io.StringIO(), stderr=err)
    assert "loops" in err.getvalue()
    assert not Person.objects.exists()


@pytest.mark.django_db
def test_a_missing_column_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    path.write_text("employee_id,name\nE1,An\n")
    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command("import_directory", str(path), stdout=io.StringIO(), stderr=err)
    assert "line 1: the header lacks column(s): email, department, manager_employee_id" in (
        err.getvalue())


@pytest.mark.django_db
def test_accounts_and_people_are_linked_by_email_whichever_comes_first(tmp_path: Path) -> None:
    early = UserFactory(username="early", email="An@Example.com")
    run(write(tmp_path, "E1,An,an@example.com,Board,\nE2,Bo,bo@example.com,Sales,E1\n"))
    assert Person.objects.get(employee_id="E1").user == early
    late: Any = UserFactory(username="late", email="BO@example.com")
    assert Person.objects.get(employee_id="E2").user == late
    # Both links are on the record: the import's (an account that came first) and the one
    # made when the account was created.
    linked = AuditEvent.objects.filter(action="directory.account_linked").order_by("seq")
    assert [(e.target_id, e.payload) for e in linked] == [
        ("E1", f'{{"user":{early.pk}}}'), ("E2", f'{{"user":{late.pk}}}')]


def test_an_import_that_would_bury_a_case_is_refused_whole_naming_its_lines(
        tmp_path: Path, filed: Any, org: Any) -> None:
    """Every compliance officer and audit committee member put above the accused by one
    file: nothing is written, the lines that do it are named, the refusal is recorded."""
    for eid, username, role in (("C1", "comp1", access.COMPLIANCE_OFFICER),
                                ("A1", "ac1", access.AUDIT_COMMITTEE)):
        Person.objects.create(employee_id=eid, name=username, email=f"{username}@example.com")
        UserFactory(username=username, email=f"{username}@example.com", roles=[role])
    before = list(Person.objects.values_list("employee_id", "manager_id").order_by("pk"))
    path = write(tmp_path, "E9,Nine,nine@example.com,Ops,\n"
                           "C1,comp1,comp1@example.com,Ops,A1\n"
                           "MGR1,Line Manager,mgr1@example.com,Ops,C1\n")

    with pytest.raises(DirectoryImportError) as refused:
        directory_import(text=path.read_text())

    # C1's line puts the committee member above the compliance officer, MGR1's puts both
    # above the accused: each is part of it; line 2 is not.
    assert [line for line, _ in refused.value.errors] == [3, 4]
    assert refused.value.errors[1][1].startswith("MGR1: this change would leave an open case")
    assert list(Person.objects.values_list("employee_id", "manager_id").order_by("pk")) == before
    assert not Conflict.objects.filter(complaint=filed, person__employee_id__in=["C1", "A1"])
    event = AuditEvent.objects.get(action="directory.change_refused")
    assert (event.actor_id, event.target_id, json.loads(event.payload)) == (
        "", filed.reference, {"people": ["C1", "MGR1"],
                              "roles": ["audit_committee", "compliance_officer"]})
    assert not AuditEvent.objects.filter(action="directory.imported").exists()
