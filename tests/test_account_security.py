"""Staff account security: two-factor sign-in, login lockout, and the Content-Security-Policy."""

from __future__ import annotations

import datetime as dt
import time
from base64 import b32encode
from typing import Any

import pytest
import time_machine
from django.test import Client
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.models import AuditEvent
from tests.factories import UserFactory

# Five seconds into a 30-second TOTP step, so a test may move the clock a few seconds and
# still be inside the same step.
NOW = dt.datetime(2026, 3, 2, 9, 0, 5, tzinfo=dt.UTC)
VERIFY = "/accounts/two-factor/"
SETUP = "/accounts/two-factor/setup/"
LOGIN = "/accounts/login/"


def code(device: TOTPDevice, *, steps: int = 0) -> str:
    """The code an authenticator app holding ``device``'s key shows now (plus ``steps``)."""
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time() + steps * device.step
    return f"{totp.token():0{device.digits}d}"


def wrong_code(device: TOTPDevice) -> str:
    accepted = {code(device, steps=s) for s in range(-device.tolerance, device.tolerance + 1)}
    return next(c for c in ("000000", "111111", "222222", "333333") if c not in accepted)


def events(action: str, user: Any) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action, actor_type="user",
                                          actor_id=str(user.pk), target_type="user",
                                          target_id=str(user.pk)))


@pytest.fixture
def otp_required(settings: Any) -> None:
    settings.OTP_REQUIRED_FOR_STAFF = True


@pytest.fixture
def clock() -> Any:
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


# --- Who is asked for a second factor ------------------------------------------------------

@pytest.mark.parametrize("persona", ["hr_reviewer", "hr_lead", "investigator", "compliance",
                                     "audit_committee", "django_staff", "superuser"])
def test_staff_without_a_verified_device_are_sent_to_the_code_page(
    client: Client, db: None, otp_required: None, request: pytest.FixtureRequest, persona: str
) -> None:
    if persona == "django_staff":
        user = UserFactory(username="admin_only", is_staff=True)
    elif persona == "superuser":
        user = UserFactory(username="root", is_staff=True, is_superuser=True)
    else:
        user = request.getfixturevalue(persona)
    client.force_login(user)

    response = client.get("/staff/?page=2")

    assert response.status_code == 302
    assert response["Location"] == f"{VERIFY}?next=/staff/%3Fpage%3D2"


def test_the_code_page_sends_a_user_without_a_device_to_setup(
    client: Client, otp_required: None, hr_reviewer: Any
) -> None:
    client.force_login(hr_reviewer)

    response = client.get(VERIFY, {"next": "/staff/"})

    assert response.status_code == 302
    assert response["Location"] == f"{SETUP}?next=%2Fstaff%2F"


def test_staff_are_not_asked_when_two_factor_is_not_required(
    client: Client, settings: Any, hr_reviewer: Any
) -> None:
    settings.OTP_REQUIRED_FOR_STAFF = False
    client.force_login(hr_reviewer)

    assert client.get(LOGIN).status_code == 200


def test_an_employee_without_a_staff_role_is_never_asked(
    client: Client, otp_required: None, reporter: Any
) -> None:
    client.force_login(reporter)

    assert client.get(LOGIN).status_code == 200


def test_signing_out_and_the_api_are_not_held_back_by_the_code_page(
    client: Client, otp_required: None, hr_reviewer: Any
) -> None:
    client.force_login(hr_reviewer)

    api = client.get("/api/v1/complaints/")
    assert not api.get("Location", "").startswith(VERIFY)

    response = client.post("/accounts/logout/")
    assert response.status_code == 302 and response["Location"] == "/"
    assert "_auth_user_id" not in client.session


# --- Setting up a device -----------------------------------------------------------------------

