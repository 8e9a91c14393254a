"""The images pages in Debian's Chromium against a real server: create and upload with the
status followed live, a refused upload's reason, deactivate/reactivate and delete, each
checked again through the Glance API with a plain HTTP client."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.api.console.conftest import sign_in
from tests.harness import Server

MIB = 1024 * 1024


@pytest.fixture
def glance(server: Server, tester: tuple[str, str]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{server.url}/image/v2/", timeout=30,
                      headers={"X-Auth-Token": tester[1]}) as client:
        yield client


def find(glance: httpx.Client, name: str) -> dict[str, object]:
    images = glance.get("images", params={"name": name}).json()["images"]
    assert len(images) == 1, images
    return images[0]  # type: ignore[no-any-return]


def open_images(page: Page) -> None:
    sign_in(page, "tester", "testing", "test")
    page.get_by_role("navigation", name="Sections").get_by_role("link", name="Images").click()
    expect(page.get_by_role("heading", name="Images")).to_be_visible()


def create(page: Page, name: str, path: Path, disk_format: str) -> None:
    form = page.get_by_role("form", name="New image")
    form.get_by_label("Image name").fill(name)
    form.get_by_label("Disk format").select_option(disk_format)
    form.get_by_label("Image file").set_input_files(path)
    form.get_by_role("button", name="Create and upload").click()


def test_upload_follows_the_status_to_active_then_delete(page: Page, glance: httpx.Client,
                                                         tmp_path: Path) -> None:
    """A 6 MiB raw image over a 2 MiB/s uplink: the bar moves, the page sees the image go
    queued → saving → active by polling, and Glance holds the very bytes."""
    name = f"raw-{uuid.uuid4().hex[:8]}"
    data = os.urandom(6 * MIB)
    path = tmp_path / "disk.raw"
    path.write_bytes(data)
    open_images(page)
    cdp = page.context.new_cdp_session(page)  # slow enough that polling sees `saving`
    cdp.send("Network.emulateNetworkConditions", {
        "offline": False, "latency": 0, "downloadThroughput": -1,
        "uploadThroughput": 2 * MIB})
    create(page, name, path, "raw")
    status = page.locator(".image-upload-status")
    expect(status).to_have_text("Status: queued → saving → active", timeout=30_000)
    expect(page.locator(".image-upload-percent")).to_have_text("100%")
    assert page.locator(".image-uploads progress").evaluate("p => p.value === p.max")
    expect(page.get_by_role("status")).to_have_text(f"Image {name} uploaded.")
    row = page.locator("tr", has=page.get_by_role("rowheader", name=name, exact=True))
    expect(row.locator("td[data-label=Status]")).to_have_text("active")
    expect(row.locator("td[data-label='Disk format']")).to_have_text("raw")
    expect(row.locator("td[data-label=Visibility]")).to_have_text("private")

    image = find(glance, name)
    assert image["status"] == "active" and image["size"] == len(data)
    assert image["checksum"] == hashlib.md5(data).hexdigest()
    assert image["os_hash_algo"] == "sha512"
    assert image["os_hash_value"] == hashlib.sha512(data).hexdigest()
    assert glance.get(f"images/{image['id']}/file").content == data

    page.get_by_role("button", name=f"Delete image {name}").click()
    expect(page.locator("#confirm-text")).to_have_text(f"Delete the image “{name}”?")
    page.locator("#confirm-ok").click()
    expect(page.get_by_role("status")).to_have_text(f"Image {name} deleted.")
    expect(page.get_by_role("rowheader", name=name, exact=True)).to_have_count(0)
    assert glance.get(f"images/{image['id']}").status_code == 404


def test_qcow2_upload_deactivate_reactivate_and_a_refused_one(
        page: Page, glance: httpx.Client, tmp_path: Path) -> None:
    good = f"qcow-{uuid.uuid4().hex[:8]}"
    bad = f"fake-{uuid.uuid4().hex[:8]}"
    qcow2 = tmp_path / "disk.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(qcow2), "64M"], check=True)
    junk = tmp_path / "junk.qcow2"
    junk.write_bytes(b"this is not a qcow2 image\n" * 1000)
    open_images(page)

    create(page, good, qcow2, "qcow2")
    first = page.locator(".image-uploads li").first
    expect(first.locator(".image-upload-status")).to_have_text(
        re.compile(r"^Status: queued → .*active$"))
    image = find(glance, good)
    assert image["disk_format"] == "qcow2" and image["virtual_size"] == 64 * MIB
    assert image["checksum"] == hashlib.md5(qcow2.read_bytes()).hexdigest()

    # Glance's inspection refuses bytes that are not what the disk format says: the image
    # goes back to queued and the page says why
    create(page, bad, junk, "qcow2")
    failed = page.locator(".image-uploads li").first
    expect(failed.locator(".image-upload-reason")).to_contain_text(
        "Upload failed: The request failed (400). Image data is not acceptable")
    # (the refusal comes within the first bytes, often before a poll sees `saving`)
    expect(failed.locator(".image-upload-status")).to_have_text(
        re.compile(r"^Status: queued( → saving → queued)?$"))
    expect(page.get_by_role("alert")).to_contain_text(f"{bad}: The request failed (400).")
    assert find(glance, bad)["status"] == "queued"

    # an admin (tester is one) may deactivate and reactivate through Glance's own policy
    row = page.locator("tr", has=page.get_by_role("rowheader", name=good, exact=True))
    page.get_by_role("button", name=f"Deactivate image {good}").click()
    expect(page.get_by_role("status")).to_have_text(f"Image {good} deactivated.")
    expect(row.locator("td[data-label=Status]")).to_have_text("deactivated")
    assert find(glance, good)["status"] == "deactivated"
    page.get_by_role("button", name=f"Reactivate image {good}").click()
    expect(row.locator("td[data-label=Status]")).to_have_text("active")
    assert find(glance, good)["status"] == "active"
    for name in (good, bad):
        assert glance.delete(f"images/{find(glance, name)['id']}").status_code == 204
