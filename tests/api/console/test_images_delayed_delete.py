"""The images page on a server with delayed delete: a deleted image leaves the list but is
`pending_delete` in Glance, which has no API to restore it; the operator's `strato
image-admin restore` brings it back, and the page lists it active again."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.api.console.conftest import sign_in
from tests.harness import Server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """This module's own server, with delayed delete (the conftest's browser starts after)."""
    srv = Server(tmp_path_factory.mktemp("console-delayed") / "data", workers=2,
                 extra_args=("--image-delayed-delete",)).start()
    srv.add_user("test", "tester", "testing", role="admin")
    try:
        yield srv
    finally:
        srv.stop()


def test_pending_delete_is_shown_and_the_operator_restores(page: Page, server: Server,
                                                           tmp_path: Path) -> None:
    name = f"keep-{uuid.uuid4().hex[:8]}"
    path = tmp_path / "disk.raw"
    path.write_bytes(b"\0" * 65536)
    sign_in(page, "tester", "testing", "test")
    page.get_by_role("navigation", name="Sections").get_by_role("link", name="Images").click()
    form = page.get_by_role("form", name="New image")
    form.get_by_label("Image name").fill(name)
    form.get_by_label("Image file").set_input_files(path)
    form.get_by_role("button", name="Create and upload").click()
    expect(page.get_by_role("status")).to_have_text(f"Image {name} uploaded.")

    row = page.locator("tr", has=page.get_by_role("rowheader", name=name, exact=True))
    image_id = row.get_attribute("data-id")
    assert image_id
    page.get_by_role("button", name=f"Delete image {name}").click()
    page.locator("#confirm-ok").click()
    expect(page.get_by_role("status")).to_have_text(f"Image {name} deleted.")
    expect(row).to_have_count(0)
    token = server.auth_v1("test:tester", "testing")[1]
    glance = httpx.Client(base_url=f"{server.url}/image/v2/", timeout=30,
                          headers={"X-Auth-Token": token})
    with glance:
        assert glance.get(f"images/{image_id}").json()["status"] == "pending_delete"
        assert glance.post(f"images/{image_id}/actions/reactivate").status_code == 409
        server.cli("image-admin", "restore", image_id)
        assert glance.get(f"images/{image_id}").json()["status"] == "active"
    page.reload()
    expect(row.locator("td[data-label=Status]")).to_have_text("active")
    expect(page.get_by_role("button", name=f"Delete image {name}")).to_be_visible()
