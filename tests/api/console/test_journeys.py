"""What a person does in the console, in Debian's Chromium against a real server: every
step is checked through the page and then through the Swift API or a plain HTTP client."""

from __future__ import annotations

import hashlib
import uuid

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.api.console.conftest import sign_in
from tests.harness import Server

MIB = 1024 * 1024
BIG = 30 * MIB
PATTERN_JS = "(i) => (i * 7 + (i >> 12)) & 255"
"""The bytes of the dropped file, made in the page (a 30 MiB file never crosses the
Playwright pipe) and again in Python to check what arrived."""


def big_bytes() -> bytes:
    """Block b of 4096 bytes is the first block with b added to each byte (mod 256)."""
    first = bytes((n * 7) & 255 for n in range(4096))
    return b"".join(first.translate(bytes((v + b) & 255 for v in range(256)))
                    for b in range(BIG // 4096))


def drop_file(page: Page, selector: str, name: str, size: int) -> None:
    """Drop a file of `size` bytes on `selector`, as a drag from the desktop does."""
    page.evaluate(
        """([selector, name, size]) => {
            const data = new Uint8Array(size);
            for (let i = 0; i < size; i++) data[i] = (i * 7 + (i >> 12)) & 255;
            const transfer = new DataTransfer();
            transfer.items.add(new File([data], name, { type: "application/octet-stream" }));
            const target = document.querySelector(selector);
            for (const type of ["dragenter", "dragover", "drop"]) {
                target.dispatchEvent(new DragEvent(type, { dataTransfer: transfer,
                                                           bubbles: true, cancelable: true }));
            }
        }""", [selector, name, size])


@pytest.fixture
def api(tester: tuple[str, str]) -> httpx.Client:
    url, token = tester
    with httpx.Client(base_url=url + "/", headers={"X-Auth-Token": token}, timeout=30) as c:
        yield c


def test_upload_share_edit_delete_sign_out(page: Page, server: Server, api: httpx.Client
                                           ) -> None:
    container = f"console-{uuid.uuid4().hex[:8]}"
    sign_in(page, "tester", "testing", "test")

    page.get_by_label("Container name").fill(container)
    page.get_by_role("button", name="Create").click()
    link = page.get_by_role("link", name=container, exact=True)
    expect(link).to_be_visible()
    assert api.head(container).status_code == 204
    link.click()
    expect(page.get_by_role("heading", name=container)).to_be_visible()

    # a 30 MiB file dropped on the page goes up as parallel SLO segments, with progress
    drop_file(page, "#drop-zone", "big.bin", BIG)
    expect(page.locator(".upload-state")).to_have_text("100% done", timeout=60_000)
    expect(page.locator("#upload-total-text")).to_have_text("100%")
    total = page.locator("#upload-total")
    assert total.evaluate("p => p.value === p.max")
    head = api.head(f"{container}/big.bin")
    assert head.status_code == 200
    assert head.headers["X-Static-Large-Object"] == "True"
    assert int(head.headers["Content-Length"]) == BIG
    segments = api.get(f"{container}_segments", params={"format": "json"}).json()
    assert len(segments) == 4  # 8 MiB segments
    expect(page.get_by_role("button", name="big.bin", exact=True)).to_be_visible()

    # share: a temp URL fetched by a plain client, without any token
    page.get_by_role("button", name="big.bin", exact=True).click()
    page.get_by_role("button", name="Create temporary link").click()
    url = page.get_by_label("Temporary URL").input_value()
    assert "temp_url_sig=" in url and url.startswith(server.url)
    digest = hashlib.md5()
    with httpx.stream("GET", url, timeout=60) as resp:
        assert resp.status_code == 200
        for chunk in resp.iter_bytes():
            digest.update(chunk)
    assert digest.hexdigest() == hashlib.md5(big_bytes()).hexdigest()

    # edit metadata and content type
    page.get_by_role("button", name="Add metadata").click()
    page.get_by_label("Key").last.fill("Colour")
    page.get_by_label("Value").last.fill("deep blue")
    page.get_by_label("Content type").fill("application/x-test")
    page.get_by_role("button", name="Save metadata").click()
    expect(page.get_by_role("status")).to_have_text("Metadata of big.bin saved.")
    head = api.head(f"{container}/big.bin")
    assert head.headers["X-Object-Meta-Colour"] == "deep blue"
    assert head.headers["Content-Type"] == "application/x-test"

    # delete the object through multi-select + bulk delete, then the container
    page.get_by_label("Select big.bin").check()
    page.get_by_role("button", name="Delete selected (1)").click()
    page.locator("#confirm-ok").click()
    expect(page.get_by_text("This folder is empty.")).to_be_visible()
    assert api.head(f"{container}/big.bin").status_code == 404

    # the segments container is not empty: its objects go first, after a confirmation
    page.get_by_role("link", name="Containers").click()
    page.get_by_role("button", name=f"Delete container {container}_segments").click()
    expect(page.locator("#confirm-text")).to_have_text(
        f"Delete container “{container}_segments” and its 4 objects?")
    page.locator("#confirm-ok").click()
    expect(page.get_by_role("status")).to_have_text(f"Container {container}_segments deleted.")
    assert api.head(f"{container}_segments").status_code == 404
    page.get_by_role("button", name=f"Delete container {container}", exact=True).click()
    expect(page.locator("#confirm-text")).to_have_text(f"Delete the empty container “{container}”?")
    page.locator("#confirm-ok").click()
    expect(page.get_by_role("status")).to_have_text(f"Container {container} deleted.")
    assert api.head(container).status_code == 404

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert page.context.cookies() == []
    assert page.request.get("/console/session").status == 401
