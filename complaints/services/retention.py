"""Retention: erasing the personal data of cases that ended long ago.

A closed, dismissed or withdrawn case keeps its personal data for the retention period in
force after it ended (``escalation.policy.retention_days``: the stored policy, changed only
through compliance.services.policies, else the setting ``RETENTION_DAYS``), then loses it:
the narrative, the people, the messages, the files. What stays is what the compliance
dashboard counts (reference, category, severity, state, the milestone
timestamps, deadlines and escalations) and the audit log, which never held the text, so
its chain still verifies.

Run daily by the beat entry ``retention-purge`` and by ``manage.py purge_retention``.
Cases are claimed like the deadline sweep claims them: locked in id order with SKIP
LOCKED, the due condition checked again under the lock, one transaction per batch, and
a case that fails is logged and left for the next run rather than stopping the rest.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, QuerySet
from django.utils import timezone

from audit import services as audit
from audit.actions import Action
from complaints.models import (
    ENDED,
    Attachment,
    CaseNote,
    Complaint,
    Conflict,
    EvidenceItem,
    Interview,
    Investigation,
    Message,
    PurgePermit,
    Subject,
    Witness,
)
from complaints.services.attachments import delete_stored_files
from escalation.models import Notification
from escalation.policy import retention_days

log = logging.getLogger(__name__)

BATCH_SIZE = 100
# The summary is required, so an erased one says so rather than being empty.
ERASED = "[erased]"


def _due(now: datetime) -> QuerySet[Complaint]:
    # Narrowed by the complaint_state_submitted index (state first); the rest is a filter
    # over ended cases, fine for a daily job.
    cutoff = now - timedelta(days=retention_days())
    return Complaint.objects.filter(state__in=ENDED, ended_at__lt=cutoff, purged_at=None)


def retention_due(*, now: datetime | None = None) -> list[tuple[str, datetime | None]]:
    """The cases a purge at ``now`` would erase, as ``(reference, ended_at)``, oldest first.
    Changes nothing."""
    rows = _due(now or timezone.now()).order_by("ended_at", "pk").values_list(
        "reference", "ended_at")
    return list(rows)


def retention_purge(*, now: datetime | None = None, batch_size: int = BATCH_SIZE) -> int:
    """Erase the personal data of every case that ended more than the retention period in force ago.

    Changes, per case: summary becomes ``[erased]``; narrative, location and
    reporter_identity are blanked; receipt_key_hash becomes "" (the receipt key opens
    nothing any more) and reporter_user / reporter_person None; Subjects, Witnesses,
    CaseNotes, Messages, Attachments (their stored files deleted after the commit),
    Interviews, EvidenceItems and Conflicts are deleted; the Investigation's plan, findings
    and recommended actions are blanked (outcome and dates stay); the case's notifications
    lose subject, body, email and last error, and the reporter's lose their recipient;
    purged_at is set; the delete guard's ``PurgePermit`` is taken first (``_permit``).
    Reference, category, severity, state, timestamps, deadlines and
    escalations stay for the statistics.
    Audits ``complaint.purged`` once per case (counts of what was erased).
    Returns how many cases were purged. Raises nothing for one case's failure: it is
    logged and left for the next run. A case held by another transaction is skipped.
    """
    now = now or timezone.now()
    purged = 0
    skip: set[int] = set()
    while ids := list(_due(now).exclude(pk__in=skip).order_by("pk")
                      .values_list("pk", flat=True)[:batch_size]):
        done = _purge_isolating(ids, now)
        purged += len(done)
        # Locked by someone else, reopened meanwhile, or failing: not again in this run.
        skip.update(set(ids) - set(done))
    return purged


def _purge_isolating(ids: list[int], now: datetime) -> list[int]:
    try:
        return _purge_batch(ids, now)
    except Exception:
        log.warning("retention purge of a batch failed; retrying its cases one by one",
                    exc_info=True)
    done: list[int] = []
    for pk in ids:
        try:
            done += _purge_batch([pk], now)
        except Exception:
            log.exception("retention purge of complaint %s failed; left for the next run", pk)
    return done


def _permit(pks: list[int], now: datetime) -> None:
    """Take the delete guard's leave to delete these cases' parts (complaints/guard.py).

    On PostgreSQL the database gives it, through the one function that may, and only for
    a case that ended at least 365 days ago by its own clock; it raises otherwise and the
    batch rolls back. On SQLite, which has no roles, the purge writes its own permits.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            for pk in pks:
                cursor.execute("SELECT complaint_purge_permit(%s)", [pk])
        return
    PurgePermit.objects.bulk_create([PurgePermit(complaint_id=pk, permitted_at=now)
                                     for pk in pks], ignore_conflicts=True)


def _counts(queryset: QuerySet[Any], key: str = "complaint_id") -> dict[int, int]:
    rows = queryset.order_by().values(key).annotate(n=Count("pk")).values_list(key, "n")
    return {int(complaint_id): int(n) for complaint_id, n in rows}


def _purge_batch(ids: list[int], now: datetime) -> list[int]:
    with transaction.atomic():
        # In id order, so two purges (or a purge and the sweep) never deadlock; the due
        # condition again under the lock, since a case may have been reopened meanwhile.
        locked = list(_due(now).filter(pk__in=ids).select_for_update(skip_locked=True)
                      .order_by("pk").values_list("pk", "reference"))
        if not locked:
            return []
        pks = [pk for pk, _ in locked]
        by_complaint: dict[str, QuerySet[Any]] = {
            "subjects": Subject.objects.filter(complaint_id__in=pks),
            "witnesses": Witness.objects.filter(complaint_id__in=pks),
            "notes": CaseNote.objects.filter(complaint_id__in=pks),
            "messages": Message.objects.filter(complaint_id__in=pks),
            "attachments": Attachment.objects.filter(complaint_id__in=pks),
            "conflicts": Conflict.objects.filter(complaint_id__in=pks),
        }
        by_investigation: dict[str, QuerySet[Any]] = {
            "interviews": Interview.objects.filter(investigation__complaint_id__in=pks),
            "evidence": EvidenceItem.objects.filter(investigation__complaint_id__in=pks),
        }
        investigations = Investigation.objects.filter(complaint_id__in=pks)
        notifications = Notification.objects.filter(complaint_id__in=pks)
        counts = {name: _counts(qs) for name, qs in by_complaint.items()}
        counts |= {name: _counts(qs, "investigation__complaint_id")
                   for name, qs in by_investigation.items()}
        counts["investigation"] = _counts(investigations)
        counts["notifications"] = _counts(notifications)

        stored_names = list(by_complaint["attachments"].values_list("stored_name", flat=True))
        _permit(pks, now)
        for qs in [*by_investigation.values(), *by_complaint.values()]:
            qs.delete()
        investigations.update(plan="", findings="", recommended_actions="")
        notifications.update(subject="", body="", email="", last_error="")
        notifications.filter(for_reporter=True).update(recipient=None)
        Complaint.objects.filter(pk__in=pks).update(
            summary=ERASED, narrative="", location="", reporter_identity="",
            receipt_key_hash="", reporter_user=None, reporter_person=None,
            purged_at=now, updated_at=now,
        )
        audit.record_many([
            audit.Entry(action=Action.COMPLAINT_PURGED, actor=audit.SYSTEM,
                        target=("complaint", reference),
                        payload={name: per_case.get(pk, 0) for name, per_case in counts.items()})
            for pk, reference in locked
        ])
        # Only once the rows are gone for good: a rollback must leave every file in place.
        if stored_names:
            transaction.on_commit(partial(delete_stored_files, stored_names))
    return pks
