from __future__ import annotations

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from audit.models import AuditEvent
from audit.services import verify
from complaints.models import Complaint


@pytest.mark.django_db
def test_seed_demo_builds_an_audited_demo_and_is_idempotent() -> None:
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    text = out.getvalue()
    assert "hr.reviewer" in text and "demo-reviewer-2026" in text
    # The HR system's service account, the directory's only writer, and its import.
    assert "hr-system" in text and "directory_sync" in text
    hr_system = get_user_model().objects.get(username="hr-system")
    assert list(hr_system.groups.values_list("name", flat=True)) == ["directory_sync"]
    assert AuditEvent.objects.get(action="directory.imported").actor_id == str(hr_system.pk)
    states = set(Complaint.objects.values_list("state", flat=True))
    assert {"submitted", "acknowledged", "investigating", "dismissal_proposed",
            "closed"} <= states
    assert verify().intact
    again = io.StringIO()
    call_command("seed_demo", stdout=again)
    assert "already there" in again.getvalue()
    assert Complaint.objects.count() == 6


@pytest.mark.django_db
def test_the_demo_compliance_officer_works_in_the_product_not_the_admin(client: object) -> None:

    call_command("seed_demo", stdout=io.StringIO())
    officer = get_user_model().objects.get(username="compliance")
    assert not officer.is_staff
    client.force_login(officer)  # type: ignore[attr-defined]
    page = client.get("/admin/escalation/slapolicy/")  # type: ignore[attr-defined]
    assert page.status_code in (302, 404)
