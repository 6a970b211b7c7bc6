"""What every API view shares: the body limit, input through serializers, paging, and
finding a case for the caller (404 when it is not theirs to see, as on the web)."""

from __future__ import annotations

import re
from typing import Any

from django.db.models import QuerySet
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.utils.urls import replace_query_param
from rest_framework.views import APIView

from complaints.access import ReporterPrincipal
from complaints.api import serializers as s
from complaints.api.errors import PayloadTooLarge, body_limit
from complaints.models import REFERENCE_ALPHABET, Complaint
from complaints.services.reads import complaint_open

REFERENCE = re.compile(rf"MC-[{REFERENCE_ALPHABET}]{{4}}-[{REFERENCE_ALPHABET}]{{4}}")


class ApiView(APIView):
    """Refuses a body over the limit before anything reads it."""

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            raise ValidationError({"non_field_errors": ["Bad Content-Length."]}) from None
        if length > body_limit():
            raise PayloadTooLarge
        super().initial(request, *args, **kwargs)


def valid(serializer_class: type[Any], data: Any) -> dict[str, Any]:
    if hasattr(data, "dict"):
        # A query string as a plain dict: DRF would read an empty ?target= as no target.
        data = data.dict()
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def page_links(request: Request, page: int, size: int, count: int) -> dict[str, Any]:
    url = request.build_absolute_uri()
    return {
        "count": count,
        "next": replace_query_param(url, "page", page + 1) if page * size < count else None,
        "previous": replace_query_param(url, "page", page - 1) if page > 1 else None,
    }


def page_of(rows: QuerySet[Any] | Any, page: int, size: int) -> list[Any]:
    size = min(size, s.PAGE_SIZE_MAX)
    return list(rows[(page - 1) * size:page * size])


def reference_or_404(raw: str) -> str:
    reference = raw.strip().upper()
    if not REFERENCE.fullmatch(reference):
        raise NotFound  # cannot be a case: nothing to look up, nothing to audit
    return reference


def case_for(request: Request, reference: str, *, via: str,
             audit_read: bool = True) -> tuple[Complaint, bool]:
    """The case at ``reference`` for this caller, and whether they are its reporter.
    Staff reads go through ``complaint_open`` (audited; 404 when conflicted or unrelated).
    An action passes ``audit_read=False``: its own event is the record, a refusal still is."""
    reference = reference_or_404(reference)
    caller = request.user
    if isinstance(caller, ReporterPrincipal):
        if caller.reference != reference:
            raise NotFound
        return Complaint.objects.get(pk=caller.complaint_id), True
    own = Complaint.objects.filter(reference=reference, reporter_user_id=caller.pk).first()
    if own is not None:
        return own, True
    return complaint_open(actor=caller, reference=reference, via=via,
                          audit_read=audit_read), False


class NotFoundView(ApiView):
    """Anything else under /api/v1/: a JSON 404, not the site's HTML page."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]
    schema = None

    def http_method_not_allowed(self, request: Request, *args: Any, **kwargs: Any) -> Any:
        raise NotFound

    options = http_method_not_allowed
