"""Reporters name people the way people do: by name or address more often than by employee
id. Whoever the directory says they mean is treated as named, so the conflict rules reach
them and their whole management chain; a name that could be several people is asked about;
a person to keep away who cannot be found is never silently ignored."""

from __future__ import annotations

from typing import Any

import pytest

from complaints import access
from complaints.access import visible_complaints
from complaints.errors import InvalidInput
from complaints.models import Category, Conflict, Subject
from complaints.services import complaint_submit
from tests.factories import PersonFactory, UserFactory


def _file(reporter: Any, **people: list[str]) -> Any:
    return complaint_submit(reporter=reporter, category=Category.BULLYING, summary="x",
                            narrative="y", **people).complaint


@pytest.mark.parametrize("typed", ["Accused Person", "  accused PERSON ", "EMAIL"])
def test_a_subject_typed_by_name_or_address_keeps_their_chain_away(
        typed: str, reporter: Any, org: dict[str, Any]) -> None:
    typed = org["accused"].email.upper() if typed == "EMAIL" else typed
    manager_lead = UserFactory(username="mgr_lead", roles=[access.HR_LEAD])
    org["manager"].user = manager_lead
    org["manager"].save()

    complaint = _file(reporter, subjects=[typed])

    subject = Subject.objects.get(complaint=complaint)
    assert subject.person == org["accused"] and subject.name_given == ""
    chain = set(Conflict.objects.filter(complaint=complaint).values_list("person__employee_id",
                                                                          flat=True))
    assert {"ACC1", "MGR1", "VP1", "CEO1"} <= chain
    assert not visible_complaints(manager_lead).filter(pk=complaint.pk).exists()


def test_a_name_two_people_share_is_asked_about_with_their_ids(
        reporter: Any, org: dict[str, Any]) -> None:
    PersonFactory(employee_id="ACC2", name="Accused Person", department="Finance")
    with pytest.raises(InvalidInput) as caught:
        _file(reporter, subjects=["Accused Person"])
    [message] = caught.value.errors["subjects"]
    assert "Several people in the directory are called Accused Person" in message
    assert "ACC1" in message and "ACC2 (Finance)" in message


def test_a_name_nobody_has_is_kept_as_typed(reporter: Any, org: dict[str, Any]) -> None:
    complaint = _file(reporter, subjects=["A visiting contractor"])
    subject = Subject.objects.get(complaint=complaint)
    assert subject.person is None and subject.name_given == "A visiting contractor"


def test_someone_to_keep_away_is_found_by_name_or_refused_out_loud(
        reporter: Any, org: dict[str, Any]) -> None:
    complaint = _file(reporter, subjects=["ACC1"], conflicted=["vice president"])
    assert Conflict.objects.filter(complaint=complaint, person=org["vp"],
                                   source=Conflict.Source.NAMED).exists()
    with pytest.raises(InvalidInput) as caught:
        _file(reporter, subjects=["ACC1"], conflicted=["Nobody Known"])
    assert "No one in the directory is called Nobody Known" in caught.value.errors[
        "conflicted"][0]


def test_the_form_comes_back_with_the_question_and_everything_typed(
        client: Any, org: dict[str, Any]) -> None:
    PersonFactory(employee_id="ACC2", name="Accused Person")
    answer = client.post("/report/", {"category": Category.BULLYING, "summary": "Meetings",
                                      "narrative": "He shouts.", "subjects": "Accused Person",
                                      "anonymous": "on"})
    assert answer.status_code == 400
    body = answer.content.decode()
    assert "Several people in the directory are called Accused Person" in body
    assert "He shouts." in body
