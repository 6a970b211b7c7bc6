"""The second promise: no conflicted person touches a case.

One matrix over the people DESIGN.md names (a subject, the subject's manager, the
manager's manager, someone who declared a conflict, someone the reporter named, an
unrelated HR reviewer, compliance): who sees the case (workspace and queue), who may act
on it, who is escalated to and who is notified.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from audit.actions import Action
from audit.models import AuditEvent
from complaints import access, services
from complaints.access import may_view, visible_complaints
from complaints.models import Category, Complaint, Conflict
from complaints.services.conflicts import complaint_declare_conflict
from complaints.services.sweep import sweep
from escalation.models import Escalation, Notification
from tests.factories import PersonFactory, UserFactory


def _account(person: Any, username: str, *role_names: str) -> Any:
    user = UserFactory(username=username, email=f"{username}@example.com",
                       roles=list(role_names))
    person.user = user
    person.save()
    return user


@pytest.fixture
def cast(org: dict[str, Any], reporter: Any) -> dict[str, Any]:
    """Everyone in the matrix holds a role that would otherwise reach the case."""
    named_person = PersonFactory(employee_id="NAMED1", name="Friend Of Accused")
    declarer_person = PersonFactory(employee_id="DECL1", name="Declares")
    people = {
        # In the accused's own line: the accused, the manager, the manager's manager, CEO.
        "subject": _account(org["accused"], "subject", access.HR_REVIEWER),
        "manager": _account(org["manager"], "manager", access.HR_LEAD),
        "managers_manager": _account(org["vp"], "managers_manager", access.COMPLIANCE_OFFICER),
        "ceo": _account(org["ceo"], "ceo", access.AUDIT_COMMITTEE),
        "declared": _account(declarer_person, "declared", access.HR_LEAD),
        "named": _account(named_person, "named", access.HR_LEAD),
        # Unrelated: the people who should get the case.
        "hr_reviewer": UserFactory(username="hr_ok", roles=[access.HR_REVIEWER]),
        "hr_lead": UserFactory(username="lead_ok", roles=[access.HR_LEAD]),
        "compliance": UserFactory(username="compliance_ok", roles=[access.COMPLIANCE_OFFICER]),
        "committee": UserFactory(username="committee_ok", roles=[access.AUDIT_COMMITTEE]),
    }
    complaint = services.complaint_submit(
        reporter=reporter, category=Category.SEXUAL_HARASSMENT, summary="Comments",
        narrative="Remarks about my body in one-to-ones.",
        subjects=[org["accused"].employee_id], conflicted=["NAMED1"],
    ).complaint
    complaint_declare_conflict(complaint=complaint, actor=people["declared"],
                               reason="I am the accused's neighbour.")
    return {"complaint": complaint, **people}


CONFLICTED = ["subject", "manager", "managers_manager", "ceo", "declared", "named"]
CLEAR = ["hr_reviewer", "hr_lead", "compliance"]


@pytest.mark.parametrize("who", CONFLICTED + CLEAR)
def test_who_sees_the_case_in_the_workspace_and_the_queue(cast: dict[str, Any], who: str,
                                                           client: Any) -> None:
    user, complaint = cast[who], cast["complaint"]
    client.force_login(user)
    page = client.get(f"/staff/cases/{complaint.reference}/")
    queue = client.get("/staff/?queue=unassigned")
    expected = who in CLEAR
    assert page.status_code == (200 if expected else 404)
    assert queue.status_code == 200
    assert (complaint.reference in queue.content.decode()) is expected
    assert may_view(user, complaint) is expected
    assert visible_complaints(user).filter(pk=complaint.pk).exists() is expected
    assert user.has_perm("complaints.view_complaint", complaint) is expected


@pytest.mark.parametrize("who", CONFLICTED + CLEAR)
def test_a_conflicted_persons_attempt_is_refused_and_audited(cast: dict[str, Any], who: str,
                                                             client: Any) -> None:
    user, complaint = cast[who], cast["complaint"]
    client.force_login(user)
    client.get(f"/staff/cases/{complaint.reference}/")
    event = AuditEvent.objects.filter(target_id=complaint.reference).order_by("-seq").first()
    assert event is not None and event.actor_id == str(user.pk)
    if who in CLEAR:
        assert event.action == Action.COMPLAINT_VIEWED
    else:
        assert event.action == Action.COMPLAINT_ACCESS_DENIED
        assert json.loads(event.payload) == {"via": "web", "reason": "conflicted"}


@pytest.mark.parametrize("who", CONFLICTED + CLEAR)
def test_who_may_act_on_the_case(cast: dict[str, Any], who: str) -> None:
    user, complaint = cast[who], cast["complaint"]
    steps = services.available_transitions(Complaint.objects.get(pk=complaint.pk), user)
    assert (steps == ["acknowledge"]) is (who in CLEAR), steps


@pytest.mark.parametrize("who", ["subject", "manager", "declared", "named"])
def test_a_conflicted_person_cannot_be_assigned_as_investigator(
        cast: dict[str, Any], who: str) -> None:
    from complaints.errors import InvalidInput
    from complaints.models import Person

    complaint = services.complaint_acknowledge(complaint=cast["complaint"],
                                               actor=cast["hr_reviewer"])
    user = cast[who]
    user.groups.add(*UserFactory(username="inv_group", roles=[access.INVESTIGATOR]).groups.all())
    user = type(user).objects.get(pk=user.pk)
    assert Person.objects.filter(user=user).exists()
    with pytest.raises(InvalidInput):
        services.complaint_start_investigation(complaint=complaint, actor=cast["hr_lead"],
                                               investigator=user)


def test_escalation_and_notification_skip_everyone_conflicted(cast: dict[str, Any]) -> None:
    complaint = cast["complaint"]
    # Far enough ahead that the case climbs all three levels in one catching-up sweep.
    sweep(now=timezone.now() + timedelta(days=120))
    escalated_to = {uid for rs in Escalation.objects.filter(complaint=complaint)
                    .values_list("recipients", flat=True) for uid in rs}
    notified = set(Notification.objects.filter(complaint=complaint, recipient__isnull=False)
                   .values_list("recipient_id", flat=True))
    assert Complaint.objects.get(pk=complaint.pk).escalation_level == 3
    for who in CONFLICTED:
        assert cast[who].pk not in escalated_to | notified, who
    assert {cast["hr_lead"].pk, cast["compliance"].pk, cast["committee"].pk} <= escalated_to
    assert {cast["hr_lead"].pk, cast["compliance"].pk, cast["committee"].pk} <= notified


def test_declaring_a_conflict_takes_the_declarer_off_the_case(cast: dict[str, Any]) -> None:
    lead = cast["hr_lead"]
    complaint = services.complaint_acknowledge(complaint=cast["complaint"], actor=lead)
    assert complaint.assignee_id == lead.pk
    complaint_declare_conflict(complaint=complaint, actor=lead)
    complaint = Complaint.objects.get(pk=complaint.pk)
    assert complaint.assignee_id is None
    assert not may_view(lead, complaint)
    event = AuditEvent.objects.order_by("-seq").first()
    assert event is not None and event.action == Action.COMPLAINT_CONFLICT_DECLARED
    payload = json.loads(event.payload)
    assert payload["handlers_removed"] == {"assignee": lead.pk}
    assert payload["added"] == [{"user": lead.pk, "source": "declared"}]
    assert payload["removed"] == []
    # A staff account with no directory entry is recorded by account.
    assert Conflict.objects.filter(complaint=complaint, user=lead,
                                   source=Conflict.Source.DECLARED).exists()


def test_a_case_whose_whole_hr_line_is_conflicted_goes_to_compliance(
        org: dict[str, Any], reporter: Any) -> None:
    # The only HR people are the accused's own managers.
    _account(org["manager"], "hr_manager", access.HR_REVIEWER)
    _account(org["vp"], "hr_vp", access.HR_LEAD)
    officer = UserFactory(username="officer", roles=[access.COMPLIANCE_OFFICER])
    complaint = services.complaint_submit(
        reporter=reporter, category=Category.DISCRIMINATION, summary="Passed over",
        narrative="I was passed over for promotion twice.",
        subjects=[org["accused"].employee_id]).complaint
    complaint = Complaint.objects.get(pk=complaint.pk)
    assert complaint.assignee_id == officer.pk
    assert Notification.objects.filter(complaint=complaint, recipient=officer,
                                       kind=Notification.Kind.ROUTED).exists()
    event = AuditEvent.objects.get(action=Action.COMPLAINT_SUBMITTED,
                                   target_id=complaint.reference)
    assert json.loads(event.payload)["routed_to"] == "compliance"


def test_a_case_with_one_clear_hr_handler_is_not_routed(org: dict[str, Any],
                                                        reporter: Any) -> None:
    _account(org["manager"], "hr_manager", access.HR_REVIEWER)
    UserFactory(username="hr_clear", roles=[access.HR_REVIEWER])
    UserFactory(username="officer", roles=[access.COMPLIANCE_OFFICER])
    complaint = services.complaint_submit(
        reporter=reporter, category=Category.DISCRIMINATION, summary="Passed over",
        narrative="I was passed over.", subjects=[org["accused"].employee_id]).complaint
    assert Complaint.objects.get(pk=complaint.pk).assignee_id is None


def test_a_complaint_against_a_compliance_officer_routes_around_them(
        org: dict[str, Any], reporter: Any) -> None:
    officer = _account(org["accused"], "accused_officer", access.COMPLIANCE_OFFICER)
    other = UserFactory(username="other_officer", roles=[access.COMPLIANCE_OFFICER])
    complaint = services.complaint_submit(
        reporter=reporter, category=Category.RETALIATION, summary="Retaliation",
        narrative="After I reported, my shifts were cut.",
        subjects=[org["accused"].employee_id]).complaint
    assert not may_view(officer, complaint) and may_view(other, complaint)
    sweep(now=timezone.now() + timedelta(days=30))
    levels = dict(Escalation.objects.filter(complaint=complaint)
                  .values_list("level", "recipients"))
    assert levels.get(2) == [other.pk]
    assert officer.pk not in {uid for rs in levels.values() for uid in rs}


def test_a_complaint_against_an_audit_committee_member_does_not_reach_them(
        org: dict[str, Any], reporter: Any) -> None:
    member = _account(org["accused"], "accused_member", access.AUDIT_COMMITTEE)
    other = UserFactory(username="other_member", roles=[access.AUDIT_COMMITTEE])
    complaint = services.complaint_submit(
        reporter=reporter, category=Category.ACCOUNTING, summary="Books",
        narrative="Revenue is booked early.", subjects=[org["accused"].employee_id]).complaint
    told = set(Notification.objects.filter(complaint=complaint, kind=Notification.Kind.FILED)
               .values_list("recipient_id", flat=True))
    assert told == {other.pk}
    assert not may_view(member, complaint) and may_view(other, complaint)


def test_a_manager_change_re_evaluates_open_cases(org: dict[str, Any], reporter: Any,
                                                  filed: Any) -> None:
    from complaints.services import directory_import

    newcomer = PersonFactory(employee_id="NEW1", name="New Manager")
    new_lead = _account(newcomer, "new_lead", access.HR_LEAD)
    old_lead = _account(org["manager"], "old_lead", access.HR_LEAD)
    complaint = services.complaint_acknowledge(complaint=filed, actor=new_lead)
    assert complaint.assignee_id == new_lead.pk and not may_view(old_lead, complaint)

    # The accused now reports to the newcomer, who is on the case.
    directory_import(text="employee_id,name,email,department,manager_employee_id\n"
                          f"ACC1,Accused Person,{org['accused'].email},Operations,NEW1\n")
    complaint = Complaint.objects.get(pk=complaint.pk)
    assert complaint.assignee_id is None
    assert not may_view(new_lead, complaint)
    # No longer above the accused, but conflicts only grow: still conflicted until
    # compliance removes it, with a second person's approval.
    assert not may_view(old_lead, complaint)
    event = AuditEvent.objects.get(action=Action.COMPLAINT_CONFLICTS_CHANGED,
                                   target_id=complaint.reference)
    assert json.loads(event.payload) == {
        "added": [{"person": newcomer.pk, "source": "chain"}], "removed": [],
        "handlers_removed": {"assignee": new_lead.pk}}


def test_linking_an_account_to_a_conflicted_person_takes_it_off_the_case(
        org: dict[str, Any], filed: Any) -> None:
    from complaints.services import person_link_user

    lead = UserFactory(username="lead_later", email="lead@home.example", roles=[access.HR_LEAD])
    complaint = services.complaint_acknowledge(complaint=filed, actor=lead)
    assert complaint.assignee_id == lead.pk
    # The account takes its work address, which the directory knows: it is the VP's.
    lead.email = org["vp"].email
    person_link_user(user=lead)
    complaint = Complaint.objects.get(pk=complaint.pk)
    assert complaint.assignee_id is None
    assert not may_view(type(lead).objects.get(pk=lead.pk), complaint)


def test_need_to_know_by_role(filed: Any, hr_reviewer: Any, investigator: Any,
                              audit_committee: Any, hr_lead: Any) -> None:
    complaint = services.complaint_acknowledge(complaint=filed, actor=hr_reviewer)
    assert may_view(hr_reviewer, complaint)
    assert not may_view(investigator, complaint)  # not theirs to investigate
    assert not may_view(audit_committee, complaint)  # not escalated, not SOX
    complaint = services.complaint_start_investigation(complaint=complaint, actor=hr_lead,
                                                       investigator=investigator)
    assert may_view(investigator, complaint)
    # Investigating is not the intake stage; the reviewer saw it as its assignee only.
    assert may_view(hr_reviewer, complaint)
    other_reviewer = UserFactory(username="reviewer2", roles=[access.HR_REVIEWER])
    assert not may_view(other_reviewer, complaint)


def test_the_reporter_never_sees_the_case_as_staff(org: dict[str, Any]) -> None:
    lead = UserFactory(username="lead_reporter", roles=[access.HR_LEAD])
    complaint = services.complaint_submit(
        reporter=lead, category=Category.BULLYING, summary="x", narrative="y").complaint
    assert not may_view(lead, complaint)


def test_an_outsider_gets_404_and_the_attempt_is_audited(filed: Any, outsider: Any,
                                                          client: Any) -> None:
    client.force_login(outsider)
    assert client.get(f"/staff/cases/{filed.reference}/").status_code == 404
    assert client.get("/staff/").status_code == 404


def test_a_staff_action_is_one_event_and_a_failed_one_a_read(filed: Any, hr_reviewer: Any,
                                                            client: Any) -> None:
    client.force_login(hr_reviewer)
    base = f"/staff/cases/{filed.reference}/transitions"
    assert client.post(f"{base}/acknowledge/").status_code == 302
    # A reason is required here: the form comes back, showing the case again.
    assert client.post(f"{base}/request_information/", {"reason": ""}).status_code == 400
    actions = list(AuditEvent.objects.filter(target_id=filed.reference).order_by("seq")
                   .values_list("action", flat=True))
    assert actions == [Action.COMPLAINT_SUBMITTED, Action.COMPLAINT_ACKNOWLEDGED,
                       Action.COMPLAINT_VIEWED]
