"""Two-factor sign-in for staff (django-otp, TOTP).

A handler's password alone would open the most sensitive records the organisation holds, so
with ``OTP_REQUIRED_FOR_STAFF`` on (always in production) a signed-in user with a staff role
reaches nothing but these pages until an authenticator-app code has been checked in this
session. Here: the middleware that asks for the code, the two services that check one (they
own their transactions and audit), and the setup and verify pages.
"""

from __future__ import annotations

import re
from base64 import b32encode
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import django_otp
import qrcode
from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods
from django_otp.plugins.otp_totp.models import TOTPDevice
from qrcode.image.svg import SvgPathImage

from audit import services as audit
from audit.actions import Action
from complaints import access

VERIFY_PATH = "/accounts/two-factor/"
SETUP_PATH = "/accounts/two-factor/setup/"
LOGOUT_PATH = "/accounts/logout/"
STAFF_HOME = "/staff/"
# The API checks the code itself at its token endpoint: a redirect means nothing to a client.
API_PREFIX = "/api/"
DEVICE_NAME = "Authenticator app"


def is_staff_account(user: Any) -> bool:
    return bool(
        user.is_staff or user.is_superuser or access.has_role(user, frozenset(access.ALL_ROLES))
    )


def needs_second_factor(user: Any) -> bool:
    """Whether this signed-in user must still enter a code before going anywhere."""
    if not settings.OTP_REQUIRED_FOR_STAFF or not user.is_authenticated:
        return False
    return is_staff_account(user) and not user.is_verified()


