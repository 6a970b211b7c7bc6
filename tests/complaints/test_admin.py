"""The admin is no back door: no case data in it, and what stays (accounts and roles) is
on the record."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from audit.models import AuditEvent
from complaints import roles
from complaints.conflicts import person_id_of
from complaints.models import Complaint
from complaints.services.access import CaseNotFound, complaint_open
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser() -> Any:
    return UserFactory(username="root", is_staff=True, is_superuser=True)


@pytest.fixture
def root_client(superuser: Any) -> Client:
    client = Client()
    client.force_login(superuser)
    return client


def _change_form(user: Any, **changes: Any) -> dict[str, Any]:
    """What the admin's change form posts for ``user``, with ``changes``."""
    data: dict[str, Any] = {
        "username": user.username, "first_name": user.first_name,
        "last_name": user.last_name, "email": user.email,
        "is_active": "on" if user.is_active else "", "is_staff": "on" if user.is_staff else "",
        "is_superuser": "on" if user.is_superuser else "",
        "groups": [str(g) for g in user.groups.values_list("pk", flat=True)],
        "user_permissions": [],
        "last_login_0": "", "last_login_1": "", "date_joined_0": "2026-01-01",
        "date_joined_1": "09:00:00",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v != ""}


@pytest.mark.parametrize("path", [
    "/admin/complaints/complaint/", "/admin/complaints/person/",
    "/admin/escalation/slapolicy/", "/admin/escalation/deadline/",
    "/admin/escalation/escalation/", "/admin/escalation/notification/",
    "/admin/audit/auditevent/", "/admin/audit/chainhead/",
])
def test_no_case_data_is_in_the_admin_for_a_superuser(root_client: Client, filed: Complaint,
                                                      path: str) -> None:
    assert root_client.get(path).status_code == 404


def test_the_admin_index_lists_accounts_and_roles_only(root_client: Client) -> None:
    page = root_client.get("/admin/").content.decode()
    assert "/admin/auth/user/" in page and "/admin/auth/group/" in page
    for app in ("/admin/complaints/", "/admin/escalation/", "/admin/audit/"):
        assert app not in page


def test_a_role_change_in_the_admin_is_on_the_record(root_client: Client, superuser: Any,
                                                     compliance: Any) -> None:
    lead = Group.objects.get_or_create(name=roles.HR_LEAD)[0]
    groups = [str(g.pk) for g in compliance.groups.all()] + [str(lead.pk)]

    response = root_client.post(f"/admin/auth/user/{compliance.pk}/change/",
                                _change_form(compliance, groups=groups, is_staff="on"))

    assert response.status_code == 302, response.content.decode()[:2000]
    event = AuditEvent.objects.get(action="account.roles_changed")
    assert (event.actor_type, event.actor_id) == ("user", str(superuser.pk))
    assert (event.target_type, event.target_id) == ("user", str(compliance.pk))
    payload = json.loads(event.payload)
    assert payload["before"]["roles"] == [roles.COMPLIANCE_OFFICER]
    assert payload["after"]["roles"] == sorted([roles.COMPLIANCE_OFFICER, roles.HR_LEAD])
    assert (payload["before"]["is_staff"], payload["after"]["is_staff"]) == (False, True)


def test_saving_an_account_unchanged_writes_no_event(root_client: Client,
                                                     compliance: Any) -> None:
    response = root_client.post(f"/admin/auth/user/{compliance.pk}/change/",
                                _change_form(compliance))
    assert response.status_code == 302
    assert not AuditEvent.objects.filter(action="account.roles_changed").exists()


def test_an_account_made_in_the_admin_is_on_the_record(root_client: Client) -> None:
    response = root_client.post("/admin/auth/user/add/", {
        "username": "newcomer", "password1": "a-long-Passphrase-2026",
        "password2": "a-long-Passphrase-2026", "usable_password": "true"})
    assert response.status_code == 302, response.content.decode()[:2000]
    event = AuditEvent.objects.get(action="account.roles_changed")
    assert json.loads(event.payload)["created"] is True


def test_an_account_cannot_be_deleted_in_the_admin(root_client: Client, compliance: Any) -> None:
    assert root_client.get(f"/admin/auth/user/{compliance.pk}/delete/").status_code == 403
    root_client.post(f"/admin/auth/user/{compliance.pk}/delete/", {"post": "yes"})
    root_client.post("/admin/auth/user/", {"action": "delete_selected",
                                           "_selected_action": [str(compliance.pk)],
                                           "post": "yes"})
    assert type(compliance).objects.filter(pk=compliance.pk).exists()
    changelist = root_client.get("/admin/auth/user/").content.decode()
    assert "delete_selected" not in changelist


def test_a_superuser_cannot_unlink_themself_from_their_person_by_email(
        org: dict[str, Any], filed: Complaint) -> None:
    """The vp above the accused is a superuser: editing their own email (and username) in
    the admin leaves them linked to their person, and so conflicted on the case."""
    vp = UserFactory(username="vp", email=org["vp"].email, is_staff=True, is_superuser=True,
                     roles=[roles.HR_LEAD])
    org["vp"].refresh_from_db()
    assert org["vp"].user_id == vp.pk
    client = Client()
    client.force_login(vp)

    response = client.post(f"/admin/auth/user/{vp.pk}/change/",
                           _change_form(vp, email="someone.else@example.com",
                                        username="not-the-vp"))

    assert response.status_code == 302, response.content.decode()[:2000]
    vp.refresh_from_db()
    assert vp.email == org["vp"].email  # read-only for a linked account
    assert vp.username == "not-the-vp"
    assert person_id_of(type(vp).objects.get(pk=vp.pk)) == org["vp"].pk
    with pytest.raises(CaseNotFound):
        complaint_open(actor=type(vp).objects.get(pk=vp.pk), reference=filed.reference,
                       via="test")
