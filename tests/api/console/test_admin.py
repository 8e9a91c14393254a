"""The admin and credential pages in Debian's Chromium against a real server: an admin
makes a user and a project and grants a role, that user signs in elsewhere and is signed out
when the role is revoked; a member sees no Admin menu and Keystone's own 403 on the admin
pages; application credentials are made (secret shown once), used and deleted."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.api.console.conftest import TIMEOUT_MS, Keystone, sign_in
from tests.harness import Server


@pytest.fixture
def other_page(browser: Browser, server: Server) -> Iterator[Page]:
    """A second browser context: another person at another computer."""
    context = browser.new_context(base_url=server.url, viewport={"width": 1200, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()


def admin_tab(page: Page, tab: str) -> None:
    page.get_by_role("navigation", name="Admin pages").get_by_role("link", name=tab).click()
    expect(page.get_by_role("heading", name=f"Admin: {tab}")).to_be_visible()


def test_admin_grants_a_role_then_revokes_it(page: Page, other_page: Page,
                                             keystone: Keystone) -> None:
    user, project = f"ada-{uuid.uuid4().hex[:6]}", f"lab-{uuid.uuid4().hex[:6]}"
    sign_in(page, "tester", "testing", "test")
    page.get_by_role("navigation", name="Sections").get_by_role("link", name="Admin").click()
    expect(page.get_by_role("heading", name="Admin: Users")).to_be_visible()

    admin_tab(page, "Projects")
    form = page.get_by_role("form", name="New project")
    form.get_by_label("Project name").fill(project)
    form.get_by_label("Description").fill("made in the console")
    form.get_by_role("button", name="Create project").click()
    expect(page.get_by_role("status")).to_have_text(f"Project {project} created.")
    expect(page.get_by_role("rowheader", name=project, exact=True)).to_be_visible()
    found = keystone.http.get("projects", params={"name": project}).json()["projects"]
    assert [p["description"] for p in found] == ["made in the console"]

    admin_tab(page, "Users")
    form = page.get_by_role("form", name="New user")
    form.get_by_label("User name").fill(user)
    form.get_by_label("Password").fill("a long pass phrase")
    form.get_by_role("button", name="Create user").click()
    expect(page.get_by_role("status")).to_have_text(f"User {user} created.")
    page.get_by_role("button", name=f"Disable user {user}").click()
    expect(page.get_by_role("status")).to_have_text(f"User {user} disabled.")
    assert keystone.http.get("users", params={"name": user}).json()["users"][0]["enabled"] is False
    page.get_by_role("button", name=f"Enable user {user}").click()
    expect(page.get_by_role("status")).to_have_text(f"User {user} enabled.")
    assert keystone.http.get("users", params={"name": user}).json()["users"][0]["enabled"] is True

    admin_tab(page, "Role assignments")
    grant = page.get_by_role("form", name="Grant a role")
    grant.get_by_label("User").select_option(label=user)
    grant.get_by_label("Project").select_option(label=project)
    grant.get_by_label("Role").select_option(label="member")
    grant.get_by_role("button", name="Grant").click()
    expect(page.get_by_role("status")).to_have_text(
        f"Role member granted to {user} on {project}.")
    revoke = page.get_by_role("button", name=f"Revoke member of {user} on {project}")
    expect(revoke).to_be_visible()

    # the new user signs in at another computer and works in the project
    sign_in(other_page, user, "a long pass phrase", project)
    expect(other_page.get_by_role("combobox", name="Project").locator("option")
           ).to_have_text([project])
    expect(other_page.get_by_text("0 containers, 0 objects")).to_be_visible()
    expect(other_page.get_by_role("link", name="Admin")).to_be_hidden()

    revoke.click()
    expect(page.locator("#confirm-text")).to_have_text(
        f"Revoke the role member of {user} on {project}?")
    page.locator("#confirm-ok").click()
    expect(page.get_by_role("status")).to_have_text(
        f"Role member of {user} on {project} revoked.")
    expect(revoke).to_have_count(0)

    # the other browser's next request is refused and it is back at the sign-in form
    other_page.get_by_role("navigation", name="Sections").get_by_role("link", name="Images"
                                                                      ).click()
    expect(other_page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(other_page.get_by_role("alert")).to_have_text("Your session has ended: sign in again.")
    assert other_page.request.get("/console/session").status == 401

    # tidy up through the pages: the user, then the project
    admin_tab(page, "Users")
    page.get_by_role("button", name=f"Delete user {user}").click()
    page.locator("#confirm-ok").click()
    expect(page.get_by_role("status")).to_have_text(f"User {user} deleted.")
    assert keystone.http.get("users", params={"name": user}).json()["users"] == []
    admin_tab(page, "Projects")
    page.get_by_role("button", name=f"Delete project {project}").click()
    page.locator("#confirm-ok").click()
    expect(page.get_by_role("status")).to_have_text(f"Project {project} deleted.")
    assert keystone.http.get("projects", params={"name": project}).json()["projects"] == []


def test_member_sees_no_admin_menu_and_keystone_refuses(page: Page, keystone: Keystone
                                                       ) -> None:
    keystone.user("console-member", "membering", {"test": "member"})
    sign_in(page, "console-member", "membering", "test")
    sections = page.get_by_role("navigation", name="Sections")
    expect(sections.get_by_role("link", name="Images")).to_be_visible()
    expect(sections.get_by_role("link", name="Admin")).to_be_hidden()
    for tab in ("users", "projects", "assignments"):
        page.goto(f"/console/#/admin/{tab}")
        expect(page.get_by_role("alert")).to_have_text(
            "Access denied (403): you have no permission for this page. "
            "You are not authorized to perform the requested action.")
        expect(page.get_by_role("rowheader")).to_have_count(0)
        expect(page.get_by_text("tester")).to_have_count(0)


def test_application_credential_secret_shown_once(page: Page, server: Server,
                                                  keystone: Keystone) -> None:
    """Any user manages their own (Keystone's policy): a member makes one, signs in with it
    over HTTP, and deletes it; the list never shows the secret again."""
    keystone.user("console-creds", "credentialing", {"test": "member"})
    name = f"backup-{uuid.uuid4().hex[:6]}"
    sign_in(page, "console-creds", "credentialing", "test")
    page.get_by_role("navigation", name="Sections").get_by_role("link", name="Credentials"
                                                                ).click()
    expect(page.get_by_role("heading", name="Application credentials")).to_be_visible()
    form = page.get_by_role("form", name="New application credential")
    form.get_by_label("Credential name").fill(name)
    form.get_by_role("button", name="Create credential").click()
    box = page.get_by_role("region", name="New credential")
    expect(box).to_contain_text("it is shown only this once")
    secret = box.get_by_label("Secret", exact=True).input_value()
    cred_id = box.get_by_label("Credential ID").input_value()
    assert len(secret) >= 16
    expect(page.get_by_role("rowheader", name=name, exact=True)).to_be_visible()

    resp = httpx.post(f"{server.url}/console/session", timeout=30,
                      json={"method": "application_credential", "id": cred_id,
                            "secret": secret})
    assert resp.status_code == 200, resp.text
    assert resp.json()["user"] == "console-creds"

    box.get_by_role("button", name="Done").click()
    expect(box).to_be_hidden()
    page.reload()
    expect(page.get_by_role("rowheader", name=name, exact=True)).to_be_visible()
    assert secret not in page.content()
    page.get_by_role("button", name=f"Delete credential {name}").click()
    page.locator("#confirm-ok").click()
    expect(page.get_by_role("status")).to_have_text(f"Credential {name} deleted.")
    expect(page.get_by_text("No application credentials yet.")).to_be_visible()
    resp = httpx.post(f"{server.url}/console/session", timeout=30,
                      json={"method": "application_credential", "id": cred_id,
                            "secret": secret})
    assert resp.status_code == 401


def test_new_pages_fit_a_phone_and_work_from_the_keyboard(page: Page) -> None:
    """On a 390 px wide screen no section scrolls sideways; the menu works with the keyboard."""
    page.set_viewport_size({"width": 390, "height": 760})
    sign_in(page, "tester", "testing", "test")
    sections = page.get_by_role("navigation", name="Sections")
    sections.get_by_role("link", name="Images").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Images")).to_be_visible()
    expect(sections.get_by_role("link", name="Images")).to_have_attribute("aria-current", "page")
    for address, heading in (("#/images", "Images"), ("#/credentials", "Application credentials"),
                             ("#/admin/users", "Admin: Users"),
                             ("#/admin/projects", "Admin: Projects"),
                             ("#/admin/assignments", "Admin: Role assignments")):
        page.goto(f"/console/{address}")
        expect(page.get_by_role("heading", name=heading)).to_be_visible()
        expect(page.locator("table.list tbody tr").first).to_be_attached()
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), address
