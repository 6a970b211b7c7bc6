"""Filing a complaint, signed in or anonymously."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext

from audit import services as audit
from audit.actions import Action
from complaints.access import (
    AUDIT_COMMITTEE,
    COMPLIANCE_OFFICER,
    HR_LEAD,
    HR_REVIEWER,
    Conflicted,
    ReporterPrincipal,
    conflicted_on,
    recipient_conflicted,
)
from complaints.errors import InvalidInput
from complaints.models import (
    AUDIT_COMMITTEE_CATEGORIES,
    CRITICAL_CATEGORIES,
    Category,
    Complaint,
    Person,
    Severity,
    Subject,
    Witness,
    new_reference,
)
from complaints.receipts import new_receipt_key, receipt_key_hash
from complaints.services.conflicts import conflicts_start
from complaints.services.next_due import next_due_refresh
from escalation.models import Notification
from escalation.services import notifications
from escalation.services.deadlines import deadlines_follow

SUMMARY_MAX = 200
NARRATIVE_MAX = 50_000
SUBJECTS_MAX = 20


@dataclass(frozen=True)
class Filed:
    complaint: Complaint
    receipt_key: str | None  # shown once to an anonymous reporter, stored only as a hash


def _wanted(given: list[str] | None) -> list[str]:
    return [s.strip() for s in given or [] if s and s.strip()]


def _read_directory(employee_ids: set[str], reporter: Any | None
                    ) -> tuple[dict[str, Person], Person | None]:
    """The people these employee ids name, and the reporter's own entry: one query for the
    form's every field and the reporter."""
    if not employee_ids and reporter is None:
        return {}, None
    match = Q(employee_id__in=employee_ids)
    if reporter is not None:
        match |= Q(user_id=reporter.pk)
    found = list(Person.objects.filter(match).order_by())
    by_id = {p.employee_id: p for p in found if p.employee_id in employee_ids}
    own = next((p for p in found if reporter is not None and p.user_id == reporter.pk), None)
    return by_id, own


def _people(field: str, given: list[str], by_id: dict[str, Person],
            errors: dict[str, list[str]]) -> tuple[list[Person], list[str]]:
    """Directory people by employee id (``by_id``, read beforehand for every field); anything
    else is kept as a name the reporter typed."""
    if len(given) > SUBJECTS_MAX:
        errors[field] = [gettext("Name at most %(count)s people.") % {"count": SUBJECTS_MAX}]
    wanted = _wanted(given)
    people = {e: by_id[e] for e in wanted if e in by_id}
    typed = [s for s in wanted if s not in people]
    if any(len(name) > 200 for name in typed):
        errors.setdefault(field, []).append(gettext("A name is longer than 200 characters."))
        return list(people.values()), typed
    # Reporters type names far more often than employee ids. A name (or a work address)
    # that is exactly one person in the directory is that person, so the conflict rules
    # reach them and their whole management chain; a name several people share must be
    # told apart, or the wrong chain would be kept away and the right one let in.
    kept = []
    for name, found in _directory_matches(typed).items():
        if len(found) == 1:
            people[found[0].employee_id] = found[0]
        elif found:
            errors.setdefault(field, []).append(gettext(
                "Several people in the directory are called %(name)s. Write the employee id "
                "of the one you mean instead: %(choices)s.") % {
                    "name": name, "choices": "; ".join(
                        f"{p.employee_id} ({p.department})" if p.department else p.employee_id
                        for p in found)})
        else:
            kept.append(name)
    return list(people.values()), kept


def _directory_matches(typed: list[str]) -> dict[str, list[Person]]:
    """Each typed entry with the directory people whose name or address it is, ignoring
    case; one query for all of them."""
    if not typed:
        return {}
    wanted = Q()
    for entry in typed:
        wanted |= Q(email__iexact=entry) if "@" in entry else Q(name__iexact=entry)
    candidates = list(Person.objects.filter(wanted).order_by("employee_id")[:200])
    return {entry: [p for p in candidates
                    if (p.email if "@" in entry else p.name).casefold() == entry.casefold()]
            for entry in typed}


