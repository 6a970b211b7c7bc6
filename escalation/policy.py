"""How long each deadline runs (DESIGN.md, "Deadlines and automatic escalation").

Defaults below; a compliance officer or an admin overrides them per category, severity or
both with ``SlaPolicy`` rows. The most specific row wins: category and severity, then
category, then severity, then the default.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from escalation import calendar
from escalation.models import Kind, SlaPolicy, Unit

ESCALATION = "escalation"


@dataclass(frozen=True)
class Duration:
    amount: int
    unit: str

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


# Every transition asks for a duration; the table changes a few times a year. Each process
# reads it at most every CACHE_SECONDS, and at once after this process saves a policy, so
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
        for scope in ((kind, category, severity), (kind, category, ""), (kind, "", severity),
                      (kind, "", "")):
            if scope in self._overrides:
                return self._overrides[scope]
        return DEFAULTS[(kind, severity)]

    def due(self, kind: str, category: str, severity: str, start: datetime) -> datetime:
        return self.duration(kind, category, severity).after(start)
