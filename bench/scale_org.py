"""The organisation behind the scale data: its people, its staff and its calendar.

Deterministic for a seed, plain Python over integers (times are microseconds since the Unix
epoch, UTC). Part of the scale data generator (bench/scale_data.py, bench/scale_model.py);
the calendar mirrors escalation/calendar.py and escalation/policy.py, which it imports.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from complaints import access
from escalation import calendar
from escalation.models import Unit
from escalation.policy import DEFAULTS

SECOND = 1_000_000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
DAY = 24 * HOUR
EPOCH_ORDINAL = date(1970, 1, 1).toordinal()

# Staff accounts per role (complaints/access.py), where they sit in the organisation.
STAFF = (
    (access.HR_REVIEWER, 40), (access.HR_LEAD, 5), (access.INVESTIGATOR, 20),
    (access.COMPLIANCE_OFFICER, 4), (access.AUDIT_COMMITTEE, 3),
)
DIVISIONS = ("Engineering", "Sales", "Operations", "Finance", "People", "Legal & Compliance",
             "Marketing", "Customer Support")
HR_DIVISION, LEGAL_DIVISION = 4, 5
DEPARTMENT_LEVEL = 3  # a department is everyone under one person at this level
BOARD = "Board"
# Spans of control: 4-10 direct reports (mean 7); below the top two levels a fifth of the
# people who could manage are individual contributors instead.
SPAN = (4, 10)
IC_SHARE_BELOW_TOP = 0.2
FIRST = ("Ada", "Ben", "Chen", "Dana", "Eli", "Fatima", "Gus", "Hana", "Ivan", "Jo", "Kemi",
         "Liam", "Mei", "Nina", "Omar", "Priya", "Quinn", "Rosa", "Sam", "Tara", "Uma",
         "Victor", "Wei", "Xena", "Yusuf", "Zoe", "Arjun", "Bea", "Carlos", "Dmitri")
LAST = ("Adams", "Brown", "Costa", "Dubois", "Evans", "Fischer", "Garcia", "Haddad",
        "Ito", "Jensen", "Kowalski", "Li", "Martin", "Nowak", "Okafor", "Patel", "Quist",
        "Rossi", "Smith", "Tanaka", "Usman", "Varga", "Wang", "Xu", "Young", "Zhang")


def below(rng: random.Random, n: int) -> int:
    """A random integer in [0, n): randrange's distribution, without its overhead."""
    return int(rng.random() * n)


# --- Time: formatting and the organisation's calendar -----------------------------------------

_DAY_TEXT: dict[int, str] = {}
_SECOND_TEXT = [f"T{h:02d}:{m:02d}:{s:02d}." for h in range(24) for m in range(60)
                for s in range(60)]


_ISO: dict[int, str] = {}  # recent instants: a step's time recurs in several rows


def iso(t: int) -> str:
    """The instant as audit/chain.py's ``format_time`` writes it (and COPY reads it)."""
    text = _ISO.get(t)
    if text is not None:
        return text
    day, rest = divmod(t, DAY)
    day_text = _DAY_TEXT.get(day)
    if day_text is None:
        day_text = _DAY_TEXT[day] = date.fromordinal(day + EPOCH_ORDINAL).isoformat()
    second, micro = divmod(rest, SECOND)
    if len(_ISO) > 50_000:
        _ISO.clear()
    text = _ISO[t] = f"{day_text}{_SECOND_TEXT[second]}{micro:06d}Z"
    return text


def to_us(moment: datetime) -> int:
    delta = moment.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * DAY) + delta.seconds * SECOND + delta.microseconds


def from_us(t: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=t)


