"""Celery tasks: call one service. Messages only wake workers; the work is in the database,
so a lost message is made up by the next beat tick."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError
from django.utils import timezone

from complaints.services import retention
from complaints.services.held_uploads import held_uploads_sweep
from complaints.services.sweep import sweep
from escalation.services.heartbeat import sweep_completed
from escalation.services.observed import config_observe


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def sweep_deadlines() -> dict[str, object]:
    # A redeploy that changed the calendar or the retention setting is on the record before
    # the first sweep that runs under it.
    config_observe()
    started_at = timezone.now()
    result = sweep().as_dict()
    sweep_completed(started_at=started_at)
    return result


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def retention_purge() -> dict[str, int]:
    # Daily: closed cases past retention, and files kept for report forms nobody sent.
    return {"purged": retention.retention_purge(), "held_files_deleted": held_uploads_sweep()}
