"""The directory: people and their managers, imported from the HR system."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction

from audit import services as audit
from audit.actions import Action
from complaints import access
from complaints.access import active_conflicts
from complaints.errors import InvalidInput
from complaints.models import OPEN_STATES, Complaint, Person, Subject
from complaints.services.conflicts import (
    LADDER_ROLES,
    MAX_CHAIN_DEPTH,
    chains_above,
    conflicts_after_directory_change,
    conflicts_after_link,
    ladder_cover,
    ladder_people,
    people_below,
)

COLUMNS = ("employee_id", "name", "email", "department", "manager_employee_id")
BATCH = 2000


class DirectoryImportError(Exception):
    """The file was refused whole; ``errors`` lists (line number, message)."""

    def __init__(self, errors: list[tuple[int, str]]) -> None:
        super().__init__(f"{len(errors)} problem(s) in the directory file")
        self.errors = errors


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    linked: int = 0
    unchanged: int = 0
    cases_reevaluated: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)


def _parse(lines: Iterable[str]) -> tuple[dict[str, dict[str, str]], dict[str, int],
                                          list[tuple[int, str]]]:
    reader = csv.DictReader(lines)
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        return {}, {}, [(1, f"the header lacks column(s): {', '.join(missing)}")]
    rows: dict[str, dict[str, str]] = {}
    line_of: dict[str, int] = {}
    emails: dict[str, int] = {}
    errors: list[tuple[int, str]] = []
    for row in reader:
        line = reader.line_num
        values = {c: (row.get(c) or "").strip() for c in COLUMNS}
        eid, email = values["employee_id"], values["email"].lower()
        if not eid:
            errors.append((line, "employee_id is empty"))
            continue
        if len(eid) > 64:
            errors.append((line, "employee_id is longer than 64 characters"))
            continue
        if eid in rows:
            errors.append((line, f"employee_id {eid} already appears on line {line_of[eid]}"))
            continue
        if not values["name"]:
            errors.append((line, f"{eid}: name is empty"))
        elif len(values["name"]) > 200 or len(values["department"]) > 200:
            errors.append((line, f"{eid}: name or department is longer than 200 characters"))
        if email:
            try:
                validate_email(email)
            except ValidationError:
                errors.append((line, f"{eid}: email {email!r} is not an email address"))
            if email in emails:
                errors.append((line, f"{eid}: email is also on line {emails[email]}"))
            emails[email] = line
        if values["manager_employee_id"] == eid:
            errors.append((line, f"{eid} is their own manager"))
        values["email"] = email
        rows[eid] = values
        line_of[eid] = line
    return rows, line_of, errors


def _cycles(managers: dict[str, str | None], line_of: dict[str, int]) -> list[tuple[int, str]]:
    errors = []
    done: set[str] = set()
    for start in line_of:
        path: list[str] = []
        seen: set[str] = set()
        node: str | None = start
        while node and node not in done:
            if node in seen:
                errors.append((line_of[start], f"{start}: the management chain loops "
                                               f"({' -> '.join([*path, node])})"))
                break
            seen.add(node)
            path.append(node)
            node = managers.get(node)
        done |= seen
    return errors


def directory_import(*, text: str, actor: Any = audit.SYSTEM) -> ImportResult:
    """Create or update people from a directory CSV, all or nothing.

    Changes: creates and updates ``Person`` rows, sets managers, links each person to the
    account with the same email (case-insensitive). Audits ``directory.imported`` with
    counts. Raises ``DirectoryImportError`` listing every bad line; nothing is written then.
    A change that would leave an open case with no unconflicted compliance officer, or audit
    committee member, where it had one is refused whole the same way, naming the lines
    that cause it, and recorded (``directory.change_refused`` on each case concerned).
    """
    rows, line_of, errors = _parse(io.StringIO(text))
    existing = {eid: (pk, mgr) for eid, pk, mgr in
                Person.objects.values_list("employee_id", "pk", "manager__employee_id")}
    for eid, values in rows.items():
        manager = values["manager_employee_id"]
        if manager and manager not in rows and manager not in existing:
            errors.append((line_of[eid], f"{eid}: manager {manager} is not in the directory"))
    managers: dict[str, str | None] = {eid: mgr for eid, (_, mgr) in existing.items()}
    managers.update({eid: v["manager_employee_id"] or None for eid, v in rows.items()})
    errors += _cycles(managers, line_of)
    if errors:
        raise DirectoryImportError(sorted(errors))

    result = ImportResult()
    try:
        _import_rows(rows, existing, result, actor=actor)
    except _Refused as refused:
        # The import rolled back whole; the refusal is on the record, on each case.
        _record_refusal(refused, actor=actor)
        eids = set(Person.objects.filter(pk__in=refused.people)
                   .values_list("employee_id", flat=True))
        raise DirectoryImportError(sorted(
            (line_of[eid], f"{eid}: {refused.message()}") for eid in eids if eid in line_of
        ) or [(1, refused.message())]) from None
    return result


def _import_rows(rows: dict[str, dict[str, str]], existing: Mapping[str, tuple[int, str | None]],
                 result: ImportResult, *, actor: Any) -> None:
    with transaction.atomic():
        current = Person.objects.in_bulk([pk for eid, (pk, _) in existing.items() if eid in rows])
        to_create, to_update = [], []
        for eid, values in rows.items():
            if eid in existing:
                person = current[existing[eid][0]]
                fresh = (values["name"], values["email"], values["department"])
                if (person.name, person.email, person.department) != fresh:
                    person.name, person.email, person.department = fresh
                    to_update.append(person)
            else:
                to_create.append(Person(employee_id=eid, name=values["name"],
                                        email=values["email"], department=values["department"]))
        Person.objects.bulk_create(to_create, batch_size=BATCH)
        _update_people(to_update, ["name", "email", "department"])
        result.created, result.updated = len(to_create), len(to_update)

        pk_of = dict(Person.objects.values_list("employee_id", "pk"))
        existing_pks = {pk for pk, _ in existing.values()}
        moved = [
            Person(pk=pk_of[eid], manager_id=pk_of.get(values["manager_employee_id"]))
            for eid, values in rows.items()
            if existing.get(eid, (None, None))[1] != (values["manager_employee_id"] or None)
        ]
        _update_people(moved, ["manager_id"])
        moved_ids = {p.pk for p in moved if p.pk in existing_pks}
        result.unchanged = len(rows) - result.created - result.updated
        linking = _link_pairs({v["email"] for v in rows.values() if v["email"]})
        watch = _LadderWatch.start(moved=moved_ids, linking=linking)
        result.linked = _link(linking, actor=actor)
        # A new manager above an accused person is conflicted from now on; an old one stays
        # conflicted (only compliance removes a conflict). Open cases are re-evaluated in
        # the same transaction.
        result.cases_reevaluated = conflicts_after_directory_change(
            moved_person_ids=moved_ids, actor=actor)
        if watch is not None:
            watch.check()
        # No count of cases re-evaluated: every reader of the log sees this event, and a
        # count would tell one conflicted on a case below a moved person that it exists.
        audit.record(action=Action.DIRECTORY_IMPORTED, actor=actor, target=("directory", "people"),
                     payload={"created": result.created, "updated": result.updated,
                              "managers_changed": len(moved), "linked": result.linked})


def _update_people(people: list[Person], columns: list[str]) -> None:
    """Write these columns of these people, already changed on the instances."""
    if columns != ["manager_id"]:
        Person.objects.bulk_update(people, columns, batch_size=BATCH)
        return
    # A reorganisation moves many people under few managers: one UPDATE per new manager
    # (and batch of ids), where bulk_update would build a CASE over every row's id.
    moved: dict[int | None, list[int]] = defaultdict(list)
    for person in people:
        moved[person.manager_id].append(person.pk)
    for manager_id, ids in moved.items():
        for start in range(0, len(ids), BATCH):
            Person.objects.filter(pk__in=ids[start:start + BATCH]).update(manager_id=manager_id)


def _link_pairs(emails: set[str]) -> list[tuple[int, int]]:
    """(person, account) pairs this change links: an unlinked person and an unlinked account
    with the same email (case-insensitive)."""
    if not emails:
        return []
    user_model = get_user_model()
    taken = set(Person.objects.filter(user__isnull=False).values_list("user_id", flat=True))
    users = {u.email.lower(): u.pk for u in user_model.objects.exclude(email="").only("email")
             if u.email.lower() in emails and u.pk not in taken}
    return [(person_pk, users[email.lower()]) for person_pk, email in
            Person.objects.filter(user__isnull=True).exclude(email="")
            .values_list("pk", "email") if email.lower() in users]


def _link(pairs: list[tuple[int, int]], *, actor: Any) -> int:
    """Link each pair as ``person_link_user`` does: on the record, and with a newly
    conflicted handler taken off the cases its person is conflicted on."""
    linked = 0
    user_model = get_user_model()
    employee_ids = dict(Person.objects.filter(pk__in=[p for p, _ in pairs])
                        .values_list("pk", "employee_id"))
    for person_pk, user_id in pairs:
        if Person.objects.filter(pk=person_pk, user__isnull=True).update(user_id=user_id):
            audit.record(action=Action.DIRECTORY_ACCOUNT_LINKED, actor=actor,
                         target=("person", employee_ids[person_pk]), payload={"user": user_id})
            conflicts_after_link(user=user_model(pk=user_id), person_id=person_pk)
            linked += 1
    return linked


# --- Nobody may bury a case through the directory ------------------------------------------------

LADDER_LOST = ("this change would leave an open case with no {roles} who is not conflicted "
               "on it (conflicts only grow, so nobody could escalate it or remove a conflict); "
               "it was refused and recorded")
ROLE_NAMES = {access.COMPLIANCE_OFFICER: "compliance officer",
              access.AUDIT_COMMITTEE: "audit committee member"}


class _Refused(Exception):
    """Raised inside the change's transaction to roll it back: ``lost`` is, per case, the
    ladder roles the change would leave it without; ``people`` the changed people (ids)
    who caused it."""

    def __init__(self, lost: dict[int, list[str]], people: set[int]) -> None:
        super().__init__("directory change refused")
        self.lost, self.people = lost, people

    def message(self) -> str:
        lost_roles = sorted({role for roles_lost in self.lost.values() for role in roles_lost})
        return LADDER_LOST.format(roles=" or ".join(ROLE_NAMES[r] for r in lost_roles))


def _above(people: set[int]) -> set[int]:
    """Everyone above these people in the management chain as it now stands."""
    return {manager for chain in chains_above(people).values() for manager in chain}


@dataclass
class _LadderWatch:
    """The open cases a directory change could leave without an unconflicted compliance
    officer or audit committee member, and who covered them before it."""

    moved: set[int]
    linking: list[tuple[int, int]]
    cases: list[int]
    before: dict[int, frozenset[str]]

    @classmethod
    def start(cls, *, moved: set[int], linking: list[tuple[int, int]]) -> _LadderWatch | None:
        """Called once the new managers are written, before any conflict is added or
        account linked. None (at the cost of a query or two) when the change cannot cost a
        case its cover: a ladder holder becomes conflicted only by being put above a moved
        person or by having their account linked."""
        ladder = ladder_people() if moved else set()
        newly_above = bool(ladder and ladder & _above(moved))
        linking_users = {user_id for _, user_id in linking}
        newly_linked = bool(linking_users) and get_user_model().objects.filter(
            pk__in=linking_users, is_active=True, groups__name__in=LADDER_ROLES).exists()
        if not (newly_above or newly_linked):
            return None
        cases = set(Subject.objects.filter(person_id__in=people_below(moved),
                                           complaint__state__in=OPEN_STATES)
                    .values_list("complaint_id", flat=True)) if moved else set()
        cases |= set(active_conflicts().filter(person_id__in=[p for p, _ in linking],
                                               complaint__state__in=OPEN_STATES)
                     .values_list("complaint_id", flat=True))
        return cls(moved=moved, linking=linking, cases=sorted(cases),
                   before=ladder_cover(sorted(cases)))

    def check(self) -> None:
        """After the conflicts were added and the accounts linked: raise ``_Refused`` if a
        case lost a role's last unconflicted holder."""
        after = ladder_cover(self.cases)
        lost = {cid: sorted(self.before[cid] - after[cid]) for cid in self.cases
                if self.before[cid] - after[cid]}
        if not lost:
            return
        subjects = set(Subject.objects.filter(complaint_id__in=lost, person__isnull=False)
                       .values_list("person_id", flat=True))
        chain = subjects | _above(subjects)
        linked = {p for p, _ in self.linking}
        people = (self.moved & chain) | (linked & set(active_conflicts().filter(
            complaint_id__in=lost, person_id__in=linked).values_list("person_id", flat=True)))
        raise _Refused(lost, people or self.moved | linked)


