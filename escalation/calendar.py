"""The organisation's calendar: business days, public holidays, and calendar months."""

from __future__ import annotations

import calendar as _calendar
from datetime import date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays
from django.conf import settings


@lru_cache(maxsize=64)
def _holidays(country: str, subdivision: str | None, year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays(country, subdiv=subdivision, years=year))


def org_zone() -> ZoneInfo:
    return ZoneInfo(settings.ORG_TIME_ZONE)


def is_business_day(day: date) -> bool:
    if day.weekday() >= 5:
        return False
    return day not in _holidays(settings.ORG_HOLIDAYS_COUNTRY, settings.ORG_HOLIDAYS_SUBDIVISION,
                                day.year)


def add_business_days(start: datetime, days: int) -> datetime:
    """The same local time of day, ``days`` business days later. Started on a weekend or a
    holiday, the count runs from the next business day, as a person would count it."""
    local = start.astimezone(org_zone())
    day = local.date()
    counted = 0
    while counted < days:
        day += timedelta(days=1)
        if is_business_day(day):
            counted += 1
    naive = datetime.combine(day, local.time().replace(tzinfo=None))
    return naive.replace(tzinfo=org_zone()).astimezone(start.tzinfo)


def add_months(start: datetime, months: int) -> datetime:
    """Calendar months, as the EU directive counts its three-month feedback duty; the 31st
    becomes the last day of a shorter month."""
    local = start.astimezone(org_zone())
    month_index = local.month - 1 + months
    year, month = local.year + month_index // 12, month_index % 12 + 1
    day = min(local.day, _calendar.monthrange(year, month)[1])
    naive = datetime.combine(date(year, month, day), local.time().replace(tzinfo=None))
    return naive.replace(tzinfo=org_zone()).astimezone(start.tzinfo)
