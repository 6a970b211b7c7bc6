"""The notification outbox: rows written with the event that causes them, delivered by a
worker, marked delivered once."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any, NamedTuple, Protocol

from celery import current_app
from django.conf import settings
from django.core.mail import EmailMessage
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.module_loading import import_string

from escalation.models import Notification

log = logging.getLogger(__name__)

# What each notification says. Never who handles the case, never what it is about beyond
# its reference: mail leaves the system.
TEXTS: dict[str, tuple[str, str]] = {
    Notification.Kind.FILED: (
        "Report {ref} filed ({category})",
        "A {category} report, {ref}, was filed. It is copied to the audit committee as "
        "SOX 301 requires for accounting and fraud reports.",
    ),
    Notification.Kind.ESCALATED: (
        "Case {ref} escalated to you (level {level})",
        "A deadline on case {ref} was missed and the case has been escalated to you at "
        "level {level}. Open it in the staff workspace.",
    ),
    Notification.Kind.REMINDER: (
        "Deadline missed on case {ref}",
        "A deadline on case {ref}, assigned to you, was missed. The case has been escalated.",
    ),
    Notification.Kind.ROUTED: (
        "Case {ref} assigned to you",
        "Case {ref} ({category}) has been assigned to you because everyone in the usual HR "
        "line is conflicted on it. Open it in the staff workspace.",
    ),
    Notification.Kind.MESSAGE: (
        "New message on case {ref}",
        "There is a new message on case {ref}. Sign in to read it; messages are never sent "
        "by email.",
    ),
    Notification.Kind.REPORTER_ESCALATED: (
        "Your report {ref} has been escalated",
        "Your report {ref} was not handled in time, so it has been escalated to more senior "
        "people in the organisation. You will hear from them.",
    ),
}


class Case(Protocol):
    """What a notification needs of the case it is about (a complaint)."""

    pk: Any
    reference: str
    category: str


class Outgoing(NamedTuple):
    """A notification about to be written: plain values, cheap to make by the thousand."""

    recipient_id: int | None
    for_reporter: bool
    complaint_id: int
    kind: str
    subject: str
    body: str
    email: str
    created_at: datetime


def build(*, kind: str, complaint: Case, now: datetime, recipient: Any = None,
          for_reporter: bool = False, **context: Any) -> Outgoing:
    subject, body = TEXTS[kind]
    values = {"ref": complaint.reference, "category": complaint.category, **context}
    return Outgoing(
        recipient_id=recipient.pk if recipient is not None else None,
        for_reporter=for_reporter, complaint_id=complaint.pk, kind=kind,
        subject=subject.format(**values), body=body.format(**values),
        email=(recipient.email or "") if recipient is not None else "", created_at=now,
    )


def enqueue(outgoing: list[Outgoing]) -> None:
    """Write outbox rows in the caller's transaction and wake a worker after it commits."""
    if not outgoing:
        return
    Notification.objects.bulk_create([
        Notification(**note._asdict(), next_attempt_at=note.created_at) for note in outgoing
    ])
    transaction.on_commit(_wake_delivery)


# The delivery task (escalation/tasks.py), named rather than imported: the task module
# imports this one.
DELIVERY_TASK = "escalation.tasks.deliver_notifications"


def _wake_delivery() -> None:
    try:
        current_app.send_task(DELIVERY_TASK)
    except Exception:  # noqa: BLE001 - the broker is down: beat's next tick delivers anyway
        log.warning("could not wake a notification worker; the next beat tick will deliver")


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(30 * 2 ** max(attempts - 1, 0), 3600))


@dataclass
class Delivered:
    sent: int = 0
    failed: int = 0
    dropped: int = 0


# Kept on a notification whose mail was not sent because its recipient became conflicted on
# the case after it was written (its address is cleared, so no worker takes it again).
DROPPED_CONFLICTED = "dropped: the recipient is conflicted on this case"


