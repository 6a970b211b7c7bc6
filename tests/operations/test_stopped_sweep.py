"""Stopping the beat is loud: /readyz turns red, compliance sees a banner on every staff page,
and compliance and the audit committee are mailed once, by the web process itself."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
import time_machine
from django.core import mail
from django.core.management import call_command
from django.test import override_settings

from complaints.tasks import sweep_deadlines
from escalation.models import SweepHeartbeat
from escalation.services.heartbeat import sweep_completed

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
BANNER = "The deadline sweep has stopped."


@pytest.fixture
def beat_every_minute() -> Iterator[None]:
    # The test settings keep the heartbeat quiet for a whole session; here it is as deployed.
    with override_settings(SWEEP_EVERY_SECONDS=60.0, SWEEP_STALE_AFTER_SECONDS=0):
        yield


def page(client: Any, user: Any) -> str:
    client.force_login(user)
    response = client.get("/my/")
    assert response.status_code == 200
    return response.content.decode()


def test_stopping_the_beat_turns_readyz_red_and_reaches_compliance_and_the_committee(
        client: Any, beat_every_minute: None, compliance: Any, audit_committee: Any,
        hr_reviewer: Any) -> None:
    with time_machine.travel(T0, tick=False) as clock:
        sweep_completed(started_at=T0 - timedelta(seconds=3))
        clock.move_to(T0 + timedelta(seconds=119))
        assert client.get("/readyz", HTTP_ACCEPT="application/json").json()["sweep"] == "OK"
        assert BANNER not in page(client, compliance)

        # The beat stopped: no sweep for more than two intervals.
        clock.move_to(T0 + timedelta(seconds=121))
        response = client.get("/readyz", HTTP_ACCEPT="application/json")
        assert response.status_code == 503
        assert response.json()["sweep"].startswith("Unavailable: stopped: 2 min since the last")
        assert BANNER in page(client, compliance)
        assert BANNER in page(client, audit_committee)
        assert BANNER not in page(client, hr_reviewer)

        # One mail for the episode, however many requests noticed.
        assert len(mail.outbox) == 1
        alert = mail.outbox[0]
        assert sorted(alert.to) == sorted([compliance.email, audit_committee.email])
        assert hr_reviewer.email not in alert.to
        assert "sweep has stopped" in alert.subject

        # A sweep completes: green again, no banner; the next stoppage mails again.
        sweep_completed(started_at=T0 + timedelta(seconds=130))
        assert client.get("/readyz", HTTP_ACCEPT="application/json").json()["sweep"] == "OK"
        assert BANNER not in page(client, compliance)
        clock.move_to(T0 + timedelta(minutes=10))
        assert client.get("/readyz").status_code == 503
        assert len(mail.outbox) == 2


def test_a_beat_that_never_ran_is_noticed_too(client: Any, beat_every_minute: None,
                                              compliance: Any) -> None:
    # As the migration leaves it on a fresh deploy: watched, never swept.
    SweepHeartbeat.objects.update_or_create(pk=1, defaults={"watched_since": T0,
                                                            "finished_at": None})
    with time_machine.travel(T0, tick=False) as clock:
        assert client.get("/readyz", HTTP_ACCEPT="application/json").json()["sweep"] == "OK"
        clock.move_to(T0 + timedelta(minutes=3))
        body = client.get("/readyz", HTTP_ACCEPT="application/json").json()
    assert "watching began, with no sweep" in body["sweep"]
    assert [m.to for m in mail.outbox] == [[compliance.email]]


def test_two_processes_noticing_at_once_send_one_mail(beat_every_minute: None,
                                                      compliance: Any) -> None:
    from operations.sweep_watch import stale_alert

    with time_machine.travel(T0, tick=False) as clock:
        sweep_completed(started_at=T0)
        clock.move_to(T0 + timedelta(minutes=5))
        # Both read the row before either claimed it.
        first, second = SweepHeartbeat.objects.get(), SweepHeartbeat.objects.get()
        assert stale_alert(first) is True
        assert stale_alert(second) is False
    assert len(mail.outbox) == 1


class _Monitor(BaseHTTPRequestHandler):
    pings: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 (the standard library's name)
        type(self).pings.append(self.path)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"OK")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def monitor() -> Iterator[str]:
    """A Healthchecks-style monitor on 127.0.0.1 that records each ping."""
    _Monitor.pings = []
    server = HTTPServer(("127.0.0.1", 0), _Monitor)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/ping/abc-123"
    server.shutdown()
    server.server_close()


def test_each_completed_sweep_pings_the_outside_monitor(db: None, monitor: str) -> None:
    with override_settings(SWEEP_PING_URL=monitor):
        sweep_deadlines()
        call_command("sweep_deadlines", stdout=_Sink())
        # A dry run and a pass at a simulated time say nothing about the beat.
        call_command("sweep_deadlines", "--dry-run", stdout=_Sink())
        call_command("sweep_deadlines", "--now", "2030-01-01T00:00", stdout=_Sink())
    assert _Monitor.pings == ["/ping/abc-123", "/ping/abc-123"]
    beat = SweepHeartbeat.objects.get()
    assert beat.finished_at is not None and beat.duration_seconds is not None


def test_a_monitor_that_is_down_never_fails_the_sweep(db: None) -> None:
    # Nothing listens on port 1.
    with override_settings(SWEEP_PING_URL="http://127.0.0.1:1/ping"):
        result = sweep_deadlines()
    assert result["failed"] == 0
    assert SweepHeartbeat.objects.get().finished_at is not None


class _Sink:
    def write(self, text: str) -> None:
        pass

    def flush(self) -> None:
        pass
