"""Fixtures for the web console: Debian's Chromium driven by Playwright, and signed-in pages.

One browser per test module (launching costs about a second); each test gets its own
context, so cookies never leak between tests. Timeouts are short: every wait is for
something the page should do in well under a second, except the 30 MiB upload.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.conftest import serve_with_tester
from tests.harness import Server

CHROMIUM = "/usr/bin/chromium"
"""Debian's `chromium` package (scripts/test installs it); Playwright downloads no browser."""
TIMEOUT_MS = 20_000  # generous: CI runs other suites on the same two cores
# `expect(...)` assertions keep Playwright's own 5 s otherwise (the context's default
# timeout covers actions only): a project switch waited past it under a loaded CI
expect.set_options(timeout=TIMEOUT_MS)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server of the module's own: the console lists an account's containers a page (100)
    at a time, so containers other suites leave in the session's account would push a
    test's container off the first page."""
    yield from serve_with_tester(tmp_path_factory.mktemp("console") / "data")


@pytest.fixture(scope="module")
def tester(server: Server) -> tuple[str, str]:
    """(storage URL, token) of `test:tester` on the module's server."""
    return server.auth_v1("test:tester", "testing")


@pytest.fixture(scope="module")
def browser(server: Server) -> Iterator[Browser]:
    """Started after the module's server: Playwright's sync API runs an event loop in this
    thread, and starting a server on PostgreSQL makes its database with asyncio.run."""
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


class Keystone:
    """Users and projects made through the Keystone v3 API with the admin `tester`'s token
    (a subprocess of the CLI per user would cost seconds each)."""

    def __init__(self, server: Server, token: str) -> None:
        self.http = httpx.Client(base_url=f"{server.url}/identity/v3/", timeout=30,
                                 headers={"X-Auth-Token": token})

    def _id(self, kind: str, name: str, body: dict[str, object]) -> str:
        found = self.http.get(kind, params={"name": name}).json()[kind]
        if found:
            return str(found[0]["id"])
        resp = self.http.post(kind, json={kind[:-1]: {"name": name, **body}})
        assert resp.status_code == 201, resp.text
        return str(resp.json()[kind[:-1]]["id"])

    def user(self, name: str, password: str, roles: dict[str, str]) -> str:
        """A user with `roles` ({project: role}), projects made as needed; its id."""
        user_id = self._id("users", name, {"password": password})
        for project, role in roles.items():
            project_id = self._id("projects", project, {"domain_id": "default"})
            role_id = self.http.get("roles", params={"name": role}).json()["roles"][0]["id"]
            resp = self.http.put(f"projects/{project_id}/users/{user_id}/roles/{role_id}")
            assert resp.status_code == 204, resp.text
        return user_id

    def delete_user(self, user_id: str) -> None:
        assert self.http.delete(f"users/{user_id}").status_code == 204


@pytest.fixture(scope="module")
def keystone(server: Server, tester: tuple[str, str]) -> Iterator[Keystone]:
    ks = Keystone(server, tester[1])
    try:
        yield ks
    finally:
        ks.http.close()
