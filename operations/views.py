"""``/healthz`` (the process answers) and ``/readyz`` (what it depends on, and the product's
clocks). See docs/operations.md ("Health") for which probe to point at which."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils.cache import add_never_cache_headers
from health_check.views import HealthCheckView

from operations.checks import READY_CHECKS


def healthz(request: HttpRequest) -> HttpResponse:
    """The process answers: no database, cache or broker is asked."""
    response = HttpResponse("ok\n", content_type="text/plain; charset=utf-8")
    add_never_cache_headers(response)
    return response


class ReadyView(HealthCheckView):
    """django-health-check's view over our checks, answering 503 (not its 500) when one
    fails. The body names each check and what is wrong: plain text lines ``name: OK`` or
    ``name: Unavailable: why``, or JSON (``Accept: application/json`` or ``?format=json``).
    A browser gets the text too: the library's HTML page is not installed."""

    checks = READY_CHECKS

    async def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if "format" not in request.GET and "json" not in request.headers.get("accept", ""):
            request.META["HTTP_ACCEPT"] = "text/plain"
        response = await super().get(request, *args, **kwargs)
        if response.status_code == 500:
            response.status_code = 503
        return response


readyz = ReadyView.as_view()
