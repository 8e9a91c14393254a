"""The object page's versions and previews, sharing a folder (a prefix temp URL and a form
POST upload page used by someone who is not signed in), and the container settings for
CORS, static web and metadata: each driven in Chromium, then checked through the Swift API
or a plain HTTP client."""

from __future__ import annotations

import re
import struct
import time
import uuid
import zlib
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.api.console.conftest import TIMEOUT_MS, Keystone, sign_in
from tests.harness import Server

TEXT_LIMIT = 64 * 1024


@pytest.fixture
def api(tester: tuple[str, str]) -> Iterator[httpx.Client]:
    url, token = tester
    with httpx.Client(base_url=url + "/", headers={"X-Auth-Token": token}, timeout=30) as c:
        yield c


def open_container(page: Page, container: str) -> None:
    sign_in(page, "tester", "testing", "test")
    page.get_by_role("link", name=container, exact=True).click()
    expect(page.get_by_role("heading", name=container)).to_be_visible()


def tiny_png(width: int = 3, height: int = 2) -> bytes:
    """A valid RGB PNG, red."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2,
                                                             0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def tiny_pdf(text: str = "Hello PDF") -> bytes:
    """A one-page PDF with a line of text, cross-reference table and all."""
    stream = f"BT /F1 24 Tf 40 70 Td ({text}) Tj ET".encode()
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>",
               b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 300 144] /Contents 4 0 R "
               b"/Resources << /Font << /F1 5 0 R >> >> >>",
               b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
               b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    out, offsets = b"%PDF-1.4\n", []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    return out + b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, xref)


def test_object_versions_list_restore_and_delete(page: Page, api: httpx.Client) -> None:
    container = f"versions-{uuid.uuid4().hex[:8]}"
    assert api.put(container, headers={"X-Versions-Enabled": "true"}).status_code == 201
    for body in (b"first", b"second", b"third"):
        assert api.put(f"{container}/doc.txt", content=body,
                       headers={"Content-Type": "text/plain"}).status_code == 201
    listed = api.get(container, params={"versions": "", "format": "json"}).json()
    third, second, first = (v["version_id"] for v in listed)  # newest first

    open_container(page, container)
    page.get_by_role("button", name="doc.txt", exact=True).click()
    rows = page.locator(".versions tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.nth(0)).to_contain_text(third)
    expect(rows.nth(0)).to_contain_text("current")
    expect(page.locator(".versions > p")).to_have_count(0)  # no note under fewer than 1,000
    expect(page.locator(".preview-text")).to_have_text("third")

    page.get_by_role("button", name=f"Restore version {first}").click()
    expect(page.get_by_role("status")).to_have_text(f"Version {first} of doc.txt restored.")
    assert api.get(f"{container}/doc.txt").content == b"first"
    expect(page.locator(f'tr[data-version-id="{first}"]')).to_contain_text("current")
    expect(page.locator(".preview-text")).to_have_text("first")  # the page shows it too

    page.get_by_role("button", name=f"Delete version {second}").click()
    expect(page.locator("#confirm-text")).to_have_text(f"Delete version {second} of “doc.txt”?")
    page.locator("#confirm-ok").click()
    expect(page.get_by_role("status")).to_have_text(f"Version {second} deleted.")
    expect(rows).to_have_count(2)
    expect(page.locator(f'tr[data-version-id="{second}"]')).to_have_count(0)
    assert api.get(f"{container}/doc.txt", params={"version-id": second}).status_code == 404
    assert api.get(f"{container}/doc.txt", params={"version-id": third}).content == b"third"


def test_no_versions_section_without_versioning(page: Page, api: httpx.Client) -> None:
    container = f"plain-{uuid.uuid4().hex[:8]}"
    assert api.put(container).status_code == 201
    assert api.put(f"{container}/a.bin", content=b"x").status_code == 201
    open_container(page, container)
    page.get_by_role("button", name="a.bin", exact=True).click()
    expect(page.get_by_role("heading", name="a.bin")).to_be_visible()
    expect(page.get_by_role("heading", name="Metadata")).to_be_visible()
    expect(page.locator(".versions")).to_be_hidden()
    expect(page.locator(".preview")).to_have_count(0)  # octet-stream: no preview
    expect(page.locator(".detail")).not_to_contain_text("null")


def test_previews_of_images_text_and_pdf_and_html_that_never_runs(
        page: Page, api: httpx.Client, server: Server) -> None:
    container = f"preview-{uuid.uuid4().hex[:8]}"
    assert api.put(container).status_code == 201
    long_text = "".join(f"line {i:05d} ✓\n" for i in range(6000)).encode()  # > 64 KiB
    hostile = (b"<html><head><title>hostile</title></head><body><h1>Hostile page</h1>"
               b"<script>document.title='pwned';alert('ran');"
               b"fetch('/console/session').then(r=>r.text()).then(t=>alert(t))</script>"
               b"</body></html>")
    for name, body, ctype in (("red.png", tiny_png(), "image/png"),
                              ("notes.txt", long_text, "text/plain; charset=utf-8"),
                              ("paper.pdf", tiny_pdf(), "application/pdf"),
                              ("page.html", hostile, "text/html"),
                              ("empty.txt", b"", "text/plain")):
        assert api.put(f"{container}/{name}", content=body,
                       headers={"Content-Type": ctype}).status_code == 201
    open_container(page, container)

    page.get_by_role("button", name="red.png", exact=True).click()
    image = page.get_by_role("img", name="Preview of red.png")
    expect(image).to_be_visible()
    page.wait_for_function("() => document.querySelector('.preview-image').naturalWidth === 3")

    page.get_by_role("button", name="notes.txt", exact=True).click()
    text = page.get_by_label("Text of notes.txt")
    expect(text).to_contain_text("line 00000 ✓")
    shown = text.text_content() or ""
    assert shown.encode() == long_text[:TEXT_LIMIT]  # only the first 64 KiB
    expect(page.get_by_text("The first 64 KiB of")).to_be_visible()

    page.get_by_role("button", name="empty.txt", exact=True).click()
    expect(page.get_by_text("The object is empty.")).to_be_visible()
    expect(page.get_by_role("alert")).to_be_hidden()

    page.get_by_role("button", name="paper.pdf", exact=True).click()
    frame = page.locator("iframe.preview-pdf")
    expect(frame).to_be_visible()
    expect(frame).to_have_attribute("title", "Preview of paper.pdf")
    # Chromium's PDF viewer loads inside the (sandboxed) frame: nothing blocked it
    end = time.monotonic() + TIMEOUT_MS / 1000
    while not any(f.url.startswith("chrome-extension://") for f in page.frames):
        assert time.monotonic() < end, [f.url for f in page.frames]
        page.wait_for_timeout(100)

    page.get_by_role("button", name="page.html", exact=True).click()
    source = page.get_by_label("Text of page.html")
    expect(source).to_contain_text("<script>document.title='pwned'")
    assert page.title() == "Strato console"
    # opened directly through the console, the page renders but its script never runs
    account = api.base_url.path.strip("/").split("/")[-1]
    page.goto(f"/console/api/v1/{account}/{container}/page.html")
    expect(page.get_by_role("heading", name="Hostile page")).to_be_visible()
    assert page.title() == "hostile"
    assert page.dialogs == []  # type: ignore[attr-defined]


def test_share_a_folder_by_prefix_temp_url_and_form_post(
        page: Page, browser: Browser, api: httpx.Client, server: Server,
        tmp_path: Path) -> None:
    container = f"share-{uuid.uuid4().hex[:8]}"
    assert api.put(container).status_code == 201
    for name in ("shared/a.txt", "shared/deeper/b.txt", "other.txt"):
        assert api.put(f"{container}/{name}", content=name.encode()).status_code == 201
    open_container(page, container)
    page.get_by_role("link", name="shared/").click()
    page.get_by_role("button", name="Share this folder").click()

    # one link for every object under shared/, fetched by a plain client
    page.get_by_role("button", name="Create folder link").click()
    box = page.get_by_label("Temporary URL for the folder")
    expect(box).to_have_value(re.compile(r"temp_url_prefix=shared%2F"))
    base, _, query = box.input_value().partition("?")
    assert base.endswith(f"/{container}/shared/")
    for name in ("a.txt", "deeper/b.txt"):
        resp = httpx.get(f"{base}{name}?{query}")
        assert resp.status_code == 200 and resp.text == f"shared/{name}"
    outside = base.rsplit("/shared/", 1)[0] + "/other.txt"
    assert httpx.get(f"{outside}?{query}").status_code == 401

    # an upload page for others: opened in a browser with no session at all
    page.get_by_label("Largest file, MiB").fill("1")
    page.get_by_label("At most").fill("2")
    page.get_by_role("button", name="Create upload page").click()
    link = page.get_by_label("Upload page link")
    expect(link).to_have_value(re.compile(r"/console/upload#url="))
    upload_url = link.input_value()
    stranger = browser.new_context(base_url=server.url)
    stranger.set_default_timeout(TIMEOUT_MS)
    try:
        assert stranger.cookies() == []
        other = stranger.new_page()
        other.goto(upload_url)
        heading = other.get_by_role("heading", name=f"Upload into {container}/shared/")
        expect(heading).to_be_visible()
        expect(other.locator("#limits")).to_contain_text("Up to 2 files of at most 1.0 MiB each")
        files = [tmp_path / "from-a-stranger.txt", tmp_path / "second.txt"]
        files[0].write_bytes(b"hello from outside")
        files[1].write_bytes(b"two")
        other.get_by_label("Files").set_input_files(files)
        other.get_by_role("button", name="Upload").click()
        expect(other.get_by_role("status")).to_have_text(
            "Uploaded 2 files: from-a-stranger.txt, second.txt.")
        # a file over the link's limit is refused before it is sent
        big = tmp_path / "big.bin"
        big.write_bytes(b"x" * (1024 * 1024 + 1))
        other.get_by_label("Files").set_input_files(big)
        other.get_by_role("button", name="Upload").click()
        expect(other.get_by_role("alert")).to_have_text(
            "big.bin is larger than 1.0 MiB, the most this link allows.")
        # a link that would send the files to another site, or elsewhere on this one
        for target in ("https://elsewhere.example/v1/AUTH_x/c",
                       "//elsewhere.example/v1/AUTH_x/c", "/v1/AUTH_x/c/../../../console/x"):
            other.goto(re.sub(r"url=[^&]*", "url=" + quote(target, safe=""), upload_url))
            other.reload()
            expect(other.get_by_role("alert")).to_have_text(
                "This upload link is incomplete or damaged: ask for a new one.")
            expect(other.get_by_label("Files")).to_be_hidden()
        # a damaged signature is refused by Swift
        other.goto(upload_url.replace("signature=", "signature=00"))
        other.reload()
        other.get_by_label("Files").set_input_files(files[1])
        other.get_by_role("button", name="Upload").click()
        expect(other.get_by_role("alert")).to_have_text(
            "This upload link is not valid (401): ask for a new one.")
    finally:
        stranger.close()
    assert api.get(f"{container}/shared/from-a-stranger.txt").content == b"hello from outside"
    assert api.get(f"{container}/shared/second.txt").content == b"two"
    assert api.head(f"{container}/shared/big.bin").status_code == 404


def test_cors_static_web_and_metadata_settings(page: Page, api: httpx.Client) -> None:
    container = f"web-{uuid.uuid4().hex[:8]}"
    assert api.put(container, headers={"X-Container-Meta-Colour": "green"}).status_code == 201
    open_container(page, container)
    page.get_by_role("button", name="Container settings").click()
    expect(page.get_by_label("Key")).to_have_value("colour")
    page.get_by_label("Allowed CORS origins").fill("https://app.example.com   https://b.example")
    page.get_by_label("Index page", exact=True).fill("index.html")
    page.get_by_label("List folders that have no index page").check()
    page.get_by_role("button", name="Add container metadata").click()
    expect(page.get_by_label("Key").last).to_be_focused()
    page.keyboard.type("Owner")
    page.get_by_label("Value").last.fill("team blue")
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_role("status")).to_have_text(f"Settings of {container} saved.")
    head = api.head(container).headers
    assert head["X-Container-Meta-Access-Control-Allow-Origin"] == (
        "https://app.example.com https://b.example")
    assert head["X-Container-Meta-Web-Index"] == "index.html"
    assert head["X-Container-Meta-Web-Listings"] == "true"
    assert head["X-Container-Meta-Owner"] == "team blue"
    assert head["X-Container-Meta-Colour"] == "green"
    preflight = {"Origin": "https://b.example", "Access-Control-Request-Method": "GET"}
    resp = httpx.options(f"{api.base_url}{container}/x", headers=preflight)
    assert resp.status_code == 200
    assert resp.headers["Access-Control-Allow-Origin"] == "https://b.example"
    # the settings show what was saved; clearing and removing take them away again
    expect(page.get_by_label("Allowed CORS origins")).to_have_value(
        "https://app.example.com https://b.example")
    expect(page.get_by_label("List folders that have no index page")).to_be_checked()
    page.get_by_label("Allowed CORS origins").fill("")
    page.get_by_label("Index page", exact=True).fill("")
    page.get_by_label("List folders that have no index page").uncheck()
    page.get_by_role("button", name="Remove metadata item colour").click()
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_role("status")).to_have_text(f"Settings of {container} saved.")
    head = api.head(container).headers
    for gone in ("Access-Control-Allow-Origin", "Web-Index", "Web-Listings", "Colour"):
        assert f"X-Container-Meta-{gone}" not in head
    assert head["X-Container-Meta-Owner"] == "team blue"
    # the origin allowed before is now refused
    assert httpx.options(f"{api.base_url}{container}/x", headers=preflight).status_code == 401


def fits(page: Page) -> bool:
    """Nothing scrolls sideways (the elements reaching past the edge are in the message)."""
    if page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"):
        return True
    wide = page.evaluate("""() => [...document.querySelectorAll('body *')]
        .filter(e => e.getBoundingClientRect().right > window.innerWidth + 0.5)
        .map(e => `${e.tagName}.${e.className}[${e.name || ''}]`)""")
    raise AssertionError(f"wider than the screen: {wide}")


def test_new_panels_fit_a_phone(page: Page, browser: Browser, api: httpx.Client,
                                server: Server) -> None:
    """Versions, previews, both sharing forms, settings and the upload page on a 390 px
    wide screen: nothing scrolls sideways."""
    container = f"phone-{uuid.uuid4().hex[:8]}"
    assert api.put(container, headers={"X-Versions-Enabled": "true"}).status_code == 201
    for body in (b"one", b"two"):
        assert api.put(f"{container}/a-long-name-for-a-small-screen.txt", content=body,
                       headers={"Content-Type": "text/plain"}).status_code == 201
    page.set_viewport_size({"width": 390, "height": 760})
    open_container(page, container)
    page.get_by_role("button", name="a-long-name-for-a-small-screen.txt").click()
    expect(page.locator(".versions tbody tr")).to_have_count(2)
    expect(page.locator(".preview-text")).to_have_text("two")
    assert fits(page)
    page.get_by_role("button", name="Share this container").click()
    page.get_by_role("button", name="Create folder link").click()
    page.get_by_role("button", name="Create upload page").click()
    link = page.get_by_label("Upload page link")
    expect(link).to_be_visible()
    assert fits(page)
    upload_url = link.input_value()
    page.get_by_role("button", name="Container settings").click()
    expect(page.get_by_label("Allowed CORS origins")).to_be_visible()
    assert fits(page)
    stranger = browser.new_context(base_url=server.url, viewport={"width": 390, "height": 760})
    try:
        other = stranger.new_page()
        other.goto(upload_url)
        expect(other.get_by_role("heading", name=f"Upload into {container}")).to_be_visible()
        assert fits(other)
    finally:
        stranger.close()


def test_upload_page_with_a_redirect_follows_it(page: Page, browser: Browser,
                                                api: httpx.Client, server: Server,
                                                tmp_path: Path) -> None:
    """With a redirect the page submits a plain form, and the browser follows Swift's 303
    to the redirect with the status."""
    container = f"redirect-{uuid.uuid4().hex[:8]}"
    assert api.put(container).status_code == 201
    open_container(page, container)
    page.get_by_role("button", name="Share this container").click()
    page.get_by_label("After uploading, go to").fill(f"{server.url}/info")
    page.get_by_role("button", name="Create upload page").click()
    fields = page.locator(".form-fields")
    expect(fields).to_contain_text(f"{server.url}/info")
    upload_url = page.get_by_label("Upload page link").input_value()
    stranger = browser.new_context(base_url=server.url)
    stranger.set_default_timeout(TIMEOUT_MS)
    try:
        other = stranger.new_page()
        other.goto(upload_url)
        note = tmp_path / "note.txt"
        note.write_bytes(b"redirected")
        other.get_by_label("Files").set_input_files(note)
        with other.expect_navigation(url=re.compile(r"/info\?status=201&message=$")):
            other.get_by_role("button", name="Upload").click()
    finally:
        stranger.close()
    assert api.get(f"{container}/note.txt").content == b"redirected"


def test_a_shared_container_offers_no_links_and_explains_versions(
        page: Page, keystone: Keystone, api: httpx.Client) -> None:
    """A user of another project reading through the container's ACL: links would be signed
    with their own project's key, so there are none; versions are listed, but reaching one
    by its id is for the account's owners (as in Swift)."""
    container = f"acl-{uuid.uuid4().hex[:8]}"
    keystone.user("console-guest", "guesting", {"guests": "member"})
    project = keystone.http.get("projects", params={"name": "guests"}).json()["projects"][0]
    assert api.put(container, headers={"X-Versions-Enabled": "true",
                                       "X-Container-Read": f"{project['id']}:*"}
                   ).status_code == 201
    for body in (b"v1", b"v2"):
        assert api.put(f"{container}/note.txt", content=body,
                       headers={"Content-Type": "text/plain"}).status_code == 201
    account = api.base_url.path.strip("/").split("/")[-1]
    sign_in(page, "console-guest", "guesting", "guests")
    page.goto(f"/console/#/a/{account}/{container}/")
    page.get_by_role("button", name="note.txt", exact=True).click()
    expect(page.locator(".preview-text")).to_have_text("v2")
    expect(page.locator(".versions tbody tr")).to_have_count(2)  # listed, as Swift allows
    expect(page.get_by_text(
        "Only the account's owners may download, restore or delete versions.")).to_be_visible()
    expect(page.locator(".versions button")).to_have_count(0)
    expect(page.get_by_role("button", name="Create temporary link")).to_have_count(0)
    expect(page.get_by_role("button", name="Share this container")).to_be_hidden()
    expect(page.get_by_role("alert")).to_be_hidden()
