"""The step's due dates, remembered per local start day, are exactly the calendar's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from escalation.models import Kind
from escalation.policy import Policies
from escalation.services.deadlines import due

KINDS = [Kind.ACKNOWLEDGE, Kind.TRIAGE, Kind.DECISION, Kind.FINDINGS, Kind.FEEDBACK,
         Kind.REPORTER_REPLY]


def _starts() -> list[datetime]:
    # Every 97 minutes for a year: each local time of day, weekends, the bank holidays,
    # both clock changes and the 31st of months followed by shorter ones.
    first = datetime(2026, 1, 1, 0, 7, tzinfo=UTC)
    return [first + timedelta(minutes=97 * i) for i in range(366 * 24 * 60 // 97)]


@pytest.mark.parametrize("severity", ["standard", "critical"])
def test_remembered_due_dates_are_the_calendars_own(severity: str) -> None:
    policies = Policies(overrides=[])
    for start in _starts():
        for kind in KINDS:
            assert due(policies, kind, "bullying", severity, start) == policies.due(
                kind, "bullying", severity, start), (kind, start)


def test_a_change_of_calendar_is_not_answered_from_memory(settings: object) -> None:
    policies = Policies(overrides=[])
    # Friday 28 August 2026; Monday 31st is a bank holiday in England, not in Germany.
    start = datetime(2026, 8, 28, 8, tzinfo=UTC)
    in_england = due(policies, Kind.TRIAGE, "bullying", "critical", start)
    assert in_england == datetime(2026, 9, 2, 8, tzinfo=UTC)
    settings.ORG_HOLIDAYS_COUNTRY = "DE"  # type: ignore[attr-defined]
    settings.ORG_HOLIDAYS_SUBDIVISION = None  # type: ignore[attr-defined]
    settings.ORG_TIME_ZONE = "Europe/Berlin"  # type: ignore[attr-defined]
    in_germany = due(policies, Kind.TRIAGE, "bullying", "critical", start)
    assert in_germany == policies.due(Kind.TRIAGE, "bullying", "critical", start)
    assert in_germany == datetime(2026, 9, 1, 8, tzinfo=UTC)
