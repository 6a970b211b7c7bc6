"""Deadlines started, paused, resumed and met by the complaint services, in their
transaction."""

from __future__ import annotations

from datetime import date, datetime, time
from functools import lru_cache
from typing import Any, NamedTuple, Protocol

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Min, OuterRef, Subquery

from audit.services import Write
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


class NextDue(NamedTuple):
    """What the step's complaint UPDATE sets ``next_due_at`` to: an SQL expression and its
    parameters (complaints/services/locking.py ``changed_write``)."""

    sql: str
    params: list[Any]


def deadlines_follow(*, complaint: Case, before: str, after: str, now: datetime,
                     policies: Policies | None = None,
                     outcome: str = Deadline.Outcome.MET,
                     writes: list[Write] | None = None) -> NextDue | None:
    """Bring the complaint's clocks in line with its new state (``before`` is empty when
    the complaint has just been filed).

    Changes: closes the deadlines the new state does not keep (``outcome``, met unless the
    case was withdrawn), pauses or resumes clocks around ``awaiting_reporter``, and starts
    the new state's deadlines from the policy. Called inside the transition's transaction.
    With ``writes``, a step that only closes and starts clocks (every step but those into
    and out of ``awaiting_reporter``) adds its statements there, for ``audit.record``
    to run with the step's event, instead of running them now.

    Returns what the complaint's ``next_due_at`` becomes, for the step's own complaint
    UPDATE; None when no clock changed. For the statements added to ``writes`` (on
    PostgreSQL they run in one statement and read one snapshot) it leaves out the kinds
    the step ends and adds the earliest it starts, so it gives the same answer whether it
    runs before or after them.
    """
    old, new = STATE_KINDS.get(before, frozenset()), STATE_KINDS[after]
    if after == "withdrawn":
        outcome = Deadline.Outcome.CANCELLED
    ended, started = sorted(old - new), sorted(new - old)
    conn = connections[DEFAULT_DB_ALIAS]
    stored_now = conn.ops.adapt_datetimefield_value(now)
    close = (Write(_close_sql(len(ended)), [stored_now, outcome, complaint.pk, *ended])
             if ended else None)
    start, first_due = (_start_write(conn, complaint, started, policies, now) if started
                        else (None, None))
    if writes is not None and before not in PAUSED and after not in PAUSED:
        # Close, then start: disjoint kinds, so the one-open-deadline-per-kind index
        # cannot trip between them, and neither reads what the other wrote.
        writes.extend(write for write in (close, start) if write is not None)
        if close is None and start is None:
            return None
        # The clocks that keep running, and the earliest of those starting.
        params = [complaint.pk, *ended]
        if first_due is not None:
            params.append(conn.ops.adapt_datetimefield_value(first_due))
        return NextDue(next_due_sql(conn.vendor, len(ended), first_due is not None), params)
    if close is not None:
        with conn.cursor() as cursor:
            cursor.execute(close.sql, close.params)
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
    if start is not None:
        with conn.cursor() as cursor:
            cursor.execute(start.sql, start.params)
    if close is None and start is None and not pausing and not resuming:
        return None
    # Everything has run: read what is running now.
    return NextDue(next_due_sql(conn.vendor), [complaint.pk])


def opening_due(complaint: Case, now: datetime, policies: Policies | None = None
                ) -> datetime | None:
    """The ``next_due_at`` of a complaint being filed now, before it is saved: the earliest
    deadline its first state starts (``deadlines_follow`` with ``before`` empty)."""
    policies = policies or Policies.current()
    return min((due(policies, kind, complaint.category, complaint.severity, now)
                for kind in STATE_KINDS[complaint.state]), default=None)


def running_min() -> Subquery:
    """The earliest due time among the outer complaint's running deadlines, for the ORM."""
    return Subquery(Deadline.objects.filter(complaint_id=OuterRef("pk"), closed_at=None,
                                            paused_at=None)
                    .order_by().values("complaint_id").annotate(due=Min("due_at"))
                    .values("due"))


# Every transition closes and starts deadlines: two statements built once, not compiled by
# the ORM each time (as complaints/services/locking.py does for the complaint row).
_TABLE = Deadline._meta.db_table


@lru_cache(maxsize=16)
def _close_sql(kinds: int) -> str:
    marks = ", ".join(["%s"] * kinds)
    return (f"UPDATE {_TABLE} SET closed_at = %s, outcome = %s "  # noqa: S608
            f"WHERE complaint_id = %s AND closed_at IS NULL AND kind IN ({marks})")


@lru_cache(maxsize=16)
def _start_sql(rows: int) -> str:
    values = ", ".join(["(%s, %s, 0, %s, %s, NULL, NULL, '')"] * rows)
    return (f"INSERT INTO {_TABLE} (complaint_id, kind, level, started_at, due_at, paused_at, "  # noqa: S608
            f"closed_at, outcome) VALUES {values}")


@lru_cache(maxsize=32)
def next_due_sql(vendor: str, ended: int = 0, started: bool = False,
                 complaint: str = "%s") -> str:
    """The earliest due time among a complaint's running deadlines, as an SQL expression:
    the complaint is ``complaint`` (a parameter, or a column of the outer statement), less
    ``ended`` kinds, plus one due time if ``started``. Parameters in that order."""
    sql = (f"SELECT due_at AS due FROM {_TABLE} WHERE complaint_id = {complaint} "  # noqa: S608
           "AND closed_at IS NULL AND paused_at IS NULL")
    if ended:
        sql += f" AND kind NOT IN ({', '.join(['%s'] * ended)})"
    if started:
        # Typed on PostgreSQL, whose UNION would otherwise have to guess the parameter's.
        sql += " UNION ALL SELECT " + ("CAST(%s AS timestamp with time zone)"
                                       if vendor == "postgresql" else "%s")
    return f"(SELECT MIN(due) FROM ({sql}) AS running)"  # noqa: S608


def _start_write(conn: BaseDatabaseWrapper, complaint: Case, kinds: list[str],
                 policies: Policies | None, now: datetime) -> tuple[Write, datetime]:
    """The INSERT of these kinds' deadlines, and the earliest of their due times."""
    policies = policies or Policies.current()
    adapt = conn.ops.adapt_datetimefield_value
    stored_now = adapt(now)
    params: list[Any] = []
    dues = []
    for kind in kinds:
        due_at = due(policies, kind, complaint.category, complaint.severity, now)
        dues.append(due_at)
        params += [complaint.pk, kind, stored_now, adapt(due_at)]
    return Write(_start_sql(len(kinds)), params), min(dues)


# Units whose due time is a day the calendar counts to, at the start's local time of day.
_DAY_UNITS = frozenset({Unit.BUSINESS_DAYS, Unit.CALENDAR_MONTHS})


def due(policies: Policies, kind: str, category: str, severity: str,
        start: datetime) -> datetime:
    """``policies.due(...)``, with the calendar's answer remembered per local start day.

    Counting business days over the holiday calendar was a tenth of a step's Python; for
    business days and calendar months the due time is a day that depends only on the
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
