"""Server-side copy: COPY with Destination, PUT with X-Copy-From, metadata merge rules."""

from __future__ import annotations

import hashlib
import time

import pytest

from tests.api.swift.helpers import conn, new_container, raw, uniq
from tests.harness import Server


@pytest.fixture
def source(tester: tuple[str, str]) -> str:
    name = new_container(tester)
    conn(tester).put_object(name, "src", b"payload", content_type="text/x-src",
                            headers={"X-Object-Meta-A": "1", "X-Object-Meta-B": "2"})
    return name


@pytest.mark.parametrize("dest_fmt", ["/{c}/{o}", "{c}/{o}"])
def test_copy_verb_across_containers(tester: tuple[str, str], source: str,
                                     dest_fmt: str) -> None:
    dest = new_container(tester)
    with raw(tester) as http:
        resp = http.request("COPY", f"{source}/src",
                            headers={"Destination": dest_fmt.format(c=dest, o="dst 1"),
                                     "X-Object-Meta-C": "3"})
        assert resp.status_code == 201
        assert resp.headers["X-Copied-From"] == f"{source}/src"
        assert "X-Copied-From-Last-Modified" in resp.headers
    headers, body = conn(tester).get_object(dest, "dst 1")
    assert body == b"payload"
    assert headers["content-type"] == "text/x-src"
    assert (headers["x-object-meta-a"], headers["x-object-meta-b"],
            headers["x-object-meta-c"]) == ("1", "2", "3")
    # the source is untouched, and both are independent afterwards
    conn(tester).delete_object(source, "src")
    assert conn(tester).get_object(dest, "dst 1")[1] == b"payload"


def test_put_with_x_copy_from(tester: tuple[str, str], source: str) -> None:
    dest = new_container(tester)
    with raw(tester) as http:
        resp = http.put(f"{dest}/copy", headers={"X-Copy-From": f"/{source}/src",
                                                 "Content-Length": "0",
                                                 "X-Object-Meta-B": "override"})
        assert resp.status_code == 201
        head = http.head(f"{dest}/copy").headers
        assert head["X-Object-Meta-A"] == "1" and head["X-Object-Meta-B"] == "override"
        assert head["Etag"] == resp.headers["Etag"]
        c = conn(tester)
        c.put_object(dest, "copy2", None, headers={"X-Copy-From": f"{source}/src"})
        assert c.get_object(dest, "copy2")[1] == b"payload"
        assert c.head_container(dest)["x-container-object-count"] == "2"
        assert c.head_container(dest)["x-container-bytes-used"] == "14"


def test_fresh_metadata(tester: tuple[str, str], source: str) -> None:
    with raw(tester) as http:
        resp = http.request("COPY", f"{source}/src",
                            headers={"Destination": f"{source}/fresh", "X-Fresh-Metadata": "true",
                                     "X-Object-Meta-New": "n"})
        assert resp.status_code == 201
        head = http.head(f"{source}/fresh").headers
    assert head["X-Object-Meta-New"] == "n"
    assert "X-Object-Meta-A" not in head and "X-Object-Meta-B" not in head


def test_copy_errors(tester: tuple[str, str], source: str) -> None:
    with raw(tester) as http:
        assert http.request("COPY", f"{source}/src").status_code == 412
        assert http.request("COPY", f"{source}/src",
                            headers={"Destination": "nocontainer"}).status_code == 412
        assert http.request("COPY", f"{source}/missing",
                            headers={"Destination": f"{source}/x"}).status_code == 404
        assert http.request("COPY", f"{source}/src",
                            headers={"Destination": f"{uniq()}/x"}).status_code == 404
        assert http.put(f"{source}/x", headers={"X-Copy-From": f"{source}/missing",
                                                "Content-Length": "0"}).status_code == 404
        assert http.head(f"{source}/x").status_code == 404


def test_copy_reads_the_source_before_the_destination(server: Server, tester: tuple[str, str],
                                                     source: str) -> None:
    """As Swift's copy: a missing source is 404 even where the caller may not write."""
    project, user = uniq("p"), uniq("u")
    server.add_user(project, user, "pw", role="admin")
    other_account = server.auth_v1(f"{project}:{user}", "pw")[0].rsplit("/", 1)[1]
    with raw(tester) as http:
        for dest in (f"{source}/x", f"{uniq()}/x"):
            resp = http.request("COPY", f"{source}/missing",
                                headers={"Destination": dest,
                                         "Destination-Account": other_account})
            assert resp.status_code == 404, dest
            resp = http.request("COPY", f"{source}/src",
                                headers={"Destination": dest,
                                         "Destination-Account": other_account})
            assert resp.status_code == 403, dest


def test_copy_onto_itself_keeps_data(tester: tuple[str, str], source: str) -> None:
    with raw(tester) as http:
        resp = http.request("COPY", f"{source}/src",
                            headers={"Destination": f"{source}/src", "X-Object-Meta-Z": "9"})
        assert resp.status_code == 201
        got = http.get(f"{source}/src")
        assert got.content == b"payload" and got.headers["X-Object-Meta-Z"] == "9"