def test_setup_shows_an_inline_svg_qr_code_and_confirms_the_device_with_a_real_code(
    client: Client, otp_required: None, clock: Any, hr_reviewer: Any
) -> None:
    client.force_login(hr_reviewer)

    page = client.get(SETUP, {"next": "/staff/"})

    assert page.status_code == 200
    device = TOTPDevice.objects.get(user=hr_reviewer)
    assert not device.confirmed
    html = page.content.decode()
    assert "<svg" in html and 'aria-label="QR code' in html
    # The page must work under the CSP: no script and no inline style anywhere.
    assert "<script" not in html and "style=" not in html
    secret = b32encode(device.bin_key).decode()
    assert " ".join(secret[i:i + 4] for i in range(0, len(secret), 4)) in html
    # A reload shows the same secret rather than invalidating the one already scanned.
    client.get(SETUP)
    assert TOTPDevice.objects.filter(user=hr_reviewer).count() == 1

    response = client.post(SETUP, {"token": code(device), "next": "/staff/"})

    assert response.status_code == 302 and response["Location"] == "/staff/"
    device.refresh_from_db()
    assert device.confirmed
    assert len(events("account.two_factor_enabled", hr_reviewer)) == 1
    # The session is now verified: the middleware lets the user through.
    assert client.get(LOGIN).status_code == 200


def test_setup_refuses_a_wrong_code_with_a_form_error(
    client: Client, otp_required: None, clock: Any, hr_reviewer: Any
) -> None:
    client.force_login(hr_reviewer)
    client.get(SETUP)
    device = TOTPDevice.objects.get(user=hr_reviewer)

    response = client.post(SETUP, {"token": wrong_code(device)})

    assert response.status_code == 200
    assert "That code is not right" in response.content.decode()
    assert 'aria-invalid="true"' in response.content.decode()
    device.refresh_from_db()
    assert not device.confirmed
    assert len(events("account.two_factor_failed", hr_reviewer)) == 1
    assert client.get(LOGIN).status_code == 302


def test_setup_is_closed_once_a_device_is_confirmed(
    client: Client, otp_required: None, hr_reviewer: Any
) -> None:
    # Otherwise someone holding only the password could add their own authenticator.
    TOTPDevice.objects.create(user=hr_reviewer, name="phone", confirmed=True)
    client.force_login(hr_reviewer)

    response = client.get(SETUP, {"next": "/staff/"})

    assert response.status_code == 302 and response["Location"] == f"{VERIFY}?next=%2Fstaff%2F"
    assert TOTPDevice.objects.filter(user=hr_reviewer).count() == 1


# --- Entering a code at sign-in ----------------------------------------------------------------

def test_a_correct_code_verifies_the_session_and_goes_to_next(
    client: Client, otp_required: None, clock: Any, hr_lead: Any
) -> None:
    device = TOTPDevice.objects.create(user=hr_lead, name="phone", confirmed=True)
    client.force_login(hr_lead)
    assert client.get(VERIFY).status_code == 200

    response = client.post(VERIFY, {"token": code(device), "next": "/staff/queue/"})

    assert response.status_code == 302 and response["Location"] == "/staff/queue/"
    assert client.get(LOGIN).status_code == 200
    assert len(events("account.two_factor_verified", hr_lead)) == 1


def test_a_wrong_code_is_refused_and_a_quick_retry_waits_out_the_back_off(
    client: Client, otp_required: None, clock: Any, hr_lead: Any
) -> None:
    device = TOTPDevice.objects.create(user=hr_lead, name="phone", confirmed=True)
    client.force_login(hr_lead)

    wrong = client.post(VERIFY, {"token": wrong_code(device)})
    assert wrong.status_code == 200 and "That code is not right" in wrong.content.decode()

    too_soon = client.post(VERIFY, {"token": code(device)})
    assert "Too many wrong codes" in too_soon.content.decode()
    assert client.get(LOGIN).status_code == 302

    clock.shift(2)
    assert client.post(VERIFY, {"token": code(device)}).status_code == 302
    assert client.get(LOGIN).status_code == 200
    assert len(events("account.two_factor_failed", hr_lead)) == 2


