"""Container listings: formats, negotiation, paging, prefixes, delimiters, order, fields."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from tests.api.swift.helpers import conn, raw, uniq

NAMES = ["a", "a/b", "a/b/c", "a/c", "b", "b/", "b/x", "c", "c/d/e", "é", "z", "~", "日本"]


@pytest.fixture(scope="module")
def listed(tester: tuple[str, str]) -> str:
    name = uniq()
    c = conn(tester)
    c.put_container(name)
    for obj in NAMES:
        c.put_object(name, obj, obj.encode(), content_type="text/x-test")
    return name


def names(tester: tuple[str, str], container: str, **params: str) -> list[str]:
    with raw(tester) as http:
        resp = http.get(container, params={"format": "json", **params})
        assert resp.status_code == 200, resp.text
        return [e.get("name", e.get("subdir")) for e in resp.json()]


def test_byte_order(tester: tuple[str, str], listed: str) -> None:
    assert names(tester, listed) == sorted(NAMES, key=lambda n: n.encode())


def test_json_fields(tester: tuple[str, str], listed: str) -> None:
    with raw(tester) as http:
        entry = http.get(listed, params={"format": "json", "prefix": "a/b/c"}).json()[0]
    assert set(entry) == {"name", "hash", "bytes", "content_type", "last_modified"}
    assert entry["bytes"] == 5 and entry["content_type"] == "text/x-test"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}", entry["last_modified"])
    assert re.fullmatch(r"[0-9a-f]{32}", entry["hash"])


def test_formats_and_accept(tester: tuple[str, str], listed: str) -> None:
    with raw(tester) as http:
        plain = http.get(listed, params={"limit": "2"})
        assert plain.headers["Content-Type"].startswith("text/plain")
        assert plain.text == "a\na/b\n"
        assert plain.headers["X-Container-Object-Count"] == str(len(NAMES))
        assert plain.headers["X-Container-Bytes-Used"] == str(sum(len(n.encode())
                                                                  for n in NAMES))
        js = http.get(listed, headers={"Accept": "application/json"})
        assert js.headers["Content-Type"].startswith("application/json")
        assert len(js.json()) == len(NAMES)
        for accept in ("application/xml", "text/xml"):
            xml = http.get(listed, headers={"Accept": accept})
            assert xml.headers["Content-Type"] == f"{accept}; charset=utf-8"
            root = ET.fromstring(xml.content)
            assert root.tag == "container" and root.get("name") == listed
            first = root.find("object")
            assert first is not None and first.findtext("name") == "a"
            assert first.findtext("bytes") == "1"
        assert http.get(listed, headers={"Accept": "image/png"}).status_code == 406
        # HEAD says which format a GET would answer in
        assert http.head(listed, params={"format": "json"}).headers["Content-Type"] == (
            "application/json; charset=utf-8")
        assert http.head(listed, headers={"Accept": "application/xml"}
                         ).headers["Content-Type"] == "application/xml; charset=utf-8"
        assert http.head(listed).headers["Content-Type"] == "text/plain; charset=utf-8"
        assert http.head("", params={"format": "json"}).headers["Content-Type"] == (
            "application/json; charset=utf-8")
        # an unknown format is plain text, as in Swift
        assert http.get(listed, params={"format": "yaml"},
                        headers={"Accept": "application/json"}).text.startswith("a\na/b\n")
        assert http.get(listed, headers={"Accept": "application/*"}).json()
        assert http.get(listed, params={"format": "json"},
                        headers={"Accept": "text/plain"}).headers["Content-Type"].startswith(
                            "application/json")
        xml = http.get(listed, params={"format": "xml", "delimiter": "/"})
        root = ET.fromstring(xml.content)
        subdirs = [s.get("name") for s in root.findall("subdir")]
        assert subdirs == ["a/", "b/", "c/"]


def test_limit_marker_end_marker(tester: tuple[str, str], listed: str) -> None:
    assert names(tester, listed, limit="3") == ["a", "a/b", "a/b/c"]
    assert names(tester, listed, marker="b", limit="2") == ["b/", "b/x"]
    assert names(tester, listed, marker="b", end_marker="c/d/e") == ["b/", "b/x", "c"]
    assert names(tester, listed, limit="0") == []
    with raw(tester) as http:
        assert http.get(listed, params={"limit": "10001"}).status_code == 412
        # Swift ignores a limit that is not a plain number
        for junk in ("-1", "ten", "1.5"):
            resp = http.get(listed, params={"limit": junk, "format": "json"})
            assert resp.status_code == 200 and len(resp.json()) == len(NAMES)
        assert http.get(listed, params={"limit": "10000"}).status_code == 200


def test_prefix_and_delimiter(tester: tuple[str, str], listed: str) -> None:
    assert names(tester, listed, prefix="a/") == ["a/b", "a/b/c", "a/c"]
    assert names(tester, listed, delimiter="/") == ["a", "a/", "b", "b/", "c", "c/", "z",
                                                    "~", "é", "日本"]
    assert names(tester, listed, prefix="a/", delimiter="/") == ["a/b", "a/b/", "a/c"]
    assert names(tester, listed, delimiter="/", limit="3") == ["a", "a/", "b"]
    # a subdir equal to the marker is not repeated (paging through subdirs)
    assert names(tester, listed, delimiter="/", marker="a/", limit="2") == ["b", "b/"]
    with raw(tester) as http:
        subdir = http.get(listed, params={"format": "json", "delimiter": "/",
                                          "prefix": "c"}).json()
    assert subdir == [{"name": "c", "hash": subdir[0]["hash"], "bytes": 1,
                       "content_type": "text/x-test",
                       "last_modified": subdir[0]["last_modified"]}, {"subdir": "c/"}]


def test_reverse(tester: tuple[str, str], listed: str) -> None:
    ordered = sorted(NAMES, key=lambda n: n.encode())
    assert names(tester, listed, reverse="true") == ordered[::-1]
    assert names(tester, listed, reverse="1", limit="2") == ordered[::-1][:2]
    assert names(tester, listed, reverse="on", marker="b") == ["a/c", "a/b/c", "a/b", "a"]
    assert names(tester, listed, reverse="yes", marker="c", end_marker="a/c") == [
        "b/x", "b/", "b"]
    assert names(tester, listed, reverse="true", delimiter="/") == [
        "日本", "é", "~", "z", "c/", "c", "b/", "b", "a/", "a"]
    assert names(tester, listed, reverse="true", delimiter="/", prefix="a/") == [
        "a/c", "a/b/", "a/b"]


def test_path(tester: tuple[str, str], listed: str) -> None:
    assert names(tester, listed, path="a") == ["a/b", "a/c"]
    assert names(tester, listed, path="b") == ["b/x"]  # the path itself is left out
    assert names(tester, listed, path="c/d") == ["c/d/e"]
    assert names(tester, listed, path="c") == []


def test_empty_container_listing(tester: tuple[str, str]) -> None:
    name = uniq()
    conn(tester).put_container(name)
    with raw(tester) as http:
        plain = http.get(name)
        assert plain.status_code == 204 and plain.content == b""
        assert plain.headers["X-Container-Object-Count"] == "0"
        js = http.get(name, params={"format": "json"})
        assert js.status_code == 200 and js.json() == []
        xml = http.get(name, params={"format": "xml"})
        assert xml.status_code == 200 and ET.fromstring(xml.content).tag == "container"


def test_swiftclient_full_listing_pages(tester: tuple[str, str]) -> None:
    name = uniq()
    c = conn(tester)
    c.put_container(name)
    for i in range(25):
        c.put_object(name, f"o{i:03d}", b"")
    _, page = c.get_container(name, limit=10)
    assert len(page) == 10
    _, everything = c.get_container(name, limit=10, full_listing=True)
    assert [o["name"] for o in everything] == [f"o{i:03d}" for i in range(25)]


def test_utf8_content_type_is_listed_as_text(tester: tuple[str, str]) -> None:
    """A UTF-8 Content-Type comes back byte for byte on GET and as text in listings."""
    container = uniq()
    content_type = "text/\u250c\u2510-\u00e9"
    with raw(tester) as http:
        http.put(container)
        resp = http.put(f"{container}/o", content=b"x",
                        headers={"Content-Type": content_type.encode()})
        assert resp.status_code == 201
        got = http.get(f"{container}/o")
        raw_types = [v for k, v in got.headers.raw if k.lower() == b"content-type"]
        assert raw_types == [content_type.encode()]
        listing = http.get(container, params={"format": "json"}).json()
        assert listing[0]["content_type"] == content_type
        xml = http.get(container, params={"format": "xml"})
    assert ET.fromstring(xml.content).find("object/content_type").text == content_type
