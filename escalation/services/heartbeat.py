"""The sweep's heartbeat: "a sweep completed at T and took D", and an outside ping.

Written by the callers of the sweep (the beat task and ``manage.py sweep_deadlines``) once a
pass has returned. Read by the health checks, the metrics and the web process's stale-sweep
alert (operations/), which is how a stopped beat gets noticed.
"""

from __future__ import annotations

import logging
import urllib.parse
import urllib.request
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from escalation.models import SweepHeartbeat

log = logging.getLogger(__name__)

PING_TIMEOUT_SECONDS = 5.0


def stale_after() -> timedelta:
    """How old the last completed sweep may be before it counts as stopped: twice the
    beat's interval unless ``SWEEP_STALE_AFTER_SECONDS`` says otherwise."""
    seconds = settings.SWEEP_STALE_AFTER_SECONDS or 2 * settings.SWEEP_EVERY_SECONDS
    return timedelta(seconds=seconds)


def heartbeat_read(*, now: datetime | None = None) -> SweepHeartbeat:
    """The heartbeat row. Its migration made it, so a sweep that has never completed (a
    fresh deploy whose beat never started) is measured from the migration. Without the row
    (a test database emptied) nothing is stale: an unsaved row watched from now."""
    row = SweepHeartbeat.objects.filter(pk=1).first()
    return row if row is not None else SweepHeartbeat(pk=1, watched_since=now or timezone.now())


def sweep_age(row: SweepHeartbeat, *, now: datetime | None = None) -> timedelta:
    """Time since the last completed sweep (or since watching began, if none has)."""
    return (now or timezone.now()) - (row.finished_at or row.watched_since)


def sweep_is_stale(row: SweepHeartbeat, *, now: datetime | None = None) -> bool:
    return sweep_age(row, now=now) > stale_after()


def sweep_completed(*, started_at: datetime, finished_at: datetime | None = None) -> None:
    """Record a completed sweep and ping the outside dead-man's switch (``SWEEP_PING_URL``).

    Changes: the one ``SweepHeartbeat`` row (``finished_at``, ``duration_seconds``, and
    ``alerted_at`` cleared: this stale episode, if there was one, is over). No audit event:
    the sweep's own escalations are on the record, and a heartbeat a minute would drown
    the log. Never raises for the ping: a monitor that is down must not fail a sweep.
    """
    finished_at = finished_at or timezone.now()
    duration = max((finished_at - started_at).total_seconds(), 0.0)
    updated = SweepHeartbeat.objects.filter(pk=1).update(
        finished_at=finished_at, duration_seconds=duration, alerted_at=None)
    if not updated:
        try:
            with transaction.atomic():
                SweepHeartbeat.objects.create(pk=1, watched_since=finished_at,
                                              finished_at=finished_at,
                                              duration_seconds=duration)
        except IntegrityError:
            SweepHeartbeat.objects.filter(pk=1).update(
                finished_at=finished_at, duration_seconds=duration, alerted_at=None)
    ping_outside(duration)


def ping_outside(duration: float) -> bool:
    """GET ``SWEEP_PING_URL`` (Healthchecks-style: the monitor alerts when pings stop).
    Returns whether it answered 2xx; every failure is logged and swallowed."""
    url = settings.SWEEP_PING_URL
    if not url:
        return False
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        log.error("SWEEP_PING_URL is not an http(s) URL; not pinging")
        return False
    request = urllib.request.Request(url, method="GET",  # noqa: S310 (scheme checked above)
                                     headers={"User-Agent": "complaints-sweep",
                                              "X-Sweep-Duration": f"{duration:.3f}"})
    try:
        with urllib.request.urlopen(request, timeout=PING_TIMEOUT_SECONDS) as response:  # noqa: S310
            return 200 <= response.status < 300
    except Exception as exc:  # noqa: BLE001 (whatever the monitor does, the sweep goes on)
        log.warning("sweep ping failed: %s", type(exc).__name__)
        return False
