"""/healthz and /readyz: the process, the services, and the product's clocks."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.core import mail
from django.test import override_settings
from django.utils import timezone

from audit import services as audit
from audit.actions import Action
from audit.checkpoints import checkpoint_sign
from config.celery_app import app as celery_app
from escalation.models import Notification
from escalation.services.heartbeat import sweep_completed


def readyz(client: Any) -> tuple[int, dict[str, str]]:
    response = client.get("/readyz", HTTP_ACCEPT="application/json")
    return response.status_code, response.json()


@pytest.fixture
def all_well(db: None) -> None:
    """A sweep just completed and a checkpoint was just signed."""
    sweep_completed(started_at=timezone.now() - timedelta(seconds=2))
    checkpoint_sign()


def test_healthz_answers_without_asking_the_database(client: Any) -> None:
    # No `db` fixture: any query would fail the test.
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.content == b"ok\n"


def test_readyz_is_green_when_everything_is(client: Any, all_well: None) -> None:
    status, body = readyz(client)
    assert status == 200, body
    assert body == {name: "OK" for name in
                    ("database", "cache", "broker", "sweep", "mail", "checkpoint", "chain")}


def test_readyz_names_a_broker_that_is_down(client: Any, all_well: None,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    # Nothing listens on port 1.
    connect = celery_app.connection_for_write
    monkeypatch.setattr(celery_app, "connection_for_write",
                        lambda **kwargs: connect(url="redis://127.0.0.1:1/0", **kwargs))
    status, body = readyz(client)
    assert status == 503
    assert "broker unreachable" in body["broker"]
    assert body["database"] == "OK"


def test_readyz_names_a_cache_that_is_down(client: Any, all_well: None) -> None:
    down = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                        "LOCATION": "redis://127.0.0.1:1/0",
                        "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2}}}
    with override_settings(CACHES=down):
        status, body = readyz(client)
    assert status == 503
    assert body["cache"] != "OK"
    assert body["broker"] == "OK"


def test_readyz_names_mail_waiting_past_its_age(client: Any, all_well: None,
                                                filed: Any) -> None:
    old = timezone.now() - timedelta(hours=2)
    Notification.objects.create(complaint=filed, kind=Notification.Kind.FILED, subject="s",
                                body="b", email="someone@example.com", created_at=old,
                                next_attempt_at=old)
    with override_settings(MAIL_MAX_AGE_SECONDS=3600):
        status, body = readyz(client)
    assert status == 503
    assert body["mail"].startswith("Unavailable: 1 undelivered, the oldest waiting 2 h")
    with override_settings(MAIL_MAX_AGE_SECONDS=3 * 3600):
        assert readyz(client)[0] == 200


def test_readyz_names_a_checkpoint_past_its_interval(client: Any, all_well: None) -> None:
    with override_settings(AUDIT_CHECKPOINT_EVERY_SECONDS=3600,
                           AUDIT_CHECKPOINT_CHECK_SECONDS=60):
        with time_machine.travel(timezone.now() + timedelta(hours=1, minutes=1), tick=False):
            assert readyz(client)[1]["checkpoint"] == "OK"
        with time_machine.travel(timezone.now() + timedelta(hours=1, minutes=3), tick=False):
            status, body = readyz(client)
    assert status == 503
    assert "the newest is 1 h 3 min old" in body["checkpoint"]


def test_readyz_names_a_chain_the_last_verification_found_broken(client: Any,
                                                                 all_well: None) -> None:
    audit.record(action=Action.AUDIT_CHAIN_VERIFIED, actor=audit.SYSTEM,
                 target=("audit_chain", "head"),
                 payload={"intact": False, "complete": True, "first_broken_seq": 3,
                          "problem": "does not match its hash"})
    status, body = readyz(client)
    assert status == 503
    assert body["chain"].startswith("Unavailable: broken at the verification of")
    # A later verification that found it intact turns it green again.
    audit.record(action=Action.AUDIT_CHAIN_VERIFIED, actor=audit.SYSTEM,
                 target=("audit_chain", "head"), payload={"intact": True, "complete": True})
    assert readyz(client)[0] == 200
    assert mail.outbox == []


@pytest.mark.services
def test_readyz_is_green_on_postgresql_and_redis(client: Any, all_well: None) -> None:
    from django.conf import settings
    from django.db import connection

    assert connection.vendor == "postgresql"
    assert settings.CELERY_BROKER_URL.startswith("redis://")
    assert "RedisCache" in settings.CACHES["default"]["BACKEND"]
    status, body = readyz(client)
    assert status == 200, body