def _record_refusal(refused: _Refused, *, actor: Any) -> None:
    """One ``directory.change_refused`` event on each case that would have lost its cover,
    in a transaction of its own (the change's rolled back): on the case, so only those who
    may read the case see it. Ids only."""
    people = sorted(Person.objects.filter(pk__in=refused.people)
                    .values_list("employee_id", flat=True))
    with transaction.atomic():
        audit.record_many([
            audit.Entry(action=Action.DIRECTORY_CHANGE_REFUSED, actor=actor, target=complaint,
                        from_state=complaint.state, to_state=complaint.state,
                        payload={"people": people, "roles": refused.lost[complaint.pk]})
            for complaint in Complaint.objects.filter(pk__in=refused.lost).order_by("pk")
            .only("id", "reference", "state")])


def person_link_user(*, user: Any) -> Person | None:
    """Link an account to the directory person with the same email, if neither is linked.

    Called whenever an account is saved, so the order of directory import and account
    creation does not matter.
    """
    if not user.email or Person.objects.filter(user=user).exists():
        return None
    with transaction.atomic():
        person = Person.objects.filter(email__iexact=user.email, user__isnull=True).first()
        # Linking decides who is conflicted on which case, so it is on the record.
        if person is not None and Person.objects.filter(
                pk=person.pk, user__isnull=True).update(user=user):
            audit.record(action=Action.DIRECTORY_ACCOUNT_LINKED, actor=audit.SYSTEM,
                         target=("person", person.employee_id), payload={"user": user.pk})
            conflicts_after_link(user=user, person_id=person.pk)
    return person


