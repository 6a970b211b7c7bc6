"""Queue pages: a fixed number of database queries whatever their size, and acknowledging
straight from the queue."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from complaints.models import Category, Complaint
from complaints.services import complaint_acknowledge, complaint_submit
from complaints.services.next_due import next_due_refresh
from escalation.models import Deadline


def _cases(n: int, reporter: Any, subject: str, hr_reviewer: Any) -> None:
    """n cases: half acknowledged by (so assigned to) the reviewer and escalated, half
    unassigned; every deadline overdue. Every queue then has rows."""
    for i in range(n):
        complaint = complaint_submit(reporter=reporter, category=Category.BULLYING,
                                     summary=f"s{i}", narrative="n", subjects=[subject]).complaint
        if i % 2:
            complaint_acknowledge(complaint=complaint, actor=hr_reviewer)
    Deadline.objects.update(due_at=timezone.now() - timedelta(hours=1))
    next_due_refresh(list(Complaint.objects.values_list("pk", flat=True)))
    Complaint.objects.exclude(assignee=None).update(escalation_level=1)


@pytest.mark.parametrize("queue", ["mine", "unassigned", "overdue", "escalated"])
def test_each_queue_page_costs_the_same_queries_with_2_or_60_cases(
        queue: str, reporter: Any, org: dict[str, Any], hr_reviewer: Any) -> None:
    client = Client()
    client.force_login(hr_reviewer)

    def cost(**params: Any) -> int:
        with CaptureQueriesContext(connection) as captured:
            response = client.get("/staff/", {"queue": queue, **params})
            assert response.status_code == 200
            assert response.context["queue"].page.object_list
        return len(captured)

    _cases(2, reporter, org["accused"].employee_id, hr_reviewer)
    small = cost()
    # The session, the user, their roles, their directory person; the four counts in one
    # statement; the page (the paginator is told its count, not asked to count again).
    assert small == 6
    _cases(58, reporter, org["accused"].employee_id, hr_reviewer)
    assert cost() == small
    assert cost(category=Category.BULLYING, state="submitted" if queue in (
        "unassigned", "overdue") else "acknowledged") == small
    if queue in ("unassigned", "overdue"):
        assert cost(page=2) == small


def test_a_reviewer_acknowledges_from_the_queue_and_returns_to_it(
        filed: Complaint, hr_reviewer: Any, investigator: Any) -> None:
    client = Client()
    client.force_login(hr_reviewer)
    page = client.get("/staff/", {"queue": "unassigned"}).content.decode()
    assert f"/staff/cases/{filed.reference}/transitions/acknowledge/" in page
    answer = client.post(f"/staff/cases/{filed.reference}/transitions/acknowledge/",
                         {"next": "queue", "queue": "unassigned"})
    assert answer.status_code == 302 and answer["Location"] == "/staff/?queue=unassigned"
    acknowledged = Complaint.objects.get(pk=filed.pk)
    assert acknowledged.state == "acknowledged" and acknowledged.assignee == hr_reviewer
    # Someone whose role does not handle intake is offered no such button.
    other = Client()
    other.force_login(investigator)
    assert "/transitions/acknowledge/" not in other.get("/staff/").content.decode()


def test_each_row_shows_the_case_at_a_glance(reporter: Any, org: dict[str, Any],
                                             hr_reviewer: Any) -> None:
    """Reference, a critical case's tag, labels, the nearest deadline in the reader's time
    and whether it is past, the assignee (none yet), and a labelled acknowledge button."""
    subject = org["accused"].employee_id
    critical = complaint_submit(reporter=reporter, category=Category.SEXUAL_ASSAULT,
                                summary="s", narrative="n", subjects=[subject]).complaint
    late = complaint_submit(reporter=reporter, category=Category.BULLYING, summary="s",
                            narrative="n", subjects=[subject]).complaint
    Deadline.objects.filter(complaint=late).update(due_at=timezone.now() - timedelta(hours=2))
    next_due_refresh([late.pk])
    client = Client()
    client.force_login(hr_reviewer)
    page = client.get("/staff/", {"queue": "unassigned"}).content.decode()
    rows = {ref: page[page.index(f'<a href="/staff/cases/{ref}/">'):].split("</tr>")[0]
            for ref in (critical.reference, late.reference)}

    critical.refresh_from_db()
    due = timezone.localtime(critical.next_due_at)
    assert f"{critical.reference}</a> <span class=\"tag\">critical</span>" in rows[
        critical.reference]
    assert "<td>Sexual assault</td><td>Submitted</td>" in rows[critical.reference]
    assert f"<span>{due.day} {due:%b %Y %H:%M}</span>" in rows[critical.reference]
    assert 'class="overdue"' not in rows[critical.reference]
    assert "<td>0</td><td>—</td>" in rows[critical.reference]
    assert f'aria-label="Acknowledge {critical.reference}">Acknowledge</button>' in rows[
        critical.reference]

    late.refresh_from_db()
    due = timezone.localtime(late.next_due_at)
    assert 'class="tag"' not in rows[late.reference]
    assert (f'<span class="overdue">{due.day} {due:%b %Y %H:%M} (overdue)</span>'
            in rows[late.reference])


def test_counts_of_nothing_are_zero_and_a_joined_rule_is_counted_right(
        filed: Complaint, hr_reviewer: Any) -> None:
    """A rule that can match nothing counts 0, and one that needs another table counts
    what it keeps."""
    from django.db.models import Q

    from complaints.selectors import _counts

    everything = Complaint.objects.all()
    assert _counts(Complaint.objects.none(), {"a": Q(), "b": Q(pk=filed.pk)}) == {"a": 0, "b": 0}
    assert _counts(everything, {"all": Q(), "none": Q(pk__in=[]), "it": Q(pk=filed.pk)}) == {
        "all": 1, "none": 0, "it": 1}
    Complaint.objects.filter(pk=filed.pk).update(assignee=hr_reviewer)
    by_name = Q(assignee__username=hr_reviewer.username)
    assert _counts(everything, {"joined": by_name, "other": ~by_name}) == {
        "joined": 1, "other": 0}
    assert _counts(everything.filter(by_name), {"all": Q(), "it": Q(pk=filed.pk)}) == {
        "all": 1, "it": 1}


def test_a_broken_translation_of_the_acknowledge_label_falls_back_to_english(
        filed: Complaint, hr_reviewer: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """As blocktranslate does: the page still renders, its button labelled in English."""
    from complaints.views import staff

    monkeypatch.setattr(staff, "_", lambda message: (
        "Bestätigen %(referenz)s" if message == "Acknowledge %(ref)s" else message))
    client = Client()
    client.force_login(hr_reviewer)
    page = client.get("/staff/", {"queue": "unassigned"})
    assert page.status_code == 200
    assert f'aria-label="Acknowledge {filed.reference}"' in page.content.decode()
