"""Browser tests: Debian's chromium, driven by Playwright's sync API, against Django's live
server. Each test gets a fresh browser context (no cookies) on one browser per package, and
leaves full-page screenshots of what it saw in tests/e2e/screenshots/.

The live server answers from another thread, so everything it reads must be committed: the
tests use ``committed_db``, whose clean-up gets past the audit log's triggers.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[1] / "e2e" / "screenshots"
# Every page here answers in milliseconds; a wait this long means the page is wrong.
TIMEOUT_MS = 10_000
PASSWORD = "pw"  # tests/factories.py's UserFactory

Shoot = Callable[[Page, str], Path]
SignIn = Callable[[Page, Any], None]


_CALL_FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    # The page fixture looks at this to photograph the page a failed test stopped on.
    report = yield
    if report.when == "call":
        item.stash[_CALL_FAILED] = report.failed
    return report


@pytest.fixture(autouse=True)
def _services_are_real() -> None:
    """Overrides tests/conftest.py's fixture of this name. These tests need a browser (the
    ``browser`` fixture fails without one), not PostgreSQL: they run on whichever database
    the suite runs on."""


@pytest.fixture(autouse=True)
def _no_broker(monkeypatch: pytest.MonkeyPatch) -> None:
    # Here transactions really commit, so the outbox's after-commit wake-up would put a
    # message on whatever broker the settings name, with no worker of ours to take it.
    monkeypatch.setattr("escalation.services.notifications._wake_delivery", lambda: None)


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"browser tests need Chromium at {CHROMIUM}: install it with "
                    "`make services` (Debian's chromium package)")
    # Playwright's sync API runs an event loop in this thread, and Django refuses database
    # work in a thread with a running loop. Relaxed only while that loop runs.
    saved = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    playwright = sync_playwright().start()
    try:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        try:
            yield launched
        finally:
            launched.close()
    finally:
        playwright.stop()
        if saved is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = saved


@pytest.fixture
def page(browser: Browser, live_server: Any, committed_db: None, request: pytest.FixtureRequest,
         shoot: Shoot) -> Iterator[Page]:
    context = browser.new_context(base_url=live_server.url, locale="en-GB",
                                  viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    expect.set_options(timeout=TIMEOUT_MS)
    opened = context.new_page()
    try:
        yield opened
        if request.node.stash.get(_CALL_FAILED, False):
            shoot(opened, "failed-here")
    finally:
        context.close()


@pytest.fixture
def shoot(request: pytest.FixtureRequest) -> Shoot:
    """``shoot(page, "what-it-shows")`` saves a full-page screenshot named after the test,
    numbered in the order taken. The test's screenshots from an earlier run are removed."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    prefix = re.sub(r"[^\w-]+", "-", request.node.name.removeprefix("test_"))
    for old in SCREENSHOTS.glob(f"{prefix}--*.png"):
        old.unlink()
    taken: list[Path] = []

    def take(page: Page, what: str) -> Path:
        slug = re.sub(r"[^\w-]+", "-", what).lower()
        path = SCREENSHOTS / f"{prefix}--{len(taken) + 1:02d}-{slug}.png"
        page.screenshot(path=str(path), full_page=True)
        taken.append(path)
        return path

    return take


def submit(page: Page, button: Locator) -> None:
    """Presses a form's button and fails at once, saying why, when the server refuses the
    post (rather than after waiting for a page that will never come)."""
    with page.expect_response(lambda response: response.request.method == "POST") as answer:
        button.click()
    response = answer.value
    if response.status >= 400:
        page.wait_for_load_state()
        said = " ".join(page.locator("body").inner_text().split())[:300]
        pytest.fail(f"POST {response.url} answered {response.status}: {said}")


@pytest.fixture
def sign_in(shoot: Shoot) -> SignIn:
    """Signs in through the sign-in page as a person would. Test settings turn two-factor
    and the lockout off (config/settings/test.py)."""

    def sign_in_as(page: Page, user: Any) -> None:
        page.goto("/")
        page.get_by_role("link", name="Staff sign in").click()
        expect(page.get_by_role("heading", name="Sign in", level=1)).to_be_visible()
        page.get_by_label("Username").fill(user.username)
        page.get_by_label("Password").fill(PASSWORD)
        shoot(page, "sign-in")
        submit(page, page.get_by_role("button", name="Sign in", exact=True))
        expect(page.get_by_role("button", name="Sign out")).to_be_visible()

    return sign_in_as
