"""The app's URLs plus two bench-only views, served only under bench/web/settings.py."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import include, path

from complaints.models import Complaint


def indexed_read(request: HttpRequest, pk: int) -> HttpResponse:
    """The ceiling: one primary-key read through the ORM, through the whole middleware stack."""
    reference = Complaint.objects.filter(pk=pk).values_list("reference", flat=True).first()
    return HttpResponse(reference or "-", content_type="text/plain")


def ready(request: HttpRequest) -> HttpResponse:
    """No database: the benchmark polls this until the server answers."""
    return HttpResponse("ok", content_type="text/plain")


urlpatterns = [
    path("__bench__/read/<int:pk>/", indexed_read, name="bench_indexed_read"),
    path("__bench__/ready/", ready, name="bench_ready"),
    path("", include("config.urls")),
]
