"""HR staff in the browser: working the queue, and not finding a case they are conflicted on."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from complaints import access
from complaints.models import Category, Complaint, State
from complaints.services import complaint_submit
from tests.browser.conftest import Shoot, SignIn, submit
from tests.factories import PersonFactory, UserFactory

pytestmark = pytest.mark.services

QUEUE_TABS = ["Mine", "Unassigned", "Overdue", "Escalated to me"]


def _file(subject: str, summary: str) -> Complaint:
    return complaint_submit(
        reporter=None, anonymous=True, category=Category.BULLYING, summary=summary,
        narrative="He shouts at me in meetings.", subjects=[subject]).complaint


def _queue_tab(page: Page, label: str) -> Any:
    return page.get_by_role("navigation", name="Queues").get_by_role(
        "link", name=label)


def _state(page: Page) -> Any:
    """The case's state as the workspace shows it: the definition after "State"."""
    return page.get_by_role("term").filter(has_text=re.compile(r"^State$")).locator(
        "xpath=following-sibling::dd[1]")


def test_a_reviewer_acknowledges_a_case_from_the_unassigned_queue(
    page: Page, shoot: Shoot, sign_in: SignIn, hr_reviewer: Any, org: dict[str, Any]
) -> None:
    complaint = _file(org["accused"].employee_id, "Shouted at in the weekly meeting")
    reference = complaint.reference
    assert complaint.state == State.SUBMITTED and complaint.assignee_id is None

    sign_in(page, hr_reviewer)
    page.goto("/staff/")
    _queue_tab(page, "Unassigned").click()
    expect(_queue_tab(page, "Unassigned")).to_have_attribute("aria-current", "page")
    shoot(page, "unassigned-queue")
    page.get_by_role("link", name=reference, exact=True).click()

    expect(page.get_by_role("heading", name=f"Case {reference}", level=1)).to_be_visible()
    expect(_state(page)).to_have_text("Submitted")
    expect(page.get_by_text("Shouted at in the weekly meeting")).to_be_visible()
    shoot(page, "case-submitted")
    submit(page, page.get_by_role("button", name="Acknowledge", exact=True))

    expect(page.get_by_role("status")).to_contain_text("acknowledge", ignore_case=True)
    expect(_state(page)).to_have_text("Acknowledged")
    expect(page.get_by_role("definition").filter(has_text=hr_reviewer.username)).to_be_visible()
    expect(page.get_by_role("button", name="Acknowledge", exact=True)).to_have_count(0)
    shoot(page, "case-acknowledged")
    complaint.refresh_from_db()
    assert complaint.state == State.ACKNOWLEDGED
    assert complaint.assignee_id == hr_reviewer.pk

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Case queues").click()
    _queue_tab(page, "Mine").click()
    expect(page.get_by_role("link", name=reference, exact=True)).to_be_visible()
    shoot(page, "now-in-my-queue")


def test_a_reviewer_who_manages_the_accused_never_finds_the_case(
    page: Page, shoot: Shoot, sign_in: SignIn, hr_reviewer: Any, org: dict[str, Any]
) -> None:
    # The accused's line manager also holds the HR reviewer role.
    line_manager = UserFactory(username="line_manager", roles=[access.HR_REVIEWER])
    org["manager"].user = line_manager
    org["manager"].save()
    hidden = _file(org["accused"].employee_id, "Groped at the office party")
    # A case outside the manager's line, so the queue is seen to list cases for them.
    PersonFactory(employee_id="ELSE1", name="Somebody Else")
    seen = _file("ELSE1", "Expenses claimed twice")
    # hr_reviewer is clear of both, so routing leaves both unassigned: the hidden case is
    # one the unassigned queue would list if conflicts were not applied.
    for case in (hidden, seen):
        assert case.assignee_id is None and case.state == State.SUBMITTED

    sign_in(page, line_manager)
    page.goto("/staff/")
    for tab in QUEUE_TABS:
        _queue_tab(page, tab).click()
        expect(_queue_tab(page, tab)).to_have_attribute("aria-current", "page")
        shoot(page, f"queue-{tab}")
        expect(page.get_by_text(hidden.reference)).to_have_count(0)
        expect(page.get_by_text("Groped at the office party")).to_have_count(0)
        if tab == "Unassigned":
            expect(page.get_by_role("link", name=seen.reference, exact=True)).to_be_visible()

    response = page.goto(f"/staff/cases/{hidden.reference}/")
    assert response is not None
    assert response.status == 404
    expect(page.get_by_text("Groped at the office party")).to_have_count(0)
    shoot(page, "hidden-case-url")

    response = page.goto(f"/staff/cases/{seen.reference}/")
    assert response is not None
    assert response.status == 200
    expect(page.get_by_role("heading", name=f"Case {seen.reference}", level=1)).to_be_visible()
    shoot(page, "other-case-opens")
