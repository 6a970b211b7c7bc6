"""The audit log for a SIEM: pages in the order written, resumable, compliance only, and the
chain's status on demand."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection, transaction

from audit import services as audit
from audit import triggers
from audit.actions import Action
from audit.models import AuditEvent
from audit.opaque import event_id
from complaints.models import Complaint
from complaints.services import complaint_acknowledge, complaint_submit
from tests.api.conftest import REPORT, Api
from tests.factories import PersonFactory


def _file(n: int) -> list[str]:
    return [complaint_submit(reporter=None, **REPORT).complaint.reference for _ in range(n)]


def test_events_page_in_written_order_and_resume_from_the_cursor(api: Api,
                                                                 compliance: Any) -> None:
    _file(5)
    officer = api.as_user(compliance)

    first = officer.get("audit/events/", {"limit": 2}).json()
    rest = officer.get("audit/events/", {"cursor": first["cursor"]}).json()

    written = [event_id(e) for e in AuditEvent.objects.order_by("seq")]
    assert [e["id"] for e in first["results"]] == written[:2]
    assert f"cursor={first['cursor']}" in first["next"]
    assert [e["id"] for e in rest["results"]] == written[2:len(rest["results"]) + 2]
    assert rest["next"] is None and rest["cursor"]
    event = first["results"][0]
    assert set(event) == {"id", "occurred_at", "actor", "actor_type", "action", "target",
                          "target_type", "from_state", "to_state", "payload"}
    assert (event["action"], event["to_state"]) == ("complaint.submitted", "submitted")
    # Each untargeted read is on the record.
    assert AuditEvent.objects.filter(action="audit.log_viewed",
                                     actor_id=str(compliance.pk)).count() == 2


def test_a_page_holds_at_most_100_events(api: Api, compliance: Any) -> None:
    _file(120)

    body = api.as_user(compliance).get("audit/events/", {"limit": 5000}).json()

    assert len(body["results"]) == 100 and body["next"] is not None


def test_target_gives_one_cases_events_as_a_read_of_it(api: Api, compliance: Any,
                                                       hr_lead: Any) -> None:
    one, other = _file(2)
    complaint_acknowledge(complaint=Complaint.objects.get(reference=one), actor=hr_lead)

    body = api.as_user(compliance).get("audit/events/", {"target": one.lower()}).json()

    assert {e["target"] for e in body["results"]} == {one}
    assert [e["action"] for e in body["results"]][:2] == ["complaint.submitted",
                                                          "complaint.acknowledged"]
    assert other not in str(body)
    assert AuditEvent.objects.filter(action="complaint.viewed", target_id=one,
                                     payload__contains="api:audit").count() == 1


def test_a_conflicted_officer_sees_nothing_of_that_case(api: Api, compliance: Any,
                                                        filed: Any, org: Any) -> None:
    org["manager"].user = compliance
    org["manager"].save()
    officer = api.as_user(compliance)

    targeted = officer.get("audit/events/", {"target": filed.reference})
    feed = officer.get("audit/events/").json()

    assert targeted.status_code == 404
    assert filed.reference not in str(feed["results"])
    assert AuditEvent.objects.filter(action="complaint.access_denied",
                                     target_id=filed.reference).count() == 1


@pytest.mark.parametrize("query", [{"cursor": "2"}, {"cursor": "x" * 500}, {"limit": "0"},
                                   {"target": ""}])
def test_bad_audit_queries_are_a_400(api: Api, compliance: Any, query: dict[str, str]) -> None:
    response = api.as_user(compliance).get("audit/events/", query)

    assert response.status_code == 400
    assert set(response.json()) == set(query)


@pytest.mark.parametrize("path", ["audit/events/", "audit/verify/"])
def test_the_log_is_compliance_only(api: Api, hr_lead: Any, reporter: Any, path: str) -> None:
    assert api.get(path).status_code == 401
    assert api.as_user(hr_lead).get(path).status_code == 403
    assert api.as_user(reporter).get(path).status_code == 403


def test_verify_reports_the_chain_and_is_on_the_record(api: Api, compliance: Any) -> None:
    _file(2)

    body = api.as_user(compliance).get("audit/verify/").json()

    assert set(body) == {"intact", "checked_at", "complete", "missing"}
    assert body["complete"] is True and body["missing"] == []
    assert body["intact"] is True
    assert AuditEvent.objects.filter(action="audit.chain_verified",
                                     actor_id=str(compliance.pk)).count() == 1


def test_verify_names_the_first_broken_link(api: Api, compliance: Any) -> None:
    _file(3)
    officer = api.as_user(compliance)
    # Edited past the triggers, as someone with the database owner's rights could.
    with connection.cursor() as cursor:
        for sql in triggers.DOWN[connection.vendor]:
            cursor.execute(sql)
        cursor.execute(f"UPDATE {triggers.TABLE} SET action = 'complaint.closed' "  # noqa: S608
                       "WHERE seq = 2")
        for sql in triggers.UP[connection.vendor]:
            cursor.execute(sql)

    body = officer.get("audit/verify/").json()

    assert (body["intact"], body["first_broken_seq"]) == (False, 2)
    assert set(body) == {"intact", "checked_at", "complete", "missing", "first_broken_seq",
                         "problem"}


def test_a_conflicted_reader_cannot_tell_from_the_directory_events_that_a_case_exists(
        api: Api, officer_on_chain: Any, filed: Any, org: Any, directory_sync: Any) -> None:
    """The accused and a peer moved the same way: a compliance officer above the accused
    (conflicted, so the case is hidden from him) sees the same payload for both, and no
    count of cases in an older event either."""
    PersonFactory(employee_id="NEWM", name="New Manager", manager=org["vp"])
    sync = api.as_user(directory_sync)
    for person in (org["accused"], org["peer"]):
        assert sync.put(f"directory/people/{person.employee_id}/", {
            "name": person.name, "email": person.email, "department": person.department,
            "manager_employee_id": "NEWM"}).status_code == 200
    with transaction.atomic():  # as a directory event recorded before this release
        audit.record(action=Action.DIRECTORY_PERSON_SYNCED, actor=audit.SYSTEM,
                     target=("person", "ACC1"), payload={"cases_reevaluated": 1,
                                                         "changed": ["manager"]})

    body = api.as_user(officer_on_chain).get("audit/events/", {"limit": 100}).json()

    synced = [(e["target"], e["payload"]) for e in body["results"]
              if e["action"] == "directory.person_synced"]
    assert synced == [
        ("ACC1", {"changed": ["manager"], "created": False, "linked": 0}),
        ("PEER1", {"changed": ["manager"], "created": False, "linked": 0}),
        ("ACC1", {"changed": ["manager"]})]
