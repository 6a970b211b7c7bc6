"""Celery tasks: fetch nothing, call one service. Messages only wake workers; the work is in
the database, so a lost message is made up by the next beat tick."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from escalation.services import notifications
from escalation.services.sweep import sweep


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def sweep_deadlines() -> dict[str, object]:
    return sweep().as_dict()


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def deliver_notifications() -> dict[str, int]:
    delivered = notifications.deliver_pending()
    return {"sent": delivered.sent, "failed": delivered.failed}