class TwoFactorRequiredMiddleware:
    """Sends a staff user whose session has no verified device to the code page.

    Must come after ``django_otp.middleware.OTPMiddleware``, which installs
    ``user.is_verified()``.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not self._exempt(request) and needs_second_factor(request.user):
            return redirect_to_login(request.get_full_path(), VERIFY_PATH)
        return self.get_response(request)

    @staticmethod
    def _exempt(request: HttpRequest) -> bool:
        path = request.path_info
        return (
            path in (VERIFY_PATH, SETUP_PATH, LOGOUT_PATH)
            or path.startswith(API_PREFIX)
            # settings.STATIC_URL carries the script prefix, as request.path does.
            or request.path.startswith(settings.STATIC_URL or "/static/")
        )


# --- Services --------------------------------------------------------------------------------

class CodeRefused(Exception):
    """The code was wrong, or too many wrong codes came too fast; the message says which."""


def _refusal(allowed: bool) -> CodeRefused:
    if not allowed:
        return CodeRefused(_("Too many wrong codes in a row. Wait a minute, then enter the "
                             "code your app shows at that time."))
    return CodeRefused(_("That code is not right. Enter the 6-digit code your authenticator "
                         "app shows now; if it keeps failing, check the time on your phone."))


def two_factor_device_for_setup(*, user: Any) -> TOTPDevice:
    """The user's unconfirmed TOTP device, made on first call and reused after, so reloading
    the setup page does not change the secret already scanned.

    Changes: may insert a ``TOTPDevice`` (unconfirmed: it verifies nobody until confirmed).
    """
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=False)
    return device


def two_factor_confirm(*, user: Any, device: TOTPDevice, token: str) -> TOTPDevice:
    """Confirm ``device`` with a code it generated.

    Changes: confirms the device, or counts a failure on it (its back-off).
    Audits: ``account.two_factor_enabled`` or ``account.two_factor_failed`` (stage setup).
    Raises: ``CodeRefused`` (after the failure is committed, so the back-off holds).
    """
    with transaction.atomic():
        # The row lock serialises two submissions of one code: django-otp refuses a code
        # at or before the last one accepted, which only holds if they do not race.
        device = TOTPDevice.objects.select_for_update().get(pk=device.pk, user=user)
        allowed, accepted = _check(user, device, token, stage="setup",
                                   success=Action.ACCOUNT_TWO_FACTOR_ENABLED)
        if accepted:
            device.confirmed = True
            device.save(update_fields=["confirmed"])
    if not accepted:
        raise _refusal(allowed)
    return device


def _check(user: Any, device: TOTPDevice, token: str, *, stage: str,
           success: Action) -> tuple[bool, bool]:
    """Try a code on a locked device and audit the outcome; (allowed by the back-off,
    accepted)."""
    allowed, _info = device.verify_is_allowed()
    accepted = bool(allowed and device.verify_token(token))
    if accepted:
        audit.record(action=success, actor=user, target=("user", str(user.pk)))
    else:
        audit.record(action=Action.ACCOUNT_TWO_FACTOR_FAILED, actor=user,
                     target=("user", str(user.pk)),
                     payload={"stage": stage, "throttled": not allowed})
    return allowed, accepted


def two_factor_verify(*, user: Any, token: str) -> TOTPDevice:
    """Check a code against the user's confirmed TOTP device.

    Changes: moves the device's last accepted time step, or counts a failure on it.
    Audits: ``account.two_factor_verified`` or ``account.two_factor_failed`` (stage verify).
    Raises: ``CodeRefused`` (after the failure is committed); ``TOTPDevice.DoesNotExist``
    when the user has no confirmed device.
    """
    with transaction.atomic():
        device = (TOTPDevice.objects.select_for_update()
                  .filter(user=user, confirmed=True).order_by("pk").first())
        if device is None:
            raise TOTPDevice.DoesNotExist
        allowed, accepted = _check(user, device, token, stage="verify",
                                   success=Action.ACCOUNT_TWO_FACTOR_VERIFIED)
    if not accepted:
        raise _refusal(allowed)
    return device


def two_factor_reset(*, user: Any, actor: Any) -> int:
    """Remove an account's two-factor devices, for someone who lost their phone: they set
    up a new one at their next sign-in. The only way to touch another person's devices
    (django-otp's own device admin, which let anyone add a device to anyone, is not
    installed), so it is on the record.

    Changes: deletes the account's TOTP devices. Audits ``account.two_factor_reset`` with
    the account and how many devices went (ids only). Returns that number.
    """
    with transaction.atomic():
        removed, _ = TOTPDevice.objects.filter(user=user).delete()
        audit.record(action=Action.ACCOUNT_TWO_FACTOR_RESET, actor=actor,
                     target=("user", str(user.pk)), payload={"devices": removed})
    return removed


def has_confirmed_device(user: Any) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


# --- Forms and pages --------------------------------------------------------------------------

class TokenForm(forms.Form):
    token = forms.CharField(
        label=gettext_lazy("6-digit code"),
        help_text=gettext_lazy("From your authenticator app. Spaces are ignored."),
        widget=forms.TextInput(attrs={
            "autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True,
            "size": 8,
        }),
    )

    def clean_token(self) -> str:
        token = "".join(self.cleaned_data["token"].split())
        if not re.fullmatch(r"[0-9]{6}", token):
            raise forms.ValidationError(_("Enter the 6 digits your authenticator app shows."))
        return token


def qr_code_svg(data: str, *, label: str) -> SafeString:
    """``data`` as a QR code in inline SVG: one path, presentation attributes only, so the
    page needs neither an image request nor an inline style the CSP would block."""
    image = qrcode.make(data, image_factory=SvgPathImage)
    svg = image.get_image()
    svg.set("role", "img")
    svg.set("aria-label", label)
    # ElementTree built every byte of this from our own otpauth URL, escaping attributes.
    return mark_safe(image.to_string(encoding="unicode"))  # noqa: S308


def _next_url(request: HttpRequest) -> str:
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return STAFF_HOME if is_staff_account(request.user) else settings.LOGIN_REDIRECT_URL


def _with_next(path: str, next_url: str) -> str:
    return f"{path}?{urlencode({'next': next_url})}"


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def two_factor_verify_view(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    next_url = _next_url(request)
    if not has_confirmed_device(user):
        return HttpResponseRedirect(_with_next(SETUP_PATH, next_url))
    if user.is_verified():
        return HttpResponseRedirect(next_url)
    form = TokenForm(request.POST if request.method == "POST" else None)
    if form.is_valid():
        try:
            device = two_factor_verify(user=user, token=form.cleaned_data["token"])
        except CodeRefused as exc:
            form.add_error("token", str(exc))
        else:
            django_otp.login(request, device)
            return HttpResponseRedirect(next_url)
    return render(request, "complaints/two_factor_verify.html",
                  {"form": form, "next": next_url})


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def two_factor_setup_view(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    next_url = _next_url(request)
    # Someone holding only the password must not be able to add their own device: once a
    # device is confirmed, a new one is an administrator's job.
    if has_confirmed_device(user):
        return HttpResponseRedirect(_with_next(VERIFY_PATH, next_url))
    device = two_factor_device_for_setup(user=user)
    form = TokenForm(request.POST if request.method == "POST" else None)
    if form.is_valid():
        try:
            device = two_factor_confirm(user=user, device=device,
                                        token=form.cleaned_data["token"])
        except CodeRefused as exc:
            form.add_error("token", str(exc))
        else:
            django_otp.login(request, device)
            messages.success(request, _("Two-factor sign-in is on for your account."))
            return HttpResponseRedirect(next_url)
    secret = b32encode(device.bin_key).decode()
    return render(request, "complaints/two_factor_setup.html", {
        "form": form,
        "next": next_url,
        "qr_svg": qr_code_svg(device.config_url,
                              label=_("QR code to add this account to an authenticator app")),
        # Groups of four are easier to copy by hand; authenticator apps ignore the spaces.
        "secret": " ".join(secret[i:i + 4] for i in range(0, len(secret), 4)),
    })
