"""Deadlines started, paused, resumed and met by the complaint services, in their
transaction."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Any

from django.db import connection

from complaints.models import Complaint, State
from escalation.models import Deadline, Kind
from escalation.policy import Policies

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
                     outcome: str = Deadline.Outcome.MET) -> None:
    """Bring the complaint's clocks in line with its new state (``before`` is empty when
    the complaint has just been filed).

    Changes: closes the deadlines the new state does not keep (``outcome``, met unless the
    case was withdrawn), pauses or resumes clocks around ``awaiting_reporter``, and starts
    the new state's deadlines from the policy. Called inside the transition's transaction.
    """
    old, new = STATE_KINDS.get(before, frozenset()), STATE_KINDS[after]
    if after == State.WITHDRAWN:
        outcome = Deadline.Outcome.CANCELLED
    ended, started = sorted(old - new), sorted(new - old)
    if ended and started and connection.vendor == "postgresql":
        # The usual step (one clock met, the next ones started): one statement.
        policies = policies or Policies.current()
        _close_and_start(complaint, ended, outcome, [
            (kind, policies.due(kind, complaint.category, complaint.severity, now))
            for kind in started], now)
        ended = started = []
    if ended:
        _close(complaint.pk, ended, now, outcome)
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
    if started:
        policies = policies or Policies.current()
        _start(complaint.pk, [
            (kind, policies.due(kind, complaint.category, complaint.severity, now))
            for kind in started
        ], now)


# Every transition closes and starts deadlines: two statements built once, not compiled by
# the ORM each time (as complaints/services/locking.py does for the complaint row).
_TABLE = Deadline._meta.db_table


@lru_cache(maxsize=16)
def _close_sql(vendor: str, kinds: int) -> str:
    marks = ", ".join(["%s"] * kinds)
    return (f"UPDATE {_TABLE} SET closed_at = %s, outcome = %s "  # noqa: S608
            f"WHERE complaint_id = %s AND closed_at IS NULL AND kind IN ({marks})")


@lru_cache(maxsize=16)
def _start_sql(vendor: str, rows: int) -> str:
    values = ", ".join(["(%s, %s, 0, %s, %s, NULL, NULL, '')"] * rows)
    return (f"INSERT INTO {_TABLE} (complaint_id, kind, level, started_at, due_at, paused_at, "  # noqa: S608
            f"closed_at, outcome) VALUES {values}")


def _close_and_start(complaint: Complaint, ended: list[str], outcome: str,
                     started: list[tuple[str, datetime]], now: datetime) -> None:
    # Disjoint kinds, so the one-open-deadline-per-kind index cannot trip inside it.
    sql = (f"WITH closed AS ({_close_sql(connection.vendor, len(ended))}) "
           f"{_start_sql(connection.vendor, len(started))}")
    params: list[Any] = [_stored(now), outcome, complaint.pk, *ended]
    for kind, due_at in started:
        params += [complaint.pk, kind, _stored(now), _stored(due_at)]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _close(complaint_id: int, kinds: list[str], now: datetime, outcome: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(_close_sql(connection.vendor, len(kinds)),
                       [_stored(now), outcome, complaint_id, *kinds])


def _start(complaint_id: int, kinds: list[tuple[str, datetime]], now: datetime) -> None:
    params: list[Any] = []
    for kind, due_at in kinds:
        params += [complaint_id, kind, _stored(now), _stored(due_at)]
    with connection.cursor() as cursor:
        cursor.execute(_start_sql(connection.vendor, len(kinds)), params)


def _stored(moment: datetime) -> Any:
    return connection.ops.adapt_datetimefield_value(moment)
