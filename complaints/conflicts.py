"""The one conflict-of-interest check that every permission, queue and escalation uses.

Conflicted for a complaint: every subject, and everyone above a subject in the management
chain, at any depth.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from complaints.models import Complaint

# A management chain longer than this is a data error (a cycle the import missed).
MAX_CHAIN_DEPTH = 64


def conflicted_person_ids_many(complaint_ids: Iterable[int]) -> dict[int, set[int]]:
    """For each complaint, the directory people who are conflicted on it.

    A fixed number of queries for any number of complaints: one for the subjects, then one
    per level of management chain walked, for all of them at once.
    """
    from complaints.models import Person, Subject

    conflicted: dict[int, set[int]] = {cid: set() for cid in complaint_ids}
    for cid, person_id in Subject.objects.filter(
        complaint_id__in=list(conflicted), person__isnull=False
    ).values_list("complaint_id", "person_id"):
        conflicted[cid].add(person_id)
    manager_of: dict[int, int | None] = {}
    frontier = set().union(*conflicted.values()) if conflicted else set()
    for _ in range(MAX_CHAIN_DEPTH):
        if not frontier:
            break
        rows = dict(Person.objects.filter(pk__in=frontier).values_list("pk", "manager_id"))
        manager_of.update(rows)
        frontier = {m for m in rows.values() if m is not None and m not in manager_of}
    for people in conflicted.values():
        chain = list(people)
        while chain:
            manager = manager_of.get(chain.pop())
            if manager is not None and manager not in people:
                people.add(manager)
                chain.append(manager)
    return conflicted


def conflicted_person_ids(complaint: Complaint) -> set[int]:
    return conflicted_person_ids_many([complaint.pk])[complaint.pk]


def is_conflicted(user: Any, complaint: Complaint) -> bool:
    """True when this user may not see, handle or hear about this complaint."""
    if not getattr(user, "is_authenticated", False) or not hasattr(user, "person"):
        return False
    cache = complaint.__dict__.setdefault("_conflicted_person_ids", None)
    if cache is None:
        cache = conflicted_person_ids(complaint)
        complaint.__dict__["_conflicted_person_ids"] = cache
    person_id = _person_id(user)
    return person_id is not None and person_id in cache


def _person_id(user: Any) -> int | None:
    from complaints.models import Person

    try:
        return user.person.pk
    except Person.DoesNotExist:
        return None
