"""The compliance dashboard in the browser: its server-drawn SVG charts are there and drawn."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from complaints.models import Category
from complaints.services import complaint_acknowledge, complaint_submit
from tests.browser.conftest import Shoot, SignIn

pytestmark = pytest.mark.services

CHARTS = [
    "Time to acknowledge",
    "Deadline breaches per month",
    "Open cases by age",
    "Escalations by level",
    "Escalations by handler notified",
    "Cases by category",
]


def test_the_compliance_dashboard_shows_its_charts(
    page: Page, shoot: Shoot, sign_in: SignIn, compliance: Any, hr_reviewer: Any,
    org: dict[str, Any]
) -> None:
    for category in (Category.BULLYING, Category.BULLYING, Category.DISCRIMINATION):
        filed = complaint_submit(
            reporter=None, anonymous=True, category=category, summary="s",
            narrative="what happened", subjects=[org["accused"].employee_id]).complaint
    complaint_acknowledge(complaint=filed, actor=hr_reviewer)

    sign_in(page, compliance)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Compliance").click()
    expect(page.get_by_role("heading", name="Compliance dashboard", level=1)).to_be_visible()
    shoot(page, "dashboard")

    charts = page.get_by_role("img")
    expect(charts).to_have_count(len(CHARTS))
    for title in CHARTS:
        chart = page.get_by_role("img", name=title)
        expect(chart).to_be_visible()
        chart.scroll_into_view_if_needed()
        box = chart.bounding_box()
        assert box is not None and box["width"] > 200 and box["height"] > 20, (title, box)
        assert chart.evaluate("el => el.namespaceURI") == "http://www.w3.org/2000/svg"

    # Bars are drawn to scale: two bullying reports, one discrimination.
    by_category = page.get_by_role("img", name="Cases by category")
    widths = by_category.locator("rect").evaluate_all(
        "rects => rects.map(r => r.getBBox().width)")
    drawn = sorted(w for w in widths if w > 0)
    assert len(drawn) == 2, widths
    assert drawn[1] == pytest.approx(2 * drawn[0], rel=0.05), widths
    figures = page.get_by_role("table", name=re.compile(r"^Cases by category"))
    expect(figures.get_by_role("row").filter(has_text="Bullying")).to_have_text(
        re.compile(r"Bullying\s*2"))
