"""A page kept in the object store shares the console's origin (one port serves both): served
as Swift serves it, its script could read the console's session (and CSRF token) and act as
whoever is signed in. Swift answers such pages with a sandbox CSP (`sandbox_stored_pages`),
so they run in an origin of their own; checked in Debian's Chromium, and with the setting
off, to show the attack is real."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Page

from tests.api.console.conftest import TIMEOUT_MS, sign_in
from tests.conftest import serve_with_tester
from tests.harness import Server

THIEF = b"""<!doctype html><title>waiting</title><h1>A stored page</h1><script>
fetch('/console/session', {credentials: 'include'})
  .then(r => r.text())
  .then(t => { document.title = t.includes('"csrf"') ? 'STOLEN' : 'refused'; },
        () => { document.title = 'blocked'; });
</script>"""


@pytest.fixture(scope="module")
def unsandboxed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server with the sandbox off (as Swift serves pages)."""
    yield from serve_with_tester(tmp_path_factory.mktemp("unsandboxed") / "data",
                                 env={"STRATO_SANDBOX_STORED_PAGES": "false"})


@pytest.fixture(scope="module")
def browser(unsandboxed: Server, browser: Browser) -> Browser:
    """The module's browser, started after both servers (a server on PostgreSQL makes its
    database with asyncio.run, which Playwright's loop in this thread would refuse)."""
    return browser


def _publish(url: str, token: str) -> str:
    """A public container holding the page; its URL."""
    http = httpx.Client(headers={"X-Auth-Token": token}, timeout=60)
    container = f"site-{uuid.uuid4().hex[:8]}"
    assert http.put(f"{url}/{container}", headers={"X-Container-Read": ".r:*"}
                    ).status_code in (201, 202)
    assert http.put(f"{url}/{container}/thief.html", content=THIEF,
                    headers={"Content-Type": "text/html"}).status_code == 201
    return f"{url}/{container}/thief.html"


def _title_after_visit(page: Page, address: str) -> str:
    sign_in(page, "tester", "testing", "test")
    page.goto(address)
    page.wait_for_function("document.title !== 'waiting'", timeout=TIMEOUT_MS)
    return page.title()


def test_a_stored_page_cannot_read_the_console_session(page: Page,
                                                       tester: tuple[str, str]) -> None:
    url, token = tester
    address = _publish(url, token)
    anonymous = httpx.get(address)
    assert anonymous.status_code == 200 and anonymous.content == THIEF  # still served
    assert anonymous.headers["Content-Security-Policy"].startswith("sandbox allow-scripts")
    assert _title_after_visit(page, address) == "blocked"
    assert page.get_by_role("heading", name="A stored page").is_visible()  # it renders


def test_only_pages_are_sandboxed(tester: tuple[str, str]) -> None:
    url, token = tester
    http = httpx.Client(headers={"X-Auth-Token": token}, timeout=60)
    container = f"types-{uuid.uuid4().hex[:8]}"
    assert http.put(f"{url}/{container}").status_code == 201
    for name, ctype, sandboxed in (("a.svg", "image/svg+xml", True),
                                   ("a.xhtml", "application/xhtml+xml; charset=utf-8", True),
                                   ("a.xml", "text/xml", True),
                                   ("a.txt", "text/plain", False),
                                   ("a.png", "image/png", False),
                                   ("a.json", "application/json", False)):
        assert http.put(f"{url}/{container}/{name}", content=b"x",
                        headers={"Content-Type": ctype}).status_code == 201
        for method in ("GET", "HEAD"):
            got = http.request(method, f"{url}/{container}/{name}")
            assert ("Content-Security-Policy" in got.headers) is sandboxed, (name, method)


def test_with_the_sandbox_off_the_page_does_read_it(browser: Browser,
                                                    unsandboxed: Server) -> None:
    """The control: as Swift serves it (`sandbox_stored_pages = false`), the same page
    reads the session, which is why the sandbox is on by default."""
    url, token = unsandboxed.auth_v1("test:tester", "testing")
    address = _publish(url, token)
    assert "Content-Security-Policy" not in httpx.get(address).headers
    context = browser.new_context(base_url=unsandboxed.url)
    try:
        assert _title_after_visit(context.new_page(), address) == "STOLEN"
    finally:
        context.close()
