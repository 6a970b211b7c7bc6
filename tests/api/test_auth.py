"""Bearer tokens: for users (password, and the code where they have two-factor), for an
anonymous reporter (the receipt key), revoked on request, and nothing else authenticates."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest
import time_machine
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.models import AuditEvent
from complaints.models import ApiToken
from complaints.services import complaint_submit
from tests.api.conftest import REPORT, Api
from tests.factories import UserFactory

# Five seconds into a 30-second TOTP step.
NOW = dt.datetime(2026, 3, 2, 9, 0, 5, tzinfo=dt.UTC)


def code(device: TOTPDevice) -> str:
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time()
    return f"{totp.token():0{device.digits}d}"


def test_a_password_gets_a_token_that_opens_the_api(api: Api, hr_lead: Any) -> None:
    response = api.post("auth/token/", {"username": "hr_lead", "password": "pw"})

    assert response.status_code == 200
    token = response.json()["token"]
    assert set(response.json()) == {"token", "expires_at"}
    assert Api(token).get("complaints/").status_code == 200
    stored = ApiToken.objects.get(user=hr_lead)
    assert token not in stored.key_hash and len(stored.key_hash) == 64
    assert stored.expires_at - stored.created_at == dt.timedelta(hours=12)
    event = AuditEvent.objects.get(action="api.token_issued")
    assert (event.actor_id, event.target_type) == (str(hr_lead.pk), "user")
    assert token not in event.payload


@pytest.mark.parametrize("body", [
    {"username": "hr_lead", "password": "wrong"},
    {"username": "nobody", "password": "pw"},
])
def test_wrong_credentials_are_a_400(api: Api, hr_lead: Any, body: dict[str, str]) -> None:
    response = api.post("auth/token/", body)

    assert response.status_code == 400
    assert list(response.json()) == ["non_field_errors"]
    assert not ApiToken.objects.exists()


def test_missing_credentials_are_named(api: Api) -> None:
    response = api.post("auth/token/", {})

    assert response.status_code == 400
    assert response.json() == {"username": ["This field is required."],
                               "password": ["This field is required."]}


def test_an_inactive_account_gets_no_token(api: Api) -> None:
    UserFactory(username="gone", is_active=False)

    assert api.post("auth/token/", {"username": "gone", "password": "pw"}).status_code == 400


def test_two_factor_accounts_need_their_code(api: Api, hr_lead: Any) -> None:
    device = TOTPDevice.objects.create(user=hr_lead, name="phone", confirmed=True)
    credentials = {"username": "hr_lead", "password": "pw"}

    with time_machine.travel(NOW, tick=False):
        missing = api.post("auth/token/", credentials)
        wrong = api.post("auth/token/", {**credentials, "otp": "000000"
                                         if code(device) != "000000" else "111111"})
    # Past django-otp's back-off after one wrong code, inside the same 30-second step.
    with time_machine.travel(NOW + dt.timedelta(seconds=5), tick=False):
        right = api.post("auth/token/", {**credentials, "otp": code(device)})

    assert missing.status_code == 400 and list(missing.json()) == ["otp"]
    assert wrong.status_code == 400 and list(wrong.json()) == ["otp"]
    assert right.status_code == 200
    assert AuditEvent.objects.filter(action="account.two_factor_failed").count() == 1
    issued = AuditEvent.objects.get(action="api.token_issued")
    assert '"via":"password+otp"' in issued.payload


def test_staff_without_two_factor_must_set_it_up_first_where_required(
        api: Api, hr_lead: Any, settings: Any) -> None:
    settings.OTP_REQUIRED_FOR_STAFF = True

    response = api.post("auth/token/", {"username": "hr_lead", "password": "pw"})

    assert response.status_code == 403
    assert "two-factor" in response.json()["detail"]


def test_a_locked_out_sign_in_is_a_json_429(api: Api, hr_lead: Any, settings: Any) -> None:
    settings.AXES_ENABLED = True
    settings.AXES_FAILURE_LIMIT = 2
    for _ in range(2):
        api.post("auth/token/", {"username": "hr_lead", "password": "wrong"})

    response = api.post("auth/token/", {"username": "hr_lead", "password": "pw"})

    assert response.status_code == 429
    assert response["Content-Type"] == "application/json"
    assert "detail" in response.json()


def test_revoking_a_token_ends_it(api: Api, hr_lead: Any) -> None:
    caller = api.as_user(hr_lead)

    assert caller.delete("auth/token/").status_code == 204
    response = caller.get("complaints/")

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"
    assert ApiToken.objects.get().revoked_at is not None
    assert AuditEvent.objects.filter(action="api.token_revoked",
                                     actor_id=str(hr_lead.pk)).count() == 1


def test_an_expired_token_is_refused(api: Api, hr_lead: Any) -> None:
    caller = api.as_user(hr_lead)
    ApiToken.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))

    assert caller.get("complaints/").status_code == 401


@pytest.mark.parametrize("header", [
    "Token abc", "Basic aHJfbGVhZDpwdw==", "Bearer", "Bearer a b", "Bearer unknown",
    "Bearer \u00e9t\u00e9",
])
def test_any_other_authorization_is_a_401(api: Api, hr_lead: Any, header: str) -> None:
    response = api.get("complaints/", Authorization=header)

    assert response.status_code == 401
    assert "detail" in response.json()


def test_a_signed_in_session_does_not_open_the_api(api: Api, hr_lead: Any) -> None:
    api.client.force_login(hr_lead)

    assert api.get("complaints/").status_code == 401


def test_filing_needs_neither_token_nor_csrf(api: Api) -> None:
    # The client enforces CSRF checks, as a browser's would be.
    response = api.post("complaints/", REPORT)

    assert response.status_code == 201
    assert set(response.json()) == {"reference", "state", "receipt_key"}


# --- Anonymous reporters ---------------------------------------------------------------------

def test_a_receipt_key_gets_a_short_token_for_that_one_complaint(api: Api, filed: Any) -> None:
    other = complaint_submit(reporter=None, anonymous=True, **{
        k: v for k, v in REPORT.items()})
    session = api.post("reporter/session/", {"receipt_key": other.receipt_key.lower()})

    assert session.status_code == 200
    body = session.json()
    assert body["reference"] == other.complaint.reference
    reporter = Api(body["token"])
    assert reporter.get(f"complaints/{other.complaint.reference}/").json()["viewer"] == "reporter"
    assert reporter.get(f"complaints/{filed.reference}/").status_code == 404
    stored = ApiToken.objects.get(complaint=other.complaint)
    assert stored.expires_at - stored.created_at == dt.timedelta(minutes=30)
    assert AuditEvent.objects.filter(action="reporter.key_accepted").count() == 1
    issued = AuditEvent.objects.get(action="api.token_issued")
    assert (issued.actor_type, issued.actor_id) == ("reporter", other.complaint.reference)


def test_a_receipt_key_sent_with_a_users_token_is_refused(api: Api, reporter: Any) -> None:
    filed = complaint_submit(reporter=None, anonymous=True, **REPORT)
    user = Api(api.post("auth/token/", {"username": reporter.username, "password": "pw"})
               .json()["token"])
    tokens = ApiToken.objects.count()

    refused = user.post("reporter/session/", {"receipt_key": filed.receipt_key})

    assert refused.status_code == 403
    assert "would connect it to that account" in refused.json()["detail"]
    assert ApiToken.objects.count() == tokens
    assert not AuditEvent.objects.filter(action="reporter.key_accepted").exists()
    # Without the user's token the key works.
    assert api.post("reporter/session/", {"receipt_key": filed.receipt_key}).status_code == 200
    assert AuditEvent.objects.filter(action="reporter.key_accepted").count() == 1


def test_a_wrong_receipt_key_is_a_400_and_audited(api: Api) -> None:
    response = api.post("reporter/session/", {"receipt_key": "AAAA-BBBB-CCCC-DDDD-EEEE"})

    assert response.status_code == 400
    assert list(response.json()) == ["receipt_key"]
    assert AuditEvent.objects.filter(action="reporter.key_rejected").count() == 1


def test_guessing_receipt_keys_is_stopped_with_429_and_audited(api: Api, settings: Any) -> None:
    settings.RECEIPT_KEY_RATE_PER_CLIENT = "3/h"
    statuses = [api.post("reporter/session/", {"receipt_key": "AAAA-BBBB-CCCC-DDDD-EEEE"})
                .status_code for _ in range(5)]

    assert statuses == [400, 400, 400, 429, 429]
    assert AuditEvent.objects.filter(action="reporter.key_throttled").count() == 1
    assert AuditEvent.objects.filter(action="reporter.key_rejected").count() == 3


def test_a_reporter_token_can_be_revoked(api: Api) -> None:
    filed = complaint_submit(reporter=None, **REPORT)
    reporter = Api(api.post("reporter/session/", {"receipt_key": filed.receipt_key})
                   .json()["token"])

    assert reporter.delete("auth/token/").status_code == 204
    assert reporter.get(f"complaints/{filed.complaint.reference}/").status_code == 401
    revoked = AuditEvent.objects.get(action="api.token_revoked")
    assert (revoked.actor_type, revoked.target_id) == ("reporter", filed.complaint.reference)
