"""Configuration is part of the record: deadlines and retention change only through the
policy service, within the law's bounds, with a second person for anything looser, and
every step on the audit log with the values before and after."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.core import checks
from django.db import IntegrityError, transaction
from django.test import override_settings

from audit.actions import Action
from audit.models import AuditEvent
from complaints import access
from complaints.errors import InvalidInput, TransitionForbidden, TransitionNotAllowed
from complaints.models import Category, Severity
from compliance.services.policies import (
    RETENTION,
    policy_change_approve,
    policy_change_propose,
    policy_change_reject,
)
from escalation.models import Kind, PolicyChange, RetentionPolicy, SlaPolicy, Unit
from escalation.policy import (
    BOUNDS,
    DEFAULTS,
    ESCALATION,
    Duration,
    Policies,
    never_longer,
    retention_days,
    retention_in_force,
)
from tests.escalation.helpers import MONDAY, file_complaint, open_deadlines
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def second_officer(db: None) -> Any:
    return UserFactory(username="second_officer", roles=[access.COMPLIANCE_OFFICER])


def events(action: Action) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("seq"))


def payload(event: AuditEvent) -> dict[str, Any]:
    return json.loads(event.payload)


def propose(actor: Any, **kwargs: Any) -> PolicyChange:
    return policy_change_propose(actor=actor, **({"reason": "Board decision 2026-11"} | kwargs))


def test_the_attack_36500_days_is_refused_with_a_field_error_and_nothing_moves(
        compliance: Any, reporter: Any, clock: Any) -> None:
    complaint = file_complaint(reporter, Category.SEXUAL_ASSAULT)
    due_before = {k: d.due_at for k, d in open_deadlines(complaint).items()}
    for kind in (Kind.ACKNOWLEDGE, ESCALATION):
        with pytest.raises(InvalidInput) as refused:
            propose(compliance, kind=kind, severity=Severity.CRITICAL, amount=36_500,
                    unit=Unit.CALENDAR_DAYS)
        assert list(refused.value.errors) == ["amount"]
        assert "legal bound" in refused.value.errors["amount"][0]
    assert not SlaPolicy.objects.exists()
    assert not PolicyChange.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="policy.").exists()
    assert {k: d.due_at for k, d in open_deadlines(complaint).items()} == due_before
    # And the next critical case is still due tomorrow, not in 2126.
    later = file_complaint(reporter, Category.SEXUAL_ASSAULT)
    assert open_deadlines(later)[Kind.ACKNOWLEDGE].due_at == MONDAY + timedelta(days=1)


def test_the_database_refuses_a_clock_that_can_never_fire_whoever_writes_it() -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        SlaPolicy.objects.create(kind=Kind.ACKNOWLEDGE, amount=36_500, unit=Unit.CALENDAR_DAYS)
    with pytest.raises(IntegrityError), transaction.atomic():
        RetentionPolicy.objects.create(days=30)


@pytest.mark.parametrize(("kind", "amount", "unit", "allowed"), [
    (Kind.ACKNOWLEDGE, 7, Unit.CALENDAR_DAYS, True),
    (Kind.ACKNOWLEDGE, 8, Unit.CALENDAR_DAYS, False),
    (Kind.ACKNOWLEDGE, 168, Unit.HOURS, True),
    (Kind.ACKNOWLEDGE, 169, Unit.HOURS, False),
    (Kind.ACKNOWLEDGE, 7 * 86400 + 1, Unit.SECONDS, False),
    (Kind.ACKNOWLEDGE, 1, Unit.BUSINESS_DAYS, True),
    # Five business days over Christmas run past seven calendar days.
    (Kind.ACKNOWLEDGE, 5, Unit.BUSINESS_DAYS, False),
    (Kind.ACKNOWLEDGE, 1, Unit.CALENDAR_MONTHS, False),
    (Kind.ACKNOWLEDGE, 0, Unit.CALENDAR_DAYS, False),
    (Kind.FEEDBACK, 3, Unit.CALENDAR_MONTHS, True),
    (Kind.FEEDBACK, 4, Unit.CALENDAR_MONTHS, False),
    # 90 days from 1 February end after 1 May: beyond three months.
    (Kind.FEEDBACK, 90, Unit.CALENDAR_DAYS, False),
    (Kind.FEEDBACK, 89, Unit.CALENDAR_DAYS, True),
    (Kind.FINDINGS, 60, Unit.BUSINESS_DAYS, True),
    (Kind.FINDINGS, 70, Unit.BUSINESS_DAYS, False),
    (Kind.TRIAGE, 92, Unit.CALENDAR_DAYS, True),
    (Kind.TRIAGE, 93, Unit.CALENDAR_DAYS, False),
    (Kind.REPORTER_REPLY, 36_500, Unit.CALENDAR_DAYS, False),
    (ESCALATION, 3, Unit.CALENDAR_MONTHS, True),
    (ESCALATION, 2**31 - 1, Unit.BUSINESS_DAYS, False),
])
def test_bounds(compliance: Any, kind: str, amount: int, unit: str, allowed: bool) -> None:
    if allowed:
        propose(compliance, kind=kind, amount=amount, unit=unit)
        assert PolicyChange.objects.get().kind == kind
    else:
        with pytest.raises(InvalidInput) as refused:
            propose(compliance, kind=kind, amount=amount, unit=unit)
        assert "amount" in refused.value.errors
        assert not PolicyChange.objects.exists()


def test_every_default_is_within_its_bound() -> None:
    for (kind, _severity), duration in DEFAULTS.items():
        assert BOUNDS[kind].admits(duration), (kind, duration)


def test_durations_compare_across_units() -> None:
    assert never_longer(Duration(1, Unit.CALENDAR_DAYS), Duration(1, Unit.BUSINESS_DAYS))
    assert not never_longer(Duration(1, Unit.BUSINESS_DAYS), Duration(1, Unit.CALENDAR_DAYS))
    assert never_longer(Duration(24, Unit.HOURS), Duration(1, Unit.BUSINESS_DAYS))
    # Ten business days filed on a Sunday end twelve days later.
    assert never_longer(Duration(12, Unit.CALENDAR_DAYS), Duration(10, Unit.BUSINESS_DAYS))
    assert not never_longer(Duration(13, Unit.CALENDAR_DAYS), Duration(10, Unit.BUSINESS_DAYS))


def test_a_reason_is_required_and_the_proposer_must_be_a_compliance_officer(
        compliance: Any, hr_lead: Any, audit_committee: Any) -> None:
    with pytest.raises(InvalidInput) as refused:
        propose(compliance, kind=Kind.TRIAGE, amount=5, unit=Unit.BUSINESS_DAYS, reason="  ")
    assert list(refused.value.errors) == ["reason"]
    for someone in (hr_lead, audit_committee):
        with pytest.raises(TransitionForbidden):
            propose(someone, kind=Kind.TRIAGE, amount=5, unit=Unit.BUSINESS_DAYS)
    assert not AuditEvent.objects.filter(action__startswith="policy.").exists()


def test_tightening_applies_at_once_with_before_and_after_on_the_record(
        compliance: Any, reporter: Any, clock: Any) -> None:
    change = propose(compliance, kind=Kind.ACKNOWLEDGE, severity=Severity.STANDARD, amount=3,
                     unit=Unit.CALENDAR_DAYS)
    assert change.status == PolicyChange.Status.APPLIED and not change.loosens
    assert SlaPolicy.objects.get().amount == 3
    [proposed], [changed] = events(Action.POLICY_CHANGE_PROPOSED), events(Action.POLICY_CHANGED)
    assert proposed.seq < changed.seq
    assert (changed.actor_type, changed.actor_id) == ("user", str(compliance.pk))
    assert (changed.target_type, changed.target_id) == ("sla_policy", "acknowledge/*/standard")
    body = payload(changed)
    assert body["before"] == {"amount": 7, "unit": "calendar_days", "source": "default"}
    assert body["after"] == {"amount": 3, "unit": "calendar_days", "source": "*/standard"}
    assert body["kind"] == "acknowledge" and body["severity"] == "standard"
    assert body["loosens"] is False and body["second_person"] is False
    assert body["change"] == change.pk and len(body["reason_sha256"]) == 64
    assert "Board" not in changed.payload  # the words stay off the log
    # In force for the next case at once.
    complaint = file_complaint(reporter, Category.BULLYING)
    assert open_deadlines(complaint)[Kind.ACKNOWLEDGE].due_at == MONDAY + timedelta(days=3)


def test_loosening_waits_for_a_second_compliance_officer_then_applies(
        compliance: Any, second_officer: Any, reporter: Any, clock: Any) -> None:
    change = propose(compliance, kind=Kind.TRIAGE, severity=Severity.CRITICAL, amount=5,
                     unit=Unit.BUSINESS_DAYS)
    assert change.status == PolicyChange.Status.PENDING and change.loosens
    assert not SlaPolicy.objects.exists()
    assert not events(Action.POLICY_CHANGED)
    [proposed] = events(Action.POLICY_CHANGE_PROPOSED)
    assert proposed.to_state == "pending"
    assert payload(proposed)["before"] == {"amount": 2, "unit": "business_days",
                                           "source": "default"}
    assert payload(proposed)["after"]["amount"] == 5
    # Not yet in force: a critical case filed now still gets two business days to triage.
    assert Policies.current().duration(Kind.TRIAGE, Category.VIOLENCE, Severity.CRITICAL) == \
        Duration(2, Unit.BUSINESS_DAYS)

    with pytest.raises(TransitionForbidden):
        policy_change_approve(change=change, actor=compliance)
    assert PolicyChange.objects.get().status == PolicyChange.Status.PENDING

    policy_change_approve(change=change, actor=second_officer)
    change.refresh_from_db()
    assert change.status == PolicyChange.Status.APPLIED and change.decided_by == second_officer
    [changed] = events(Action.POLICY_CHANGED)
    assert changed.actor_id == str(second_officer.pk)
    body = payload(changed)
    assert body["second_person"] is True and body["proposed_by"] == str(compliance.pk)
    assert body["before"]["amount"] == 2 and body["after"] == {
        "amount": 5, "unit": "business_days", "source": "*/critical"}
    assert Policies.current().duration(Kind.TRIAGE, Category.VIOLENCE, Severity.CRITICAL) == \
        Duration(5, Unit.BUSINESS_DAYS)
    with pytest.raises(TransitionNotAllowed):
        policy_change_approve(change=change, actor=second_officer)


def test_a_new_complaint_gets_the_longer_deadline_only_after_approval(
        compliance: Any, second_officer: Any, reporter: Any, clock: Any) -> None:
    change = propose(compliance, kind=Kind.ACKNOWLEDGE, severity=Severity.CRITICAL, amount=2,
                     unit=Unit.BUSINESS_DAYS)
    before = file_complaint(reporter, Category.SEXUAL_ASSAULT)
    assert open_deadlines(before)[Kind.ACKNOWLEDGE].due_at == MONDAY + timedelta(days=1)
    policy_change_approve(change=change, actor=second_officer)
    after = file_complaint(reporter, Category.SEXUAL_ASSAULT)
    assert open_deadlines(after)[Kind.ACKNOWLEDGE].due_at == MONDAY + timedelta(days=2)


def test_the_audit_committee_may_approve_but_not_propose(
        compliance: Any, audit_committee: Any) -> None:
    change = propose(compliance, kind=ESCALATION, amount=5, unit=Unit.BUSINESS_DAYS)
    assert change.loosens
    policy_change_approve(change=change, actor=audit_committee)
    assert SlaPolicy.objects.get(kind=ESCALATION).amount == 5


def test_others_may_not_approve(compliance: Any, hr_lead: Any) -> None:
    change = propose(compliance, kind=ESCALATION, amount=5, unit=Unit.BUSINESS_DAYS)
    with pytest.raises(TransitionForbidden):
        policy_change_approve(change=change, actor=hr_lead)
    with pytest.raises(TransitionForbidden):
        policy_change_reject(change=change, actor=hr_lead)


def test_rejection_changes_nothing_and_is_on_the_record(
        compliance: Any, second_officer: Any) -> None:
    change = propose(compliance, kind=Kind.FINDINGS, amount=61, unit=Unit.BUSINESS_DAYS)
    policy_change_reject(change=change, actor=second_officer)
    change.refresh_from_db()
    assert change.status == PolicyChange.Status.REJECTED
    assert not SlaPolicy.objects.exists()
    [rejected] = events(Action.POLICY_CHANGE_REJECTED)
    assert rejected.actor_id == str(second_officer.pk)
    assert payload(rejected)["after"]["amount"] == 61 and payload(rejected)["withdrawn"] is False
    with pytest.raises(TransitionNotAllowed):
        policy_change_approve(change=change, actor=second_officer)


def test_the_proposer_may_withdraw(compliance: Any) -> None:
    change = propose(compliance, kind=Kind.FINDINGS, amount=61, unit=Unit.BUSINESS_DAYS)
    policy_change_reject(change=change, actor=compliance)
    assert payload(events(Action.POLICY_CHANGE_REJECTED)[0])["withdrawn"] is True


def test_removing_a_shorter_override_is_a_loosening(
        compliance: Any, second_officer: Any) -> None:
    propose(compliance, kind=Kind.DECISION, category=Category.FRAUD, amount=1,
            unit=Unit.BUSINESS_DAYS)
    removal = propose(compliance, kind=Kind.DECISION, category=Category.FRAUD, amount=None)
    assert removal.status == PolicyChange.Status.PENDING
    assert SlaPolicy.objects.filter(category=Category.FRAUD).exists()
    policy_change_approve(change=removal, actor=second_officer)
    assert not SlaPolicy.objects.exists()
    body = payload(events(Action.POLICY_CHANGED)[-1])
    assert body["operation"] == "remove"
    assert body["before"] == {"amount": 1, "unit": "business_days", "source": "fraud/*"}
    # Standard and critical fall back to different defaults.
    assert body["after"] == {"amount": None, "unit": "", "source": "varies"}


def test_removing_a_longer_override_applies_at_once(
        compliance: Any, second_officer: Any) -> None:
    change = propose(compliance, kind=Kind.TRIAGE, category=Category.FRAUD,
                     severity=Severity.STANDARD, amount=12, unit=Unit.BUSINESS_DAYS)
    policy_change_approve(change=change, actor=second_officer)
    removal = propose(compliance, kind=Kind.TRIAGE, category=Category.FRAUD,
                      severity=Severity.STANDARD, amount=None)
    assert removal.status == PolicyChange.Status.APPLIED
    assert not SlaPolicy.objects.exists()


def test_one_loosening_at_a_time_per_scope(compliance: Any) -> None:
    propose(compliance, kind=Kind.FINDINGS, amount=61, unit=Unit.BUSINESS_DAYS)
    with pytest.raises(InvalidInput) as refused:
        propose(compliance, kind=Kind.FINDINGS, amount=61, unit=Unit.BUSINESS_DAYS)
    assert list(refused.value.errors) == ["__all__"]
    # A tightening is never held up (below the critical default too: the scope covers both).
    propose(compliance, kind=Kind.FINDINGS, amount=25, unit=Unit.BUSINESS_DAYS)
    assert SlaPolicy.objects.get().amount == 25


def test_retention_is_the_setting_until_a_policy_is_stored(compliance: Any) -> None:
    with override_settings(RETENTION_DAYS=1000):
        assert retention_in_force() == (1000, "setting")
        propose(compliance, kind=RETENTION, amount=2000)
        assert retention_in_force() == (2000, "policy")
    [changed] = events(Action.POLICY_CHANGED)
    assert (changed.target_type, changed.target_id) == ("retention_policy", "default")
    assert payload(changed)["before"] == {"amount": 1000, "unit": "calendar_days",
                                          "source": "setting"}
    assert payload(changed)["after"] == {"amount": 2000, "unit": "calendar_days",
                                         "source": "policy"}


@pytest.mark.parametrize("days", [30, 364, 3651, 36_500])
def test_retention_bounds(compliance: Any, days: int) -> None:
    with pytest.raises(InvalidInput) as refused:
        propose(compliance, kind=RETENTION, amount=days)
    assert list(refused.value.errors) == ["amount"]
    assert not RetentionPolicy.objects.exists()


def test_a_shorter_retention_needs_a_second_person(
        compliance: Any, second_officer: Any) -> None:
    with override_settings(RETENTION_DAYS=1095):
        change = propose(compliance, kind=RETENTION, amount=400)
        assert change.status == PolicyChange.Status.PENDING
        assert retention_days() == 1095
        with pytest.raises(TransitionForbidden):
            policy_change_approve(change=change, actor=compliance)
        policy_change_approve(change=change, actor=second_officer)
        assert retention_days() == 400
    body = payload(events(Action.POLICY_CHANGED)[0])
    assert body["before"]["amount"] == 1095 and body["after"]["amount"] == 400
    assert body["loosens"] is True


def test_the_system_check_refuses_a_retention_setting_out_of_bounds() -> None:
    from escalation.checks import retention_days_in_bounds

    with override_settings(RETENTION_DAYS=36_500):
        [error] = retention_days_in_bounds()
    assert isinstance(error, checks.Error) and error.id == "escalation.E001"
    assert retention_days_in_bounds() == []


def test_configuration_from_the_environment_is_recorded_when_it_changes() -> None:
    from escalation.services.observed import config_observe

    assert config_observe() is True
    assert config_observe() is False  # unchanged: nothing new on the record
    with override_settings(ORG_HOLIDAYS_COUNTRY="DE", ORG_HOLIDAYS_SUBDIVISION=None):
        assert config_observe() is True
    assert config_observe() is True
    first, second, third = events(Action.CONFIG_OBSERVED)
    assert first.actor_type == "system" and payload(first)["previous"] is None
    assert payload(second)["settings"]["ORG_HOLIDAYS_COUNTRY"] == "DE"
    assert payload(second)["previous"]["ORG_HOLIDAYS_COUNTRY"] == "GB"
    assert payload(third)["settings"]["ORG_HOLIDAYS_COUNTRY"] == "GB"  # back again
    assert payload(second)["settings"]["SWEEP_EVERY_SECONDS"] == "60.0"
