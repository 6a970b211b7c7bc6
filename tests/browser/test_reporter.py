"""A reporter in the browser: filing anonymously, and following up with the receipt key."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from complaints.models import Category, Complaint, Message
from complaints.receipts import normalise, receipt_key_hash
from complaints.services import complaint_submit
from tests.browser.conftest import Shoot, submit

pytestmark = pytest.mark.services

KEY_SHAPE = re.compile(r"\b([0-9A-Z]{4}(?:-[0-9A-Z]{4}){4})\b")


def test_an_anonymous_report_ends_on_a_receipt_with_its_reference_and_key(
    page: Page, shoot: Shoot, org: dict[str, Any]
) -> None:
    page.goto("/")
    page.get_by_role("navigation", name="Main").get_by_role(
        "link", name="Report a concern").click()
    expect(page.get_by_role("heading", name="Report a concern", level=1)).to_be_visible()
    shoot(page, "empty-form")

    page.get_by_label("What is it about?").select_option(label="Bullying")
    page.get_by_label("A short title").fill("Shouted at in the weekly meeting")
    page.get_by_label("What happened?").fill(
        "On Monday my team lead shouted at me in front of everyone, again.")
    page.get_by_label("Who is it about?").fill(org["accused"].employee_id)
    page.get_by_label("Where? (optional)").fill("Meeting room 2")
    page.get_by_label("Report anonymously").check()
    shoot(page, "filled-in")
    submit(page, page.get_by_role("button", name="Send report"))

    expect(page.get_by_role("heading", name="Your report has been received")).to_be_visible()
    shoot(page, "receipt")
    reference_line = page.locator("p").filter(has_text=re.compile(r"^Reference:")).inner_text()
    reference = reference_line.split(":", 1)[1].strip()
    key_line = page.locator("p").filter(has_text=re.compile(r"^Your receipt key:")).inner_text()
    shown_key = KEY_SHAPE.search(key_line)
    assert shown_key, f"no receipt key in {key_line!r}"

    complaint = Complaint.objects.get(reference=reference)
    assert complaint.anonymous
    assert complaint.reporter_user_id is None
    assert complaint.summary == "Shouted at in the weekly meeting"
    # The key on the screen is the one the report was filed under.
    issued = normalise(shown_key.group(1))
    assert issued is not None
    assert receipt_key_hash(issued) == complaint.receipt_key_hash


def test_the_receipt_key_opens_the_report_and_a_message_joins_its_thread(
    page: Page, shoot: Shoot, org: dict[str, Any]
) -> None:
    filed = complaint_submit(
        reporter=None, anonymous=True, category=Category.BULLYING, summary="Shouted at",
        narrative="He shouts at me in meetings.", subjects=[org["accused"].employee_id])
    assert filed.receipt_key
    message = "I have a recording of the meeting on 3 March, if it helps."

    page.goto("/")
    page.get_by_role("navigation", name="Main").get_by_role(
        "link", name="Follow up on a report").click()
    expect(page.get_by_role("heading", name="Follow up on a report")).to_be_visible()
    page.get_by_label("Your receipt key").fill(filed.receipt_key)
    shoot(page, "key-typed")
    submit(page, page.get_by_role("button", name="Open my report"))

    expect(page.get_by_role("heading", name=f"Your report {filed.complaint.reference}")
           ).to_be_visible()
    expect(page.locator("p").filter(has_text="Status:")).to_have_text(
        "Status: Received. It will be acknowledged soon.")
    expect(page.get_by_text("No messages yet.")).to_be_visible()
    shoot(page, "case-page")

    page.get_by_label(re.compile(r"^Message\b")).fill(message)
    submit(page, page.get_by_role("button", name="Send message"))

    expect(page.get_by_role("status")).to_contain_text("sent")
    expect(page.get_by_text(message)).to_be_visible()
    expect(page.get_by_text("No messages yet.")).to_have_count(0)
    shoot(page, "message-in-thread")
    sent = Message.objects.get(complaint=filed.complaint)
    assert sent.from_reporter
    assert sent.body == message


def test_every_visible_control_on_the_report_form_has_an_accessible_name(
    page: Page, shoot: Shoot
) -> None:
    page.goto("/report/")
    form = page.locator("form").filter(has=page.get_by_role("button", name="Send report"))
    controls = [c for c in form.locator("input, select, textarea").all() if c.is_visible()]
    shoot(page, "report-form")
    assert len(controls) >= 8, "the report form lost its fields"
    for control in controls:
        expect(control).to_have_accessible_name(re.compile(r"\w"))


def test_keyboard_focus_is_visible_on_every_control_of_the_report_form(
    page: Page, shoot: Shoot
) -> None:
    page.goto("/report/")
    form = page.locator("form").filter(has=page.get_by_role("button", name="Send report"))
    wanted = form.locator("input:visible, select:visible, textarea:visible, button:visible")
    expected = wanted.count()
    form_element = form.element_handle()
    reached: set[str] = set()
    for _ in range(60):
        page.keyboard.press("Tab")
        focused = page.evaluate("""(form) => {
            const el = document.activeElement;
            const style = getComputedStyle(el);
            return {
                inForm: form.contains(el),
                name: el.name || el.textContent.trim(),
                tag: el.tagName.toLowerCase(),
                // False when focus is on a part inside the control, such as the date
                // field's calendar button, which the browser rings itself.
                own: el.matches(':focus'),
                outline: style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0,
                shadow: style.boxShadow !== 'none',
            };
        }""", form_element)
        if not focused["inForm"]:
            continue
        key = f"{focused['tag']}:{focused['name']}"
        if key not in reached:
            reached.add(key)
            shoot(page, f"focus-on-{focused['name']}")
        if focused["own"]:
            assert focused["outline"] or focused["shadow"], f"no visible focus ring on {key}"
        if focused["tag"] == "button":
            break
    assert len(reached) == expected, (
        f"Tab reached {sorted(reached)}, not all {expected} controls of the form")


@pytest.mark.parametrize("path", ["/", "/report/", "/follow-up/"])
def test_reporter_pages_fit_a_phone_screen_without_sideways_scrolling(
    page: Page, shoot: Shoot, path: str
) -> None:
    page.set_viewport_size({"width": 360, "height": 780})
    page.goto(path)
    shoot(page, f"phone{path.strip('/').replace('/', '-') or '-home'}")
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{path} is {overflow}px wider than a 360px phone screen"
    # And in Chinese, whose lines break differently.
    page.get_by_label("Language").select_option("zh-hans")
    submit(page, page.get_by_role("button", name="Change language"))
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    shoot(page, f"phone-zh{path.strip('/').replace('/', '-') or '-home'}")
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{path} in Chinese is {overflow}px wider than a 360px phone screen"
