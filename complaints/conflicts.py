"""The one conflict-of-interest check that every permission, queue, escalation and
notification uses.

Conflicted for a complaint (DESIGN.md): every subject, everyone above a subject in the
management chain at any depth, anyone who declares a conflict, and anyone the reporter
names. They are kept as ``Conflict`` rows (complaints/services/conflicts.py writes them),
so a check is one indexed lookup and a queue excludes them with indexed NOT EXISTS.

A row stops counting only once compliance's removal of it was approved (``removed_at``):
every check here reads active rows only, through ``active_conflicts`` or
``ACTIVE_SQL``.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import reduce
from typing import TYPE_CHECKING, Any

from django.db import connection
from django.db.models import Exists, OuterRef, Q, QuerySet

if TYPE_CHECKING:
    from complaints.models import Complaint

# A management chain longer than this is a data error (a cycle the import missed).
MAX_CHAIN_DEPTH = 64


def active_conflicts() -> QuerySet[Any]:
    """The conflicts that apply: every row but those whose removal was approved."""
    from complaints.models import Conflict

    return Conflict.objects.filter(removed_at=None)


# The same condition for the raw SQL below (``k`` is the conflict table's alias).
ACTIVE_SQL = "k.removed_at IS NULL"


@dataclass
class Conflicted:
    """Who is conflicted on one complaint: directory people, and accounts that declared a
    conflict without having a directory entry."""

    person_ids: set[int] = field(default_factory=set)
    user_ids: set[int] = field(default_factory=set)

    def includes(self, user: Any) -> bool:
        if user is None or not (self.user_ids or self.person_ids):
            return False
        return user.pk in self.user_ids or person_id_of(user) in self.person_ids


@dataclass(frozen=True)
class Account:
    """An account as the sweep reads it for thousands of cases at once: its id, its address
    and its directory person, without a model instance (or two) for each."""

    pk: int
    email: str
    person_id: int | None


def role_holders(role_names: Iterable[str]) -> dict[str, list[Account]]:
    """The active accounts holding each of these roles, in id order: the few senior staff
    the sweep escalates to and the directory guard counts on. One query."""
    from django.contrib.auth import get_user_model

    names = list(role_names)
    by_role: dict[str, list[Account]] = {name: [] for name in names}
    for role, pk, email, person_id in (
            get_user_model().objects.filter(is_active=True, groups__name__in=names)
            .order_by("pk", "groups__name")
            .values_list("groups__name", "pk", "email", "person__id")):
        by_role[role].append(Account(pk, email, person_id))
    return by_role


def person_id_of(user: Any) -> int | None:
    """The directory person of an account, or None (read once per user object)."""
    from complaints.models import Person

    if isinstance(user, Account):
        return user.person_id
    if not getattr(user, "is_authenticated", False) or getattr(user, "pk", None) is None:
        return None
    try:
        return user.person.pk
    except (Person.DoesNotExist, AttributeError):
        return None


def conflicted_many(complaint_ids: Iterable[int], *,
                    among: Iterable[Any] | None = None) -> dict[int, Conflicted]:
    """For each complaint, who is conflicted on it: one query for any number of cases.

    With ``among`` (users), only whether those users are conflicted is answered, and only
    their rows are read: the sweep asks about the few senior staff it may escalate to, not
    about everyone in each case's management chain."""
    result = {cid: Conflicted() for cid in complaint_ids}
    wanted = active_conflicts().filter(complaint_id__in=list(result))
    if among is not None:
        users = list(among)
        people = [p for p in map(person_id_of, users) if p is not None]
        wanted = wanted.filter(Q(user_id__in=[u.pk for u in users]) | Q(person_id__in=people))
    for cid, person_id, user_id in wanted.values_list("complaint_id", "person_id", "user_id"):
        if person_id is not None:
            result[cid].person_ids.add(person_id)
        if user_id is not None:
            result[cid].user_ids.add(user_id)
    return result


def conflicted_on(complaint: Complaint) -> Conflicted:
    return conflicted_many([complaint.pk])[complaint.pk]


def _named(user: Any, complaint: str = "pk") -> list[Exists]:
    """For a queryset of complaints (or of rows whose ``complaint`` field names one), one
    EXISTS per way this user can be named by an active Conflict row: by account, and by the
    directory person linked to it. Two rather than one over an OR of both: each is answered
    from its own index (conflict_user, conflict_person), where the OR has to read every
    conflict row of every case it looks at."""
    named = [Exists(active_conflicts().filter(user_id=user.pk,
                                              complaint_id=OuterRef(complaint)))]
    person_id = person_id_of(user)
    if person_id is not None:
        named.append(Exists(active_conflicts().filter(person_id=person_id,
                                                      complaint_id=OuterRef(complaint))))
    return named


