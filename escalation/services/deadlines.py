"""Deadlines started, paused, resumed and met by the complaint services, in their
transaction."""

from __future__ import annotations

from datetime import date, datetime, time
from functools import lru_cache
from typing import Any, Protocol

from django.conf import settings
from django.db.models import Min, OuterRef, Subquery

from escalation import calendar
from escalation.models import Deadline, Kind, Unit
from escalation.policy import Duration, Policies


class Case(Protocol):
    """What the clocks need of the case they run for (a complaint)."""

    pk: Any
    category: str
    severity: str
    state: str


# The clocks that run in each state of a complaint (complaints.models.State; a test pins
# the two together). Leaving a state meets the clocks the next one does not
# keep; entering one starts the clocks it adds.
STATE_KINDS: dict[str, frozenset[str]] = {
    "submitted": frozenset({Kind.ACKNOWLEDGE}),
    "acknowledged": frozenset({Kind.TRIAGE, Kind.FEEDBACK}),
    "awaiting_reporter": frozenset({Kind.TRIAGE, Kind.FEEDBACK, Kind.REPORTER_REPLY}),
    "dismissal_proposed": frozenset({Kind.DECISION, Kind.FEEDBACK}),
    "investigating": frozenset({Kind.FINDINGS, Kind.FEEDBACK}),
    "findings_recorded": frozenset({Kind.DECISION, Kind.FEEDBACK}),
    "resolved": frozenset({Kind.FEEDBACK}),
    "closed": frozenset(),
    "dismissed": frozenset(),
    "withdrawn": frozenset(),
}
# While the case waits on the reporter, the handler's clocks stop (DESIGN.md).
PAUSED: dict[str, frozenset[str]] = {"awaiting_reporter": frozenset({Kind.TRIAGE,
                                                                         Kind.FEEDBACK})}


def deadlines_follow(*, complaint: Case, before: str, after: str, now: datetime,
                     policies: Policies | None = None,
                     outcome: str = Deadline.Outcome.MET) -> bool:
    """Bring the complaint's clocks in line with its new state (``before`` is empty when
    the complaint has just been filed).

    Changes: closes the deadlines the new state does not keep (``outcome``, met unless the
    case was withdrawn), pauses or resumes clocks around ``awaiting_reporter``, and starts
    the new state's deadlines from the policy. Called inside the transition's transaction.
    Returns whether any clock changed: the caller then brings the complaint's
    ``next_due_at`` up to date (``complaints.services.next_due.next_due_refresh``).
    """
    old, new = STATE_KINDS.get(before, frozenset()), STATE_KINDS[after]
    if after == "withdrawn":
        outcome = Deadline.Outcome.CANCELLED
    ended, started = sorted(old - new), sorted(new - old)
    # Close before starting: the one-open-deadline-per-kind index must never see two.
    if ended:
        Deadline.objects.filter(complaint_id=complaint.pk, closed_at=None,
                                kind__in=ended).update(closed_at=now, outcome=outcome)
    pausing = PAUSED.get(after, frozenset()) - PAUSED.get(before, frozenset())
    if pausing:
        Deadline.objects.filter(complaint_id=complaint.pk, closed_at=None, kind__in=pausing,
                                paused_at=None).update(paused_at=now)
    resuming = PAUSED.get(before, frozenset()) - PAUSED.get(after, frozenset())
    if resuming:
        for deadline in Deadline.objects.filter(complaint_id=complaint.pk, closed_at=None,
                                                kind__in=resuming, paused_at__isnull=False):
            assert deadline.paused_at is not None
            # The time spent waiting on the reporter is given back to the handler.
            deadline.due_at += now - deadline.paused_at
            deadline.paused_at = None
            deadline.save(update_fields=["due_at", "paused_at"])
    if started:
        policies = policies or Policies.current()
        Deadline.objects.bulk_create([
            Deadline(complaint_id=complaint.pk, kind=kind, level=0, started_at=now,
                     due_at=due(policies, kind, complaint.category, complaint.severity, now))
            for kind in started])
    return bool(ended or started or pausing or resuming)


def running_min() -> Subquery:
    """The earliest due time among the outer complaint's running deadlines, for the ORM."""
    return Subquery(Deadline.objects.filter(complaint_id=OuterRef("pk"), closed_at=None,
                                            paused_at=None)
                    .order_by().values("complaint_id").annotate(due=Min("due_at"))
                    .values("due"))


# Until the sweep is rewritten: complaints/services/sweep.py still builds its PostgreSQL
# complaint UPDATE with this. Delete it with the sweep's last use of it.
def next_due_sql(vendor: str, ended: int = 0, started: bool = False,
                 complaint: str = "%s") -> str:
    table = Deadline._meta.db_table
    sql = (f"SELECT due_at AS due FROM {table} WHERE complaint_id = {complaint} "  # noqa: S608
           "AND closed_at IS NULL AND paused_at IS NULL")
    return f"(SELECT MIN(due) FROM ({sql}) AS running)"  # noqa: S608


# Units whose due time is a day the calendar counts to, at the start's local time of day.
_DAY_UNITS = frozenset({Unit.BUSINESS_DAYS, Unit.CALENDAR_MONTHS})


def due(policies: Policies, kind: str, category: str, severity: str,
        start: datetime) -> datetime:
    """``policies.due(...)``, with the calendar's answer remembered per local start day.

    Counting business days over the holiday calendar is slow and every step starts clocks;
    for business days and calendar months the due time is a day that depends only on the
    local start day, at the same local time of day (escalation/calendar.py), so the day is
    asked of the calendar once per start day and the time of day put back here.
    """
    duration = policies.duration(kind, category, severity)
    if duration.unit not in _DAY_UNITS:
        return duration.after(start)
    zone = calendar.org_zone()
    local = start.astimezone(zone)
    day = _due_day(duration, local.date(), settings.ORG_TIME_ZONE,
                   settings.ORG_HOLIDAYS_COUNTRY, settings.ORG_HOLIDAYS_SUBDIVISION)
    naive = datetime.combine(day, local.time().replace(tzinfo=None))
    return naive.replace(tzinfo=zone).astimezone(start.tzinfo)


@lru_cache(maxsize=256)
def _due_day(duration: Duration, start_day: date, zone_name: str, country: str,
             subdivision: str | None) -> date:
    # The calendar's settings are part of the key: a change of calendar is a new answer.
    zone = calendar.org_zone()
    noon = datetime.combine(start_day, time(12), tzinfo=zone)  # never in a DST gap
    return duration.after(noon).astimezone(zone).date()
