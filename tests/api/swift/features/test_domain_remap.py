"""domain_remap: accounts and containers served by host name, a static website included."""

from __future__ import annotations

import httpx

from tests.api.swift.helpers import raw, uniq
from tests.harness import Server


def test_hosts_name_accounts_and_containers(make_server: object) -> None:
    srv: Server = make_server(extra_args=("--storage-domain", "example.net"))  # type: ignore[operator]
    srv.add_user("test", "tester", "testing", role="admin")
    tester = srv.auth_v1("test:tester", "testing")
    account = tester[0].rsplit("/", 1)[1]
    assert httpx.get(srv.url + "/info").json()["domain_remap"] == {
        "default_reseller_prefix": None}
    site = uniq("site")
    with raw(tester) as http:
        assert http.put(site, headers={"X-Container-Read": ".r:*,.rlistings",
                                       "X-Container-Meta-Web-Index": "index.html"}
                        ).status_code == 201
        assert http.put(f"{site}/index.html", content=b"<h1>home</h1>",
                        headers={"Content-Type": "text/html"}).status_code == 201
        assert http.put(f"{site}/docs/index.html", content=b"docs").status_code == 201
        assert http.put(f"{site}//v1", content=b"odd name").status_code == 201
    token = {"X-Auth-Token": tester[1]}
    web = httpx.Client(base_url=srv.url, timeout=30)
    for host in (f"{account}.example.net", f"{account.replace('_', '-').lower()}.example.net"):
        listing = web.get("/", headers={**token, "Host": host})
        assert listing.status_code == 200 and site in listing.text.split("\n")
        got = web.get(f"/{site}//v1", headers={**token, "Host": host})
        assert got.content == b"odd name"
        made = web.put(f"/{site}/new", content=b"via host", headers={**token, "Host": host})
        assert made.status_code == 201
    # a static website on its own host name, anonymously
    host = f"{site}.{account}.example.net:8080"
    home = web.get("/", headers={"Host": host})
    assert (home.status_code, home.content) == (200, b"<h1>home</h1>")
    moved = web.get("/docs", headers={"Host": host})
    assert moved.status_code == 301
    assert moved.headers["Location"] == f"http://{host}/docs/"
    assert web.get("/docs/", headers={"Host": host}).content == b"docs"
    assert web.get("/new", headers={"Host": host}).content == b"via host"
    # a UTF-8 container name as a host label (sent as raw UTF-8 bytes, as Swift's suite does)
    utf8 = "\u00e9t\u00e9-" + uniq()
    with raw(tester) as http:
        assert http.put(utf8, headers={"X-Container-Read": ".r:*"}).status_code == 201
        assert http.put(f"{utf8}/page", content=b"summer").status_code == 201
    raw_host = f"{utf8}.{account}.example.net".encode()
    assert web.get("/page", headers=[(b"Host", raw_host)]).content == b"summer"
    bad = web.get("/", headers={"Host": f"a.b.{account}.example.net"})
    assert (bad.status_code, bad.text) == (400, "Bad domain in host header")
    # other host names are served as before
    assert web.get("/info", headers={"Host": "storage.example.org"}).status_code == 200


def test_off_without_a_storage_domain(server: Server) -> None:
    assert "domain_remap" not in httpx.get(server.url + "/info").json()
