"""A container served as a website to an anonymous browser (and to X-Web-Mode owners)."""

from __future__ import annotations

import uuid

import httpx
import pytest
import swiftclient

from tests.harness import Server


@pytest.fixture(scope="module")
def website(tester: tuple[str, str]) -> tuple[str, swiftclient.Connection, str]:
    url, token = tester
    conn = swiftclient.Connection(preauthurl=url, preauthtoken=token, retries=0)
    container = f"web-{uuid.uuid4().hex[:8]}"
    conn.put_container(container, headers={
        "X-Container-Read": ".r:*,.rlistings",
        "X-Container-Meta-Web-Index": "index.html",
        "X-Container-Meta-Web-Error": "error.html",
        "X-Container-Meta-Web-Listings": "true",
        "X-Container-Meta-Web-Listings-CSS": "style.css"})
    pages = {"index.html": b"<h1>home</h1>", "404error.html": b"<h1>custom not found</h1>",
             "docs/index.html": b"<h1>docs</h1>", "files/a.txt": b"aaa",
             "files/sub/b.txt": b"b" * 2048, "style.css": b"body {}"}
    for name, body in pages.items():
        conn.put_object(container, name, body)
    conn.put_object(container, "marker", b"", content_type="application/directory")
    return f"{url}/{container}", conn, container


def test_index_pages_and_redirects(server: Server, website: tuple[str, object, str]) -> None:
    base, _, _ = website
    home = httpx.get(base + "/")
    assert (home.status_code, home.content) == (200, b"<h1>home</h1>")
    redirect = httpx.get(base)
    assert redirect.status_code == 301 and redirect.headers["location"].endswith(
        base.split("/", 3)[3] + "/")
    assert httpx.get(base + "/docs/").content == b"<h1>docs</h1>"
    to_dir = httpx.get(base + "/docs")
    assert to_dir.status_code == 301 and to_dir.headers["location"].endswith("/docs/")
    assert httpx.get(base + "/files").status_code == 301  # a pseudo-directory
    assert httpx.get(base + "/files/a.txt").content == b"aaa"
    assert httpx.head(base + "/").status_code == 200


def test_listing_of_a_directory_without_index(server: Server,
                                              website: tuple[str, object, str]) -> None:
    base, _, _ = website
    resp = httpx.get(base + "/files/")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/html")
    page = resp.text
    assert "Listing of /v1/" in page and "/files/" in page
    assert '<a href="./a%2Etxt">a.txt</a>' in page and '<a href="./sub/">sub/</a>' in page
    assert '<td class="colsize">2Ki</td>' not in page  # sub/b.txt is below, not listed here
    assert '<a href="../">../</a>' in page and "X-Backend" not in str(resp.headers)
    assert 'href="../style.css"' in page
    deeper = httpx.get(base + "/files/sub/").text
    assert '<td class="colsize">2Ki</td>' in deeper and 'href="../../style.css"' in deeper


def test_error_pages_and_markers(server: Server, website: tuple[str, object, str]) -> None:
    base, _, _ = website
    missing = httpx.get(base + "/nothing/here.html")
    assert (missing.status_code, missing.content) == (404, b"<h1>custom not found</h1>")
    assert httpx.get(base + "/marker").status_code == 404


def test_owner_sees_api_unless_web_mode(server: Server, tester: tuple[str, str],
                                        website: tuple[str, object, str]) -> None:
    base, _, _ = website
    _, token = tester
    api = httpx.get(base, headers={"X-Auth-Token": token})
    assert api.status_code == 200 and "index.html" in api.text.splitlines()
    web = httpx.get(base + "/", headers={"X-Auth-Token": token, "X-Web-Mode": "true"})
    assert web.content == b"<h1>home</h1>"


def test_listings_need_rlistings_and_private_stays_private(
        server: Server, website: tuple[str, swiftclient.Connection, str]) -> None:
    base, conn, container = website
    private = container + "-private"
    conn.put_container(private, headers={"X-Container-Meta-Web-Listings": "true"})
    conn.put_object(private, "secret.txt", b"secret")
    root = base.rsplit("/", 1)[0]
    assert httpx.get(f"{root}/{private}/").status_code == 401
    assert httpx.get(f"{root}/{private}/secret.txt").status_code == 401
    no_list = container + "-nolist"
    conn.put_container(no_list, headers={"X-Container-Read": ".r:*",
                                         "X-Container-Meta-Web-Listings": "true"})
    conn.put_object(no_list, "page.txt", b"page")
    assert httpx.get(f"{root}/{no_list}/").status_code == 401
    assert httpx.get(f"{root}/{no_list}/page.txt").content == b"page"


def test_temp_url_for_a_whole_site(server: Server,
                                   website: tuple[str, swiftclient.Connection, str]) -> None:
    """An empty-prefix temp URL opens a private site's listings, links carrying the URL."""
    from swiftclient.utils import generate_temp_url

    base, conn, container = website
    site = container + "-tempurl"
    conn.put_container(site, headers={"X-Container-Meta-Web-Listings": "true",
                                      "X-Container-Meta-Temp-URL-Key": "site-key"})
    conn.put_object(site, "d/page.txt", b"page")
    root = base.rsplit("/", 1)[0]
    path = root[root.index("/v1/"):] + f"/{site}/"
    signed = generate_temp_url(path, 60, "site-key", "GET", prefix=True)
    resp = httpx.get(server.url + signed)
    assert resp.status_code == 200 and "Listing of /v1/" in resp.text
    assert '<a href="./d/?temp_url_prefix=&amp;temp_url_expires=' in resp.text
    assert resp.headers["content-disposition"] == "inline"
    inner = httpx.get(server.url + signed.replace(f"/{site}/?", f"/{site}/d/?"))
    assert inner.status_code == 200 and 'href="./page%2Etxt?temp_url_prefix=' in inner.text
    assert httpx.get(server.url + signed.replace(f"/{site}/?", f"/{site}/d/page.txt?")
                     ).content == b"page"
    conn.post_container(site, {"X-Remove-Container-Meta-Web-Listings": "x"})
    assert httpx.get(server.url + signed).status_code == 401  # only static web may answer
