"""How long each deadline runs (DESIGN.md, "Deadlines and automatic escalation").

Defaults below; a compliance officer overrides them per category, severity or both with
``SlaPolicy`` rows, through compliance.services.policies only. The most specific row wins:
category and severity, then category, then severity, then the default. ``BOUNDS`` are the
law's limits on any of them, and ``span`` compares durations across units. The retention
period in force is read here too (``retention_days``).
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.utils import timezone

from escalation import calendar
from escalation.models import Kind, RetentionPolicy, SlaPolicy, Unit

ESCALATION = "escalation"


@dataclass(frozen=True)
class Duration:
    amount: int
    unit: str

    def __str__(self) -> str:
        return f"{self.amount} {Unit(self.unit).label}"

    def after(self, start: datetime) -> datetime:
        if self.unit == Unit.BUSINESS_DAYS:
            return calendar.add_business_days(start, self.amount)
        if self.unit == Unit.CALENDAR_MONTHS:
            return calendar.add_months(start, self.amount)
        if self.unit == Unit.CALENDAR_DAYS:
            return start + timedelta(days=self.amount)
        if self.unit == Unit.HOURS:
            return start + timedelta(hours=self.amount)
        return start + timedelta(seconds=self.amount)


# (kind, severity) -> duration. Standard first, then critical: assault, violence, threats,
# retaliation. The 7-day acknowledgement and 3-month feedback are calendar time, as the EU
# directive (2019/1937) counts them.
DEFAULTS: dict[tuple[str, str], Duration] = {
    (Kind.ACKNOWLEDGE, "standard"): Duration(7, Unit.CALENDAR_DAYS),
    (Kind.ACKNOWLEDGE, "critical"): Duration(1, Unit.BUSINESS_DAYS),
    (Kind.TRIAGE, "standard"): Duration(10, Unit.BUSINESS_DAYS),
    (Kind.TRIAGE, "critical"): Duration(2, Unit.BUSINESS_DAYS),
    (Kind.DECISION, "standard"): Duration(5, Unit.BUSINESS_DAYS),
    (Kind.DECISION, "critical"): Duration(2, Unit.BUSINESS_DAYS),
    (Kind.FINDINGS, "standard"): Duration(60, Unit.BUSINESS_DAYS),
    (Kind.FINDINGS, "critical"): Duration(30, Unit.BUSINESS_DAYS),
    (Kind.FEEDBACK, "standard"): Duration(3, Unit.CALENDAR_MONTHS),
    (Kind.FEEDBACK, "critical"): Duration(3, Unit.CALENDAR_MONTHS),
    # How long the case may wait on the reporter before it goes back to the handler.
    (Kind.REPORTER_REPLY, "standard"): Duration(20, Unit.BUSINESS_DAYS),
    (Kind.REPORTER_REPLY, "critical"): Duration(20, Unit.BUSINESS_DAYS),
    # The shorter deadline that starts at each escalation level.
    (ESCALATION, "standard"): Duration(3, Unit.BUSINESS_DAYS),
    (ESCALATION, "critical"): Duration(1, Unit.BUSINESS_DAYS),
}


@dataclass(frozen=True)
class Bound:
    longest: Duration
    why: str
    # A statutory clock may never run past its bound from any start day (90 calendar days
    # started on 1 February end after 3 months). A stage clock must fit inside the feedback
    # duty, which runs on its own and never pauses, so it may run as long as the longest 3
    # months (92 days): 60 business days of findings over Christmas take 90.
    statutory: bool = False

    def admits(self, duration: Duration) -> bool:
        if self.statutory or duration.unit == self.longest.unit:
            return never_longer(duration, self.longest)
        return span(duration).longest <= span(self.longest).longest


# The longest each clock may be set to, and why (DESIGN.md, "Configuration is part of the
# record"). Every amount is also at least 1, and the units for drills (hours, seconds) are
# held to the same bounds. A value beyond these is refused, not stored: no clock that can
# never fire.
THREE_MONTHS = Duration(3, Unit.CALENDAR_MONTHS)
BOUNDS: dict[str, Bound] = {
    Kind.ACKNOWLEDGE: Bound(Duration(7, Unit.CALENDAR_DAYS),
                            "EU Directive 2019/1937 art. 9(1)(b): acknowledge within 7 days",
                            statutory=True),
    Kind.FEEDBACK: Bound(THREE_MONTHS, "EU Directive 2019/1937 art. 9(1)(f): feedback within "
                                       "3 months of the acknowledgement", statutory=True),
    Kind.TRIAGE: Bound(THREE_MONTHS, "a stage must fit inside the 3-month feedback duty"),
    Kind.DECISION: Bound(THREE_MONTHS, "a stage must fit inside the 3-month feedback duty"),
    Kind.FINDINGS: Bound(THREE_MONTHS, "a stage must fit inside the 3-month feedback duty"),
    Kind.REPORTER_REPLY: Bound(THREE_MONTHS, "the wait on the reporter must end and hand the "
                                             "case back within the feedback duty"),
    ESCALATION: Bound(THREE_MONTHS, "each escalation level must act within the feedback duty"),
}


@dataclass(frozen=True)
class Span:
    """The shortest and the longest time a duration can take, whenever it starts."""

    shortest: timedelta
    longest: timedelta


def span(duration: Duration) -> Span:
    """How long ``duration`` can take: exact for seconds, hours and calendar days; for
    calendar months and business days the extremes over every start day of last year,
    this year and next year, on the organisation's calendar (so a business day over
    Christmas counts as long as it really runs)."""
    n = duration.amount
    if duration.unit == Unit.SECONDS:
        return Span(timedelta(seconds=n), timedelta(seconds=n))
    if duration.unit == Unit.HOURS:
        return Span(timedelta(hours=n), timedelta(hours=n))
    if duration.unit == Unit.CALENDAR_DAYS or n > _COUNTED_UP_TO:
        # Beyond _COUNTED_UP_TO business days or months a duration is longer than any bound
        # however it is counted; at least n days is all a comparison needs to know.
        days = timedelta(days=min(n, timedelta.max.days))
        return Span(days, days)
    year = timezone.localdate().year
    if duration.unit == Unit.CALENDAR_MONTHS:
        shortest, longest = _month_span(n)
    else:
        shortest, longest = _business_span(n, settings.ORG_HOLIDAYS_COUNTRY,
                                           settings.ORG_HOLIDAYS_SUBDIVISION, year)
    return Span(timedelta(days=shortest), timedelta(days=longest))


def never_longer(duration: Duration, than: Duration) -> bool:
    """True when ``duration`` ends no later than ``than`` from any start: a tightening (or
    no change) of ``than``, or a value within the bound ``than``. Across units it compares
    the longest ``duration`` can take with the shortest ``than`` can, so a case that could
    run longer on some day counts as longer."""
    if duration.unit == than.unit:
        return duration.amount <= than.amount
    return span(duration).longest <= span(than).shortest


_COUNTED_UP_TO = 1000


@lru_cache(maxsize=64)
def _month_span(months: int) -> tuple[int, int]:
    # A four-year cycle holds every arrangement of month lengths, leap February included.
    first = date(2024, 1, 1)
    days = [_months_after(first + timedelta(days=i), months) for i in range(4 * 366)]
    return min(days), max(days)


def _months_after(day: date, months: int) -> int:
    later = calendar.add_months(datetime(day.year, day.month, day.day, 12,
                                         tzinfo=calendar.org_zone()), months)
    return (later.date() - day).days


@lru_cache(maxsize=256)
def _business_span(n: int, country: str, subdivision: str | None, year: int) -> tuple[int, int]:
    # The calendar's settings are part of the key: a change of calendar is a new answer.
    start, end = date(year - 1, 1, 1), date(year + 1, 12, 31)
    # Business days far enough past the last start for any n that fits in 3 months and more.
    horizon = end + timedelta(days=2 * n + 60)
    business = [start + timedelta(days=i) for i in range((horizon - start).days + 1)
                if calendar.is_business_day(start + timedelta(days=i))]
    spans = []
    for i in range((end - start).days + 1):
        day = start + timedelta(days=i)
        index = bisect.bisect_right(business, day) + n - 1
        spans.append((business[index] - day).days)
    return min(spans), max(spans)


def retention_in_force() -> tuple[int, str]:
    """The retention period in force, in days, and where it comes from: the stored policy,
    or the setting RETENTION_DAYS when none was ever stored."""
    days = RetentionPolicy.objects.filter(category="").values_list("days", flat=True).first()
    if days is not None:
        return days, "policy"
    return settings.RETENTION_DAYS, "setting"


def retention_days() -> int:
    """How long an ended case keeps its personal data (complaints/services/retention.py)."""
    return retention_in_force()[0]


# Every transition asks for a duration; the table changes a few times a year. Each process
# reads it at most every CACHE_SECONDS, and at once after this process changes a policy, so
# an edit takes effect everywhere within that time.
CACHE_SECONDS = 30.0
_cache: dict[str, Any] = {"policies": None, "read_at": 0.0}


class Policies:
    """The SLA table as it stands: defaults with the overrides read once."""

    def __init__(self, overrides: Iterable[SlaPolicy] | None = None) -> None:
        rows = SlaPolicy.objects.all() if overrides is None else overrides
        self._overrides = {(r.kind, r.category, r.severity): Duration(r.amount, r.unit)
                           for r in rows}

    @classmethod
    def current(cls) -> Policies:
        now = time.monotonic()
        if _cache["policies"] is None or now - _cache["read_at"] > CACHE_SECONDS:
            _cache["policies"], _cache["read_at"] = cls(), now
        return _cache["policies"]

    @staticmethod
    def forget() -> None:
        _cache["policies"] = None

    def duration(self, kind: str, category: str, severity: str) -> Duration:
        return self.source(kind, category, severity)[0]

    def source(self, kind: str, category: str, severity: str, *,
               skip: tuple[str, str, str] | None = None) -> tuple[Duration, str]:
        """The duration in force and where it comes from: the scope of the override that
        sets it ("category/severity", "*" for any), or "default". ``skip`` leaves one
        override out: what the scope would fall back to without it."""
        for scope in ((kind, category, severity), (kind, category, ""), (kind, "", severity),
                      (kind, "", "")):
            if scope in self._overrides and scope != skip:
                return self._overrides[scope], f"{scope[1] or '*'}/{scope[2] or '*'}"
        return DEFAULTS[(kind, severity)], "default"

    def overrides(self) -> dict[tuple[str, str, str], Duration]:
        return dict(self._overrides)

    def due(self, kind: str, category: str, severity: str, start: datetime) -> datetime:
        return self.duration(kind, category, severity).after(start)
