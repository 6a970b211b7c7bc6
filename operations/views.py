"""``/healthz`` (the process answers) and ``/readyz`` (what it depends on, and the product's
clocks). See docs/operations.md ("Health") for which probe to point at which."""

from __future__ import annotations

import asyncio
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
    Its other formats (HTML, feeds, OpenMetrics) are left out: /metrics is for scrapers."""

    checks = READY_CHECKS

    async def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        with self.get_executor() as executor:
            self.results = await asyncio.gather(
                *(check.get_result(executor) for check in self.get_checks()))
        status = 503 if any(result.error for result in self.results) else 200
        if (request.GET.get("format") == "json"
                or "json" in request.headers.get("accept", "")):
            return self.render_to_response_json(status)
        return self.render_to_response_text(status)


readyz = ReadyView.as_view()
