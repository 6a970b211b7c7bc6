from __future__ import annotations

from datetime import UTC, datetime

import pytest

from escalation import calendar
from escalation.models import Kind, SlaPolicy, Unit
from escalation.policy import Duration, Policies


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_business_days_skip_weekends_and_public_holidays() -> None:
    # England 2026: Christmas is Friday 25 December, Boxing Day is kept on Monday 28th.
    assert calendar.add_business_days(at(2026, 12, 24, 10), 1) == at(2026, 12, 29, 10)
    assert calendar.add_business_days(at(2026, 12, 23, 10), 2) == at(2026, 12, 29, 10)
    assert calendar.add_business_days(at(2026, 11, 20, 9), 1) == at(2026, 11, 23, 9)  # Fri->Mon


def test_counting_starts_from_the_next_business_day_when_filed_on_a_weekend() -> None:
    assert calendar.add_business_days(at(2026, 11, 21, 23), 1) == at(2026, 11, 23, 23)  # Sat


def test_the_calendar_follows_the_configured_country(settings: object) -> None:
    settings.ORG_HOLIDAYS_COUNTRY = "DE"  # type: ignore[attr-defined]
    settings.ORG_HOLIDAYS_SUBDIVISION = None  # type: ignore[attr-defined]
    settings.ORG_TIME_ZONE = "Europe/Berlin"  # type: ignore[attr-defined]
    # 3 October is German Unity Day; 2 October 2026 is a Friday.
    assert calendar.add_business_days(at(2026, 10, 2, 8), 1) == at(2026, 10, 5, 8)


def test_calendar_months_keep_the_day_or_take_the_last_of_a_short_month() -> None:
    assert calendar.add_months(at(2026, 1, 31, 12), 1) == at(2026, 2, 28, 12)
    assert calendar.add_months(at(2026, 11, 25, 12), 3) == at(2027, 2, 25, 12)


def test_business_days_keep_the_local_time_across_a_clock_change() -> None:
    # London leaves summer time on 25 October 2026: 09:00 local is 08:00 UTC before and
    # 09:00 UTC after.
    assert calendar.add_business_days(at(2026, 10, 23, 8), 1) == at(2026, 10, 26, 9)


@pytest.mark.django_db
def test_the_most_specific_policy_wins() -> None:
    SlaPolicy.objects.create(kind=Kind.TRIAGE, amount=8, unit=Unit.BUSINESS_DAYS)
    SlaPolicy.objects.create(kind=Kind.TRIAGE, category="fraud", amount=4,
                             unit=Unit.BUSINESS_DAYS)
    SlaPolicy.objects.create(kind=Kind.TRIAGE, category="fraud", severity="critical", amount=1,
                             unit=Unit.HOURS)
    policies = Policies()
    assert policies.duration(Kind.TRIAGE, "fraud", "critical") == Duration(1, Unit.HOURS)
    assert policies.duration(Kind.TRIAGE, "fraud", "standard") == Duration(4, Unit.BUSINESS_DAYS)
    assert policies.duration(Kind.TRIAGE, "bullying", "standard") == Duration(8, Unit.BUSINESS_DAYS)
    assert policies.duration(Kind.FINDINGS, "bullying", "critical") == Duration(
        30, Unit.BUSINESS_DAYS)
