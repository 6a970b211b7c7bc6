"""Every error the API answers is JSON, and every 400 is field by field:
``{field: [message, ...]}``, with ``non_field_errors`` for the body as a whole.

Domain errors map to one status each: ``InvalidInput`` 400, ``TransitionForbidden`` 403,
``CaseNotFound`` 404, ``TransitionNotAllowed`` 409. A body over the limit is 413.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.utils.cache import add_never_cache_headers
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from complaints.errors import InvalidInput, TransitionForbidden, TransitionNotAllowed
from complaints.services.reads import CaseNotFound

NON_FIELD = "non_field_errors"


def body_limit() -> int:
    return int(settings.API_MAX_REQUEST_BYTES)


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "payload_too_large"

    @property
    def default_detail(self) -> str:  # type: ignore[override]
        return f"The request body is larger than {body_limit()} bytes."


class ServiceBusy(exceptions.APIException):
    """503 with Retry-After (DRF's handler sends ``wait`` as that header)."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "The service is busy. Please try again shortly."
    default_code = "service_unavailable"

    def __init__(self, *, wait: int) -> None:
        super().__init__()
        self.wait = wait


def secret(response: Response) -> Response:
    """A response that carries a secret (a receipt key, a token): no cache, shared or the
    browser's own, may keep it."""
    add_never_cache_headers(response)
    return response


class NotAllowedNow(exceptions.APIException):
    """409: the step does not exist from the case's current state."""

    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"

    def __init__(self, detail: str, *, state: str) -> None:
        super().__init__(detail)
        self.state = state


def _messages(detail: Any) -> list[str]:
    """Nested error details (a list's items, a nested object) flattened into plain strings."""
    if isinstance(detail, dict):
        return [f"{key}: {message}" for key, value in detail.items()
                for message in _messages(value)]
    if isinstance(detail, list):
        return [message for item in detail for message in _messages(item)]
    return [str(detail)]


def field_errors(detail: Any) -> dict[str, list[str]]:
    if isinstance(detail, dict):
        return {str(field): _messages(value) for field, value in detail.items()}
    return {NON_FIELD: _messages(detail)}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, InvalidInput):
        exc = exceptions.ValidationError(exc.errors)
    elif isinstance(exc, TransitionNotAllowed):
        exc = NotAllowedNow(str(exc), state=exc.state)
    elif isinstance(exc, TransitionForbidden):
        exc = exceptions.PermissionDenied(str(exc))
    elif isinstance(exc, CaseNotFound):
        exc = exceptions.NotFound()
    elif isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge()
    elif isinstance(exc, exceptions.ParseError):
        exc = exceptions.ValidationError({NON_FIELD: [str(exc.detail)]})
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if response.status_code == status.HTTP_400_BAD_REQUEST:
        response.data = field_errors(response.data)
    elif isinstance(exc, NotAllowedNow):
        response.data["state"] = exc.state
    return response
