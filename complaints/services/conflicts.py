"""Writing conflicts: from the directory (subjects and their management chains), declared
by staff, named by the reporter; and what follows when someone handling a case turns out
to be conflicted on it."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from audit import services as audit
from audit.actions import Action
from complaints import access
from complaints.access import (
    active_conflicts,
    conflicted_many,
    forget,
    is_conflicted,
    is_reporter,
    person_id_of,
    role_holders,
)
from complaints.errors import InvalidInput, TransitionForbidden
from complaints.models import (
    OPEN_STATES,
    Complaint,
    Conflict,
    ConflictRemoval,
    Investigation,
    Person,
    Subject,
)
from complaints.services.locking import lock_complaint

DIRECTORY_SOURCES = (Conflict.Source.SUBJECT, Conflict.Source.CHAIN)


def conflicts_refresh(*, complaint_ids: list[int], now: datetime
                      ) -> dict[int, list[dict[str, Any]]]:
    """Add the directory-derived conflicts these complaints lack.

    Changes: adds a ``subject``/``chain`` row for everyone the directory now puts on a
    case who has no active row of that source. Never deletes or removes one: conflicts only
    grow by themselves (DESIGN.md), so someone a directory change takes out of a subject's
    chain stays conflicted until compliance removes the conflict (``conflict_removal_*``).
    A removed conflict the directory supports is added again as a new row. Writes no audit
    event (the caller's event says why). Returns, per complaint that gained any, what was
    added: ``{"person": id, "source": ...}`` each.
    """
    wanted = directory_conflicts(complaint_ids)
    have: dict[int, set[tuple[int, str]]] = {cid: set() for cid in complaint_ids}
    for cid, person_id, source in active_conflicts().filter(
            complaint_id__in=complaint_ids, source__in=DIRECTORY_SOURCES).values_list(
            "complaint_id", "person_id", "source"):
        have[cid].add((person_id, source))
    fresh: list[Conflict] = []
    added: dict[int, list[dict[str, Any]]] = {}
    for cid in complaint_ids:
        new = sorted(key for key in wanted[cid].items() if key not in have[cid])
        fresh += [Conflict(complaint_id=cid, person_id=pid, source=source, created_at=now)
                  for pid, source in new]
        if new:
            added[cid] = [{"person": pid, "source": source} for pid, source in new]
    Conflict.objects.bulk_create(fresh)
    return added


def conflicts_start(*, complaint: Complaint, subject_ids: list[int], named_ids: list[int],
                    now: datetime) -> None:
    """Write the conflicts of a complaint just filed: each subject (``subject``), everyone
    above a subject in the management chain (``chain``), as ``directory_conflicts``
    derives them, and the people the reporter named (``named``).

    A new complaint has no conflict rows to compare with, so nothing is read first
    (``conflicts_refresh`` is for complaints that have them). Writes no audit event (the
    filing's event says why).
    """
    derived = _derived(set(subject_ids), chains_above(subject_ids))
    named = sorted(set(named_ids))
    Conflict.objects.bulk_create(
        [Conflict(complaint=complaint, person_id=pid, source=source, created_at=now)
         for pid, source in sorted(derived.items())]
        + [Conflict(complaint=complaint, person_id=pid, source=Conflict.Source.NAMED,
                    created_at=now) for pid in named])


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


def _named_in_event(who: dict[str, Any], source: str) -> dict[str, Any]:
    """Who a conflict names, for an event's payload: ids and the source, never a name."""
    if who.get("person_id"):
        return {"person": who["person_id"], "source": source}
    return {"user": who["user_id"], "source": source}


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
        who = {"person_id": person_id} if person_id else {"user_id": actor.pk}
        _, created = Conflict.objects.get_or_create(
            complaint=locked, source=Conflict.Source.DECLARED, removed_at=None, **who,
            defaults={"created_at": now})
        payload = {"added": [_named_in_event(who, Conflict.Source.DECLARED)] if created else [],
                   "removed": [], "handlers_removed": _drop_conflicted_handlers(locked)}
        payload |= _reason_note(locked, actor, Action.COMPLAINT_CONFLICT_DECLARED, reason, now)
        audit.record(action=Action.COMPLAINT_CONFLICT_DECLARED, actor=actor, target=locked,
                     from_state=locked.state, to_state=locked.state, payload=payload)


def people_below(person_ids: set[int]) -> set[int]:
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

    Changes: adds the directory conflicts the cases lack (never removes one); a handler who
    became conflicted is taken off. Audits ``complaint.conflicts_changed`` on each case that
    gained a conflict, listing what was added. Returns how many cases changed.
    """
    if not moved_person_ids:
        return 0
    now = now or timezone.now()
    below = people_below(moved_person_ids)
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
    for cid, added in sorted(changes.items()):
        complaint = locked[cid]
        audit.record(action=Action.COMPLAINT_CONFLICTS_CHANGED, actor=actor, target=complaint,
                     from_state=complaint.state, to_state=complaint.state,
                     payload={"added": added, "removed": [],
                              "handlers_removed": _drop_conflicted_handlers(complaint)})
    return len(changes)


def conflicts_after_link(*, user: Any, person_id: int) -> int:
    """An account was just linked to its directory person: wherever that person is
    conflicted on an open case the account handles, it is taken off. Audits
    ``complaint.conflicts_changed`` on each such case. Returns how many."""
    handled = sorted(set(
        active_conflicts().filter(person_id=person_id, complaint__state__in=OPEN_STATES)
        .filter(Q(complaint__assignee=user) | Q(complaint__co_owner=user))
        .values_list("complaint_id", flat=True)))
    for cid in handled:
        locked = lock_complaint(Complaint(pk=cid))
        audit.record(action=Action.COMPLAINT_CONFLICTS_CHANGED, actor=audit.SYSTEM,
                     target=locked, from_state=locked.state, to_state=locked.state,
                     payload={"linked_user": user.pk, "added": [], "removed": [],
                              "handlers_removed": _drop_conflicted_handlers(locked)})
    return len(handled)


# --- Nobody may bury a case: the top of the ladder stays reachable ----------------------------

# The roles that remove conflicts and receive the last escalations: a case with no
# unconflicted holder of either could neither be escalated nor freed.
LADDER_ROLES = (access.COMPLIANCE_OFFICER, access.AUDIT_COMMITTEE)


def ladder_people() -> set[int]:
    """The directory people linked to an active account that holds a ladder role."""
    return set(Person.objects.filter(user__is_active=True, user__groups__name__in=LADDER_ROLES)
               .values_list("pk", flat=True))


def ladder_cover(complaint_ids: list[int]) -> dict[int, frozenset[str]]:
    """For each complaint, the ladder roles that have at least one active holder who is
    neither conflicted on it nor its reporter: who could still escalate to it, free it, or
    decide a removal. Three queries for any number of cases."""
    holders = role_holders(LADDER_ROLES)
    everyone = [account for accounts in holders.values() for account in accounts]
    conflicted = conflicted_many(complaint_ids, among=everyone)
    reporters = dict(Complaint.objects.filter(pk__in=complaint_ids)
                     .values_list("pk", "reporter_user_id"))
    return {cid: frozenset(role for role, accounts in holders.items() if any(
                a.pk != reporters.get(cid) and not conflicted[cid].includes(a) for a in accounts))
            for cid in complaint_ids}


# --- Removing a conflict: compliance asks, a second person decides ----------------------------

REQUESTERS = frozenset({access.COMPLIANCE_OFFICER})
DECIDERS = frozenset({access.COMPLIANCE_OFFICER, access.AUDIT_COMMITTEE})


def _names_actor(conflict: Conflict, actor: Any) -> bool:
    return (conflict.user_id is not None and conflict.user_id == actor.pk) or (
        conflict.person_id is not None and conflict.person_id == person_id_of(actor))


def may_request_removal(complaint: Complaint, actor: Any) -> bool:
    """A compliance officer who is neither conflicted on the case nor its reporter."""
    return (access.has_role(actor, REQUESTERS) and not is_reporter(complaint, actor)
            and not is_conflicted(actor, complaint))


def may_decide_removal(complaint: Complaint, removal: ConflictRemoval, actor: Any) -> bool:
    """The second person: another compliance officer or an audit committee member, never
    the requester, never the person being removed, never anyone conflicted on the case."""
    return (access.has_role(actor, DECIDERS) and removal.requested_by_id != actor.pk
            and not _names_actor(removal.conflict, actor)
            and not is_reporter(complaint, actor) and not is_conflicted(actor, complaint))


def _lock_for_removal(complaint: Complaint, actor: Any) -> Complaint:
    locked = lock_complaint(complaint, actor=actor)
    if locked.purged_at is not None:
        raise TransitionForbidden("this case's records were erased at the end of its "
                                  "retention period")
    return locked


def still_above_a_subject(conflict: Conflict, supported: dict[int, str]) -> bool:
    """Whether a chain conflict is one the directory still supports (``supported``: the
    case's ``directory_conflicts``). Such a person is conflicted by definition, and a
    removal would last only until the next directory change re-added the row, so it is
    never offered nor accepted."""
    return conflict.source == Conflict.Source.CHAIN and conflict.person_id in supported


def conflict_removal_request(*, complaint: Complaint, conflict_id: int, actor: Any,
                             reason: str) -> ConflictRemoval:
    """A compliance officer asks for one conflict on a case to be removed.

    Changes: a pending ``ConflictRemoval``; its reason becomes a case note (encrypted). The
    conflict still applies until a second person approves. Audits
    ``complaint.conflict_removal_requested`` naming the conflict's person or account and
    the requester (ids only). Raises ``InvalidInput`` (no reason; no such active conflict
    on this case; a subject's own conflict; a chain conflict the directory still supports;
    one already pending for it) and
    ``TransitionForbidden`` (not a compliance officer, or conflicted on the case or its
    reporter).
    """
    from complaints.services.lifecycle import _clean_reason, _reason_note

    reason = _clean_reason(reason, required=True)
    with transaction.atomic():
        locked = _lock_for_removal(complaint, actor)
        if not may_request_removal(locked, actor):
            raise TransitionForbidden("only a compliance officer who is not conflicted on "
                                      "this case may ask for a conflict to be removed")
        conflict = (active_conflicts().select_for_update()
                    .filter(complaint=locked, pk=conflict_id).first())
        if conflict is None:
            raise InvalidInput({"conflict": ["There is no such conflict on this case."]})
        if conflict.source == Conflict.Source.SUBJECT:
            # The accused never reads their own case; and the directory would put the row
            # back at its next change, since they are still a subject.
            raise InvalidInput({"conflict": ["A subject of the complaint stays conflicted."]})
        if still_above_a_subject(conflict, directory_conflicts([locked.pk])[locked.pk]):
            raise InvalidInput({"conflict": ["This person is still above a subject in the "
                                             "directory, so they stay conflicted."]})
        if ConflictRemoval.objects.filter(conflict=conflict, decided_at=None).exists():
            raise InvalidInput({"conflict": ["A removal of this conflict is already waiting "
                                             "for a decision."]})
        now = timezone.now()
        payload = _removal_payload(conflict)
        payload |= _reason_note(locked, actor, Action.COMPLAINT_CONFLICT_REMOVAL_REQUESTED,
                                reason, now)
        removal = ConflictRemoval.objects.create(
            complaint=locked, conflict=conflict, requested_by=actor, requested_at=now,
            reason_note_id=payload["reason_note"])
        audit.record(action=Action.COMPLAINT_CONFLICT_REMOVAL_REQUESTED, actor=actor,
                     target=locked, from_state=locked.state, to_state=locked.state,
                     payload={"removal": removal.pk, **payload, "requested_by": actor.pk})
    return removal


def conflict_removal_decide(*, complaint: Complaint, removal_id: int, actor: Any,
                            approve: bool, reason: str = "") -> ConflictRemoval:
    """A second person approves or rejects a pending removal of a conflict.

    Changes: records the decision on the ``ConflictRemoval``; on approval marks the
    conflict removed (``removed_at``; the row stays), so from then on it no longer applies.
    Audits ``complaint.conflict_removal_approved`` or ``..._rejected`` naming the removed
    person or account, the requester and the decider (ids only). Raises ``InvalidInput``
    (no such pending request on this case) and ``TransitionForbidden`` (not compliance or
    audit committee; the requester; the person whose conflict it is; conflicted on the
    case or its reporter).
    """
    from complaints.services.lifecycle import _clean_reason, _reason_note

    reason = _clean_reason(reason, required=False)
    with transaction.atomic():
        locked = _lock_for_removal(complaint, actor)
        removal = (ConflictRemoval.objects.select_for_update().select_related("conflict")
                   .filter(complaint=locked, pk=removal_id, decided_at=None).first())
        if removal is None:
            raise InvalidInput({"removal": ["There is no such request waiting for a "
                                            "decision on this case."]})
        if not may_decide_removal(locked, removal, actor):
            raise TransitionForbidden("a conflict's removal is decided by a second person: "
                                      "a compliance officer or audit committee member who "
                                      "neither asked for it, nor is removed by it, nor is "
                                      "conflicted on this case")
        now = timezone.now()
        action = (Action.COMPLAINT_CONFLICT_REMOVAL_APPROVED if approve
                  else Action.COMPLAINT_CONFLICT_REMOVAL_REJECTED)
        removal.decided_by, removal.decided_at = actor, now
        removal.outcome = (ConflictRemoval.Outcome.APPROVED if approve
                           else ConflictRemoval.Outcome.REJECTED)
        removal.save(update_fields=["decided_by", "decided_at", "outcome"])
        if approve:
            Conflict.objects.filter(pk=removal.conflict_id, removed_at=None).update(
                removed_at=now, removal=removal)
            forget(locked)
        payload = {"removal": removal.pk, **_removal_payload(removal.conflict),
                   "requested_by": removal.requested_by_id, "decided_by": actor.pk}
        payload |= _reason_note(locked, actor, action, reason, now)
        audit.record(action=action, actor=actor, target=locked, from_state=locked.state,
                     to_state=locked.state, payload=payload)
    return removal


def _removal_payload(conflict: Conflict) -> dict[str, Any]:
    return {"conflict": conflict.pk,
            **_named_in_event({"person_id": conflict.person_id, "user_id": conflict.user_id},
                              conflict.source)}


# A management chain longer than this is a data error (a cycle the import missed).
MAX_CHAIN_DEPTH = 64


CHAIN_STEP = 4
_STEPS = ["pk", *("__".join(["manager"] * n) for n in range(1, CHAIN_STEP + 1))]


def chains_above(person_ids: Iterable[int]) -> dict[int, list[int]]:
    """For each of these people, everyone above them in the management chain, nearest
    first: the one walk of the chain, for conflicts and for the directory's checks.

    One query per ``CHAIN_STEP`` levels, for all of them at once. A chain that loops (data
    the import refuses, so only from elsewhere) is followed for ``MAX_CHAIN_DEPTH``
    managers and no further.
    """
    wanted = set(person_ids)
    manager_of: dict[int, int | None] = {}
    frontier = set(wanted)
    while frontier:
        # Each row brings a person's next CHAIN_STEP managers (LEFT JOINs), so a chain of
        # ordinary depth is read in one query.
        for row in Person.objects.filter(pk__in=frontier).values_list(*_STEPS):
            for person, manager in itertools.pairwise(row):
                if person is None:
                    break
                manager_of.setdefault(person, manager)
        for person in frontier:  # gone from the directory meanwhile: the chain ends there
            manager_of.setdefault(person, None)
        frontier = {m for m in manager_of.values() if m is not None and m not in manager_of}
    chains: dict[int, list[int]] = {}
    for person in wanted:
        chain: list[int] = []
        node = manager_of.get(person)
        while node is not None and len(chain) < MAX_CHAIN_DEPTH:
            chain.append(node)
            node = manager_of.get(node)
        chains[person] = chain
    return chains


def _derived(subjects: set[int], chains: dict[int, list[int]]) -> dict[int, str]:
    # A subject who is also above another subject stays a ``subject``.
    found = {pid: Conflict.Source.CHAIN.value for s in subjects for pid in chains[s]}
    return found | {pid: Conflict.Source.SUBJECT.value for pid in subjects}


def directory_conflicts(complaint_ids: Iterable[int]) -> dict[int, dict[int, str]]:
    """What the directory says, for each complaint: person id -> ``subject`` or ``chain``.

    A fixed number of queries for any number of complaints: one for the subjects, then one
    per level of management chain walked, for all of them at once (``chains_above``).
    """
    subjects: dict[int, set[int]] = {cid: set() for cid in complaint_ids}
    for cid, person_id in Subject.objects.filter(
        complaint_id__in=list(subjects), person__isnull=False
    ).values_list("complaint_id", "person_id"):
        subjects[cid].add(person_id)
    chains = chains_above(set().union(*subjects.values()) if subjects else set())
    return {cid: _derived(people, chains) for cid, people in subjects.items()}