def test_copy_with_range_copies_that_range(tester: tuple[str, str], source: str) -> None:
    """Swift's copy reads the source with the request's Range: a partial copy."""
    dest = new_container(tester)
    with raw(tester) as http:
        resp = http.request("COPY", f"{source}/src",
                            headers={"Destination": f"{dest}/part", "Range": "bytes=1-2"})
        assert resp.status_code == 201
        assert resp.headers["Etag"] == hashlib.md5(b"ay").hexdigest()
        resp = http.put(f"{dest}/tail", headers={"X-Copy-From": f"{source}/src",
                                                  "Range": "bytes=-3"})
        assert resp.status_code == 201
        # an unsatisfiable range is the source GET's 416, and nothing is written
        resp = http.put(f"{dest}/none", headers={"X-Copy-From": f"{source}/src",
                                                  "Range": "bytes=50-60"})
        assert resp.status_code == 416 and resp.headers["Content-Range"] == "bytes */7"
        # a range Swift ignores (bad syntax) copies the whole object
        assert http.put(f"{dest}/all", headers={"X-Copy-From": f"{source}/src",
                                                 "Range": "bytes=x"}).status_code == 201
    c = conn(tester)
    headers, body = c.get_object(dest, "part")
    assert (body, headers["content-type"], headers["x-object-meta-a"]) == (
        b"ay", "text/x-src", "1")
    assert c.get_object(dest, "tail")[1] == b"oad"
    assert c.get_object(dest, "all")[1] == b"payload"
    listing = {o["name"]: (o["bytes"], o["hash"]) for o in c.get_container(dest)[1]}
    assert listing == {"part": (2, hashlib.md5(b"ay").hexdigest()),
                       "tail": (3, hashlib.md5(b"oad").hexdigest()),
                       "all": (7, hashlib.md5(b"payload").hexdigest())}
    assert c.get_object(source, "src")[1] == b"payload"


def test_copy_with_several_ranges_stores_the_multipart_body(tester: tuple[str, str],
                                                            source: str) -> None:
    dest = new_container(tester)
    with raw(tester) as http:
        resp = http.put(f"{dest}/multi", headers={"X-Copy-From": f"{source}/src",
                                                   "Range": "bytes=0-0,-1"})
        assert resp.status_code == 201
        got = http.get(f"{dest}/multi")
    assert got.headers["Content-Type"].startswith("multipart/byteranges;boundary=")
    assert b"Content-Range: bytes 0-0/7\r\n\r\np\r\n" in got.content
    assert b"Content-Range: bytes 6-6/7\r\n\r\nd\r\n" in got.content


def test_cross_account_copy_reads_the_source_first(server: Server, tester: tuple[str, str],
                                                  source: str) -> None:
    """As Swift's copy: a missing source is 404 whatever the destination; only then is the
    destination authorised (403 where the caller may not write)."""
    project = uniq("other")
    server.add_user(project, "owner", "pw", role="admin")
    other_url, _ = server.auth_v1(f"{project}:owner", "pw")
    other_account = other_url.rsplit("/", 1)[1]
    with raw(tester) as http:
        for src in (f"{source}/missing", f"{uniq()}/src"):
            resp = http.request("COPY", src, headers={"Destination": f"{uniq()}/x",
                                                      "Destination-Account": other_account})
            assert resp.status_code == 404, src
        resp = http.request("COPY", f"{source}/src", headers={
            "Destination": f"{uniq()}/x", "Destination-Account": other_account})
        assert resp.status_code == 403
        resp = http.request("COPY", f"{source}/src", headers={"Destination": f"{uniq()}/x"})
        assert resp.status_code == 404


def test_copy_answers_with_the_new_objects_metadata(tester: tuple[str, str], source: str
                                                    ) -> None:
    """Swift's copy answers with where the data came from (always naming the account) and
    the destination's user metadata and expiry; the source's expiry is carried over."""
    account = tester[0].rsplit("/", 1)[1]
    at = int(time.time()) + 3600
    with raw(tester) as http:
        assert http.post(f"{source}/src", headers={"X-Object-Meta-A": "1",
                                                    "X-Delete-At": str(at)}).status_code == 202
        for method, path, headers in (
                ("COPY", f"{source}/src", {"Destination": f"{source}/dst"}),
                ("PUT", f"{source}/dst2", {"X-Copy-From": f"{source}/src"})):
            resp = http.request(method, path, headers={**headers, "X-Object-Meta-C": "3",
                                                       "X-Object-Meta-Empty": ""})
            assert resp.status_code == 201
            assert resp.headers["X-Copied-From-Account"] == account
            assert resp.headers["X-Copied-From"] == f"{source}/src"
            assert (resp.headers["X-Object-Meta-A"], resp.headers["X-Object-Meta-C"],
                    resp.headers["X-Object-Meta-Empty"]) == ("1", "3", "")
            assert resp.headers["X-Delete-At"] == str(at)
            dest = path if method == "PUT" else headers["Destination"]
            head = http.head(dest).headers
            assert head["X-Delete-At"] == str(at) and head["X-Object-Meta-Empty"] == ""
        # X-Fresh-Metadata leaves the source's metadata and expiry behind
        resp = http.request("COPY", f"{source}/src", headers={"Destination": f"{source}/new",
                                                              "X-Fresh-Metadata": "true"})
        assert "X-Delete-At" not in resp.headers and "X-Object-Meta-A" not in resp.headers
        assert "X-Delete-At" not in http.head(f"{source}/new").headers


def test_empty_metadata_values_are_kept_on_object_post(tester: tuple[str, str],
                                                       source: str) -> None:
    """Swift's object server stores and returns an empty value; on an account or a
    container, an empty value removes the key instead."""
    with raw(tester) as http:
        assert http.post(f"{source}/src", headers={"X-Object-Meta-Test": "",
                                                    "X-Object-Meta-Full": "x"}).status_code == 202
        head = http.head(f"{source}/src").headers
        assert head["X-Object-Meta-Test"] == "" and head["X-Object-Meta-Full"] == "x"
        for path, kind in ((source, "Container"), ("", "Account")):
            http.post(path, headers={f"X-{kind}-Meta-Gone": "1"})
            assert http.head(path).headers[f"X-{kind}-Meta-Gone"] == "1"
            http.post(path, headers={f"X-{kind}-Meta-Gone": ""})
            assert f"X-{kind}-Meta-Gone" not in http.head(path).headers
