"""/compliance/policies/: what is in force, what waits for a second person, the form to
propose a change, and the history from the audit log; only for compliance and the audit
committee."""

from __future__ import annotations

from typing import Any

import pytest

from audit.actions import Action
from audit.models import AuditEvent
from audit.opaque import event_id
from complaints import access
from escalation.models import PolicyChange, SlaPolicy
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
URL = "/compliance/policies/"


def propose(client: Any, **data: Any) -> Any:
    return client.post(URL, {"kind": "acknowledge", "category": "", "severity": "critical",
                             "unit": "business_days", "reason": "Board decision"} | data)


def test_the_page_shows_what_is_in_force_and_the_history(compliance: Any, client: Any) -> None:
    client.force_login(compliance)
    response = propose(client, amount="1", unit="hours")
    assert response.status_code == 302
    page = client.get(URL)
    assert page.status_code == 200
    html = page.content.decode()
    assert "Deadlines in force" in html and "7 calendar days" in html
    assert "1 hours" in html and "override */critical" in html
    assert "fixed in code and change only with a release" in html
    assert "policy.changed" in html and "1 business days (default)" in html
    assert 'href="/compliance/policies/" aria-current="page"' in html
    # The history names events as the log viewer does, never by their sequence number.
    changed = AuditEvent.objects.get(action=Action.POLICY_CHANGED)
    assert f"<code>{event_id(changed)}</code>" in html
    assert f"<td>{changed.seq}</td>" not in html and ">Seq<" not in html


def test_the_attack_through_the_form_is_refused_field_by_field_with_the_input_kept(
        compliance: Any, client: Any) -> None:
    client.force_login(compliance)
    response = propose(client, amount="36500", unit="calendar_days", reason="Too busy")
    assert response.status_code == 400
    html = response.content.decode()
    assert "legal bound" in html and 'id="id_amount_error"' in html
    assert 'value="36500"' in html and "Too busy</textarea>" in html
    assert not SlaPolicy.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="policy.").exists()


def test_a_missing_reason_is_a_field_error(compliance: Any, client: Any) -> None:
    client.force_login(compliance)
    response = propose(client, amount="1", reason="")
    assert response.status_code == 400
    assert 'id="id_reason_error"' in response.content.decode()


def test_a_loosening_waits_and_a_second_officer_approves_on_the_page(
        compliance: Any, client: Any) -> None:
    client.force_login(compliance)
    assert propose(client, amount="2").status_code == 302
    change = PolicyChange.objects.get()
    assert change.status == PolicyChange.Status.PENDING
    page = client.get(URL).content.decode()
    assert f"/compliance/policies/changes/{change.pk}/reject/" in page  # withdraw
    assert f"/compliance/policies/changes/{change.pk}/approve/" not in page
    assert client.post(f"/compliance/policies/changes/{change.pk}/approve/").status_code == 403

    second = UserFactory(username="second", roles=[access.COMPLIANCE_OFFICER])
    client.force_login(second)
    assert f"/compliance/policies/changes/{change.pk}/approve/" in client.get(URL).content.decode()
    assert client.post(f"/compliance/policies/changes/{change.pk}/approve/").status_code == 302
    assert SlaPolicy.objects.get().amount == 2
    assert AuditEvent.objects.filter(action=Action.POLICY_CHANGED,
                                     actor_id=str(second.pk)).exists()


def test_the_audit_committee_reads_and_may_decide_but_not_propose(
        audit_committee: Any, client: Any) -> None:
    client.force_login(audit_committee)
    page = client.get(URL)
    assert page.status_code == 200 and "Propose a change" not in page.content.decode()
    assert propose(client, amount="1").status_code == 403


def test_others_get_a_404(hr_reviewer: Any, client: Any) -> None:
    client.force_login(hr_reviewer)
    assert client.get(URL).status_code == 404
    assert propose(client, amount="1").status_code == 404
    assert client.post("/compliance/policies/changes/1/approve/").status_code == 404