@cache
def _recipient_conflicted() -> Any:
    # The conflict rules belong to the app above (complaints); it names the predicate in
    # NOTIFICATION_RECIPIENT_CONFLICTED, as the audit log's completeness checks are named.
    return import_string(settings.NOTIFICATION_RECIPIENT_CONFLICTED)


def _drop_conflicted(ids: list[int]) -> set[int]:
    """Of these claimed notifications, drop those whose recipient is now conflicted on the
    case: a conflict can arrive between writing a notification and sending it (a directory
    change, a declaration), and a conflicted person is never notified (DESIGN.md)."""
    if not ids:
        return set()
    dropped = set(Notification.objects.filter(pk__in=ids, recipient__isnull=False)
                  .filter(_recipient_conflicted()()).values_list("pk", flat=True))
    if dropped:
        Notification.objects.filter(pk__in=dropped).update(
            email="", claimed_until=None, last_error=DROPPED_CONFLICTED)
    return dropped


def _claim(limit: int, now: datetime) -> list[int]:
    lease = now + timedelta(seconds=settings.NOTIFICATION_LEASE_SECONDS)
    with transaction.atomic():
        due = (Notification.objects
               .filter(Q(claimed_until=None) | Q(claimed_until__lt=now), delivered_at=None,
                       next_attempt_at__lte=now,
                       attempts__lt=settings.NOTIFICATION_MAX_ATTEMPTS)
               .exclude(email="").order_by("next_attempt_at"))
        if connection.features.has_select_for_update_skip_locked:
            due = due.select_for_update(skip_locked=True)
        ids = list(due.values_list("pk", flat=True)[:limit])
        # The conditional update is the claim: a second worker racing for the same rows
        # updates none of them. The attempt counts from the claim, so a message whose
        # sending kills the worker still reaches NOTIFICATION_MAX_ATTEMPTS.
        Notification.objects.filter(
            Q(claimed_until=None) | Q(claimed_until__lt=now), pk__in=ids, delivered_at=None,
        ).update(claimed_until=lease, attempts=F("attempts") + 1)
        return list(Notification.objects.filter(pk__in=ids, claimed_until=lease)
                    .values_list("pk", flat=True))


def deliver_pending(*, limit: int = 200, now: datetime | None = None) -> Delivered:
    """Send claimed notifications by email and mark each delivered once; drop, unsent,
    those whose recipient has since become conflicted on the case.

    A worker that dies mid-way leaves its rows claimed until the lease runs out; then any
    worker takes them again. The message id is the notification's own, so a mail system
    that saw a message before the crash recognises the resend.
    """
    now = now or timezone.now()
    claimed = _claim(limit, now)
    dropped = _drop_conflicted(claimed)
    result = Delivered(dropped=len(dropped))
    for note in (Notification.objects.filter(pk__in=claimed).exclude(pk__in=dropped)
                 .order_by("pk")):
        pk, lease = note.pk, note.claimed_until
        try:
            EmailMessage(
                subject=note.subject, body=note.body, to=[note.email],
                from_email=settings.DEFAULT_FROM_EMAIL,
                headers={"Message-ID": f"<notification-{note.pk}@complaints>"},
            ).send()
        except Exception as exc:  # noqa: BLE001 - any mail failure is retried later
            Notification.objects.filter(pk=pk, claimed_until=lease).update(
                claimed_until=None, next_attempt_at=timezone.now() + backoff(note.attempts),
                last_error=str(exc)[:500])
            result.failed += 1
            log.warning("notification %s not delivered: %s", pk, exc)
            continue
        # Still ours? EMAIL_TIMEOUT keeps a send well inside the lease, so this holds unless
        # the machine stalled; then the row stays claimed by the taker and is not marked twice.
        marked = Notification.objects.filter(pk=pk, delivered_at=None, claimed_until=lease).update(
            delivered_at=timezone.now(), claimed_until=None)
        result.sent += marked
    return result