class Clock:
    """escalation/calendar.py and escalation/policy.py's deadline arithmetic over integers.

    Business days come from the app's own ``is_business_day`` (the organisation's public
    holidays), the UTC offset of its time zone from zoneinfo, both tabulated once for the
    window. A due time is the same local time of day on the day the rule picks, as the
    app computes it.
    """

    def __init__(self, first: int, last: int) -> None:
        self.first_day = first // DAY - 400
        last_day = last // DAY + 800
        days = range(self.first_day, last_day)
        flags = [calendar.is_business_day(date.fromordinal(d + EPOCH_ORDINAL)) for d in days]
        self.business = [d for d, ok in zip(days, flags, strict=True) if ok]
        self.count_upto: list[int] = []  # business days <= first_day + i
        running = 0
        for ok in flags:
            running += ok
            self.count_upto.append(running)
        zone = calendar.org_zone()
        self.first_hour = self.first_day * 24
        start = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(hours=self.first_hour)
        self.offsets = [int((start + timedelta(hours=h)).astimezone(zone).utcoffset()
                            .total_seconds()) * SECOND
                        for h in range((last_day - self.first_day) * 24)]
        self.durations = {key: (duration.amount, duration.unit)
                          for key, duration in DEFAULTS.items()}

    def offset(self, t: int) -> int:
        return self.offsets[t // HOUR - self.first_hour]

    def _same_local_time(self, t: int, target_day: int) -> int:
        local = t + self.offset(t)
        naive = target_day * DAY + local % DAY
        # The offset in force at that local time (checked against zoneinfo in self_check).
        guess = naive - self.offset(target_day * DAY + 12 * HOUR)
        return naive - self.offset(guess)

    def add_business_days(self, t: int, days: int) -> int:
        local_day = (t + self.offset(t)) // DAY
        counted = self.count_upto[local_day - self.first_day]
        return self._same_local_time(t, self.business[counted + days - 1])

    def add_months(self, t: int, months: int) -> int:
        local_day = (t + self.offset(t)) // DAY
        moment = date.fromordinal(local_day + EPOCH_ORDINAL)
        index = moment.month - 1 + months
        year, month = moment.year + index // 12, index % 12 + 1
        last = (date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)).day
        target = date(year, month, min(moment.day, last)).toordinal() - EPOCH_ORDINAL
        return self._same_local_time(t, target)

    def after(self, kind: str, severity: str, t: int) -> int:
        amount, unit = self.durations[(kind, severity)]
        if unit == Unit.BUSINESS_DAYS:
            return self.add_business_days(t, amount)
        if unit == Unit.CALENDAR_MONTHS:
            return self.add_months(t, amount)
        if unit == Unit.CALENDAR_DAYS:
            return t + amount * DAY
        if unit == Unit.HOURS:
            return t + amount * HOUR
        return t + amount * SECOND

    def self_check(self, rng: random.Random, first: int, last: int, samples: int) -> int:
        """How many of ``samples`` random due times differ from the app's own functions."""
        from escalation.policy import Duration

        wrong = 0
        kinds = list(self.durations)
        for _ in range(samples):
            t = rng.randrange(first, last)
            kind, severity = kinds[below(rng, len(kinds))]
            amount, unit = self.durations[(kind, severity)]
            expected = to_us(Duration(amount, unit).after(from_us(t)))
            wrong += expected != self.after(kind, severity, t)
        return wrong


def at_work(t: int, rng: random.Random) -> int:
    """The first moment at or after ``t`` that falls in working hours (08-18 UTC, Mon-Fri):
    staff act in office hours, reporters at any time."""
    day, rest = divmod(t, DAY)
    weekday = (day + 3) % 7  # 1970-01-01 was a Thursday; Monday is 0
    if weekday < 5 and 8 * HOUR <= rest < 18 * HOUR:
        return t
    if weekday < 5 and rest < 8 * HOUR:
        return day * DAY + 8 * HOUR + below(rng, 3 * HOUR)
    day += 1
    while (day + 3) % 7 >= 5:
        day += 1
    return day * DAY + 8 * HOUR + below(rng, 3 * HOUR)


# --- The organisation -------------------------------------------------------------------------

@dataclass
class StaffMember:
    user_id: int
    username: str
    role: str
    person_id: int


@dataclass
class Org:
    """People 1..n: a tree under person 1 (the chief executive), and the board's audit
    committee outside it. Accounts: staff first (ids 1..len(staff)), then one employee
    account per other person (id staff_count + person id)."""

    size: int
    manager: list[int]  # index = person id; 0 = nobody
    depth: list[int]
    department: list[str]
    reports: dict[int, list[int]]
    managers: list[int]
    staff: list[StaffMember]
    user_of: dict[int, int]  # staff person id -> staff user id
    staff_person: dict[int, int]  # staff user id -> person id
    by_role: dict[str, list[int]]  # role -> staff user ids, ascending
    board: list[int]
    stats: dict[str, Any] = field(default_factory=dict)

    def user_id(self, person: int) -> int:
        return self.user_of.get(person) or len(self.staff) + person

    def username(self, person: int) -> str:
        user = self.user_of.get(person)
        return self.staff[user - 1].username if user else f"e{person:07d}"

    def email(self, person: int) -> str:
        return f"{self.username(person)}@example.com"

    def name(self, person: int) -> str:
        h = person * 2_654_435_761 % 2**32
        return f"{FIRST[h % len(FIRST)]} {LAST[(h >> 8) % len(LAST)]}"

    def chain(self, person: int) -> list[int]:
        above = []
        boss = self.manager[person]
        while boss:
            above.append(boss)
            boss = self.manager[boss]
        return above


