"""Deadlines started, paused, resumed and met by the complaint services, in their
transaction."""

from __future__ import annotations

from datetime import datetime

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
    open_deadlines = Deadline.objects.filter(complaint_id=complaint.pk, closed_at=None)
    if ended := old - new:
        open_deadlines.filter(kind__in=ended).update(closed_at=now, outcome=outcome)
    if pausing := PAUSED.get(after, frozenset()) - PAUSED.get(before, frozenset()):
        open_deadlines.filter(kind__in=pausing, paused_at=None).update(paused_at=now)
    if resuming := PAUSED.get(before, frozenset()) - PAUSED.get(after, frozenset()):
        for deadline in open_deadlines.filter(kind__in=resuming, paused_at__isnull=False):
            assert deadline.paused_at is not None
            # The time spent waiting on the reporter is given back to the handler.
            deadline.due_at += now - deadline.paused_at
            deadline.paused_at = None
            deadline.save(update_fields=["due_at", "paused_at"])
    if started := new - old:
        policies = policies or Policies()
        Deadline.objects.bulk_create([
            Deadline(complaint_id=complaint.pk, kind=kind, level=0, started_at=now,
                     due_at=policies.due(kind, complaint.category, complaint.severity, now))
            for kind in sorted(started)
        ])
