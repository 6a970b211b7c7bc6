"""Bearer tokens: for a user (password, and the code where they have two-factor), for an
anonymous reporter (the receipt key), and revoking the one a request carries."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import authenticate
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiResponse,
    extend_schema,
)
from rest_framework import status
from rest_framework.exceptions import PermissionDenied, Throttled, ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from complaints.access import ReporterPrincipal
from complaints.api import serializers as s
from complaints.api.errors import ServiceBusy, secret
from complaints.api.schema import BODY_ERRORS, errors
from complaints.api.tokens import (
    api_token_issue_for_reporter,
    api_token_issue_for_user,
    api_token_revoke,
)
from complaints.api.views.base import ApiView, valid
from complaints.services.reporter import WrongReceiptKey
from complaints.throttle import ReceiptKeyBusy, ReceiptKeyThrottled, receipt_key_check
from complaints.two_factor import (
    CodeRefused,
    TokenForm,
    has_confirmed_device,
    is_staff_account,
    two_factor_verify,
)


class TokenView(ApiView):
    """POST: a bearer token for a user. DELETE: revoke the token this request carries."""

    def get_permissions(self) -> list[Any]:
        return [AllowAny()] if self.request.method == "POST" else super().get_permissions()

    @extend_schema(
        operation_id="auth_token_create", request=s.TokenCredentialsSerializer,
        examples=[OpenApiExample("A password", request_only=True,
                                 value={"username": "hr_lead", "password": "secret"})],
        responses={200: s.TokenSerializer, **errors(*BODY_ERRORS, 403, 429)},
        description="A token for a user: username and password, and the 6-digit code where "
                    "the account has two-factor sign-in (required for staff in production).")
    def post(self, request: Request) -> Response:
        data = valid(s.TokenCredentialsSerializer, request.data)
        django_request = request._request
        user = authenticate(django_request, username=data["username"], password=data["password"])
        if user is None:
            if getattr(django_request, "axes_locked_out", False):
                # Answered here as JSON; the axes middleware would answer with its HTML page.
                django_request.axes_locked_out = False
                raise Throttled(detail="Too many failed sign-ins. Try again later.")
            raise ValidationError({"non_field_errors": ["These credentials are not right."]})
        via = "password"
        if has_confirmed_device(user):
            form = TokenForm({"token": data.get("otp", "")})
            if not form.is_valid():
                raise ValidationError({"otp": form.errors["token"]})
            try:
                two_factor_verify(user=user, token=form.cleaned_data["token"])
            except CodeRefused as exc:
                raise ValidationError({"otp": [str(exc)]}) from None
            via = "password+otp"
        elif settings.OTP_REQUIRED_FOR_STAFF and is_staff_account(user):
            raise PermissionDenied("Set up two-factor sign-in on the web first.")
        issued = api_token_issue_for_user(user=user, via=via)
        return secret(Response(s.TokenSerializer(
            {"token": issued.token, "expires_at": issued.record.expires_at}).data))

    @extend_schema(operation_id="auth_token_revoke", request=None,
                   responses={204: OpenApiResponse(description="Revoked."), **errors(401)})
    def delete(self, request: Request) -> Response:
        api_token_revoke(record=request.auth, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ReporterSessionView(ApiView):
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="reporter_session_create", request=s.ReceiptKeySerializer,
        responses={200: s.ReporterTokenSerializer, **errors(*BODY_ERRORS, 403, 429, 503)},
        description="An anonymous reporter's receipt key for a short-lived token that opens "
                    "their one complaint. Wrong keys are limited per client (429, but a right "
                    "key still opens whenever the server has a free slot to check it); 503 "
                    "with Retry-After when every slot stayed busy. Every attempt is audited. "
                    "Refused (403) with a user's token: send the key without one, so the "
                    "report is never tied to an account.")
    def post(self, request: Request) -> Response:
        # Nothing here would store the two together (the reporter's token names no user),
        # but as on the web, anonymous follow-up is not done while signed in: a client
        # sending both is about to tie the report to the account itself.
        if request.user.is_authenticated and not isinstance(request.user, ReporterPrincipal):
            raise PermissionDenied(
                "Following up an anonymous report with a user's token would connect it to "
                "that account. Send the receipt key without an Authorization header.")
        data = valid(s.ReceiptKeySerializer, request.data)
        try:
            principal = receipt_key_check(request._request, key=data["receipt_key"])
        except WrongReceiptKey:
            raise ValidationError({"receipt_key": [
                "No report has this key. Check it and try again."]}) from None
        except ReceiptKeyThrottled:
            raise Throttled(detail="Too many wrong keys. Please wait an hour.") from None
        except ReceiptKeyBusy as exc:
            raise ServiceBusy(wait=exc.retry_after) from None
        issued = api_token_issue_for_reporter(principal=principal)
        return secret(Response(s.ReporterTokenSerializer(
            {"token": issued.token, "expires_at": issued.record.expires_at,
             "reference": principal.reference}).data))