def conflicted_exists(user: Any, complaint: str = "pk") -> Q:
    """For a queryset of complaints: true where this user is conflicted. With
    ``complaint``, for a queryset of rows about a complaint (``complaint_id``, say)."""
    return reduce(operator.or_, map(Q, _named(user, complaint)))


def recipient_conflicted(complaint: str = "complaint_id", user: str = "recipient_id") -> Exists:
    """For a queryset of rows naming a complaint and an account (a notification's), true
    where that account is conflicted on that complaint: by account or by its person."""
    return Exists(active_conflicts().filter(complaint_id=OuterRef(complaint)).filter(
        Q(user_id=OuterRef(user)) | Q(person__user_id=OuterRef(user))))


def not_conflicted(user: Any) -> Q:
    """For a queryset of complaints: true where this user is not conflicted. A NOT EXISTS
    for each way of being named, which PostgreSQL turns into anti-joins (a NOT over an OR of
    them it can only test case by case)."""
    return reduce(operator.and_, (~Q(named) for named in _named(user)))


def conflict_exists_sql(complaint_id: str, user_id: str = "%s") -> str:
    """SQL that is true when the user ``user_id`` is conflicted on the complaint
    ``complaint_id`` (each a column or a placeholder; a placeholder user is bound twice):
    named by account, or by the directory person linked to that account."""
    from complaints.models import Conflict, Person

    conflict, person = Conflict._meta.db_table, Person._meta.db_table
    return (f"EXISTS (SELECT 1 FROM {conflict} k WHERE k.complaint_id = {complaint_id} "  # noqa: S608
            f"AND {ACTIVE_SQL} AND (k.user_id = {user_id} OR k.person_id = "
            f"(SELECT p.id FROM {person} p WHERE p.user_id = {user_id})))")


def remember(complaint: Complaint, user_id: int, conflicted: bool) -> None:
    complaint.__dict__.setdefault("_conflicted_users", {})[user_id] = conflicted


def is_conflicted(user: Any, complaint: Complaint) -> bool:
    """True when this user may not see, handle or hear about this complaint."""
    if not getattr(user, "is_authenticated", False) or getattr(user, "pk", None) is None:
        return False
    cache: dict[int, bool] = complaint.__dict__.setdefault("_conflicted_users", {})
    if user.pk not in cache:
        # Raw SQL: every permission check of every step may ask this, and the ORM would
        # compile the same query each time.
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT {conflict_exists_sql('%s')}",
                           [complaint.pk, user.pk, user.pk])
            cache[user.pk] = bool(cursor.fetchone()[0])
    return cache[user.pk]


def forget(complaint: Complaint) -> None:
    """Drop the per-object answers after the complaint's conflicts changed."""
    complaint.__dict__.pop("_conflicted_users", None)


def directory_conflicts(complaint_ids: Iterable[int]) -> dict[int, dict[int, str]]:
    """What the directory says, for each complaint: person id -> ``subject`` or ``chain``.

    A fixed number of queries for any number of complaints: one for the subjects, then one
    per level of management chain walked, for all of them at once.
    """
    from complaints.models import Conflict, Person, Subject

    subjects: dict[int, set[int]] = {cid: set() for cid in complaint_ids}
    for cid, person_id in Subject.objects.filter(
        complaint_id__in=list(subjects), person__isnull=False
    ).values_list("complaint_id", "person_id"):
        subjects[cid].add(person_id)
    manager_of: dict[int, int | None] = {}
    frontier = set().union(*subjects.values()) if subjects else set()
    for _ in range(MAX_CHAIN_DEPTH):
        if not frontier:
            break
        rows = dict(Person.objects.filter(pk__in=frontier).values_list("pk", "manager_id"))
        manager_of.update(rows)
        frontier = {m for m in rows.values() if m is not None and m not in manager_of}
    result: dict[int, dict[int, str]] = {}
    for cid, people in subjects.items():
        found = {pid: Conflict.Source.SUBJECT.value for pid in people}
        chain = list(people)
        while chain:
            manager = manager_of.get(chain.pop())
            if manager is not None and manager not in found:
                found[manager] = Conflict.Source.CHAIN.value
                chain.append(manager)
        result[cid] = found
    return result
