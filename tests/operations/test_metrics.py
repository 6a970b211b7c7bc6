"""/metrics: Prometheus text with request metrics and the product's gauges; a token where
one is required."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.test import override_settings
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from escalation.models import Notification
from escalation.services.heartbeat import sweep_completed

TOKEN = "t" * 40


def samples(client: Any, **headers: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics", **headers)
    assert response.status_code == 200
    found = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_metrics_show_requests_and_the_products_own_figures(client: Any, filed: Any) -> None:
    old = timezone.now() - timedelta(minutes=30)
    Notification.objects.create(complaint=filed, kind=Notification.Kind.FILED, subject="s",
                                body="b", email="x@example.com", created_at=old,
                                next_attempt_at=old, attempts=2, last_error="refused")
    sweep_completed(started_at=timezone.now() - timedelta(seconds=4))
    client.get("/healthz")
    found = samples(client)
    assert found[("complaints_open_cases", (("level", "0"),))] == 1
    assert found[("complaints_open_cases", (("level", "3"),))] == 0
    assert found[("complaints_overdue_cases", (("level", "0"),))] == 0
    assert found[("complaints_mail_backlog", ())] >= 1
    assert found[("complaints_mail_oldest_undelivered_age_seconds", ())] >= 30 * 60
    assert found[("complaints_mail_failing", ())] == 1
    assert 4 <= found[("complaints_sweep_duration_seconds", ())] < 5
    assert found[("complaints_sweep_lag_seconds", ())] < 5
    assert found[("complaints_audit_events_total", ())] >= 1
    assert any(name == "django_http_requests_total_by_view_transport_method_total"
               and ("view", "healthz") in labels for name, labels in found)


def test_overdue_cases_are_counted_by_level(client: Any, filed: Any) -> None:
    type(filed).objects.filter(pk=filed.pk).update(
        next_due_at=timezone.now() - timedelta(hours=1), escalation_level=2)
    found = samples(client)
    assert found[("complaints_overdue_cases", (("level", "2"),))] == 1
    assert found[("complaints_open_cases", (("level", "0"),))] == 0
    # Put back: every test ends with next_due_at agreeing with the deadlines (conftest).
    type(filed).objects.filter(pk=filed.pk).update(next_due_at=filed.next_due_at,
                                                   escalation_level=0)


def test_production_serves_metrics_only_with_the_token(client: Any, db: None) -> None:
    with override_settings(METRICS_REQUIRE_TOKEN=True, METRICS_TOKEN=""):
        assert client.get("/metrics").status_code == 404
    with override_settings(METRICS_REQUIRE_TOKEN=True, METRICS_TOKEN=TOKEN):
        assert client.get("/metrics").status_code == 404
        assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 404
        assert samples(client, HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
