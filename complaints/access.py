"""Who may see or do what: the one module that answers it (DESIGN.md, "Users and roles",
"Conflicts of interest").

- Roles are Django groups with the contract's exact names.
- A principal is a signed-in ``User`` or a ``ReporterPrincipal`` (an anonymous reporter
  holding the receipt key). Staff never act on a case they are conflicted on, nor on one
  they reported themselves.
- Conflicted for a complaint: every subject, everyone above a subject in the management
  chain, anyone who declares a conflict, and anyone the reporter names. They are kept as
  ``Conflict`` rows (complaints/services/conflicts.py writes them), so a check is one
  indexed lookup and a queue excludes them with indexed NOT EXISTS. A row stops counting
  only once compliance's removal of it was approved (``removed_at``).
- Need-to-know: a case is visible when the user's role covers its stage, or it is
  assigned, co-owned, under investigation by or escalated to them; never when they are
  conflicted on it or reported it. ``visible_complaints`` is the one definition: queues
  filter with it, and the single-case check (``may_view``, registered with ``rules`` as
  ``complaints.view_complaint``) asks it about one row.
- Who may take each transition: ``TRANSITION_RULES``, asked by the lifecycle services
  (``may_take``) and by ``available_transitions``.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import reduce
from typing import Any

import rules
from django.contrib.auth import get_user_model
from django.db.models import Exists, OuterRef, Q, QuerySet

from audit.models import AuditEvent
from audit.services import SYSTEM, ActorRef
from complaints.models import (
    AUDIT_COMMITTEE_CATEGORIES,
    Complaint,
    Conflict,
    ConflictRemoval,
    Investigation,
    Person,
    State,
)

# --- Roles ----------------------------------------------------------------------------

HR_REVIEWER = "hr_reviewer"
HR_LEAD = "hr_lead"
INVESTIGATOR = "investigator"
COMPLIANCE_OFFICER = "compliance_officer"
AUDIT_COMMITTEE = "audit_committee"
# The HR system's service account: writes the directory and nothing else. Not a staff
# role (not in ALL_ROLES), so it reaches no case, queue or staff page.
DIRECTORY_SYNC = "directory_sync"

# The staff roles: who may be given cases.
ALL_ROLES = (HR_REVIEWER, HR_LEAD, INVESTIGATOR, COMPLIANCE_OFFICER, AUDIT_COMMITTEE)
# Every group the product knows, for seeding.
ALL_GROUPS = (*ALL_ROLES, DIRECTORY_SYNC)
# Who works the intake queue, and who may be the second person on a decision.
HANDLERS = frozenset({HR_REVIEWER, HR_LEAD, COMPLIANCE_OFFICER})
DECIDERS = frozenset({HR_LEAD, COMPLIANCE_OFFICER})


def roles_of(user: Any) -> frozenset[str]:
    """The user's role names, read once per user object."""
    if not getattr(user, "is_authenticated", False) or not hasattr(user, "groups"):
        return frozenset()
    cached = getattr(user, "_complaint_roles", None)
    if cached is None:
        cached = frozenset(user.groups.filter(name__in=ALL_ROLES).values_list("name", flat=True))
        user._complaint_roles = cached
    return cached


def has_role(user: Any, roles: frozenset[str] | set[str]) -> bool:
    return not roles_of(user).isdisjoint(roles)


def is_directory_sync(user: Any) -> bool:
    """Whether this account is the HR system's, the only writer of the directory."""
    if not getattr(user, "is_authenticated", False) or not hasattr(user, "groups"):
        return False
    return bool(user.groups.filter(name=DIRECTORY_SYNC).exists())


# --- Conflicts of interest -------------------------------------------------------------

def active_conflicts() -> QuerySet[Any]:
    """The conflicts that apply: every row but those whose removal was approved."""

    return Conflict.objects.filter(removed_at=None)


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


def recipient_conflicted(complaint: str | int = "complaint_id",
                         user: str = "recipient_id") -> Exists:
    """For a queryset of rows naming a complaint and an account (a notification's), true
    where that account is conflicted on that complaint: by account or by its person. With
    a complaint id for ``complaint``, for a queryset of accounts (``user="pk"``)."""
    on = OuterRef(complaint) if isinstance(complaint, str) else complaint
    return Exists(active_conflicts().filter(complaint_id=on).filter(
        Q(user_id=OuterRef(user)) | Q(person__user_id=OuterRef(user))))


def not_conflicted(user: Any) -> Q:
    """For a queryset of complaints: true where this user is not conflicted. A NOT EXISTS
    for each way of being named, which PostgreSQL turns into anti-joins (a NOT over an OR of
    them it can only test case by case)."""
    return reduce(operator.and_, (~Q(named) for named in _named(user)))


