"""The admin is no back door: no case data in it, and what stays (accounts and roles) is
on the record."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.models import AuditEvent
from complaints import access
from complaints.access import person_id_of
from complaints.models import Complaint
from complaints.services.reads import CaseNotFound, complaint_open
from tests.factories import PersonFactory, UserFactory

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


def test_the_admin_index_lists_accounts_only(root_client: Client) -> None:
    page = root_client.get("/admin/").content.decode()
    assert "/admin/auth/user/" in page
    for app in ("/admin/complaints/", "/admin/escalation/", "/admin/audit/",
                "/admin/auth/group/", "/admin/otp_"):
        assert app not in page
    assert not [m for m in admin.site._registry if m._meta.app_label.startswith("otp_")]


def test_a_role_change_in_the_admin_is_on_the_record(root_client: Client, superuser: Any,
                                                     compliance: Any) -> None:
    PersonFactory(employee_id="C1", email=compliance.email)  # linked by this save
    lead = Group.objects.get_or_create(name=access.HR_LEAD)[0]
    groups = [str(g.pk) for g in compliance.groups.all()] + [str(lead.pk)]

    response = root_client.post(f"/admin/auth/user/{compliance.pk}/change/",
                                _change_form(compliance, groups=groups, is_staff="on"))

    assert response.status_code == 302, response.content.decode()[:2000]
    event = AuditEvent.objects.get(action="account.roles_changed")
    assert (event.actor_type, event.actor_id) == ("user", str(superuser.pk))
    assert (event.target_type, event.target_id) == ("user", str(compliance.pk))
    payload = json.loads(event.payload)
    assert payload["before"]["roles"] == [access.COMPLIANCE_OFFICER]
    assert payload["after"]["roles"] == sorted([access.COMPLIANCE_OFFICER, access.HR_LEAD])
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
                     roles=[access.HR_LEAD])
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


# --- No second account, no silent password, device or role-group change -------------------------


def test_a_staff_role_goes_only_to_an_account_linked_to_the_directory(
        root_client: Client, org: dict[str, Any], filed: Complaint) -> None:
    """A superuser above the accused makes a second account outside the directory and gives
    it hr_lead to read his own case through it: refused, with the form kept."""
    helper = UserFactory(username="helper", email="helper@elsewhere.test")
    lead = Group.objects.get_or_create(name=access.HR_LEAD)[0]

    response = root_client.post(f"/admin/auth/user/{helper.pk}/change/",
                                _change_form(helper, groups=[str(lead.pk)]))

    assert response.status_code == 200
    assert "link this account to its directory entry first" in response.content.decode()
    assert not helper.groups.exists()
    assert not AuditEvent.objects.filter(action="account.roles_changed").exists()


def test_a_role_it_already_holds_stays_and_a_linked_account_may_get_one(
        root_client: Client, compliance: Any, org: dict[str, Any]) -> None:
    unchanged = root_client.post(f"/admin/auth/user/{compliance.pk}/change/",
                                 _change_form(compliance, first_name="Cara"))
    linked = UserFactory(username="linked", email=org["peer"].email)
    lead = Group.objects.get_or_create(name=access.HR_LEAD)[0]
    given = root_client.post(f"/admin/auth/user/{linked.pk}/change/",
                             _change_form(linked, groups=[str(lead.pk)]))

    assert unchanged.status_code == 302 and given.status_code == 302
    assert access.roles_of(type(linked).objects.get(pk=linked.pk)) == {access.HR_LEAD}


def test_an_account_the_admin_links_to_a_directory_person_is_on_the_record(
        root_client: Client, superuser: Any, org: dict[str, Any]) -> None:
    """An account made in the name of someone in the directory who has none yet: the link
    (and so whose account it is) is an event with the superuser as its actor."""
    root_client.post("/admin/auth/user/add/", {
        "username": "impostor", "password1": "a-long-Passphrase-2026",
        "password2": "a-long-Passphrase-2026", "usable_password": "true"})
    impostor = type(superuser).objects.get(username="impostor")

    response = root_client.post(f"/admin/auth/user/{impostor.pk}/change/",
                                _change_form(impostor, email=org["ceo"].email.upper()))

    assert response.status_code == 302, response.content.decode()[:2000]
    event = AuditEvent.objects.get(action="account.person_linked")
    assert (event.actor_id, event.target_id, json.loads(event.payload)) == (
        str(superuser.pk), str(impostor.pk), {"created": False, "person": org["ceo"].pk})


def test_a_password_set_in_the_admin_is_on_the_record(root_client: Client, superuser: Any,
                                                      compliance: Any) -> None:
    response = root_client.post(f"/admin/auth/user/{compliance.pk}/password/", {
        "password1": "Taken-over-pw-9876", "password2": "Taken-over-pw-9876",
        "usable_password": "true"})
    refused = root_client.post(f"/admin/auth/user/{compliance.pk}/password/", {
        "password1": "Taken-over-pw-9876", "password2": "something else",
        "usable_password": "true"})

    assert (response.status_code, refused.status_code) == (302, 200)
    event = AuditEvent.objects.get(action="account.password_set")
    assert (event.actor_id, event.target_type, event.target_id, json.loads(event.payload)) == (
        str(superuser.pk), "user", str(compliance.pk), {"usable": True})


def test_no_device_can_be_added_for_someone_else_and_a_reset_is_on_the_record(
        root_client: Client, superuser: Any, compliance: Any) -> None:
    assert root_client.get("/admin/otp_totp/totpdevice/add/").status_code == 404
    TOTPDevice.objects.create(user=compliance, name="phone", confirmed=True)

    response = root_client.post("/admin/auth/user/", {
        "action": "reset_two_factor", "_selected_action": [str(compliance.pk)]})

    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(user=compliance).exists()
    event = AuditEvent.objects.get(action="account.two_factor_reset")
    assert (event.actor_id, event.target_id, json.loads(event.payload)) == (
        str(superuser.pk), str(compliance.pk), {"devices": 1})


def test_a_role_group_cannot_be_renamed_or_deleted_in_the_admin(
        root_client: Client, audit_committee: Any) -> None:
    group = Group.objects.get(name=access.AUDIT_COMMITTEE)

    renamed = root_client.post(f"/admin/auth/group/{group.pk}/change/",
                               {"name": "audit_committee_retired"})
    deleted = root_client.post(f"/admin/auth/group/{group.pk}/delete/", {"post": "yes"})

    assert (renamed.status_code, deleted.status_code) == (404, 404)
    assert Group.objects.get(pk=group.pk).name == access.AUDIT_COMMITTEE
    assert access.roles_of(type(audit_committee).objects.get(pk=audit_committee.pk)) == {
        access.AUDIT_COMMITTEE}


def test_the_admins_own_history_names_accounts_only(root_client: Client, compliance: Any,
                                                    filed: Complaint) -> None:
    root_client.post(f"/admin/auth/user/{compliance.pk}/change/",
                     _change_form(compliance, first_name="Cara"))
    root_client.post(f"/admin/auth/user/{compliance.pk}/password/", {
        "password1": "Another-pw-98765", "password2": "Another-pw-98765",
        "usable_password": "true"})

    assert LogEntry.objects.exists()
    user_type = ContentType.objects.get_for_model(type(compliance))
    assert set(LogEntry.objects.values_list("content_type", flat=True)) == {user_type.pk}
    assert filed.reference not in root_client.get("/admin/").content.decode()
