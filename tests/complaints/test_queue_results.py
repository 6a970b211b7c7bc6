"""The queues answer exactly what they answered before they were made fast: the same rows,
in the same order, with the same counts, for every kind of member of staff, with filters
and across pages. The reference below is the original, straightforward definition (a join
to the investigation, one OR for conflicts, the next deadline as an aggregate over a join);
``staff_queue`` must agree with it on a varied caseload."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.core.paginator import Paginator
from django.db.models import Count, F, Min, Q, QuerySet
from django.utils import timezone

from complaints import access, selectors
from complaints.access import COMMITTEE_LEVEL, HR_REVIEWER_STATES, person_id_of
from complaints.models import (
    AUDIT_COMMITTEE_CATEGORIES,
    OPEN_STATES,
    Category,
    Complaint,
    Conflict,
    Investigation,
    Severity,
    State,
)
from complaints.selectors import QUEUES, staff_queue
from complaints.services.next_due import next_due_refresh
from escalation.models import Deadline, Kind
from tests.factories import ComplaintFactory, PersonFactory, UserFactory

PAGE_SIZE = 4


def _reference_visible(user: Any) -> QuerySet[Complaint]:
    held = access.roles_of(user)
    queryset = Complaint.objects.all()
    if not held & {access.COMPLIANCE_OFFICER, access.HR_LEAD}:
        covered = Q(assignee=user) | Q(co_owner=user) | Q(investigation__investigator=user)
        if access.HR_REVIEWER in held:
            covered |= Q(state__in=HR_REVIEWER_STATES)
        if access.AUDIT_COMMITTEE in held:
            covered |= Q(escalation_level__gte=COMMITTEE_LEVEL)
            covered |= Q(category__in=AUDIT_COMMITTEE_CATEGORIES)
        queryset = queryset.filter(covered)
    named = Q(user_id=user.pk)
    if person_id_of(user) is not None:
        named |= Q(person_id=person_id_of(user))
    conflicted = Conflict.objects.filter(named).values("complaint_id")
    return queryset.exclude(reporter_user=user).exclude(pk__in=conflicted)


def _reference_q(user: Any, name: str, now: datetime) -> Q:
    if name == "mine":
        return Q(assignee=user) | Q(co_owner=user) | Q(investigation__investigator=user)
    if name == "unassigned":
        return Q(assignee=None)
    if name == "overdue":
        return Q(pk__in=Deadline.objects.filter(closed_at=None, paused_at=None,
                                                due_at__lt=now).values("complaint_id"))
    to_me = Q(assignee=user) | Q(co_owner=user)
    if access.AUDIT_COMMITTEE in access.roles_of(user):
        to_me |= Q(escalation_level__gte=COMMITTEE_LEVEL)
    return Q(escalation_level__gt=0) & to_me


def _reference(user: Any, name: str, now: datetime, page: int, **filters: str
               ) -> tuple[dict[str, int], int, list[tuple[int, Any]]]:
    base = _reference_visible(user).filter(state__in=OPEN_STATES)
    base = base.filter(**{k: v for k, v in filters.items() if v})
    counts = base.aggregate(**{
        queue: Count("pk", filter=_reference_q(user, queue, now), distinct=True)
        for queue in QUEUES})
    running = Q(deadlines__closed_at=None, deadlines__paused_at=None)
    rows = (base.filter(_reference_q(user, name, now))
            .annotate(next_due=Min("deadlines__due_at", filter=running))
            .order_by(F("next_due").asc(nulls_last=True), "submitted_at", "pk"))
    found = Paginator(rows, PAGE_SIZE).get_page(page)
    return counts, found.paginator.count, [(c.pk, c.next_due) for c in found]


@pytest.fixture
def caseload(db: None) -> dict[str, Any]:
    """Forty-odd cases in every state, category and escalation level, handled, co-owned,
    investigated, reported and conflicted by the people below, with running, paused,
    closed, overdue and tied deadlines."""
    rng = random.Random(20261125)
    boss = PersonFactory(employee_id="BOSS")
    people = {
        "reviewer": UserFactory(username="q_reviewer", roles=[access.HR_REVIEWER]),
        # A reviewer who also investigates, and who filed complaints of their own.
        "reviewer_investigator": UserFactory(username="q_rev_inv",
                                             roles=[access.HR_REVIEWER, access.INVESTIGATOR]),
        "lead": UserFactory(username="q_lead", roles=[access.HR_LEAD]),
        # Above the accused in the directory: conflicted by person.
        "conflicted_lead": UserFactory(username="q_conflicted", roles=[access.HR_LEAD]),
        "investigator": UserFactory(username="q_investigator", roles=[access.INVESTIGATOR]),
        "compliance": UserFactory(username="q_compliance", roles=[access.COMPLIANCE_OFFICER]),
        "committee": UserFactory(username="q_committee", roles=[access.AUDIT_COMMITTEE]),
    }
    boss.user = people["conflicted_lead"]
    boss.save()
    handlers = [None, people["reviewer"], people["reviewer_investigator"], people["lead"],
                people["conflicted_lead"], people["compliance"]]
    now = timezone.now().replace(microsecond=0)
    tied_due, tied_submitted = now + timedelta(days=2), now - timedelta(days=9)
    states = list(State.values)
    for i in range(48):
        submitted = tied_submitted if i % 7 == 0 else now - timedelta(hours=rng.randrange(1, 900))
        complaint = ComplaintFactory(
            state=states[i % len(states)], category=rng.choice(Category.values),
            severity=rng.choice(Severity.values), escalation_level=rng.choice([0, 0, 1, 2, 3]),
            assignee=rng.choice(handlers), submitted_at=submitted,
            co_owner=people["compliance"] if i % 5 == 0 else None,
            reporter_user=people["reviewer_investigator"] if i % 6 == 1 else None)
        if i % 3 == 0:
            Investigation.objects.create(
                complaint=complaint, started_at=now,
                investigator=rng.choice([people["investigator"],
                                         people["reviewer_investigator"]]))
        if i % 4 == 0:
            Conflict.objects.create(complaint=complaint, person=boss, source="chain",
                                    created_at=now)
        if i % 9 == 0:
            Conflict.objects.create(complaint=complaint, user=people["reviewer"],
                                    source="declared", created_at=now)
        for kind in rng.sample(list(Kind.values), rng.randrange(0, 4)):
            due = tied_due if i % 8 == 0 else now + timedelta(hours=rng.randrange(-100, 400))
            Deadline.objects.create(
                complaint=complaint, kind=kind, started_at=now - timedelta(days=1), due_at=due,
                paused_at=now if rng.random() < 0.2 else None,
                closed_at=now if rng.random() < 0.25 else None)
    # Written directly, not by the services that keep next_due_at: set it as they would.
    next_due_refresh(list(Complaint.objects.values_list("pk", flat=True)))
    assert person_id_of(people["conflicted_lead"]) == boss.pk
    return {"people": people, "now": now}


FILTERS = [{}, {"category": Category.BULLYING}, {"severity": Severity.CRITICAL},
           {"state": State.ACKNOWLEDGED}, {"category": Category.FRAUD, "state": State.SUBMITTED}]


@pytest.mark.parametrize("who", ["reviewer", "reviewer_investigator", "lead", "conflicted_lead",
                                 "investigator", "compliance", "committee"])
def test_every_queue_answers_as_the_original_definition(
        caseload: dict[str, Any], who: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(selectors, "PAGE_SIZE", PAGE_SIZE)
    user, now = caseload["people"][who], caseload["now"]
    for filters in FILTERS:
        for name in QUEUES:
            counts, total, _ = _reference(user, name, now, 1, **filters)
            for page in range(1, max(1, -(-total // PAGE_SIZE)) + 1):
                expected = _reference(user, name, now, page, **filters)
                found = staff_queue(user, name=name, page=page, now=now, **filters)
                got = (found.counts, found.page.paginator.count,
                       [(c.pk, c.next_due) for c in found.page])
                assert got == expected, (who, name, filters, page)
                # The API slices the same rows by its own page size.
                listed = found.page.paginator.object_list[(page - 1) * PAGE_SIZE:page * PAGE_SIZE]
                assert [c.pk for c in listed] == [pk for pk, _ in expected[2]]


def test_the_caseload_exercises_every_queue(caseload: dict[str, Any]) -> None:
    """The comparison above means something: each queue has rows for someone, several
    pages for someone, and conflicts and a staff reporter hide cases."""
    people, now = caseload["people"], caseload["now"]
    sizes = {who: staff_queue(user, now=now).counts for who, user in people.items()}
    for name in QUEUES:
        assert any(counts[name] for counts in sizes.values()), name
    assert any(n > PAGE_SIZE for counts in sizes.values() for n in counts.values())
    lead = _reference_visible(people["lead"]).filter(state__in=OPEN_STATES).count()
    conflicted = _reference_visible(people["conflicted_lead"]).filter(
        state__in=OPEN_STATES).count()
    assert conflicted < lead
    assert Complaint.objects.filter(reporter_user=people["reviewer_investigator"],
                                    state__in=OPEN_STATES).exists()