def remember(complaint: Complaint, user_id: int, conflicted: bool) -> None:
    complaint.__dict__.setdefault("_conflicted_users", {})[user_id] = conflicted


def is_conflicted(user: Any, complaint: Complaint) -> bool:
    """True when this user may not see, handle or hear about this complaint."""
    if not getattr(user, "is_authenticated", False) or getattr(user, "pk", None) is None:
        return False
    cache: dict[int, bool] = complaint.__dict__.setdefault("_conflicted_users", {})
    if user.pk not in cache:
        cache[user.pk] = Complaint.objects.filter(
            conflicted_exists(user), pk=complaint.pk).exists()
    return cache[user.pk]


def forget(complaint: Complaint) -> None:
    """Drop the per-object answers after the complaint's conflicts changed."""
    complaint.__dict__.pop("_conflicted_users", None)


# --- Who may take each step -------------------------------------------------------------

@dataclass(frozen=True)
class ReporterPrincipal:
    """An anonymous reporter, known only by the complaint their receipt key opens."""

    complaint_id: int
    reference: str
    is_authenticated = True

    @property
    def audit_actor(self) -> ActorRef:
        return ActorRef("reporter", self.reference)


def is_reporter(complaint: Complaint, who: Any) -> bool:
    if isinstance(who, ReporterPrincipal):
        return who.complaint_id == complaint.pk
    return (
        getattr(who, "is_authenticated", False)
        and complaint.reporter_user_id is not None
        and complaint.reporter_user_id == who.pk
    )


def _staff(complaint: Complaint, who: Any, allowed: frozenset[str]) -> bool:
    return (
        not isinstance(who, ReporterPrincipal)
        and has_role(who, allowed)
        and not is_reporter(complaint, who)
        and not is_conflicted(who, complaint)
    )


def only_the_system(complaint: Complaint, who: Any) -> bool:
    return who == SYSTEM


def may_handle(complaint: Complaint, who: Any) -> bool:
    return _staff(complaint, who, HANDLERS)


def may_decide(complaint: Complaint, who: Any) -> bool:
    return _staff(complaint, who, DECIDERS)


def may_reply(complaint: Complaint, who: Any) -> bool:
    return is_reporter(complaint, who)


def may_decide_dismissal(complaint: Complaint, who: Any) -> bool:
    # The two-person rule: whoever proposed the dismissal cannot also decide it.
    return may_decide(complaint, who) and complaint.dismissal_proposed_by_id != who.pk


def may_start_investigation(complaint: Complaint, who: Any) -> bool:
    return may_decide(complaint, who)


def may_record_findings(complaint: Complaint, who: Any) -> bool:
    investigation = getattr(complaint, "investigation", None)
    return (
        investigation is not None
        and investigation.investigator_id == getattr(who, "pk", None)
        and _staff(complaint, who, frozenset({INVESTIGATOR}))
    )


def may_decide_findings(complaint: Complaint, who: Any) -> bool:
    # The two-person rule: the investigator who recorded the findings cannot approve them.
    investigation = getattr(complaint, "investigation", None)
    return (
        may_decide(complaint, who)
        and investigation is not None
        and investigation.findings_recorded_by_id != who.pk
    )


def may_view_investigation(complaint: Complaint, who: Any) -> bool:
    # Interview notes and evidence are for the investigator and those who decide on or
    # oversee the findings, not for everyone whose role covers the case's intake.
    investigation = getattr(complaint, "investigation", None)
    if investigation is None or is_reporter(complaint, who) or is_conflicted(who, complaint):
        return False
    return (investigation.investigator_id == getattr(who, "pk", None)
            or has_role(who, DECIDERS | {AUDIT_COMMITTEE}))


def may_write_note(complaint: Complaint, who: Any) -> bool:
    # Any member of staff working the case; callers have already checked they may see it.
    investigation = getattr(complaint, "investigation", None)
    return _staff(complaint, who, HANDLERS) or (
        investigation is not None and investigation.investigator_id == getattr(who, "pk", None)
        and _staff(complaint, who, frozenset({INVESTIGATOR})))


def may_withdraw(complaint: Complaint, who: Any) -> bool:
    # The reporter may always ask; a critical complaint's withdrawal is then compliance's
    # decision, so only compliance takes the transition once it has been asked for.
    if is_reporter(complaint, who):
        return complaint.withdrawal_requested_at is None
    return (
        complaint.is_critical
        and complaint.withdrawal_requested_at is not None
        and _staff(complaint, who, frozenset({COMPLIANCE_OFFICER}))
    )


def may_reopen(complaint: Complaint, who: Any) -> bool:
    # A purged case has nothing left to reopen: its narrative and parties are gone.
    return complaint.purged_at is None and may_decide(complaint, who)


