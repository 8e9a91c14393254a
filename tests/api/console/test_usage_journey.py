"""The Usage page in Debian's Chromium: totals and charts drawn from the samples the server
keeps (every second here), with figures that match Swift's HEAD counters."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.api.console.conftest import Keystone, sign_in
from tests.conftest import serve_with_tester
from tests.harness import Server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server of the module's own that samples usage every second."""
    yield from serve_with_tester(tmp_path_factory.mktemp("console-usage") / "data",
                                 extra_args=("--usage-interval", "1"))


@pytest.fixture
def api(tester: tuple[str, str]) -> Iterator[httpx.Client]:
    url, token = tester
    with httpx.Client(base_url=url + "/", headers={"X-Auth-Token": token}, timeout=30) as c:
        yield c


def sampled(page: Page, query: dict[str, str], objects: int, nbytes: int) -> None:
    """Wait until the server's latest sample holds these counters."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        found = page.request.get("/console/usage", params=query).json()
        last = found["samples"][-1] if found["samples"] else {}
        if last.get("objects") == objects and last.get("bytes") == nbytes:
            return
        time.sleep(0.2)
    raise AssertionError(f"no sample of {objects} objects, {nbytes} bytes: {found}")


def check_block(page: Page, label: str, objects: str, nbytes: str) -> None:
    block = page.get_by_role("region", name=f"Usage of {label}")
    expect(block.locator("[data-figure=objects]")).to_have_text(objects)
    expect(block.locator("[data-figure=bytes]")).to_contain_text(f"{nbytes} bytes")
    for name in ("Bytes used, last 7 days", "Objects, last 7 days"):
        chart = block.get_by_role("img", name=name)
        expect(chart).to_be_visible()
        assert int(chart.get_attribute("data-points") or 0) >= 2
        assert chart.locator("path.line").get_attribute("d")
    # the figures behind the chart, for screen readers: the last row is now
    last = block.locator("table.sr-only tbody tr").last
    expect(last.locator("th")).to_have_text("now")
    expect(last.locator("td").nth(0)).to_have_text(objects)
    expect(last.locator("td").nth(1)).to_have_text(nbytes)


def test_usage_page_shows_totals_and_charts_that_match_swift(page: Page, api: httpx.Client,
                                                              keystone: Keystone) -> None:
    errors: list[str] = []  # script errors, CSP refusals and failed requests of the page
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" and not
            m.text.startswith("Failed to load resource") else None)
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 and
            not r.url.endswith("/console/session") else None)  # 401 there: not signed in yet
    container = f"usage-{uuid.uuid4().hex[:8]}"
    assert api.put(container).status_code == 201
    for n, size in enumerate((1000, 2500, 70_000)):
        assert api.put(f"{container}/o{n}", content=b"x" * size).status_code == 201
    sign_in(page, "tester", "testing", "test")
    account = api.base_url.path.strip("/").split("/")[-1]
    head = api.head("")
    sampled(page, {}, int(head.headers["X-Account-Object-Count"]),
            int(head.headers["X-Account-Bytes-Used"]))

    page.get_by_role("link", name="Usage", exact=True).click()
    expect(page.get_by_role("heading", name="Usage", exact=True)).to_be_visible()
    check_block(page, f"account {account}", head.headers["X-Account-Object-Count"],
                head.headers["X-Account-Bytes-Used"])
    expect(page.get_by_role("region", name=f"Usage of account {account}")
           .locator("[data-figure=containers]")).to_have_text(
        head.headers["X-Account-Container-Count"])

    # a container's own usage, from the per-container table
    link = page.get_by_role("link", name=f"Usage of container {container}")
    row = page.get_by_role("row").filter(has=link)
    expect(row.get_by_role("cell").first).to_have_text("3")
    link.click()
    chead = api.head(container)
    assert chead.headers["X-Container-Object-Count"] == "3"
    check_block(page, f"container {container}", "3", chead.headers["X-Container-Bytes-Used"])

    # one more object: Refresh shows the next sample
    assert api.put(f"{container}/o3", content=b"y" * 500).status_code == 201
    sampled(page, {"container": container}, 4, 74_000)
    page.get_by_role("button", name="Refresh").click()
    check_block(page, f"container {container}", "4", "74000")
    assert errors == [], errors  # nothing refused by the CSP, no script error

    # a user of another project may not read this account's usage
    page.get_by_role("button", name="Sign out").click()
    keystone.user("usage-stranger", "strange-pass", {"usage-elsewhere": "member"})
    sign_in(page, "usage-stranger", "strange-pass", "usage-elsewhere")
    for query in ({"account": account}, {"account": account, "container": container}):
        resp = page.request.get("/console/usage", params=query)
        assert resp.status == 403 and "samples" not in resp.json()
