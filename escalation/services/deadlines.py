"""Deadlines started, paused, resumed and met by the complaint services, in their
transaction."""

from __future__ import annotations

from datetime import date, datetime, time
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.base.base import BaseDatabaseWrapper

from audit.services import Write
from complaints.models import Complaint, State
from escalation import calendar
from escalation.models import Deadline, Kind, Unit
from escalation.policy import Duration, Policies

# The clocks that run in each state. Leaving a state meets the clocks the next one does not
# keep; entering one starts the clocks it adds.
STATE_KINDS: dict[str, frozenset[str]] = {
    State.SUBMITTED: frozenset({Kind.ACKNOWLEDGE}),
    State.ACKNOWLEDGED: frozenset({Kind.TRIAGE, Kind.FEEDBACK}),
    State.AWAITING_REPORTER: frozenset({Kind.TRIAGE, Kind.FEEDBACK, Kind.REPORTER_REPLY}),
    State.DISMISSAL_PROPOSED: frozenset({Kind.DECISION, Kind.FEEDBACK}),
    State.INVESTIGATING: frozenset({Kind.FINDINGS, Kind.FEEDBACK}),
    State.FINDINGS_RECORDED: frozenset({Kind.DECISION, Kind.FEEDBACK}),
    State.RESOLVED: frozenset({Kind.FEEDBACK}),
    State.CLOSED: frozenset(),
    State.DISMISSED: frozenset(),
    State.WITHDRAWN: frozenset(),
}
# While the case waits on the reporter, the handler's clocks stop (DESIGN.md).
PAUSED: dict[str, frozenset[str]] = {State.AWAITING_REPORTER: frozenset({Kind.TRIAGE,
                                                                         Kind.FEEDBACK})}


def deadlines_follow(*, complaint: Complaint, before: str, after: str, now: datetime,
                     policies: Policies | None = None,
                     outcome: str = Deadline.Outcome.MET,
                     writes: list[Write] | None = None) -> None:
    """Bring the complaint's clocks in line with its new state (``before`` is empty when
    the complaint has just been filed).

    Changes: closes the deadlines the new state does not keep (``outcome``, met unless the
    case was withdrawn), pauses or resumes clocks around ``awaiting_reporter``, and starts
    the new state's deadlines from the policy. Called inside the transition's transaction.
    With ``writes``, a step that only closes and starts clocks (every step but those into
    and out of ``awaiting_reporter``) adds its statements there, for ``audit.record``
    to run with the step's event, instead of running them now.
    """
    old, new = STATE_KINDS.get(before, frozenset()), STATE_KINDS[after]
    if after == State.WITHDRAWN:
        outcome = Deadline.Outcome.CANCELLED
    ended, started = sorted(old - new), sorted(new - old)
    conn = connections[DEFAULT_DB_ALIAS]
    stored_now = conn.ops.adapt_datetimefield_value(now)
    close = (Write(_close_sql(len(ended)), [stored_now, outcome, complaint.pk, *ended])
             if ended else None)
    start = _start_write(conn, complaint, started, policies, now) if started else None
    if writes is not None and before not in PAUSED and after not in PAUSED:
        # Close, then start: disjoint kinds, so the one-open-deadline-per-kind index
        # cannot trip between them, and neither reads what the other wrote.
        writes.extend(write for write in (close, start) if write is not None)
        return
    if close is not None:
        with conn.cursor() as cursor:
            cursor.execute(close.sql, close.params)
    if pausing := PAUSED.get(after, frozenset()) - PAUSED.get(before, frozenset()):
        Deadline.objects.filter(complaint_id=complaint.pk, closed_at=None, kind__in=pausing,
                                paused_at=None).update(paused_at=now)
    if resuming := PAUSED.get(before, frozenset()) - PAUSED.get(after, frozenset()):
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


def _start_write(conn: BaseDatabaseWrapper, complaint: Complaint, kinds: list[str],
                 policies: Policies | None, now: datetime) -> Write:
    policies = policies or Policies.current()
    adapt = conn.ops.adapt_datetimefield_value
    stored_now = adapt(now)
    params: list[Any] = []
    for kind in kinds:
        due_at = due(policies, kind, complaint.category, complaint.severity, now)
        params += [complaint.pk, kind, stored_now, adapt(due_at)]
    return Write(_start_sql(len(kinds)), params)


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