def _validate(category: str, summary: str, narrative: str,
              occurred_at: datetime | None) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if category not in Category.values:
        errors["category"] = [gettext("Choose one of: %(choices)s.")
                              % {"choices": ", ".join(Category.values)}]
    if not summary.strip():
        errors["summary"] = [gettext("Give the report a short title.")]
    elif len(summary) > SUMMARY_MAX:
        errors["summary"] = [gettext("Keep the title under %(limit)s characters.")
                             % {"limit": SUMMARY_MAX}]
    if not narrative.strip():
        errors["narrative"] = [gettext("Describe what happened.")]
    elif len(narrative) > NARRATIVE_MAX:
        errors["narrative"] = [gettext("Keep the description under %(limit)s characters.")
                               % {"limit": NARRATIVE_MAX}]
    if occurred_at is not None and occurred_at > timezone.now():
        errors["occurred_at"] = [gettext("This date is in the future.")]
    return errors


def _staff_in(role: str, complaint: Complaint, conflicted: Conflicted) -> list[Any]:
    """Active holders of a role who may handle this complaint, in a stable order."""
    users = (get_user_model().objects.filter(is_active=True, groups__name=role)
             .select_related("person").order_by("pk"))
    return [u for u in users
            if u.pk != complaint.reporter_user_id and not conflicted.includes(u)]


def _tell_audit_committee(complaint: Complaint, conflicted: Conflicted) -> None:
    # SOX 301: the audit committee receives accounting and fraud complaints on filing;
    # a member who is conflicted on this one is not told.
    notifications.enqueue([
        notifications.build(kind=Notification.Kind.FILED, complaint=complaint,
                            now=complaint.submitted_at, recipient=member)
        for member in _staff_in(AUDIT_COMMITTEE, complaint, conflicted)
    ])


def _hr_clear(complaint: Complaint) -> bool:
    """Whether an active HR handler (reviewer or lead) other than the reporter is not
    conflicted on the complaint: one EXISTS over the conflicts just written, instead of
    loading every handler to learn it."""
    handlers = (get_user_model().objects
                .filter(is_active=True, groups__name__in=(HR_REVIEWER, HR_LEAD))
                .exclude(recipient_conflicted(complaint=complaint.pk, user="pk")))
    if complaint.reporter_user_id is not None:
        handlers = handlers.exclude(pk=complaint.reporter_user_id)
    return handlers.exists()


def _route_around_hr(complaint: Complaint) -> bool:
    """When every HR handler is conflicted (the accused's chain runs through HR, say), the
    case goes to compliance from the start: a compliance officer who is not conflicted is
    assigned and told. Returns whether it was routed."""
    if _hr_clear(complaint):
        return False
    officers = _staff_in(COMPLIANCE_OFFICER, complaint, conflicted_on(complaint))
    if not officers:
        # Compliance reads every case it is not conflicted on, and the deadlines escalate
        # it further if nobody acts: the case is not lost, only unassigned.
        return False
    officer = officers[complaint.pk % len(officers)]
    Complaint.objects.filter(pk=complaint.pk).update(assignee=officer)
    complaint.assignee = officer
    notifications.enqueue([notifications.build(
        kind=Notification.Kind.ROUTED, complaint=complaint, now=complaint.submitted_at,
        recipient=officer)])
    return True


