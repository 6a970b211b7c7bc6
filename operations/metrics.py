"""``/metrics``: django-prometheus's request metrics and the product's own.

The product's figures are read from the database at scrape time (a handful of indexed
queries), so every gunicorn process gives the same answer and no process keeps state for
them. Request counters and latencies are each process's own: see docs/operations.md
("Metrics") for ``PROMETHEUS_MULTIPROC_DIR``, which makes django-prometheus add them up.

Whoever holds the metrics token learns counts of open cases by level: an operator's
figure, never shown to staff (audit/opaque.py explains why counts are kept from readers).
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Iterator
from typing import Any

import prometheus_client
from django.conf import settings
from django.db.models import Count, Min, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone
from prometheus_client import CollectorRegistry, multiprocess
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from audit.models import ChainHead, Checkpoint
from complaints.models import OPEN_STATES, Complaint
from escalation.models import Notification, SweepHeartbeat
from operations.checks import last_verification

LEVELS = (0, 1, 2, 3)


class ProductCollector(Collector):
    """Gauges read from the database when Prometheus scrapes."""

    def describe(self) -> Iterator[Metric]:
        # Registration asks for the names; answering from here keeps it from querying.
        return iter(self._families())

    @staticmethod
    def _families() -> list[Any]:  # Gauge- and CounterMetricFamily
        return [
            GaugeMetricFamily("complaints_open_cases", "Open cases, by escalation level.",
                              labels=["level"]),
            GaugeMetricFamily("complaints_overdue_cases",
                              "Open cases with a missed deadline not yet escalated, by level.",
                              labels=["level"]),
            GaugeMetricFamily("complaints_sweep_lag_seconds",
                              "Seconds since the last completed sweep (or since watching "
                              "began, if none has)."),
            GaugeMetricFamily("complaints_sweep_duration_seconds",
                              "How long the last completed sweep took."),
            GaugeMetricFamily("complaints_mail_backlog", "Notifications waiting to be mailed."),
            GaugeMetricFamily("complaints_mail_oldest_undelivered_age_seconds",
                              "Age of the oldest notification waiting to be mailed (0: none)."),
            GaugeMetricFamily("complaints_mail_failing",
                              "Undelivered notifications whose last attempt failed."),
            GaugeMetricFamily("complaints_mail_given_up",
                              "Undelivered notifications that used up NOTIFICATION_MAX_ATTEMPTS."),
            CounterMetricFamily("complaints_audit_events",
                                "Events appended to the audit log (the chain head)."),
            GaugeMetricFamily("complaints_audit_checkpoint_age_seconds",
                              "Age of the newest signed checkpoint (absent: none yet)."),
            GaugeMetricFamily("complaints_audit_verification_age_seconds",
                              "Age of the last recorded chain verification (absent: none yet)."),
            GaugeMetricFamily("complaints_audit_chain_intact",
                              "1 if the last recorded verification found the chain intact and "
                              "complete, 0 if not (absent: never verified)."),
        ]

    def collect(self) -> Iterator[Metric]:
        now = timezone.now()
        (open_cases, overdue, lag, duration, backlog, oldest_mail, failing, given_up,
         audit_events, checkpoint_age, verification_age, intact) = self._families()

        by_level = (Complaint.objects.filter(state__in=sorted(OPEN_STATES))
                    .values("escalation_level")
                    .annotate(open=Count("id"),
                              overdue=Count("id", filter=Q(next_due_at__lte=now))))
        counts = {row["escalation_level"]: row for row in by_level}
        for level in sorted(set(LEVELS) | set(counts)):
            row = counts.get(level, {"open": 0, "overdue": 0})
            open_cases.add_metric([str(level)], row["open"])
            overdue.add_metric([str(level)], row["overdue"])

        heartbeat = SweepHeartbeat.objects.filter(pk=1).first()
        if heartbeat is not None:
            since = heartbeat.finished_at or heartbeat.watched_since
            lag.add_metric([], (now - since).total_seconds())
            if heartbeat.duration_seconds is not None:
                duration.add_metric([], heartbeat.duration_seconds)

        waiting = Notification.objects.filter(delivered_at=None).exclude(email="").aggregate(
            count=Count("id"), oldest=Min("created_at"),
            failing=Count("id", filter=~Q(last_error="")),
            given_up=Count("id", filter=Q(attempts__gte=settings.NOTIFICATION_MAX_ATTEMPTS)))
        backlog.add_metric([], waiting["count"])
        oldest_mail.add_metric(
            [], (now - waiting["oldest"]).total_seconds() if waiting["oldest"] else 0.0)
        failing.add_metric([], waiting["failing"])
        given_up.add_metric([], waiting["given_up"])

        head = ChainHead.objects.filter(pk=1).values_list("seq", flat=True).first()
        audit_events.add_metric([], head or 0)
        newest = Checkpoint.objects.order_by("-seq").values_list("made_at", flat=True).first()
        if newest is not None:
            checkpoint_age.add_metric([], (now - newest).total_seconds())
        verified = last_verification()
        if verified is not None:
            checked_at, payload = verified
            verification_age.add_metric([], (now - checked_at).total_seconds())
            intact.add_metric([], float(bool(payload.get("intact"))
                                        and payload.get("complete") is not False))
        yield from (open_cases, overdue, lag, duration, backlog, oldest_mail, failing,
                    given_up, audit_events, checkpoint_age, verification_age, intact)


_product = CollectorRegistry(auto_describe=False)
_product.register(ProductCollector())


def _requests_registry() -> CollectorRegistry:
    # django-prometheus's own choice (its ExportToDjangoView): with PROMETHEUS_MULTIPROC_DIR
    # set, every process writes its counters there and any process adds them all up.
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return registry
    return prometheus_client.REGISTRY


def authorised(request: HttpRequest) -> bool:
    """``METRICS_TOKEN`` set: only ``Authorization: Bearer <token>``. Not set: open where
    ``METRICS_REQUIRE_TOKEN`` is off (a developer's machine), absent in production."""
    token = settings.METRICS_TOKEN
    if not token:
        return not settings.METRICS_REQUIRE_TOKEN
    given = request.headers.get("Authorization", "")
    scheme, _, value = given.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(),
                                                              token.encode())


def metrics_view(request: HttpRequest) -> HttpResponse:
    if not authorised(request):
        # Not found rather than 401: the endpoint is not advertised to whoever lacks the
        # token, and a scraper with a wrong one shows up as a failed target either way.
        raise Http404
    body = (prometheus_client.generate_latest(_requests_registry())
            + prometheus_client.generate_latest(_product))
    return HttpResponse(body, content_type=prometheus_client.CONTENT_TYPE_LATEST)
