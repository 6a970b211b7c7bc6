"""The compliance dashboard's figures: aggregated in the database, a fixed number of queries
whatever the number of cases, over the cases the viewer may see (never one they are
conflicted on).

Legal yardsticks (DESIGN.md): EU Directive 2019/1937 art. 9(1)(b) (acknowledge within 7
days) and art. 9(1)(f) (feedback within 3 months of the acknowledgement); SOX 301 (the
audit committee receives accounting and auditing complaints).
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet
from django.db.models.functions import TruncMonth
from django.utils import timezone

from complaints.access import visible_complaints
from complaints.models import AUDIT_COMMITTEE_CATEGORIES, OPEN_STATES, Category, Complaint
from escalation.models import Deadline, Escalation, Kind, Notification

ACKNOWLEDGE_WITHIN = timedelta(days=7)  # EU 2019/1937 art. 9(1)(b)
# Time-to-acknowledge buckets: (label, upper bound inclusive).
ACK_BUCKETS: tuple[tuple[str, timedelta], ...] = (
    ("Within 1 day", timedelta(days=1)),
    ("1 to 3 days", timedelta(days=3)),
    ("3 to 7 days", ACKNOWLEDGE_WITHIN),
)
ACK_LATE_LABEL = "Over 7 days"
ACK_NOT_YET_LABEL = "Not acknowledged"
# Open-case ageing buckets: (key, label, lower bound, upper bound); age = now - submitted_at.
AGE_BUCKETS: tuple[tuple[str, str, timedelta, timedelta | None], ...] = (
    ("under_7", "Under 7 days", timedelta(0), timedelta(days=7)),
    ("7_30", "7 to 30 days", timedelta(days=7), timedelta(days=30)),
    ("30_90", "30 to 90 days", timedelta(days=30), timedelta(days=90)),
    ("over_90", "Over 90 days", timedelta(days=90), None),
)
ESCALATION_LEVELS = (1, 2, 3)
BREACH_MONTHS = 12
# The longest period the dashboard answers for: it bounds the one list of durations read
# into Python (for the percentiles).
MAX_PERIOD_DAYS = 5 * 366


@dataclass(frozen=True)
class Period:
    """Whole days, both ends included, in the site's time zone."""

    start: date
    end: date

    @classmethod
    def default(cls, today: date | None = None) -> Period:
        today = today or timezone.localdate()
        return cls(start=today - timedelta(days=89), end=today)

    @property
    def since(self) -> datetime:
        return timezone.make_aware(datetime.combine(self.start, time.min))

    @property
    def until(self) -> datetime:
        """The first moment after the period."""
        return timezone.make_aware(datetime.combine(self.end + timedelta(days=1), time.min))

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


@dataclass(frozen=True)
class Bar:
    """One labelled count: a bar of a chart and a row of its table."""

    label: str
    value: int
    key: str = ""


@dataclass(frozen=True)
class Share:
    met: int
    of: int

    @property
    def percent(self) -> int | None:
        """Rounded to a whole percent; None when there is nothing to measure."""
        return round(100 * self.met / self.of) if self.of else None


@dataclass(frozen=True)
class DashboardFigures:
    period: Period
    as_of: datetime
    received: int
    acknowledged: int
    ack_median: timedelta | None
    ack_p90: timedelta | None
    ack_buckets: list[Bar]
    ack_within_7_days: Share
    feedback_within_3_months: Share
    feedback_running: int
    breaches_by_month: list[Bar]
    open_by_age: list[Bar]
    escalations_by_level: list[Bar]
    escalations_by_handler: list[Bar]
    by_category: list[Bar]
    sox_received: int
    sox_committee_notified: int

    @property
    def open_cases(self) -> int:
        return sum(bar.value for bar in self.open_by_age)

    @property
    def breaches(self) -> int:
        return sum(bar.value for bar in self.breaches_by_month)