# --- One person at a time: the HR system's sync through the API -------------------------------

NAME_MAX = 200
EMAIL_MAX = 254  # Person.email's column


@dataclass(frozen=True)
class PersonSynced:
    person: Person
    created: bool
    # The fields that changed (all of them for a new person); empty when nothing did.
    changed: tuple[str, ...]


def _person_errors(eid: str, values: dict[str, str], manager_eid: str) -> dict[str, list[str]]:
    """The checks a directory import makes on one line, field by field."""
    errors: dict[str, list[str]] = {}
    if not eid:
        errors["employee_id"] = ["employee_id is empty."]
    elif len(eid) > 64:
        errors["employee_id"] = ["employee_id is longer than 64 characters."]
    elif "\x00" in eid:  # PostgreSQL cannot store it, and no HR system issues it
        errors["employee_id"] = ["employee_id holds a NUL character."]
    if not values["name"]:
        errors["name"] = ["name is empty."]
    elif len(values["name"]) > NAME_MAX:
        errors["name"] = [f"name is longer than {NAME_MAX} characters."]
    if len(values["department"]) > NAME_MAX:
        errors["department"] = [f"department is longer than {NAME_MAX} characters."]
    if values["email"]:
        try:
            if len(values["email"]) > EMAIL_MAX:
                raise ValidationError("too long")
            validate_email(values["email"])
        except ValidationError:
            errors["email"] = ["This is not an email address."]
    if manager_eid and manager_eid == eid:
        errors["manager_employee_id"] = ["A person cannot be their own manager."]
    elif len(manager_eid) > 64:
        errors["manager_employee_id"] = ["manager_employee_id is longer than 64 characters."]
    elif "\x00" in manager_eid:
        errors["manager_employee_id"] = ["manager_employee_id holds a NUL character."]
    return errors


