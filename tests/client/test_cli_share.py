"""`strato tempurl` and `strato share`: what they print works with plain HTTP, no login."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from html.parser import HTMLParser

import httpx
import swiftclient

from tests.client.conftest import CLI


def conn(tester: tuple[str, str]) -> swiftclient.Connection:
    url, token = tester
    return swiftclient.Connection(preauthurl=url, preauthtoken=token, retries=0)


class Form(HTMLParser):
    """The action and fields of the upload page, as a browser reads them."""

    def __init__(self) -> None:
        super().__init__()
        self.action = ""
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "form":
            self.action = a["action"] or ""
        if tag == "input" and a.get("type") == "hidden":
            self.fields[a["name"] or ""] = a["value"] or ""


def test_tempurl_as_swift_makes_it(cli: CLI, name: Callable[[str], str],
                                   tester: tuple[str, str]) -> None:
    box = name("tmp")
    c = conn(tester)
    c.put_container(box, headers={"X-Container-Meta-Temp-URL-Key": "box-secret"})
    c.put_object(box, "report.pdf", b"%PDF")
    path = f"{tester[0].split('127.0.0.1', 1)[1].split('/', 1)[1]}"
    signed = cli("tempurl", "GET", "60", f"/{path}/{box}/report.pdf", "box-secret").out.strip()
    assert signed.startswith(f"/{path}/{box}/report.pdf?temp_url_sig=")
    origin = tester[0].split("/v1/")[0]
    assert httpx.get(origin + signed).content == b"%PDF"
    assert httpx.put(origin + signed, content=b"x").status_code == 401  # signed for GET
    # no KEY: the container's key, fetched with the login
    url = cli("tempurl", "GET", "60", f"{tester[0]}/{box}/report.pdf").out.strip()
    assert httpx.get(url).content == b"%PDF"
    rel = cli("tempurl", "GET", "60", f"{box}/report.pdf", "--digest", "sha512").out.strip()
    assert re.search(r"temp_url_sig=[0-9a-f]{128}&", rel)
    assert httpx.get(rel).content == b"%PDF"
    iso = cli("tempurl", "GET", "2099-01-01T00:00:00Z", f"{box}/report.pdf",
              "--iso8601").out.strip()
    assert "temp_url_expires=2099-01-01T00:00:00Z" in iso
    assert httpx.get(iso).content == b"%PDF"
    prefix = cli("tempurl", "GET", "60", f"{tester[0]}/{box}/rep", "--prefix-based").out
    assert httpx.get(prefix.strip().replace(f"/{box}/rep?", f"/{box}/report.pdf?")
                     ).content == b"%PDF"
    expired = cli("tempurl", "GET", str(int(time.time()) - 10), f"{box}/report.pdf",
                  "--absolute").out.strip()
    assert httpx.get(expired).status_code == 401


def test_share_link_prefix_and_missing_key(fresh_account: CLI,
                                           name: Callable[[str], str]) -> None:
    cli = fresh_account  # an account of its own: no account-wide temp URL key
    box = name("share")
    (cli.cwd / "cat.jpg").write_bytes(b"meow")
    cli("upload", box, "cat.jpg", "--object-name", "pics/cat.jpg", "-q")
    nokey = cli("share", box, "pics/cat.jpg", ok=False)
    assert nokey.code == 1 and "Temp-URL-Key" in nokey.err
    cli("post", box, "-m", "Temp-URL-Key:s3cret")
    url = cli("share", box, "pics/cat.jpg", "--seconds", "120").out.strip()
    assert httpx.get(url).content == b"meow"
    doc = cli("share", box, "pics/", "--prefix", "--json").json()
    assert doc["prefix"] is True and doc["method"] == "GET"
    assert doc["expires"] > time.time() + 86000
    assert httpx.get(doc["url"].replace("/pics/?", "/pics/cat.jpg?")).content == b"meow"
    put = cli("share", box, "drop.txt", "--method", "PUT").out.strip()
    assert httpx.put(put, content=b"dropped").status_code == 201
    assert cli("download", box, "drop.txt", "-o", "-").out == "dropped"


def test_share_form_page_accepts_a_multipart_post(cli: CLI, name: Callable[[str], str],
                                                  tester: tuple[str, str]) -> None:
    box = name("form")
    c = conn(tester)
    c.put_container(box, headers={"X-Container-Meta-Temp-URL-Key": "form-secret"})
    cli("share", box, "incoming", "--form", "--max-file-count", "2", "-o", "page.html")
    page = Form()
    page.feed((cli.cwd / "page.html").read_text())
    assert page.action == f"{tester[0]}/{box}/incoming/"
    assert page.fields["max_file_count"] == "2"
    answer = httpx.post(page.action, data=page.fields,
                        files=[("file1", ("a.txt", b"first")), ("file2", ("b.txt", b"second"))])
    assert answer.status_code in (201, 303), answer.text
    assert c.get_object(box, "incoming/a.txt")[1] == b"first"
    assert c.get_object(box, "incoming/b.txt")[1] == b"second"
    html = cli("share", box, "--form").out
    assert '<form action="' in html and 'name="signature"' in html
