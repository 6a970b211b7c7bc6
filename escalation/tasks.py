"""Celery tasks: fetch nothing, call one service. Messages only wake workers; the work is in
the database, so a lost message is made up by the next beat tick."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from escalation.services import notifications

# Notifications one delivery task sends before it hands on to the next.
DELIVERY_BATCH = 200


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def deliver_notifications() -> dict[str, int]:
    """Send one batch; after a full one, queue the next at once. A sweep after downtime
    writes thousands of notifications, and waiting for beat's next tick would drain them
    at one batch a minute; with several workers the batches are sent side by side (each
    task claims its own rows)."""
    delivered = notifications.deliver_pending(limit=DELIVERY_BATCH)
    # Not while every send fails (the mail server is down): then beat's ticks pace the
    # retries, rather than a chain of tasks using up every message's attempts.
    if delivered.sent and delivered.sent + delivered.failed + delivered.dropped >= DELIVERY_BATCH:
        deliver_notifications.delay()
    return {"sent": delivered.sent, "failed": delivered.failed}
