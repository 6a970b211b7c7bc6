"""The one conflict-of-interest check that every permission, queue and escalation uses.

Conflicted for a complaint: every subject, and everyone above a subject in the management
chain, at any depth.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from complaints.models import Complaint

# A management chain longer than this is a data error (a cycle the import missed).
MAX_CHAIN_DEPTH = 64


def conflicted_person_ids(complaint: Complaint) -> set[int]:
    from complaints.models import Person, Subject

    subject_ids = set(
        Subject.objects.filter(complaint=complaint, person__isnull=False)
        .values_list("person_id", flat=True)
    )
    conflicted = set(subject_ids)
    frontier = subject_ids
    for _ in range(MAX_CHAIN_DEPTH):
        managers = set(
            Person.objects.filter(pk__in=frontier, manager__isnull=False)
            .values_list("manager_id", flat=True)
        ) - conflicted
        if not managers:
            break
        conflicted |= managers
        frontier = managers
    return conflicted


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