def percentile(values: list[timedelta], fraction: float) -> timedelta | None:
    """Nearest-rank percentile: the smallest value with at least ``fraction`` of the values
    at or below it (so the 90th percentile of four values is the largest)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(1, math.ceil(fraction * len(ordered))) - 1]


def _median(values: list[timedelta]) -> timedelta | None:
    if not values:
        return None
    seconds = statistics.median(v.total_seconds() for v in values)
    return timedelta(seconds=seconds)


def _acknowledgement(received: QuerySet[Complaint], as_of: datetime) -> dict[str, Any]:
    """Two queries: the counts, and the durations (bounded by the period) for percentiles."""
    late_by = F("submitted_at") + ACKNOWLEDGE_WITHIN
    # The 7-day duty is measurable once the case was acknowledged or its 7 days are over;
    # a case withdrawn unacknowledged inside its 7 days never owed one.
    owed = Q(acknowledged_at__isnull=False) | (
        Q(submitted_at__lte=as_of - ACKNOWLEDGE_WITHIN)
        & ~Q(ended_at__isnull=False, ended_at__lte=late_by)
    )
    counts = received.aggregate(
        total=Count("pk"),
        acknowledged=Count("pk", filter=Q(acknowledged_at__isnull=False)),
        owed=Count("pk", filter=owed),
        in_time=Count("pk", filter=Q(acknowledged_at__lte=late_by)),
    )
    durations = [acknowledged - submitted for submitted, acknowledged in received.filter(
        acknowledged_at__isnull=False).values_list("submitted_at", "acknowledged_at")
        if acknowledged is not None]
    buckets = [0] * (len(ACK_BUCKETS) + 1)
    for took in durations:
        index = next((i for i, (_, bound) in enumerate(ACK_BUCKETS) if took <= bound),
                     len(ACK_BUCKETS))
        buckets[index] += 1
    labels = [label for label, _ in ACK_BUCKETS] + [ACK_LATE_LABEL]
    bars = [Bar(label, n) for label, n in zip(labels, buckets, strict=True)]
    bars.append(Bar(ACK_NOT_YET_LABEL, counts["total"] - counts["acknowledged"]))
    return {
        "received": counts["total"],
        "acknowledged": counts["acknowledged"],
        "ack_median": _median(durations),
        "ack_p90": percentile(durations, 0.9),
        "ack_buckets": bars,
        "ack_within_7_days": Share(counts["in_time"], counts["owed"]),
    }


def _feedback(visible_ids: QuerySet[Complaint, Any], period: Period, as_of: datetime
              ) -> tuple[Share, int]:
    """The 3-month feedback duty, per level-0 ``feedback`` deadline (the one started at the
    acknowledgement; later levels are the escalation ladder's shorter clocks) started in
    the period. Met: closed as met by its due time. Missed: escalated, met late, or still
    running past its due time. Cancelled (withdrawn) ones owed nothing."""
    met_in_time = Q(outcome=Deadline.Outcome.MET, closed_at__lte=F("due_at"))
    missed = (Q(outcome=Deadline.Outcome.ESCALATED)
              | Q(outcome=Deadline.Outcome.MET, closed_at__gt=F("due_at"))
              | Q(closed_at__isnull=True, paused_at__isnull=True, due_at__lt=as_of))
    running = Q(closed_at__isnull=True) & ~Q(paused_at__isnull=True, due_at__lt=as_of)
    counts = Deadline.objects.filter(
        kind=Kind.FEEDBACK, level=0, complaint_id__in=visible_ids,
        started_at__gte=period.since, started_at__lt=period.until,
    ).aggregate(met=Count("pk", filter=met_in_time), missed=Count("pk", filter=missed),
                running=Count("pk", filter=running))
    return Share(counts["met"], counts["met"] + counts["missed"]), counts["running"]


def month_starts(last: date, months: int = BREACH_MONTHS) -> list[date]:
    """The first days of ``months`` calendar months ending with ``last``'s month."""
    year, month = last.year, last.month
    starts = []
    for _ in range(months):
        starts.append(date(year, month, 1))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return starts[::-1]


def _breaches(visible_ids: QuerySet[Complaint, Any], period: Period) -> list[Bar]:
    """Deadlines missed and escalated, by the month they fell due, for the twelve months
    that end with the period's last month. A breach is dated by its due time, not by when
    the sweep saw it, so a sweep after downtime puts each in its own month."""
    starts = month_starts(period.end)
    first = timezone.make_aware(datetime.combine(starts[0], time.min))
    following = starts[-1].replace(day=28) + timedelta(days=4)
    after = timezone.make_aware(datetime.combine(following.replace(day=1), time.min))
    rows = (Deadline.objects.filter(outcome=Deadline.Outcome.ESCALATED,
                                    complaint_id__in=visible_ids, due_at__gte=first,
                                    due_at__lt=after)
            .annotate(month=TruncMonth("due_at")).values("month")
            .annotate(n=Count("pk")).values_list("month", "n"))
    counted: Counter[tuple[int, int]] = Counter()
    for month, n in rows:
        counted[(month.year, month.month)] += n
    return [Bar(start.strftime("%b %Y"), counted[(start.year, start.month)],
                key=start.strftime("%Y-%m")) for start in starts]


def _open_by_age(visible: QuerySet[Complaint], as_of: datetime) -> list[Bar]:
    """Open cases now, whatever the period, by age since filing."""
    aggregates = {}
    for key, _, low, high in AGE_BUCKETS:
        condition = Q(submitted_at__lte=as_of - low)
        if high is not None:
            condition &= Q(submitted_at__gt=as_of - high)
        aggregates[key] = Count("pk", filter=condition)
    counts = visible.filter(state__in=OPEN_STATES).aggregate(**aggregates)
    return [Bar(label, counts[key], key=key) for key, label, _, _ in AGE_BUCKETS]


def _escalations(visible_ids: QuerySet[Complaint, Any], period: Period
                 ) -> tuple[list[Bar], list[Bar]]:
    """Cases escalated in the period, by level reached and by the people each level went to.

    A case that misses two deadlines at once has two Escalation rows at one level: it is
    counted once per level and once per recipient.
    """
    raised = Escalation.objects.filter(complaint_id__in=visible_ids, raised_at__gte=period.since,
                                       raised_at__lt=period.until)
    per_level = dict(raised.values("level").annotate(n=Count("complaint", distinct=True))
                     .values_list("level", "n"))
    by_level = [Bar(f"Level {level}", per_level.get(level, 0), key=str(level))
                for level in ESCALATION_LEVELS]
    # Recipients are a JSON list of user ids; the pairs are few (bounded by the period).
    pairs = {(complaint_id, int(user_id))
             for complaint_id, recipients in raised.values_list("complaint_id", "recipients")
             for user_id in recipients or []}
    per_user = Counter(user_id for _, user_id in pairs)
    names = dict(get_user_model().objects.filter(pk__in=list(per_user))
                 .values_list("pk", "username")) if per_user else {}
    by_handler = [Bar(names.get(user_id, f"user #{user_id}"), n, key=str(user_id))
                  for user_id, n in sorted(per_user.items(),
                                           key=lambda item: (-item[1], names.get(item[0], "")))]
    return by_level, by_handler


def _categories_and_sox(received: QuerySet[Complaint]) -> tuple[list[Bar], int, int]:
    labels = dict(Category.choices)
    rows = (received.values("category").annotate(n=Count("pk"))
            .order_by("-n", "category").values_list("category", "n"))
    by_category = [Bar(str(labels.get(category, category)), n, key=category)
                   for category, n in rows]
    told = Exists(Notification.objects.filter(complaint_id=OuterRef("pk"),
                                              kind=Notification.Kind.FILED))
    sox = Q(category__in=AUDIT_COMMITTEE_CATEGORIES)
    counts = received.alias(committee_told=told).aggregate(
        sox=Count("pk", filter=sox),
        told=Count("pk", filter=sox & Q(committee_told=True)),
    )
    return by_category, counts["sox"], counts["told"]


def dashboard_figures(*, user: Any, period: Period, as_of: datetime | None = None
                      ) -> DashboardFigures:
    """Every figure of the dashboard and the compliance report, for the cases ``user`` may
    see. Cases received in the period for the acknowledgement, category and SOX figures;
    deadlines started in the period for feedback; escalations raised in it; breaches for
    the twelve months ending with it; open cases as they stand at ``as_of`` (now).

    Ten queries whatever the number of cases, and two more the first time a request asks
    about the viewer (their roles and their directory entry).
    """
    as_of = as_of or timezone.now()
    visible = visible_complaints(user)
    visible_ids = visible.values("pk")
    received = visible.filter(submitted_at__gte=period.since, submitted_at__lt=period.until)
    acknowledgement = _acknowledgement(received, as_of)
    feedback, feedback_running = _feedback(visible_ids, period, as_of)
    by_level, by_handler = _escalations(visible_ids, period)
    by_category, sox, sox_told = _categories_and_sox(received)
    return DashboardFigures(
        period=period, as_of=as_of, **acknowledgement,
        feedback_within_3_months=feedback, feedback_running=feedback_running,
        breaches_by_month=_breaches(visible_ids, period),
        open_by_age=_open_by_age(visible, as_of),
        escalations_by_level=by_level, escalations_by_handler=by_handler,
        by_category=by_category, sox_received=sox, sox_committee_notified=sox_told,
    )
