"""What ``/readyz`` checks (django-health-check): the services, then the product's clocks.

Each check's name is what the 503 names. The checks that read our tables run on the
request's own thread (``sync_to_async``, thread-sensitive), so they use the request's
database connection; the broker check, which may wait on a network, runs beside them.
Messages name what is wrong and how old it is, never a case, a person or a secret.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
from datetime import timedelta

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import DatabaseError
from django.utils import timezone
from health_check import checks as library
from health_check.base import HealthCheck
from health_check.exceptions import ServiceUnavailable

from audit.actions import Action
from audit.models import AuditEvent, Checkpoint
from escalation.models import Notification
from escalation.services.heartbeat import stale_after, sweep_age, sweep_is_stale
from operations import sweep_watch


def _age(age: timedelta) -> str:
    return sweep_watch.human_age(age)


class Database(library.Database):
    """SELECT 1 on the default database."""

    async def run(self) -> None:  # type: ignore[override]
        await sync_to_async(super().run)()

    def __repr__(self) -> str:
        return "database"


class Cache(library.Cache):
    """Set and read back a key in the default cache (Redis, or each process's memory)."""

    def __repr__(self) -> str:
        return "cache"


@dataclasses.dataclass(repr=False)
class Broker(HealthCheck):
    """Connect to the Celery broker (``CELERY_BROKER_URL``) through kombu: Redis, or the
    embedded default's filesystem transport. Runs in an executor: it may wait on a socket."""

    timeout: datetime.timedelta = dataclasses.field(
        default=datetime.timedelta(seconds=3), repr=False)

    def run(self) -> None:
        from config.celery_app import app

        try:
            with app.connection_for_write() as connection:
                connection.ensure_connection(max_retries=1, timeout=self.timeout.total_seconds())
                connection.default_channel  # noqa: B018 (opening a channel is the check)
        except Exception as exc:  # kombu raises the transport's own errors
            raise ServiceUnavailable(f"broker unreachable ({type(exc).__name__})") from exc

    def __repr__(self) -> str:
        return "broker"


class _ProductCheck(HealthCheck):
    """A check that reads our tables, on the request's thread and connection."""

    name = ""

    async def run(self) -> None:
        await sync_to_async(self._guarded)()

    def _guarded(self) -> None:
        try:
            self.check()
        except DatabaseError as exc:
            raise ServiceUnavailable("database unavailable") from exc

    def check(self) -> None:
        raise NotImplementedError

    def __repr__(self) -> str:
        return self.name


@dataclasses.dataclass(repr=False)
class Sweep(_ProductCheck):
    """The last completed sweep is no older than twice its interval. Noticing a stale one
    also mails compliance and the committee (once per episode: operations/sweep_watch.py)."""

    name = "sweep"

    def check(self) -> None:
        row = sweep_watch.observe()
        if sweep_is_stale(row):
            since = ("the last completed sweep" if row.finished_at
                     else "watching began, with no sweep")
            raise ServiceUnavailable(
                f"stopped: {_age(sweep_age(row))} since {since} (limit {_age(stale_after())})")


@dataclasses.dataclass(repr=False)
class Mail(_ProductCheck):
    """No notification has waited undelivered longer than ``MAIL_MAX_AGE_SECONDS``."""

    name = "mail"

    def check(self) -> None:
        # The partial index notification_undelivered covers these rows.
        oldest = (Notification.objects.filter(delivered_at=None).exclude(email="")
                  .order_by("created_at").values_list("created_at", flat=True).first())
        if oldest is None:
            return
        age = timezone.now() - oldest
        if age.total_seconds() > settings.MAIL_MAX_AGE_SECONDS:
            waiting = (Notification.objects.filter(delivered_at=None).exclude(email="")
                       .count())
            raise ServiceUnavailable(
                f"{waiting} undelivered, the oldest waiting {_age(age)} "
                f"(limit {_age(timedelta(seconds=settings.MAIL_MAX_AGE_SECONDS))})")


def checkpoint_stale_after() -> timedelta:
    # The beat's tick signs one once the interval has passed; two ticks of grace.
    return timedelta(seconds=settings.AUDIT_CHECKPOINT_EVERY_SECONDS
                     + 2 * settings.AUDIT_CHECKPOINT_CHECK_SECONDS)


@dataclasses.dataclass(repr=False)
class AuditCheckpoint(_ProductCheck):
    """The newest signed checkpoint is no older than its interval (and two ticks)."""

    name = "checkpoint"

    def check(self) -> None:
        newest = Checkpoint.objects.order_by("-seq").values_list("made_at", flat=True).first()
        if newest is None:
            raise ServiceUnavailable("no signed checkpoint yet")
        age = timezone.now() - newest
        if age > checkpoint_stale_after():
            raise ServiceUnavailable(
                f"the newest is {_age(age)} old (limit {_age(checkpoint_stale_after())})")


def last_verification() -> tuple[datetime.datetime, dict[str, object]] | None:
    """When the chain was last verified and what was put on the record (audit/tasks.py)."""
    # Served by the index audit_action_seq.
    event = (AuditEvent.objects.filter(action=Action.AUDIT_CHAIN_VERIFIED).order_by("-seq")
             .only("occurred_at", "payload").first())
    if event is None:
        return None
    try:
        payload = json.loads(event.payload)
    except ValueError:
        payload = {}
    return event.occurred_at, payload if isinstance(payload, dict) else {}


@dataclasses.dataclass(repr=False)
class AuditChain(_ProductCheck):
    """The last recorded verification found the chain intact and the log complete."""

    name = "chain"

    def check(self) -> None:
        verified = last_verification()
        if verified is None:
            return  # never verified yet: the metrics show its age
        checked_at, payload = verified
        if not payload.get("intact", False):
            raise ServiceUnavailable(
                f"broken at the verification of {checked_at:%Y-%m-%d %H:%M %Z}")
        if payload.get("complete") is False:
            raise ServiceUnavailable(
                f"incomplete at the verification of {checked_at:%Y-%m-%d %H:%M %Z}")


READY_CHECKS = (Database, Cache, Broker, Sweep, Mail, AuditCheckpoint, AuditChain)
