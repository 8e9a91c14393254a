"""Fixtures for the web console: Debian's Chromium driven by Playwright, and signed-in pages.

One browser per test module (launching costs about a second); each test gets its own
context, so cookies never leak between tests. Timeouts are short: every wait is for
something the page should do in well under a second, except the 30 MiB upload.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.harness import Server

CHROMIUM = "/usr/bin/chromium"
"""Debian's `chromium` package (scripts/test installs it); Playwright downloads no browser."""
TIMEOUT_MS = 10_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"])
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser: Browser, server: Server) -> Iterator[Page]:
    context = browser.new_context(base_url=server.url, viewport={"width": 1200, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.dialogs = dialogs  # type: ignore[attr-defined]
    try:
        yield page
    finally:
        context.close()


def sign_in(page: Page, user: str, password: str, project: str = "") -> None:
    """Sign in through the form, as a person would, and wait for the containers page."""
    page.goto("/console/")
    form = page.locator("#sign-in-form")
    form.get_by_label("User", exact=True).fill(user)
    form.get_by_label("Password", exact=True).fill(password)
    form.get_by_label("Project", exact=True).fill(project)
    form.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Containers")).to_be_visible()