def _manages(person_pk: int, manager_pk: int) -> bool:
    """Whether ``person`` is ``manager`` or above them: making them its manager would loop.
    A chain longer than any real one counts as a loop too (it is one the import missed)."""
    chain = chains_above([manager_pk])[manager_pk]
    return person_pk == manager_pk or person_pk in chain or len(chain) >= MAX_CHAIN_DEPTH


def person_upsert(*, employee_id: str, name: str, email: str = "", department: str = "",
                  manager_employee_id: str = "", actor: Any) -> PersonSynced:
    """Create or update one directory person, as one line of a directory import would.

    Changes: creates or updates the ``Person`` and its manager; links it to the account with
    the same email (case-insensitive); when an existing person's manager changed, re-evaluates
    the open cases below them (``conflicts_after_directory_change``). Audits
    ``directory.person_synced`` naming the fields that changed (never their values). A sync
    that changes nothing writes nothing and audits nothing, so the HR system may repeat it.
    Raises ``InvalidInput`` field by field (the import's rules, and an unknown manager or a
    management chain that would loop). Refuses, writing nothing but a
    ``directory.change_refused`` event on each case concerned, a change that would leave an
    open case with no unconflicted compliance officer, or audit committee member, where it
    had one (``InvalidInput`` on ``manager_employee_id``, or ``email`` for a link).
    """
    eid = (employee_id or "").strip()
    values = {"name": (name or "").strip(), "email": (email or "").strip().lower(),
              "department": (department or "").strip()}
    manager_eid = (manager_employee_id or "").strip()
    errors = _person_errors(eid, values, manager_eid)
    if errors:
        raise InvalidInput(errors)
    moved: set[int] = set()
    try:
        with transaction.atomic():
            person = Person.objects.select_for_update().filter(employee_id=eid).first()
            manager_pk = None
            if manager_eid:
                manager_pk = (Person.objects.filter(employee_id=manager_eid)
                              .values_list("pk", flat=True).first())
                if manager_pk is None:
                    raise InvalidInput({"manager_employee_id": [
                        f"Manager {manager_eid} is not in the directory."]})
                if person is not None and _manages(person.pk, manager_pk):
                    raise InvalidInput({"manager_employee_id": [
                        "The management chain would loop."]})
            if person is None:
                try:
                    with transaction.atomic():
                        person = Person.objects.create(employee_id=eid, manager_id=manager_pk,
                                                       **values)
                except IntegrityError:
                    # Another sync created this person a moment ago: this one is an update.
                    return person_upsert(employee_id=eid, manager_employee_id=manager_eid,
                                         actor=actor, **values)
                created = True
                changed = tuple(f for f in (*values, "manager")
                                if (values.get(f) if f != "manager" else manager_pk))
            else:
                created = False
                changed = tuple(f for f in values if getattr(person, f) != values[f])
                if person.manager_id != manager_pk:
                    changed += ("manager",)
                if not changed:
                    return PersonSynced(person=person, created=False, changed=())
                for attribute, value in values.items():
                    setattr(person, attribute, value)
                person.manager_id = manager_pk
                person.save(update_fields=[*changed, "updated_at"])
            moved = {person.pk} if "manager" in changed and not created else set()
            linking = _link_pairs({values["email"]}) if values["email"] else []
            watch = _LadderWatch.start(moved=moved, linking=linking)
            linked = _link(linking, actor=actor)
            # A new manager above an accused person is conflicted from now on; an old one stays
            # conflicted (only compliance removes a conflict). A new person has no cases below
            # them yet.
            conflicts_after_directory_change(moved_person_ids=moved, actor=actor)
            if watch is not None:
                watch.check()
            # No count of the cases re-evaluated: a reader conflicted on a case below this
            # person would learn from it that the case exists.
            audit.record(action=Action.DIRECTORY_PERSON_SYNCED, actor=actor,
                         target=("person", eid),
                         payload={"created": created, "changed": list(changed),
                                  "linked": linked})
    except _Refused as refused:
        _record_refusal(refused, actor=actor)
        raise InvalidInput({"manager_employee_id" if moved else "email": [refused.message()]}
                           ) from None
    return PersonSynced(person=person, created=created, changed=changed)