def test_a_code_cannot_be_used_twice(
    client: Client, otp_required: None, clock: Any, hr_lead: Any
) -> None:
    device = TOTPDevice.objects.create(user=hr_lead, name="phone", confirmed=True)
    seen = code(device)
    client.force_login(hr_lead)
    assert client.post(VERIFY, {"token": seen}).status_code == 302

    other = Client()
    other.force_login(hr_lead)
    replay = other.post(VERIFY, {"token": seen})

    assert replay.status_code == 200 and "That code is not right" in replay.content.decode()


def test_next_must_stay_on_this_site(
    client: Client, otp_required: None, clock: Any, hr_lead: Any
) -> None:
    device = TOTPDevice.objects.create(user=hr_lead, name="phone", confirmed=True)
    client.force_login(hr_lead)

    response = client.post(VERIFY, {"token": code(device), "next": "https://evil.example/"})

    assert response.status_code == 302 and response["Location"] == "/staff/"


def test_the_code_page_needs_a_signed_in_user(client: Client, db: None) -> None:
    response = client.get(VERIFY)

    assert response.status_code == 302 and response["Location"].startswith(LOGIN)


# --- Login and lockout ------------------------------------------------------------------------

def test_the_login_page_labels_its_fields_and_keeps_the_username_but_not_the_password(
    client: Client, settings: Any, hr_reviewer: Any
) -> None:
    settings.AXES_ENABLED = True
    page = client.get(LOGIN).content.decode()
    assert '<label for="id_username">' in page and '<label for="id_password">' in page

    failed = client.post(LOGIN, {"username": "hr_reviewer", "password": "not-it"})

    html = failed.content.decode()
    assert failed.status_code == 200
    assert 'role="alert"' in html and "correct username and password" in html
    assert 'value="hr_reviewer"' in html and "not-it" not in html


def _login(client: Client, password: str, username: str = "hr_reviewer") -> Any:
    return client.post(LOGIN, {"username": username, "password": password})


def test_five_wrong_passwords_pause_sign_in_for_an_hour(
    client: Client, settings: Any, clock: Any, hr_reviewer: Any, hr_lead: Any
) -> None:
    settings.AXES_ENABLED = True
    for _ in range(4):
        assert _login(client, "wrong").status_code == 200

    locked = _login(client, "wrong")

    assert locked.status_code == 429
    assert "Sign-in is paused" in locked.content.decode()
    assert "60 minutes" in locked.content.decode()
    # The right password does not get through during the pause...
    assert _login(client, "pw").status_code == 429
    assert "_auth_user_id" not in client.session
    # ...which holds one username from one address, not everyone behind it.
    assert _login(client, "pw", username="hr_lead").status_code == 302
    client.logout()

    clock.shift(dt.timedelta(minutes=61))
    signed_in = _login(client, "pw")

    assert signed_in.status_code == 302
    assert client.session["_auth_user_id"] == str(hr_reviewer.pk)


def test_a_successful_sign_in_resets_the_failure_count(
    client: Client, settings: Any, hr_reviewer: Any
) -> None:
    settings.AXES_ENABLED = True
    for _ in range(4):
        _login(client, "wrong")
    assert _login(client, "pw").status_code == 302
    client.logout()

    for _ in range(4):
        assert _login(client, "wrong").status_code == 200


# --- Content-Security-Policy -------------------------------------------------------------------

EXPECTED_POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
    "base-uri": "'none'",
    "object-src": "'none'",
}


def policy(header: str) -> dict[str, str]:
    directives = (part.strip().split(" ", 1) for part in header.split(";") if part.strip())
    return {name: value for name, value in directives}


def test_the_home_page_carries_the_content_security_policy(client: Client, db: None) -> None:
    response = client.get("/")

    assert response.status_code == 200
    assert policy(response["Content-Security-Policy"]) == EXPECTED_POLICY


def test_the_lockout_page_carries_the_content_security_policy_too(
    client: Client, settings: Any, hr_reviewer: Any
) -> None:
    settings.AXES_ENABLED = True
    settings.AXES_FAILURE_LIMIT = 1

    response = _login(client, "wrong")

    assert response.status_code == 429
    assert policy(response["Content-Security-Policy"]) == EXPECTED_POLICY
