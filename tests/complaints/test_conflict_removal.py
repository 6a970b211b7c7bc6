"""Conflicts only grow by themselves: a directory change adds conflicts and never removes
one; a conflict stops applying only when a compliance officer asks, with a reason, and a
second person (never the requester, the person removed or anyone conflicted) approves."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from django.core import mail
from django.core.management import CommandError, call_command
from django.db import transaction
from django.utils import timezone

from audit.actions import Action
from audit.models import AuditEvent
from complaints import access
from complaints.access import may_view
from complaints.errors import InvalidInput, TransitionForbidden
from complaints.models import CaseNote, Complaint, Conflict, ConflictRemoval
from complaints.services.conflicts import conflict_removal_decide, conflict_removal_request
from complaints.services.directory import person_upsert
from escalation.models import Notification
from escalation.services import notifications
from tests.factories import PersonFactory, UserFactory


def _link(person: Any, username: str, *role_names: str) -> Any:
    user = UserFactory(username=username, roles=list(role_names))
    person.user = user
    person.save()
    return type(user).objects.get(pk=user.pk)


def _move(person: Any, manager_employee_id: str, actor: Any) -> None:
    person_upsert(employee_id=person.employee_id, name=person.name, email=person.email,
                  department=person.department, manager_employee_id=manager_employee_id,
                  actor=actor)


def _fresh(user: Any) -> Any:
    return type(user).objects.get(pk=user.pk)


def _payload(action: str, reference: str) -> dict[str, Any]:
    return json.loads(AuditEvent.objects.filter(action=action, target_id=reference)
                      .latest("seq").payload)


@pytest.fixture
def moved(org: dict[str, Any], filed: Any, directory_sync: Any) -> dict[str, Any]:
    """The accused's line manager, an hr_lead; the HR system then moves the accused under
    a newcomer, so the directory no longer puts the line manager above them."""
    line_manager = _link(org["manager"], "line_manager", access.HR_LEAD)
    newcomer = PersonFactory(employee_id="NEW1", name="New Manager", manager=org["vp"])
    _move(org["accused"], "NEW1", directory_sync)
    return {"complaint": Complaint.objects.get(pk=filed.pk), "line_manager": line_manager,
            "newcomer": newcomer, "conflict": Conflict.objects.get(
                complaint=filed, person=org["manager"], source=Conflict.Source.CHAIN)}


def test_a_directory_change_adds_conflicts_and_never_removes_one(
        moved: dict[str, Any], org: dict[str, Any]) -> None:
    complaint = moved["complaint"]
    active = set(Conflict.objects.filter(complaint=complaint, removed_at=None)
                 .values_list("person_id", "source"))
    # The old line manager is still conflicted; the newcomer is conflicted from now on.
    assert active == {(org["accused"].pk, "subject"), (org["manager"].pk, "chain"),
                      (org["vp"].pk, "chain"), (org["ceo"].pk, "chain"),
                      (moved["newcomer"].pk, "chain")}
    assert not may_view(moved["line_manager"], complaint)
    assert _payload(Action.COMPLAINT_CONFLICTS_CHANGED, complaint.reference) == {
        "added": [{"person": moved["newcomer"].pk, "source": "chain"}], "removed": [],
        "handlers_removed": {}}


def test_moving_the_manager_back_and_forth_never_drops_a_conflict(
        moved: dict[str, Any], org: dict[str, Any], directory_sync: Any) -> None:
    before = Conflict.objects.filter(complaint=moved["complaint"]).count()
    _move(org["accused"], "MGR1", directory_sync)
    _move(org["accused"], "CEO1", directory_sync)
    assert Conflict.objects.filter(complaint=moved["complaint"], removed_at=None).count() == before
    assert not may_view(moved["line_manager"], moved["complaint"])


def test_a_removal_needs_a_second_person_then_the_person_may_see_the_case(
        moved: dict[str, Any], org: dict[str, Any], compliance: Any, audit_committee: Any,
        hr_lead: Any) -> None:
    complaint, conflict = moved["complaint"], moved["conflict"]
    line_manager = moved["line_manager"]
    # A compliance officer who is conflicted (the VP) may neither ask nor decide.
    conflicted_officer = _link(org["vp"], "vp_officer", access.COMPLIANCE_OFFICER)
    line_manager.groups.add(*UserFactory(username="co_group",
                                         roles=[access.COMPLIANCE_OFFICER]).groups.all())
    line_manager = _fresh(line_manager)

    with pytest.raises(TransitionForbidden):
        conflict_removal_request(complaint=complaint, conflict_id=conflict.pk, actor=hr_lead,
                                 reason="He no longer manages the accused.")
    with pytest.raises(TransitionForbidden):
        conflict_removal_request(complaint=complaint, conflict_id=conflict.pk,
                                 actor=conflicted_officer, reason="Fine by me.")
    with pytest.raises(InvalidInput):
        conflict_removal_request(complaint=complaint, conflict_id=conflict.pk,
                                 actor=compliance, reason="  ")
    subject = Conflict.objects.get(complaint=complaint, source=Conflict.Source.SUBJECT)
    with pytest.raises(InvalidInput, match="subject"):
        conflict_removal_request(complaint=complaint, conflict_id=subject.pk,
                                 actor=compliance, reason="Named by mistake.")
    removal = conflict_removal_request(
        complaint=complaint, conflict_id=conflict.pk, actor=compliance,
        reason="He no longer manages the accused since the reorganisation.")

    requested = _payload(Action.COMPLAINT_CONFLICT_REMOVAL_REQUESTED, complaint.reference)
    assert {k: v for k, v in requested.items() if k not in ("reason_note", "reason_sha256")} == {
        "removal": removal.pk, "conflict": conflict.pk, "person": org["manager"].pk,
        "source": "chain", "requested_by": compliance.pk}
    assert "reorganisation" not in json.dumps(requested)
    assert CaseNote.objects.get(pk=requested["reason_note"]).body.startswith("He no longer")
    # Asked for, not yet removed.
    assert not may_view(_fresh(line_manager), Complaint.objects.get(pk=complaint.pk))
    with pytest.raises(InvalidInput):
        conflict_removal_request(complaint=complaint, conflict_id=conflict.pk,
                                 actor=compliance, reason="Again.")
    for wrong in (compliance, line_manager, conflicted_officer, hr_lead):
        with pytest.raises(TransitionForbidden):
            conflict_removal_decide(complaint=complaint, removal_id=removal.pk,
                                    actor=_fresh(wrong), approve=True)
    assert Conflict.objects.get(pk=conflict.pk).removed_at is None

    conflict_removal_decide(complaint=complaint, removal_id=removal.pk,
                            actor=audit_committee, approve=True)

    conflict.refresh_from_db()
    assert conflict.removed_at is not None and conflict.removal_id == removal.pk
    removal.refresh_from_db()
    assert (removal.outcome, removal.decided_by_id) == ("approved", audit_committee.pk)
    approved = _payload(Action.COMPLAINT_CONFLICT_REMOVAL_APPROVED, complaint.reference)
    assert approved == {"removal": removal.pk, "conflict": conflict.pk,
                        "person": org["manager"].pk, "source": "chain",
                        "requested_by": compliance.pk, "decided_by": audit_committee.pk}
    assert may_view(_fresh(line_manager), Complaint.objects.get(pk=complaint.pk))
    # Decided once.
    with pytest.raises(InvalidInput):
        conflict_removal_decide(complaint=complaint, removal_id=removal.pk,
                                actor=audit_committee, approve=False)


def test_a_rejected_removal_leaves_the_conflict_in_force(
        moved: dict[str, Any], compliance: Any) -> None:
    complaint, conflict = moved["complaint"], moved["conflict"]
    second = UserFactory(username="second_officer", roles=[access.COMPLIANCE_OFFICER])
    removal = conflict_removal_request(complaint=complaint, conflict_id=conflict.pk,
                                       actor=compliance, reason="Moved away.")

    conflict_removal_decide(complaint=complaint, removal_id=removal.pk, actor=second,
                            approve=False, reason="Too soon after the move.")

    assert Conflict.objects.get(pk=conflict.pk).removed_at is None
    assert not may_view(moved["line_manager"], Complaint.objects.get(pk=complaint.pk))
    rejected = _payload(Action.COMPLAINT_CONFLICT_REMOVAL_REJECTED, complaint.reference)
    assert (rejected["decided_by"], rejected["requested_by"]) == (second.pk, compliance.pk)
    assert ConflictRemoval.objects.get(pk=removal.pk).outcome == "rejected"


def test_a_chain_conflict_the_directory_still_supports_cannot_be_removed(
        moved: dict[str, Any], org: dict[str, Any], compliance: Any, client: Any) -> None:
    # The vice-president is still above the accused (through the newcomer): removing his
    # conflict would hand the case to the accused's own chain.
    complaint = moved["complaint"]
    still_above = Conflict.objects.get(complaint=complaint, person=org["vp"])
    with pytest.raises(InvalidInput, match="still above a subject"):
        conflict_removal_request(complaint=complaint, conflict_id=still_above.pk,
                                 actor=compliance, reason="He is senior and impartial.")
    assert not ConflictRemoval.objects.filter(conflict=still_above).exists()
    # The workspace does not offer what the service would refuse.
    client.force_login(compliance)
    page = client.get(f"/staff/cases/{complaint.reference}/").content.decode()
    assert f"/conflicts/{still_above.pk}/removal/" not in page
    assert "Still above a subject in the directory" in page
    assert f"/conflicts/{moved['conflict'].pk}/removal/" in page
    assert not AuditEvent.objects.filter(
        action=Action.COMPLAINT_CONFLICT_REMOVAL_REQUESTED, target_id=complaint.reference
    ).exists()


def test_a_removed_conflict_comes_back_when_the_directory_says_so_again(
        moved: dict[str, Any], org: dict[str, Any], compliance: Any, audit_committee: Any,
        directory_sync: Any) -> None:
    complaint, conflict = moved["complaint"], moved["conflict"]
    removal = conflict_removal_request(complaint=complaint, conflict_id=conflict.pk,
                                       actor=compliance, reason="Moved away.")
    conflict_removal_decide(complaint=complaint, removal_id=removal.pk,
                            actor=audit_committee, approve=True)
    assert may_view(_fresh(moved["line_manager"]), Complaint.objects.get(pk=complaint.pk))

    _move(org["accused"], "MGR1", directory_sync)

    assert not may_view(_fresh(moved["line_manager"]), Complaint.objects.get(pk=complaint.pk))
    assert Conflict.objects.filter(complaint=complaint, person=org["manager"]).count() == 2


def test_the_workspace_offers_removal_to_compliance_and_the_decision_to_a_second_person(
        moved: dict[str, Any], compliance: Any, audit_committee: Any, hr_lead: Any,
        client: Any) -> None:
    complaint, conflict = moved["complaint"], moved["conflict"]
    base = f"/staff/cases/{complaint.reference}"
    client.force_login(hr_lead)
    assert "Who is conflicted" not in client.get(f"{base}/").content.decode()

    client.force_login(compliance)
    page = client.get(f"{base}/").content.decode()
    assert "Who is conflicted" in page and "Line Manager" in page
    refused = client.post(f"{base}/conflicts/{conflict.pk}/removal/", {"reason": ""})
    assert refused.status_code == 400 and "This field is required" in refused.content.decode()
    done = client.post(f"{base}/conflicts/{conflict.pk}/removal/",
                       {"reason": "He moved to another team."}, follow=True)
    assert "Removal requested" in done.content.decode()
    removal = ConflictRemoval.objects.get(conflict=conflict)
    # The requester is offered no decision.
    assert f"conflict-removals/{removal.pk}/decision/" not in done.content.decode()
    refused = client.post(f"{base}/conflict-removals/{removal.pk}/decision/",
                          {"decision": "approve"})
    assert refused.status_code == 400 and "decided by a second person" in refused.content.decode()
    again = client.post(f"{base}/conflicts/{conflict.pk}/removal/", {"reason": "Again."})
    assert again.status_code == 400 and "already waiting" in again.content.decode()

    client.force_login(audit_committee)
    page = client.get(f"{base}/").content.decode()
    assert f"conflict-removals/{removal.pk}/decision/" in page
    assert "He moved to another team." in page
    approved = client.post(f"{base}/conflict-removals/{removal.pk}/decision/",
                           {"decision": "approve"}, follow=True)
    assert "Removal approved" in approved.content.decode()
    assert Conflict.objects.get(pk=conflict.pk).removed_at is not None


def test_the_inbox_hides_and_delivery_drops_a_case_its_recipient_became_conflicted_on(
        filed: Any, org: dict[str, Any], directory_sync: Any, client: Any) -> None:
    lead = UserFactory(username="lead_told", roles=[access.HR_LEAD])
    newcomer = PersonFactory(employee_id="NEW2", name="Soon Conflicted", user=lead)
    with transaction.atomic():
        notifications.enqueue([notifications.build(
            kind=Notification.Kind.ESCALATED, complaint=filed, now=timezone.now(),
            recipient=lead, level=1)])
    note = Notification.objects.get(recipient=lead)
    client.force_login(lead)
    assert note.subject in client.get("/notifications/").content.decode()

    # The accused now reports to the lead: he is conflicted before the mail goes out.
    _move(org["accused"], newcomer.employee_id, directory_sync)

    assert note.subject not in client.get("/notifications/").content.decode()
    delivered = notifications.deliver_pending()
    assert (delivered.sent, delivered.dropped) == (0, 1)
    assert mail.outbox == []
    note.refresh_from_db()
    assert note.delivered_at is None and note.email == ""
    assert note.last_error == notifications.DROPPED_CONFLICTED
    assert notifications.deliver_pending().dropped == 0  # never taken again


def test_import_directory_records_a_directory_sync_actor_and_refuses_anyone_else(
        org: dict[str, Any], directory_sync: Any, hr_lead: Any, tmp_path: Any) -> None:
    path = tmp_path / "people.csv"
    path.write_text("employee_id,name,email,department,manager_employee_id\n"
                    "E1,Ada,ada@example.com,Research,CEO1\n")
    with pytest.raises(CommandError, match="directory_sync"):
        call_command("import_directory", str(path), "--actor", hr_lead.username,
                     stdout=io.StringIO())
    with pytest.raises(CommandError):
        call_command("import_directory", str(path), "--actor", "nobody", stdout=io.StringIO())
    assert not AuditEvent.objects.filter(action=Action.DIRECTORY_IMPORTED).exists()

    call_command("import_directory", str(path), "--actor", directory_sync.username,
                 stdout=io.StringIO())

    event = AuditEvent.objects.get(action=Action.DIRECTORY_IMPORTED)
    assert (event.actor_type, event.actor_id) == ("user", str(directory_sync.pk))
