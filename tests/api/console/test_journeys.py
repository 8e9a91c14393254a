"""What a person does in the console, in Debian's Chromium against a real server: every
step is checked through the page and then through the Swift API or a plain HTTP client."""

from __future__ import annotations

import hashlib
import re
import time
import uuid

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.api.console.conftest import Keystone, sign_in
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
    link_box = page.get_by_label("Temporary URL")
    expect(link_box).to_have_value(re.compile(r"temp_url_sig=[0-9a-f]{64}&"))
    url = link_box.input_value()
    assert url.startswith(f"{server.url}/v1/AUTH_")
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


def seed(api: httpx.Client, container: str, names: list[str],
         headers: dict[str, str] | None = None) -> None:
    assert api.put(container).status_code in (201, 202)
    for name in names:
        assert api.put(f"{container}/{name}", content=b"x", headers=headers).status_code == 201


def test_folders_breadcrumbs_search_and_paging(page: Page, api: httpx.Client) -> None:
    container = f"browse-{uuid.uuid4().hex[:8]}"
    many = [f"photos/2024/img{i:03d}.jpg" for i in range(130)]
    seed(api, container, ["readme.txt", "photos/cover.png", *many])
    sign_in(page, "tester", "testing", "test")
    page.get_by_role("link", name=container, exact=True).click()
    rows = page.locator("table.list tbody tr")
    expect(rows).to_have_count(2)  # the folder photos/ and readme.txt, nothing deeper
    page.get_by_role("link", name="photos/").click()
    expect(page.get_by_role("heading", name=f"{container} / photos/")).to_be_visible()
    page.get_by_role("link", name="2024/").click()
    crumbs = page.get_by_role("navigation", name="Breadcrumbs")
    expect(crumbs.get_by_role("link")).to_have_text(["Containers", container, "photos", "2024"])
    expect(rows).to_have_count(100)  # one page, not the whole folder
    page.get_by_role("button", name="Next page").click()
    expect(rows).to_have_count(130)
    expect(page.get_by_role("button", name="Next page")).to_be_hidden()
    page.get_by_label("Search by name prefix").fill("img12")
    expect(rows).to_have_count(10)
    expect(rows.first).to_contain_text("img120.jpg")
    page.get_by_label("Search by name prefix").fill("")
    expect(rows).to_have_count(100)
    # name order backwards is the listing's own (reverse=true), a page at a time
    page.get_by_label("Sort").select_option(label="Name, Z to A")
    expect(rows.first).to_contain_text("img129.jpg")
    expect(rows).to_have_count(100)
    expect(rows.last).to_contain_text("img030.jpg")
    page.get_by_role("button", name="Next page").click()
    expect(rows).to_have_count(130)
    expect(rows.last).to_contain_text("img000.jpg")
    # size orders the loaded rows
    assert api.put(f"{container}/photos/2024/img042.jpg", content=b"x" * 5000).status_code == 201
    page.get_by_label("Sort").select_option(label="Name, A to Z")
    expect(rows.first).to_contain_text("img000.jpg")
    page.get_by_label("Sort").select_option(label="Largest first (loaded rows)")
    expect(rows.first).to_contain_text("img042.jpg")
    page.get_by_label("Sort").select_option(label="Smallest first (loaded rows)")
    expect(rows.last).to_contain_text("img042.jpg")
    crumbs.get_by_role("link", name="photos").click()
    expect(rows).to_have_count(2)  # 2024/ and cover.png
    page.go_back()
    expect(page.get_by_role("heading", name=f"{container} / photos/2024/")).to_be_visible()


def test_user_without_access_sees_403_not_data(page: Page, keystone: Keystone,
                                              api: httpx.Client) -> None:
    """A reader on the project (no operator role) and a user of another project both get
    the 403 message and none of the names."""
    container = f"private-{uuid.uuid4().hex[:8]}"
    seed(api, container, ["secret-plans.txt"])
    keystone.user("console-reader", "reading", {"test": "reader"})
    keystone.user("console-other", "othering", {"elsewhere": "member"})
    account = api.base_url.path.strip("/").split("/")[-1]

    sign_in(page, "console-reader", "reading", "test")
    expect(page.get_by_role("alert")).to_contain_text("Access denied (403)")
    expect(page.get_by_text(container)).to_have_count(0)
    page.get_by_role("button", name="Sign out").click()

    sign_in(page, "console-other", "othering", "elsewhere")
    page.goto(f"/console/#/a/{account}/{container}/")
    expect(page.get_by_role("alert")).to_contain_text("Access denied (403)")
    expect(page.get_by_text("secret-plans.txt")).to_have_count(0)


