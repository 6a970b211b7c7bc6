"""verify_audit's second question: is every complaint on the record, and is every
complaint the record filed still here? Reported apart from chain breaks."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import timezone

from audit import services
from complaints.models import Complaint, Conflict, PurgePermit
from complaints.services import complaint_submit
from tests.api.conftest import Api
from tests.audit.test_log import raw, run_verify
from tests.conftest import past_the_triggers
from tests.factories import ComplaintFactory

pytestmark = pytest.mark.django_db


def file(n: int = 1) -> list[Complaint]:
    return [complaint_submit(reporter=None, category="bullying", summary="Shouting",
                             narrative="He shouts.").complaint for _ in range(n)]


def test_filed_complaints_make_a_complete_log() -> None:
    file(3)
    result = services.verify()
    assert (result.intact, result.complete, result.missing) == (True, True, ())
    code, out, _ = run_verify()
    assert code == 0 and out.startswith("intact")


def test_a_complaint_without_its_filing_event_is_reported_apart_from_the_chain() -> None:
    file(1)
    slipped_in = ComplaintFactory()  # written past complaint_submit: no event

    result = services.verify()

    assert result.intact is True and result.complete is False
    assert result.missing == (f"complaint {slipped_in.reference} has no filing event "
                              "(complaint.submitted)",)
    code, _, err = run_verify()
    assert code == 1
    assert "INCOMPLETE" in err and slipped_in.reference in err and "BROKEN" not in err


def test_a_filed_complaint_that_is_gone_is_reported(compliance: Any) -> None:
    one, gone = file(2)
    # Deleted past the delete guard, as only the database owner could.
    with past_the_triggers():
        for table in ("complaints_conflict", "complaints_subject", "escalation_deadline",
                      "escalation_notification"):
            raw(f"DELETE FROM {table} WHERE complaint_id = %s", [gone.pk])  # noqa: S608
        raw("DELETE FROM complaints_complaint WHERE id = %s", [gone.pk])

    result = services.verify()

    assert result.complete is False and len(result.missing) == 1
    assert result.missing[0].startswith(f"complaint {gone.reference} was filed (event #")
    body = Api().as_user(compliance).get("audit/verify/").json()
    assert body["intact"] is True and body["complete"] is False
    # The API cannot tell who was conflicted on a complaint that is gone, so it names it to
    # nobody, and locates no event by its position; verify_audit on the server names it.
    assert body["missing"] == ["a complaint not shown to you was filed and no longer exists"]


def test_the_api_names_an_incomplete_complaint_only_to_readers_who_may_open_it(
        filed: Any, compliance: Any, officer_on_chain: Any) -> None:
    Complaint.objects.filter(pk=filed.pk).update(purged_at=timezone.now())

    seen = Api().as_user(compliance).get("audit/verify/").json()["missing"]
    hidden = Api().as_user(officer_on_chain).get("audit/verify/").json()["missing"]

    assert seen == [f"complaint {filed.reference} was purged without a purge event "
                    "(complaint.purged)"]
    assert hidden == ["a complaint not shown to you was purged without a purge event "
                      "(complaint.purged)"]


def test_a_purged_complaint_needs_its_purge_event() -> None:
    (case,) = file(1)
    Complaint.objects.filter(pk=case.pk).update(purged_at=timezone.now())

    assert services.verify().missing == (
        f"complaint {case.reference} was purged without a purge event (complaint.purged)",)


def test_the_report_is_bounded() -> None:
    for _ in range(services.MISSING_SHOWN + 5):
        ComplaintFactory()
    assert len(services.verify().missing) == services.MISSING_SHOWN


def test_a_purge_permit_taken_outside_the_purge_is_reported() -> None:
    (case,) = file(1)
    PurgePermit.objects.create(complaint=case, permitted_at=timezone.now())

    assert services.verify().missing == (
        f"complaint {case.reference} holds a purge permit without a purge event "
        "(complaint.purged)",)


def test_the_scheduled_verification_puts_incompleteness_on_the_record(
        caplog: pytest.LogCaptureFixture) -> None:
    import json

    from audit.models import AuditEvent
    from audit.tasks import audit_verify_chain

    slipped_in = ComplaintFactory()
    outcome = audit_verify_chain()

    assert outcome["intact"] is True and outcome["complete"] is False
    last = AuditEvent.objects.order_by("-seq").first()
    # On the record as incomplete; which complaint is for the operator's log and
    # verify_audit, not for the log every reader (the conflicted too) reads.
    assert json.loads(last.payload)["complete"] is False
    assert slipped_in.reference not in last.payload
    assert "audit log incomplete" in caplog.text and slipped_in.reference in caplog.text


# --- What the application's role may still write, caught against the log ------------------
# The role must UPDATE complaints, conflicts and deadlines; the log it cannot rewrite says
# what the services did, so a write behind their back shows.

def test_a_state_written_behind_the_services_is_reported(compliance: Any) -> None:
    one, tampered = file(2)
    raw("UPDATE complaints_complaint SET state = 'closed', ended_at = %s WHERE id = %s",
        [timezone.now(), tampered.pk])

    result = services.verify()

    assert result.intact is True and result.complete is False
    assert result.missing == (f"complaint {tampered.reference} is not in the state its last "
                              "event left it in",)
    assert run_verify()[0] == 1


def test_a_conflict_lifted_behind_the_services_is_reported(
        filed: Any, compliance: Any, officer_on_chain: Any) -> None:
    lifted = Conflict.objects.get(complaint=filed, source=Conflict.Source.CHAIN,
                                  user=None, person__user=officer_on_chain)
    raw("UPDATE complaints_conflict SET removed_at = %s WHERE id = %s",
        [timezone.now(), lifted.pk])

    assert services.verify().missing == (
        f"complaint {filed.reference} has a conflict marked removed without an approved "
        "removal (complaint.conflict_removal_approved)",)


def test_a_conflict_removed_by_two_people_is_complete(filed: Any, compliance: Any,
                                                      audit_committee: Any,
                                                      hr_reviewer: Any) -> None:
    from complaints.services.conflicts import (
        complaint_declare_conflict,
        conflict_removal_decide,
        conflict_removal_request,
    )

    complaint_declare_conflict(complaint=filed, actor=hr_reviewer)
    declared = Conflict.objects.get(complaint=filed, source=Conflict.Source.DECLARED)
    removal = conflict_removal_request(complaint=filed, conflict_id=declared.pk,
                                       actor=compliance, reason="Declared by mistake")
    conflict_removal_decide(complaint=filed, removal_id=removal.pk, actor=audit_committee,
                            approve=True)

    assert Conflict.objects.get(pk=declared.pk).removed_at is not None
    assert services.verify().missing == ()


def test_a_deadline_moved_out_behind_the_services_is_reported() -> None:
    from escalation.models import Deadline

    one, buried = file(2)
    running = Deadline.objects.filter(complaint=buried, closed_at=None)
    assert running.exists()
    raw("UPDATE escalation_deadline SET due_at = '2999-01-01 00:00:00' WHERE complaint_id = %s",
        [buried.pk])
    raw("UPDATE complaints_complaint SET next_due_at = '2999-01-01 00:00:00' WHERE id = %s",
        [buried.pk])

    assert services.verify().missing == (
        f"complaint {buried.reference} has a running deadline due further out than any "
        "clock allows",)