def complaint_submit(
    *,
    reporter: Any | None,
    category: str,
    summary: str,
    narrative: str,
    subjects: list[str] | None = None,
    witnesses: list[str] | None = None,
    occurred_at: datetime | None = None,
    location: str = "",
    anonymous: bool = False,
    conflicted: list[str] | None = None,
) -> Filed:
    """File a complaint.

    Changes: creates the Complaint (state ``submitted``, severity from the category) and
    its Subjects and Witnesses (employee ids, or names as typed). An anonymous complaint
    (no reporter, or ``anonymous=True``) keeps no link to any account and gets a receipt
    key, returned once and stored as an Argon2 hash. Records who is conflicted: the
    subjects, their management chains, and the people in ``conflicted`` (employee ids the
    reporter says must not handle it). When every HR handler is conflicted the case is
    assigned to compliance from the start.
    Audits ``complaint.submitted`` (category, severity, counts, routing; never the text).
    Raises ``InvalidInput`` with field-by-field messages.
    """
    anonymous = anonymous or reporter is None or not getattr(reporter, "is_authenticated", False)
    errors = _validate(category, summary, narrative, occurred_at)
    given = {"subjects": list(subjects or []), "witnesses": list(witnesses or []),
             "conflicted": list(conflicted or [])}
    by_id, reporter_person = _read_directory(
        {e for entries in given.values() for e in _wanted(entries)},
        None if anonymous else reporter)
    people, typed = _people("subjects", given["subjects"], by_id, errors)
    seen_people, seen_typed = _people("witnesses", given["witnesses"], by_id, errors)
    named_people, unknown = _people("conflicted", given["conflicted"], by_id, errors)
    # Keeping someone away can only be done to someone the directory knows: say so, rather
    # than let the reporter believe a name nobody could match will be kept out.
    for name in unknown:
        errors.setdefault("conflicted", []).append(gettext(
            "No one in the directory is called %(name)s. Check the spelling, or write their "
            "employee id or work email address.") % {"name": name})
    if errors:
        raise InvalidInput(errors)
    receipt_key = new_receipt_key() if anonymous else None
    key_hash = receipt_key_hash(receipt_key) if receipt_key else ""  # before any lock

    complaint = Complaint(
        category=category,
        severity=Severity.CRITICAL if category in CRITICAL_CATEGORIES else Severity.STANDARD,
        summary=summary.strip(), narrative=narrative, occurred_at=occurred_at,
        location=location.strip(), anonymous=anonymous, receipt_key_hash=key_hash,
        submitted_at=timezone.now(),
    )
    if not anonymous:
        complaint.reporter_user = reporter
        complaint.reporter_person = reporter_person
    for _ in range(5):
        try:
            _file(complaint, people, typed, seen_people, seen_typed, named_people)
            break
        except IntegrityError:
            # A reference collision (one in 10^11) fails the insert, and on PostgreSQL the
            # transaction with it: the whole filing is tried again under a new reference,
            # rather than paying a savepoint round trip on every filing for the rare case.
            if not Complaint.objects.filter(reference=complaint.reference).exists():
                raise
            complaint.pk = None
            complaint.reference = new_reference()
    else:
        raise RuntimeError("could not draw a free complaint reference")
    return Filed(complaint=complaint, receipt_key=receipt_key)


def _file(complaint: Complaint, people: list[Person], typed: list[str],
          seen_people: list[Person], seen_typed: list[str], named: list[Person]) -> None:
    """The filing's one transaction."""
    now = complaint.submitted_at
    with transaction.atomic():
        complaint.save(force_insert=True)
        Subject.objects.bulk_create(
            [Subject(complaint=complaint, person=p) for p in people]
            + [Subject(complaint=complaint, name_given=name) for name in typed])
        Witness.objects.bulk_create(
            [Witness(complaint=complaint, person=p) for p in seen_people]
            + [Witness(complaint=complaint, name_given=name) for name in seen_typed])
        deadlines_follow(complaint=complaint, before="", after=complaint.state, now=now)
        next_due_refresh([complaint.pk])
        complaint.refresh_from_db(fields=["next_due_at"])
        conflicts_start(complaint=complaint, subject_ids=[p.pk for p in people],
                        named_ids=[p.pk for p in named], now=now)
        routed = _route_around_hr(complaint)
        if complaint.category in AUDIT_COMMITTEE_CATEGORIES:
            _tell_audit_committee(complaint, conflicted_on(complaint))
        anonymous = complaint.anonymous
        actor = (ReporterPrincipal(complaint.pk, complaint.reference) if anonymous
                 else complaint.reporter_user)
        audit.record(
            action=Action.COMPLAINT_SUBMITTED, actor=actor, target=complaint,
            to_state=complaint.state,
            payload={"category": complaint.category, "severity": complaint.severity,
                     "subjects": len(people) + len(typed),
                     "witnesses": len(seen_people) + len(seen_typed), "anonymous": anonymous,
                     **({"named_conflicted": len(named)} if named else {}),
                     **({"routed_to": "compliance"} if routed else {})},
        )