def test_object_names_and_metadata_show_as_text(page: Page, api: httpx.Client) -> None:
    container = f"xss-{uuid.uuid4().hex[:8]}"
    evil = "<img src=x onerror=alert(1)>"
    seed(api, container, [evil], headers={"X-Object-Meta-Note": "<script>alert(2)</script>"})
    sign_in(page, "tester", "testing", "test")
    page.get_by_role("link", name=container, exact=True).click()
    name = page.get_by_role("button", name=evil, exact=True)
    expect(name).to_have_text(evil)
    name.click()
    expect(page.get_by_role("heading", name=evil)).to_be_visible()
    expect(page.get_by_label("Value")).to_have_value("<script>alert(2)</script>")
    assert page.locator("main img").count() == 0
    assert page.dialogs == []  # type: ignore[attr-defined]


def test_quota_and_public_read_settings(page: Page, server: Server, api: httpx.Client,
                                        tmp_path) -> None:
    container = f"settings-{uuid.uuid4().hex[:8]}"
    seed(api, container, ["hello.txt"])
    sign_in(page, "tester", "testing", "test")
    page.get_by_role("link", name=container, exact=True).click()
    page.get_by_role("button", name="Container settings").click()
    page.get_by_label("Anyone may read objects (.r:*)").check()
    page.get_by_label("Quota, bytes").fill("10")
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_role("status")).to_have_text(f"Settings of {container} saved.")
    assert httpx.get(f"{api.base_url}{container}/hello.txt").text == "x"  # no token
    # a file over the quota fails with a message a person can act on
    big = tmp_path / "eleven.txt"
    big.write_bytes(b"x" * 11)
    page.locator("#upload-files").set_input_files(big)
    expect(page.get_by_role("alert")).to_contain_text("eleven.txt: Too large or over quota (413).")
    expect(page.locator(".upload-state")).to_contain_text("failed")


def test_project_switch_and_deleted_user_signed_out(page: Page, keystone: Keystone) -> None:
    user = f"switcher-{uuid.uuid4().hex[:6]}"
    user_id = keystone.user(user, "switching", {"alpha": "member", "beta": "member"})
    sign_in(page, user, "switching", "alpha")
    select = page.get_by_role("combobox", name="Project")
    expect(select.locator("option")).to_have_text(["alpha", "beta"])
    select.select_option(label="beta")
    expect(page.get_by_role("status")).to_have_text("Switched to project beta.")
    assert page.request.get("/console/session").json()["project"] == "beta"
    keystone.delete_user(user_id)
    page.get_by_role("link", name="Strato").click()
    page.reload()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert page.request.get("/console/session").status == 401


def test_phone_sized_screen_and_keyboard(page: Page, api: httpx.Client) -> None:
    """On a 390 px wide screen nothing scrolls sideways; a container opens from the keyboard."""
    container = f"phone-{uuid.uuid4().hex[:8]}"
    seed(api, container, ["a-rather-long-object-name-that-must-wrap-on-a-phone-screen.txt"])
    page.set_viewport_size({"width": 390, "height": 760})
    sign_in(page, "tester", "testing", "test")
    link = page.get_by_role("link", name=container, exact=True)
    link.focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name=container)).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    expect(page.locator("td[data-label=Size]")).to_have_text("1 B")


def test_cancel_a_large_upload(page: Page, api: httpx.Client) -> None:
    """Cancelling mid-way leaves no object, and the segments already sent are deleted."""
    container = f"cancel-{uuid.uuid4().hex[:8]}"
    seed(api, container, [])
    sign_in(page, "tester", "testing", "test")
    page.get_by_role("link", name=container, exact=True).click()
    cdp = page.context.new_cdp_session(page)  # a slow uplink, so there is a "mid-way"
    cdp.send("Network.emulateNetworkConditions", {
        "offline": False, "latency": 0, "downloadThroughput": -1,
        "uploadThroughput": 4 * MIB})
    drop_file(page, "#drop-zone", "slow.bin", 20 * MIB)
    expect(page.locator(".upload-state")).to_have_text(re.compile(r"^([1-9]\d?)%$"))
    page.get_by_role("button", name="Cancel upload of slow.bin").click()
    expect(page.locator(".upload-state")).to_have_text("cancelled")
    assert api.head(f"{container}/slow.bin").status_code == 404
    deadline = time.monotonic() + 10
    while api.get(f"{container}_segments").status_code == 200 and time.monotonic() < deadline:
        time.sleep(0.2)  # the clean-up's bulk delete runs after the page says "cancelled"
    assert api.get(f"{container}_segments").status_code == 204  # empty
