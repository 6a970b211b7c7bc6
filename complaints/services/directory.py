"""The directory: people and their managers, imported from the HR system."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, connection, transaction

from audit import services as audit
from audit.actions import Action
from complaints.conflicts import MAX_CHAIN_DEPTH
from complaints.errors import InvalidInput
from complaints.models import Person
from complaints.services.conflicts import conflicts_after_directory_change, conflicts_after_link

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
        result.unchanged = len(rows) - result.created - result.updated
        result.linked = _link_by_email({v["email"] for v in rows.values() if v["email"]})
        # A new manager above an accused person is conflicted from now on; an old one stays
        # conflicted (only compliance removes a conflict). Open cases are re-evaluated in
        # the same transaction.
        result.cases_reevaluated = conflicts_after_directory_change(
            moved_person_ids={p.pk for p in moved if p.pk in existing_pks}, actor=actor)
        audit.record(action=Action.DIRECTORY_IMPORTED, actor=actor, target=("directory", "people"),
                     payload={"created": result.created, "updated": result.updated,
                              "managers_changed": len(moved), "linked": result.linked,
                              "cases_reevaluated": result.cases_reevaluated})
    return result


# On PostgreSQL the changed rows are written by one statement each, from arrays: Django's
# bulk_update builds a CASE of every row's id for each field, which PostgreSQL then tests
# row by row (a 70,000-person reorganisation took 25 of its 33 seconds there).
_UPDATE_PEOPLE = (
    f"UPDATE {Person._meta.db_table} AS p SET {{sets}} FROM unnest(%b::bigint[], {{arrays}}) "  # noqa: S608
    "AS v(id, {columns}) WHERE p.id = v.id"
)
_ARRAY_TYPES = {"name": "text", "email": "text", "department": "text", "manager_id": "bigint"}


def _update_people(people: list[Person], columns: list[str]) -> None:
    """Write these columns of these people, already changed on the instances."""
    if not people:
        return
    if connection.vendor != "postgresql":
        Person.objects.bulk_update(people, columns, batch_size=BATCH)
        return
    sql = _UPDATE_PEOPLE.format(
        sets=", ".join(f"{c} = v.{c}" for c in columns),
        arrays=", ".join(f"%b::{_ARRAY_TYPES[c]}[]" for c in columns),
        columns=", ".join(columns))
    audit.execute_prepared(sql, [[p.pk for p in people],
                                 *([getattr(p, c) for p in people] for c in columns)])


def _link_by_email(emails: set[str]) -> int:
    if not emails:
        return 0
    user_model = get_user_model()
    taken = set(Person.objects.filter(user__isnull=False).values_list("user_id", flat=True))
    users = {u.email.lower(): u.pk for u in user_model.objects.exclude(email="").only("email")
             if u.email.lower() in emails and u.pk not in taken}
    linked = 0
    for person in Person.objects.filter(user__isnull=True).exclude(email=""):
        user_id = users.get(person.email.lower())
        if user_id is not None:
            Person.objects.filter(pk=person.pk, user__isnull=True).update(user_id=user_id)
            linked += 1
    return linked


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
    node: int | None = manager_pk
    for _ in range(MAX_CHAIN_DEPTH):
        if node is None:
            return False
        if node == person_pk:
            return True
        node = Person.objects.filter(pk=node).values_list("manager_id", flat=True).first()
    return True


def person_upsert(*, employee_id: str, name: str, email: str = "", department: str = "",
                  manager_employee_id: str = "", actor: Any) -> PersonSynced:
    """Create or update one directory person, as one line of a directory import would.

    Changes: creates or updates the ``Person`` and its manager; links it to the account with
    the same email (case-insensitive); when an existing person's manager changed, re-evaluates
    the open cases below them (``conflicts_after_directory_change``). Audits
    ``directory.person_synced`` naming the fields that changed (never their values). A sync
    that changes nothing writes nothing and audits nothing, so the HR system may repeat it.
    Raises ``InvalidInput`` field by field (the import's rules, and an unknown manager or a
    management chain that would loop).
    """
    eid = (employee_id or "").strip()
    values = {"name": (name or "").strip(), "email": (email or "").strip().lower(),
              "department": (department or "").strip()}
    manager_eid = (manager_employee_id or "").strip()
    errors = _person_errors(eid, values, manager_eid)
    if errors:
        raise InvalidInput(errors)
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
        linked = _link_by_email({values["email"]}) if values["email"] else 0
        # A new manager above an accused person is conflicted from now on; an old one stays
        # conflicted (only compliance removes a conflict). A new person has no cases below
        # them yet.
        reevaluated = (conflicts_after_directory_change(moved_person_ids={person.pk}, actor=actor)
                       if "manager" in changed and not created else 0)
        audit.record(action=Action.DIRECTORY_PERSON_SYNCED, actor=actor, target=("person", eid),
                     payload={"created": created, "changed": list(changed), "linked": linked,
                              "cases_reevaluated": reevaluated})
    return PersonSynced(person=person, created=created, changed=changed)

