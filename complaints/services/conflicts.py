"""Writing conflicts: from the directory (subjects and their management chains), declared
by staff, named by the reporter; and what follows when someone handling a case turns out
to be conflicted on it."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.models import Q
from django.utils import timezone

from audit import services as audit
from audit.actions import Action
from audit.services import execute_prepared
from complaints.conflicts import (
    MAX_CHAIN_DEPTH,
    conflicted_many,
    directory_conflicts,
    forget,
    person_id_of,
)
from complaints.models import OPEN_STATES, Complaint, Conflict, Investigation, Person, Subject
from complaints.services.locking import lock_complaint

DIRECTORY_SOURCES = (Conflict.Source.SUBJECT, Conflict.Source.CHAIN)


def conflicts_refresh(*, complaint_ids: list[int], now: datetime) -> dict[int, dict[str, int]]:
    """Bring the directory-derived conflicts of these complaints in line with the directory.

    Changes: deletes ``subject``/``chain`` rows the directory no longer supports and adds
    the new ones; declared and reporter-named conflicts are never touched. Writes no audit
    event (the caller's event says why). Returns, per complaint that changed, how many rows
    were added and removed.
    """
    wanted = directory_conflicts(complaint_ids)
    have: dict[int, dict[tuple[int, str], int]] = {cid: {} for cid in complaint_ids}
    for pk, cid, person_id, source in Conflict.objects.filter(
            complaint_id__in=complaint_ids, source__in=DIRECTORY_SOURCES).values_list(
            "pk", "complaint_id", "person_id", "source"):
        have[cid][(person_id, source)] = pk
    stale: list[int] = []
    fresh: list[Conflict] = []
    changes: dict[int, dict[str, int]] = {}
    for cid in complaint_ids:
        target = {(pid, source) for pid, source in wanted[cid].items()}
        gone = [pk for key, pk in have[cid].items() if key not in target]
        new = [key for key in target if key not in have[cid]]
        stale += gone
        fresh += [Conflict(complaint_id=cid, person_id=pid, source=source, created_at=now)
                  for pid, source in new]
        if gone or new:
            changes[cid] = {"added": len(new), "removed": len(gone)}
    if stale:
        Conflict.objects.filter(pk__in=stale).delete()
    Conflict.objects.bulk_create(fresh)
    return changes


def conflicts_start(*, complaint: Complaint, subject_ids: list[int], named_ids: list[int],
                    now: datetime) -> None:
    """Write the conflicts of a complaint just filed, in one statement: each subject
    (``subject``), everyone above a subject in the management chain (``chain``), as
    ``directory_conflicts`` derives them, and the people the reporter named (``named``).

    A new complaint has no conflict rows to compare with, so nothing is read first
    (``conflicts_refresh`` is for complaints that have them), and the chain is walked by
    the database (a recursive CTE, on PostgreSQL and SQLite alike) instead of one query per
    level. A cycle in the manager data ends at ``MAX_CHAIN_DEPTH`` levels, as the walk in
    ``directory_conflicts`` does. Writes no audit event (the filing's event says why).
    """
    subject_ids, named_ids = sorted(set(subject_ids)), sorted(set(named_ids))
    if not subject_ids and not named_ids:
        return
    stored_now = connections[DEFAULT_DB_ALIAS].ops.adapt_datetimefield_value(now)
    params: list[Any] = []
    if subject_ids:
        params += [*subject_ids, MAX_CHAIN_DEPTH, complaint.pk, stored_now]
    if named_ids:
        params += [complaint.pk, stored_now, *named_ids]
    # Prepared on PostgreSQL: planning the walk cost more than running it.
    execute_prepared(_start_sql(len(subject_ids), len(named_ids)), params)


_PERSON, _CONFLICT = Person._meta.db_table, Conflict._meta.db_table
_SUBJECT, _CHAIN, _NAMED = (Conflict.Source.SUBJECT.value, Conflict.Source.CHAIN.value,
                            Conflict.Source.NAMED.value)


@lru_cache(maxsize=64)
def _start_sql(subjects: int, named: int) -> str:
    rows = []
    if subjects:
        # Depth 0 is the subjects themselves: a subject who is also above another subject
        # stays a ``subject``, as in directory_conflicts.
        rows.append(f"SELECT %s, id, CASE WHEN MIN(depth) = 0 THEN '{_SUBJECT}' "  # noqa: S608
                    f"ELSE '{_CHAIN}' END, %s FROM chain GROUP BY id")
    if named:
        rows.append(f"SELECT %s, id, '{_NAMED}', %s FROM {_PERSON} "  # noqa: S608
                    f"WHERE id IN ({', '.join(['%s'] * named)})")
    walk = (f"WITH RECURSIVE chain(id, depth) AS ("  # noqa: S608
            f"SELECT id, 0 FROM {_PERSON} WHERE id IN ({', '.join(['%s'] * subjects)}) "
            f"UNION SELECT p.manager_id, c.depth + 1 FROM {_PERSON} p "
            f"JOIN chain c ON p.id = c.id WHERE p.manager_id IS NOT NULL AND c.depth < %s) "
            if subjects else "")
    return (f"{walk}INSERT INTO {_CONFLICT} (complaint_id, person_id, source, created_at) "
            f"{' UNION ALL '.join(rows)}")


def _drop_conflicted_handlers(locked: Complaint) -> dict[str, Any]:
    """Take a conflicted assignee or co-owner off a (locked) case; report a conflicted
    investigator, whom only a person can replace (by returning the case for work)."""
    forget(locked)
    conflicted = conflicted_many([locked.pk])[locked.pk]
    removed: dict[str, Any] = {}
    if locked.assignee_id and conflicted.includes(locked.assignee):
        removed["assignee"] = locked.assignee_id
        locked.assignee = None
    if locked.co_owner_id and conflicted.includes(locked.co_owner):
        removed["co_owner"] = locked.co_owner_id
        locked.co_owner = None
    if removed:
        Complaint.objects.filter(pk=locked.pk).update(
            assignee=locked.assignee, co_owner=locked.co_owner, updated_at=timezone.now())
    investigation = (Investigation.objects.filter(complaint=locked)
                     .select_related("investigator__person").first())
    if investigation is not None and conflicted.includes(investigation.investigator):
        removed["investigator_conflicted"] = investigation.investigator_id
    return removed


def complaint_declare_conflict(*, complaint: Complaint, actor: Any, reason: str = "") -> None:
    """A member of staff declares a conflict of interest on a case.

    Changes: adds a ``declared`` Conflict for the actor (by directory person when they have
    one), takes them off the case if they were its assignee or co-owner. From then on the
    case does not exist for them. Audits ``complaint.conflict_declared``.
    """
    from complaints.services.lifecycle import _clean_reason, _reason_note

    reason = _clean_reason(reason, required=False)
    with transaction.atomic():
        locked = lock_complaint(complaint)
        now = timezone.now()
        person_id = person_id_of(actor)
        Conflict.objects.get_or_create(
            complaint=locked, source=Conflict.Source.DECLARED,
            **({"person_id": person_id} if person_id else {"user": actor}),
            defaults={"created_at": now})
        payload = {"removed": _drop_conflicted_handlers(locked)}
        payload |= _reason_note(locked, actor, Action.COMPLAINT_CONFLICT_DECLARED, reason, now)
        audit.record(action=Action.COMPLAINT_CONFLICT_DECLARED, actor=actor, target=locked,
                     from_state=locked.state, to_state=locked.state, payload=payload)


def _subtree(person_ids: set[int]) -> set[int]:
    """These people and everyone below them, at any depth."""
    found = set(person_ids)
    frontier = set(person_ids)
    while frontier:
        frontier = set(Person.objects.filter(manager_id__in=frontier)
                       .values_list("pk", flat=True)) - found
        found |= frontier
    return found


def conflicts_after_directory_change(*, moved_person_ids: set[int], actor: Any,
                                     now: datetime | None = None) -> int:
    """Re-evaluate the open cases a change of managers can affect: those about anyone at or
    below a person whose manager changed. Runs inside the directory change's transaction.

    Changes: the cases' directory conflicts; a handler who became conflicted is taken off.
    Audits ``complaint.conflicts_changed`` on each case whose conflicts changed. Returns
    how many cases changed.
    """
    if not moved_person_ids:
        return 0
    now = now or timezone.now()
    below = _subtree(moved_person_ids)
    affected = sorted(set(
        Subject.objects.filter(person_id__in=below, complaint__state__in=OPEN_STATES)
        .values_list("complaint_id", flat=True)))
    if not affected:
        return 0
    # All at once, locked in id order so two re-evaluations never deadlock; the chains are
    # walked once for every case (directory_conflicts), not case by case.
    locked = {c.pk: c for c in Complaint.objects.filter(pk__in=affected).order_by("pk")
              .select_for_update().only("id", "reference", "state", "assignee", "co_owner")}
    changes = conflicts_refresh(complaint_ids=sorted(locked), now=now)
    for cid, change in sorted(changes.items()):
        complaint = locked[cid]
        audit.record(action=Action.COMPLAINT_CONFLICTS_CHANGED, actor=actor, target=complaint,
                     from_state=complaint.state, to_state=complaint.state,
                     payload={**change, "removed": _drop_conflicted_handlers(complaint)})
    return len(changes)


def conflicts_after_link(*, user: Any, person_id: int) -> int:
    """An account was just linked to its directory person: wherever that person is
    conflicted on an open case the account handles, it is taken off. Audits
    ``complaint.conflicts_changed`` on each such case. Returns how many."""
    handled = sorted(set(
        Conflict.objects.filter(person_id=person_id, complaint__state__in=OPEN_STATES)
        .filter(Q(complaint__assignee=user) | Q(complaint__co_owner=user))
        .values_list("complaint_id", flat=True)))
    for cid in handled:
        locked = lock_complaint(Complaint(pk=cid))
        audit.record(action=Action.COMPLAINT_CONFLICTS_CHANGED, actor=audit.SYSTEM,
                     target=locked, from_state=locked.state, to_state=locked.state,
                     payload={"linked_user": user.pk,
                              "removed": _drop_conflicted_handlers(locked)})
    return len(handled)