def may_decline_withdrawal(complaint: Complaint, who: Any) -> bool:
    return complaint.withdrawal_requested_at is not None and _staff(
        complaint, who, frozenset({COMPLIANCE_OFFICER})
    )


# Who may take each transition of the lifecycle (complaints.models.Complaint), by name.
TRANSITION_RULES: dict[str, Callable[[Complaint, Any], bool]] = {
    "acknowledge": may_handle,
    "request_information": may_handle,
    "reporter_replies": may_reply,
    "reply_window_expired": only_the_system,
    "propose_dismissal": may_handle,
    "approve_dismissal": may_decide_dismissal,
    "reject_dismissal": may_decide_dismissal,
    "start_investigation": may_start_investigation,
    "record_findings": may_record_findings,
    "approve_findings": may_decide_findings,
    "return_for_work": may_decide_findings,
    "close": may_handle,
    "withdraw": may_withdraw,
    "reopen": may_reopen,
}


def may_take(complaint: Complaint, name: str, who: Any) -> bool:
    """Whether ``who`` may take the transition ``name`` on this complaint (its state aside:
    ``django_fsm.can_proceed`` answers that)."""
    rule = TRANSITION_RULES.get(name)
    return rule is not None and rule(complaint, who)


# --- Need-to-know: what a member of staff may see ------------------------------------------

# The stages whose work an HR reviewer's role covers: intake, and closing once resolved.
HR_REVIEWER_STATES = (State.SUBMITTED, State.ACKNOWLEDGED, State.AWAITING_REPORTER,
                      State.DISMISSAL_PROPOSED, State.RESOLVED)
# The audit committee hears of cases at the top of the escalation ladder, and of SOX ones.
COMMITTEE_LEVEL = 3


def _role_q(user: Any) -> Q | None:
    """Cases the user's roles cover; None when they cover every case."""
    held = roles_of(user)
    if held & {COMPLIANCE_OFFICER, HR_LEAD}:
        # Compliance reads everything not conflicted; senior HR assigns, decides and
        # reopens at every stage.
        return None
    covered = Q(assignee=user) | Q(co_owner=user) | _investigating(user, held)
    if HR_REVIEWER in held:
        covered |= Q(state__in=HR_REVIEWER_STATES)
    if AUDIT_COMMITTEE in held:
        covered |= Q(escalation_level__gte=COMMITTEE_LEVEL)
        covered |= Q(category__in=AUDIT_COMMITTEE_CATEGORIES)
        # The second person on a conflict's removal reads the case to judge it.
        covered |= Q(pk__in=ConflictRemoval.objects.filter(decided_at=None)
                     .values("complaint_id"))
    return covered


def _investigating(user: Any, held: frozenset[str]) -> Q:
    """Cases the user investigates. Not a join to the investigation, which makes every row
    drag its investigation along (and a count need DISTINCT); which of two equivalent forms
    depends on how many investigations the user can have. An investigator may have
    thousands, most of them closed: EXISTS, which PostgreSQL answers with a probe per case
    or one hash, whichever is cheaper. Anyone else has few or none: IN, one hash of them.
    (An EXISTS is costed as a probe per case even when hashed, which sets the planner
    against the index-only plans of the queues and, on a whole caseload, on JIT
    compilation.)"""
    if INVESTIGATOR in held:
        return Q(Exists(Investigation.objects.filter(complaint=OuterRef("pk"),
                                                     investigator=user)))
    return Q(pk__in=Investigation.objects.filter(investigator=user).values("complaint_id"))


def is_staff_member(user: Any) -> bool:
    return bool(roles_of(user))


def visible_complaints(user: Any) -> QuerySet[Complaint]:
    """Every complaint this member of staff may see; none for anyone else."""
    if not is_staff_member(user):
        return Complaint.objects.none()
    covered = _role_q(user)
    queryset = Complaint.objects.all() if covered is None else Complaint.objects.filter(covered)
    return queryset.exclude(reporter_user=user).filter(not_conflicted(user))


@rules.predicate
def may_view(user: Any, complaint: Complaint | None) -> bool:
    if complaint is None or not getattr(user, "is_authenticated", False):
        return False
    return visible_complaints(user).filter(pk=complaint.pk).exists()


rules.add_perm("complaints.view_complaint", may_view)


def visible_events(user: Any) -> QuerySet[AuditEvent]:
    """Every event this reader may see: all but those about cases hidden from them."""
    references = visible_complaints(user).values("reference")
    return AuditEvent.objects.filter(
        (~Q(target_type="complaint") | Q(target_id__in=references))
        & (~Q(actor_type=AuditEvent.ActorType.REPORTER) | Q(actor_id__in=references))
    )
