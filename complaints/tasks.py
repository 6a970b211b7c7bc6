"""Celery tasks: call one service. Messages only wake workers; the work is in the database,
so a lost message is made up by the next beat tick."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from complaints.services import retention


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def retention_purge() -> dict[str, int]:
    return {"purged": retention.retention_purge()}