def build_org(size: int, seed: int) -> Org:
    rng = random.Random(f"org:{seed}")
    board_size = dict(STAFF)[access.AUDIT_COMMITTEE]
    tree_size = size - board_size
    manager, depth, department = [0, 0], [0, 0], ["", "Executive"]
    reports: dict[int, list[int]] = {}
    queue = deque([1])
    next_id = 2
    team_numbers = [0] * len(DIVISIONS)
    division_of = [0, -1]
    while next_id <= tree_size:
        if not queue:
            raise RuntimeError("organisation tree ran out of managers")
        boss = queue.popleft()
        span = len(DIVISIONS) if boss == 1 else rng.randint(*SPAN)
        children = []
        for i in range(span):
            if next_id > tree_size:
                break
            person = next_id
            next_id += 1
            manager.append(boss)
            level = depth[boss] + 1
            depth.append(level)
            if level == 1:
                division_of.append(i)
                department.append(DIVISIONS[i])
            else:
                division = division_of[boss]
                division_of.append(division)
                if level == DEPARTMENT_LEVEL:
                    team_numbers[division] += 1
                    department.append(f"{DIVISIONS[division]} {team_numbers[division]}")
                else:
                    department.append(department[boss])
            children.append(person)
            if level <= 2 or rng.random() >= IC_SHARE_BELOW_TOP:
                queue.append(person)
        reports[boss] = children
    board = list(range(tree_size + 1, size + 1))
    for _ in board:
        manager.append(0)
        depth.append(0)
        department.append(BOARD)
        division_of.append(-1)

    # Staff in their divisions, at plausible levels, never two roles for one person.
    taken: set[int] = set()

    def place(division: int, levels: range, count: int) -> list[int]:
        pool = [p for p in range(2, tree_size + 1)
                if division_of[p] == division and depth[p] in levels and p not in taken]
        chosen = sorted(rng.sample(pool, count))
        taken.update(chosen)
        return chosen

    counts = dict(STAFF)
    investigators = counts[access.INVESTIGATOR]
    people_of_role = {
        access.HR_REVIEWER: place(HR_DIVISION, range(3, 6), counts[access.HR_REVIEWER]),
        access.HR_LEAD: place(HR_DIVISION, range(2, 4), counts[access.HR_LEAD]),
        # Employee relations in People, the rest in Legal: no single subject below the
        # chief executive conflicts all of them.
        access.INVESTIGATOR: sorted(place(HR_DIVISION, range(3, 7), investigators * 2 // 3)
                                   + place(LEGAL_DIVISION, range(3, 7),
                                           investigators - investigators * 2 // 3)),
        access.COMPLIANCE_OFFICER: place(LEGAL_DIVISION, range(2, 5),
                                        counts[access.COMPLIANCE_OFFICER]),
        access.AUDIT_COMMITTEE: board,
    }
    staff: list[StaffMember] = []
    for role, _ in STAFF:
        for i, person in enumerate(people_of_role[role], start=1):
            staff.append(StaffMember(len(staff) + 1, f"{role}_{i:02d}", role, person))
    by_role: dict[str, list[int]] = {role: [] for role, _ in STAFF}
    for member in staff:
        by_role[member.role].append(member.user_id)
    managers = sorted(reports)
    org = Org(size=size, manager=manager, depth=depth, department=department,
              reports=reports, managers=managers, staff=staff,
              user_of={m.person_id: m.user_id for m in staff},
              staff_person={m.user_id: m.person_id for m in staff},
              by_role=by_role, board=board)
    spans = [len(children) for children in reports.values()]
    org.stats = {
        "people": size, "levels": max(depth) + 1, "managers": len(managers),
        "mean_span": round(sum(spans) / len(spans), 2), "max_span": max(spans),
        "departments": len({d for d in department[1:]}),
        "people_by_level": [depth[1:tree_size + 1].count(level)
                            for level in range(max(depth) + 1)],
    }
    return org
