"""A stopped sweep is loud: the web process notices it and tells compliance.

Stopping Celery beat would bury every complaint at once (nothing escalates any more), and
nothing the beat runs can notice its own absence. So the web process does: every page a
compliance officer or committee member opens, and every ``/readyz``, reads the sweep's
heartbeat (``escalation.services.heartbeat``). When
the last completed sweep is older than twice its interval,

- compliance officers and the audit committee see a banner on every page, and
- the first request that notices mails them (and ``ADMINS``) itself, synchronously: not
  through the outbox, whose wake-ups may be as dead as the beat. One mail per stale
  episode, however many web processes notice at once: a conditional UPDATE of the
  heartbeat's ``alerted_at`` (zero rows updated: another request got there first), which
  the next completed sweep clears.

The mail names no case, so the conflict rules have nothing to filter: every active
compliance officer and committee member with an address gets it.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import DatabaseError
from django.http import HttpRequest
from django.utils import timezone

from complaints import access
from escalation.models import SweepHeartbeat
from escalation.services.heartbeat import heartbeat_read, stale_after, sweep_age, sweep_is_stale

log = logging.getLogger(__name__)

ALERTED_ROLES = (access.COMPLIANCE_OFFICER, access.AUDIT_COMMITTEE)


def human_age(age: timedelta) -> str:
    minutes = int(age.total_seconds() // 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min"
    return f"{hours // 24} days"


def alert_recipients() -> list[str]:
    holders = access.role_holders(ALERTED_ROLES)
    addresses = {account.email for accounts in holders.values() for account in accounts
                 if account.email}
    addresses |= {address for _, address in settings.ADMINS}
    return sorted(addresses)


def stale_alert(row: SweepHeartbeat, *, now: datetime | None = None) -> bool:
    """Mail compliance, the audit committee and the operators that the sweep has stopped,
    once per stale episode. Returns whether this call sent it.

    Changes: the heartbeat's ``alerted_at`` (the claim). A failed send is logged at ERROR
    and not retried in this episode: the banner and ``/readyz`` stay red meanwhile.
    """
    now = now or timezone.now()
    if row.alerted_at is not None or not sweep_is_stale(row, now=now):
        return False
    claimed = SweepHeartbeat.objects.filter(
        pk=row.pk, alerted_at=None, finished_at=row.finished_at).update(alerted_at=now)
    if not claimed:
        return False
    recipients = alert_recipients()
    if not recipients:
        log.error("the sweep has stopped and nobody with an address holds %s",
                  " or ".join(ALERTED_ROLES))
        return False
    last = (f"The last sweep completed at {row.finished_at:%Y-%m-%d %H:%M %Z}"
            if row.finished_at else "No sweep has completed since "
            f"{row.watched_since:%Y-%m-%d %H:%M %Z}")
    try:
        EmailMessage(
            subject="The deadline sweep has stopped: complaints are not escalating",
            body=(f"{last}, {human_age(sweep_age(row, now=now))} ago; it should run every "
                  f"{settings.SWEEP_EVERY_SECONDS:g} seconds.\n\n"
                  "Until it runs again, missed deadlines do not escalate and nobody is "
                  "reminded. Ask the operators to check the Celery beat and worker "
                  "processes. This mail is sent once per stoppage; the banner on the staff "
                  "pages stays until a sweep completes.\n"),
            to=recipients, from_email=settings.DEFAULT_FROM_EMAIL,
        ).send()
    except Exception:
        log.exception("could not mail the stopped-sweep alert")
        return False
    log.warning("stopped-sweep alert sent", extra={"recipients": len(recipients)})
    return True


def observe(*, now: datetime | None = None) -> SweepHeartbeat:
    """Read the heartbeat and, when it is stale, alert (once per episode)."""
    row = heartbeat_read(now=now)
    stale_alert(row, now=now)
    return row


def context(request: HttpRequest) -> dict[str, Any]:
    """Template context for every page: ``sweep_stale`` for compliance officers and the
    audit committee while the sweep has stopped; their pages also raise the alert. (One
    query a page, for them only: the queues of the other roles cost what they did.)"""
    held = access.roles_of(getattr(request, "user", None))
    if not held & set(ALERTED_ROLES):
        return {}
    try:
        row = observe()
    except DatabaseError:
        # The page itself will say the database is gone, or is rendering that already.
        return {}
    if not sweep_is_stale(row):
        return {}
    return {"sweep_stale": {"finished_at": row.finished_at, "watched_since": row.watched_since,
                            "age": human_age(sweep_age(row)),
                            "limit": human_age(stale_after())}}
