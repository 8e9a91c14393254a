"""Static Large Objects with the real `swift` CLI and raw HTTP for the edge cases."""

from __future__ import annotations

import base64
import email
import hashlib
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest

from strato.api.swift.errors import SwiftError
from strato.api.swift.features.slo import parse_manifest_put, raw_manifest, slo_etag
from tests.harness import Server

MIB = 1024 * 1024
SWIFT = str(Path(sys.executable).with_name("swift"))


def swift_cli(server: Server, *args: str, stdin: object = None, cwd: Path | None = None
              ) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ST_AUTH": f"{server.url}/auth/v1.0", "ST_USER": "test:tester",
           "ST_KEY": "testing"}
    result = subprocess.run([SWIFT, *args], env=env, capture_output=True, text=True,
                            stdin=stdin, cwd=cwd, timeout=300)  # type: ignore[call-overload]
    assert result.returncode == 0, result.stderr + result.stdout
    return result  # type: ignore[no-any-return]


def md5_file(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as fh:
        while chunk := fh.read(MIB):
            digest.update(chunk)
    return digest.hexdigest()


def client(tester: tuple[str, str]) -> tuple[httpx.Client, str]:
    url, token = tester
    return httpx.Client(headers={"X-Auth-Token": token}, timeout=60), url


def test_swift_upload_use_slo_round_trips_skips_identical_and_deletes_segments(
        server: Server, tester: tuple[str, str], tmp_path: Path) -> None:
    container = f"slo-{uuid.uuid4().hex[:8]}"
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(50 * MIB))
    swift_cli(server, "upload", "--segment-size", str(MIB), "--use-slo", container,
              "big.bin", cwd=tmp_path)
    http, url = client(tester)
    head = http.head(f"{url}/{container}/big.bin")
    assert head.headers["X-Static-Large-Object"] == "True"
    assert int(head.headers["Content-Length"]) == 50 * MIB
    segments = http.get(f"{url}/{container}_segments?format=json").json()
    assert len(segments) == 50
    listed = http.get(f"{url}/{container}?format=json").json()
    assert listed[0]["bytes"] == 50 * MIB and listed[0]["slo_etag"] == head.headers["Etag"]

    out = tmp_path / "out.bin"
    swift_cli(server, "download", container, "big.bin", "-o", str(out))
    assert md5_file(out) == md5_file(source)

    before = head.headers["X-Timestamp"]
    again = swift_cli(server, "upload", "--segment-size", str(MIB), "--use-slo",
                      "--skip-identical", "--verbose", container, "big.bin", cwd=tmp_path)
    assert "segment" not in again.stdout  # verbose lists every segment it sends: none
    assert http.head(f"{url}/{container}/big.bin").headers["X-Timestamp"] == before
    skipped = swift_cli(server, "download", "--skip-identical", container, "big.bin",
                        "-o", str(out))
    assert "Skipped identical" in skipped.stdout + skipped.stderr

    swift_cli(server, "delete", container, "big.bin")
    assert http.get(f"{url}/{container}_segments?format=json").json() == []
    assert http.head(f"{url}/{container}/big.bin").status_code == 404


def test_swift_upload_from_stdin_makes_an_slo(server: Server, tester: tuple[str, str],
                                              tmp_path: Path) -> None:
    container = f"stdin-{uuid.uuid4().hex[:8]}"
    source = tmp_path / "piped.bin"
    source.write_bytes(os.urandom(5 * MIB + 123))
    with source.open("rb") as stdin:
        swift_cli(server, "upload", "--segment-size", str(MIB), container, "-",
                  "--object-name", "piped.bin", stdin=stdin)
    http, url = client(tester)
    head = http.head(f"{url}/{container}/piped.bin")
    assert head.headers["X-Static-Large-Object"] == "True"
    assert int(head.headers["Content-Length"]) == 5 * MIB + 123
    out = tmp_path / "out.bin"
    swift_cli(server, "download", container, "piped.bin", "-o", str(out))
    assert out.read_bytes() == source.read_bytes()


def _put_segments(http: httpx.Client, url: str, container: str,
                  parts: dict[str, bytes]) -> None:
    assert http.put(f"{url}/{container}").status_code in (201, 202)
    for name, data in parts.items():
        assert http.put(f"{url}/{container}/{name}", content=data).status_code == 201


def _multipart(response: httpx.Response) -> list[tuple[str, bytes]]:
    raw = (f"Content-Type: {response.headers['Content-Type']}\r\n\r\n").encode() + \
        response.content
    message = email.message_from_bytes(raw)
    return [(part["Content-Range"], part.get_payload(decode=True))  # type: ignore[misc]
            for part in message.get_payload()]  # type: ignore[union-attr]


def test_ranges_across_segment_boundaries_are_byte_exact(tester: tuple[str, str]) -> None:
    http, url = client(tester)
    container = f"rng-{uuid.uuid4().hex[:8]}"
    parts = {"s1": os.urandom(1000), "s2": os.urandom(777), "s3": os.urandom(3000)}
    _put_segments(http, url, container, parts)
    inline = b"inline-bytes"
    manifest = [
        {"path": f"/{container}/s1", "etag": f'"{hashlib.md5(parts["s1"]).hexdigest()}"',
         "size_bytes": 1000},
        {"path": f"{container}/s2", "etag": None, "size_bytes": None},
        {"data": base64.b64encode(inline).decode()},
        {"path": f"/{container}/s3", "range": "100-1099"},
        {"path": f"/{container}/s1", "range": "-10"},
    ]
    put = http.put(f"{url}/{container}/obj?multipart-manifest=put", json=manifest)
    assert put.status_code == 201, put.text
    expected = parts["s1"] + parts["s2"] + inline + parts["s3"][100:1100] + parts["s1"][-10:]
    seg_md5 = [hashlib.md5(parts["s1"]).hexdigest(), hashlib.md5(parts["s2"]).hexdigest(),
               hashlib.md5(inline).hexdigest(),
               hashlib.md5(parts["s3"]).hexdigest() + ":100-1099;",
               hashlib.md5(parts["s1"]).hexdigest() + ":990-999;"]
    slo_etag = hashlib.md5("".join(seg_md5).encode()).hexdigest()
    assert put.headers["Etag"] == f'"{slo_etag}"'

    full = http.get(f"{url}/{container}/obj")
    assert full.content == expected
    assert full.headers["Etag"] == f'"{slo_etag}"'
    assert int(full.headers["Content-Length"]) == len(expected)
    # within one segment (sent from its file), across segments, the inline piece
    for start, end in [(990, 1010), (0, 0), (0, 999), (1800, 2700), (1777, 1788),
                       (1776, 1790), (1700, 2700), (len(expected) - 15, len(expected) - 1)]:
        got = http.get(f"{url}/{container}/obj", headers={"Range": f"bytes={start}-{end}"})
        assert got.status_code == 206
        assert got.content == expected[start:end + 1], (start, end)
        assert got.headers["Content-Range"] == f"bytes {start}-{end}/{len(expected)}"
    suffix = http.get(f"{url}/{container}/obj", headers={"Range": "bytes=-25"})
    assert suffix.content == expected[-25:]
    multi = http.get(f"{url}/{container}/obj", headers={"Range": "bytes=5-1005,1770-1800"})
    assert multi.status_code == 206
    assert _multipart(multi) == [
        (f"bytes 5-1005/{len(expected)}", expected[5:1006]),
        (f"bytes 1770-1800/{len(expected)}", expected[1770:1801])]
    unsatisfiable = http.get(f"{url}/{container}/obj",
                             headers={"Range": f"bytes={len(expected)}-"})
    assert unsatisfiable.status_code == 416
    not_modified = http.get(f"{url}/{container}/obj", headers={"If-None-Match": slo_etag})
    assert not_modified.status_code == 304

    stored = http.get(f"{url}/{container}/obj?multipart-manifest=get")
    assert stored.headers["Content-Type"] == "application/json; charset=utf-8"
    names = [(e.get("name"), e.get("hash"), e.get("bytes")) for e in stored.json()]
    assert names[0] == (f"/{container}/s1", hashlib.md5(parts["s1"]).hexdigest(), 1000)
    raw = http.get(f"{url}/{container}/obj?multipart-manifest=get&format=raw").json()
    assert raw[3] == {"path": f"/{container}/s3", "etag": hashlib.md5(parts["s3"]).hexdigest(),
                      "size_bytes": 3000, "range": "100-1099"}

    # server-side copy: the content by default, the manifest with multipart-manifest=get
    copied = http.request("COPY", f"{url}/{container}/obj",
                          headers={"Destination": f"{container}/flat"})
    assert copied.status_code == 201
    assert copied.headers["X-Copied-From"] == f"{container}/obj"
    flat = http.get(f"{url}/{container}/flat")
    assert flat.content == expected and "X-Static-Large-Object" not in flat.headers
    twin = http.put(f"{url}/{container}/twin?multipart-manifest=get",
                    headers={"X-Copy-From": f"/{container}/obj"})
    assert twin.status_code == 201
    again = http.get(f"{url}/{container}/twin")
    assert again.headers["X-Static-Large-Object"] == "True"
    assert again.content == expected and again.headers["Etag"] == f'"{slo_etag}"'

    # a changed segment breaks the object: 409 when it is the first one served
    assert http.put(f"{url}/{container}/s1", content=b"changed").status_code == 201
    assert http.get(f"{url}/{container}/obj").status_code == 409


def test_nested_slo_reads_and_deletes_through_every_level(tester: tuple[str, str]) -> None:
    http, url = client(tester)
    container = f"nest-{uuid.uuid4().hex[:8]}"
    parts = {"a": b"A" * 300, "b": b"B" * 200, "c": b"C" * 100}
    _put_segments(http, url, container, parts)
    sub = [{"path": f"/{container}/a"}, {"path": f"/{container}/b"}]
    sub_put = http.put(f"{url}/{container}/sub?multipart-manifest=put", json=sub)
    assert sub_put.status_code == 201
    top = [{"path": f"/{container}/c"},
           {"path": f"/{container}/sub", "etag": sub_put.headers["Etag"],
            "size_bytes": 500},
           {"path": f"/{container}/sub", "range": "250-349"}]
    assert http.put(f"{url}/{container}/top?multipart-manifest=put",
                    json=top).status_code == 201
    expected = parts["c"] + parts["a"] + parts["b"] + (parts["a"] + parts["b"])[250:350]
    assert http.get(f"{url}/{container}/top").content == expected
    got = http.get(f"{url}/{container}/top", headers={"Range": "bytes=350-649"})
    assert got.content == expected[350:650]
    stored = http.get(f"{url}/{container}/top?multipart-manifest=get").json()
    assert stored[1]["sub_slo"] is True

    deleted = http.delete(f"{url}/{container}/top?multipart-manifest=delete",
                          headers={"Accept": "application/json"})
    assert deleted.status_code == 200
    report = deleted.json()
    assert report["Number Deleted"] == 5 and report["Errors"] == []
    assert report["Response Status"] == "200 OK"
    assert http.get(f"{url}/{container}?format=json").json() == []


def test_an_empty_manifest_is_an_empty_large_object(tester: tuple[str, str]) -> None:
    """As on Swift: `[]` is a valid manifest, and its object reads as zero bytes."""
    http, url = client(tester)
    container = f"empty-{uuid.uuid4().hex[:8]}"
    assert http.put(f"{url}/{container}").status_code == 201
    put = http.put(f"{url}/{container}/m?multipart-manifest=put", content=b"[]")
    assert put.status_code == 201
    assert put.headers["Etag"].strip('"') == hashlib.md5(b"", usedforsecurity=False).hexdigest()
    got = http.get(f"{url}/{container}/m")
    assert got.status_code == 200 and got.content == b""
    assert got.headers["X-Static-Large-Object"] == "True"
    assert http.get(f"{url}/{container}/m?multipart-manifest=get").json() == []


def test_bad_manifests_are_refused_with_swifts_error_report(
        server: Server, tester: tuple[str, str]) -> None:
    http, url = client(tester)
    container = f"bad-{uuid.uuid4().hex[:8]}"
    _put_segments(http, url, container, {"one": b"1" * 10, "empty": b""})
    manifest = [{"path": f"/{container}/one", "etag": "0" * 32},
                {"path": f"/{container}/one", "size_bytes": 11},
                {"path": f"/{container}/missing"},
                {"path": f"/{container}/empty"},
                {"path": f"/{container}/one", "range": "20-30"}]
    plain = http.put(f"{url}/{container}/m?multipart-manifest=put", json=manifest)
    assert plain.status_code == 400
    assert plain.text.splitlines() == [
        "Errors:",
        f"/{container}/one, Etag Mismatch",
        f"/{container}/one, Size Mismatch",
        f"/{container}/missing, 404 Not Found",
        f"/{container}/empty, Too small; each segment must be at least 1 byte.",
        f"/{container}/one, Unsatisfiable Range"]
    as_json = http.put(f"{url}/{container}/m?multipart-manifest=put", json=manifest[:1],
                       headers={"Accept": "application/json"})
    assert as_json.json() == {"Errors": [[f"/{container}/one", "Etag Mismatch"]]}
    assert http.head(f"{url}/{container}/m").status_code == 404

    shape = http.put(f"{url}/{container}/m?multipart-manifest=put",
                     json=[{"path": "nocontainer"}, {"foo": 1}])
    assert shape.status_code == 400
    assert "Index 0: path does not refer to an object" in shape.text
    assert "Index 1: expected keys to include one of 'path' or 'data'" in shape.text
    too_many = [{"path": f"/{container}/one"}] * 1001
    big = http.put(f"{url}/{container}/m?multipart-manifest=put", json=too_many)
    assert big.status_code == 413
    assert big.text == "Number of object-backed segments must be <= 1000"
    reserved = http.put(f"{url}/{container}/m", content=b"x",
                        headers={"X-Static-Large-Object": "True"})
    assert reserved.status_code == 400
    info = httpx.get(f"{server.url}/info").json()
    assert info["slo"]["max_manifest_segments"] == 1000
    assert info["slo"]["max_manifest_size"] == 8 * MIB
    assert info["slo"]["min_segment_size"] == 1


def test_segments_need_the_callers_read_access(server: Server,
                                               tester: tuple[str, str]) -> None:
    http, url = client(tester)
    shared = f"shared-{uuid.uuid4().hex[:8]}"
    private = f"private-{uuid.uuid4().hex[:8]}"
    _put_segments(http, url, private, {"seg": b"secret" * 10})
    assert http.put(f"{url}/{shared}", headers={
        "X-Container-Read": "test:limited", "X-Container-Write": "test:limited"}
    ).status_code == 201
    server.add_user("test", "limited", "limitedpw", role="observer")
    _, limited_token = server.auth_v1("test:limited", "limitedpw")
    limited = httpx.Client(headers={"X-Auth-Token": limited_token}, timeout=30)
    refused = limited.put(f"{url}/{shared}/m?multipart-manifest=put",
                          json=[{"path": f"/{private}/seg"}])
    assert refused.status_code == 400
    assert f"/{private}/seg, 403 Forbidden" in refused.text
    # an owner-made SLO in the shared container still does not expose the private segment
    assert http.put(f"{url}/{shared}/m?multipart-manifest=put",
                    json=[{"path": f"/{private}/seg"}]).status_code == 201
    assert limited.get(f"{url}/{shared}/m").status_code == 409
    assert http.get(f"{url}/{shared}/m").content == b"secret" * 10


def test_heartbeat_put_answers_202_and_reports_in_the_body(tester: tuple[str, str]) -> None:
    http, url = client(tester)
    container = f"hb-{uuid.uuid4().hex[:8]}"
    _put_segments(http, url, container, {"s": b"s" * 10})
    good = http.put(f"{url}/{container}/m?multipart-manifest=put&heartbeat=on",
                    json=[{"path": f"/{container}/s"}], headers={"Accept": "application/json"})
    assert good.status_code == 202 and "Content-Length" not in good.headers
    lines = good.content.split(b"\n", 2)
    assert not lines[0].strip() and lines[1] == b"\r"
    result = json.loads(lines[2])
    assert result["Response Status"] == "201 Created" and result["Errors"] == []
    assert result["Etag"] == http.head(f"{url}/{container}/m").headers["Etag"]
    bad = http.put(f"{url}/{container}/m2?multipart-manifest=put&heartbeat=on",
                   json=[{"path": "nope/seg"}])
    text = bad.text.split("\n")
    assert "Response Status: 400 Bad Request" in text and "Response Body: Bad Request" in text
    assert text[-3:] == ["Errors:", "nope/seg, 404 Not Found", ""]


def test_manifest_checks_and_etag_rules_unit() -> None:
    """Unit: the pure parts — manifest shape checks and the SLO ETag formula."""
    parsed = parse_manifest_put(
        json.dumps([{"path": "/c/o", "etag": '"abc"', "size_bytes": "5", "range": "1-2"},
                    {"data": base64.b64encode(b"xy").decode()}]).encode(), "/c/m")
    assert parsed[0]["etag"] == "abc" and parsed[0]["size_bytes"] == 5
    with pytest.raises(SwiftError) as bad:
        parse_manifest_put(json.dumps([{"path": "/c/m"}, {"path": "/c/o", "range": "1-2,4-5"},
                                       {"path": "/c/o", "size_bytes": 3, "range": "5-"}]
                                      ).encode(), "/c/m")
    assert bad.value.message == ("Index 0: manifest must not include itself as a segment\n"
                                 "Index 1: multiple ranges (only one allowed)\n"
                                 "Index 2: unsatisfiable range\n")
    with pytest.raises(SwiftError):
        parse_manifest_put(b"{}", "/c/m")
    entries = [{"name": "/c/a", "hash": "h1", "bytes": 3},
               {"name": "/c/b", "hash": "h2", "bytes": 9, "range": "0-3"},
               {"data": base64.b64encode(b"z").decode()}]
    expected = hashlib.md5(("h1" + "h2:0-3;" + hashlib.md5(b"z").hexdigest()).encode())
    assert slo_etag(entries) == expected.hexdigest()
    assert raw_manifest(entries)[1] == {"path": "/c/b", "etag": "h2", "size_bytes": 9,
                                        "range": "0-3"}


def test_symlinks_to_and_as_segments_of_an_slo(tester: tuple[str, str]) -> None:
    http, url = client(tester)
    container = f"sym-{uuid.uuid4().hex[:8]}"
    _put_segments(http, url, container, {"a": b"a" * 5, "b": b"b" * 7})
    assert http.put(f"{url}/{container}/link-b", content=b"",
                    headers={"X-Symlink-Target": f"{container}/b"}).status_code == 201
    manifest = [{"path": f"/{container}/a"}, {"path": f"/{container}/link-b", "size_bytes": 7}]
    assert http.put(f"{url}/{container}/slo?multipart-manifest=put",
                    json=manifest).status_code == 201
    assert http.get(f"{url}/{container}/slo").content == b"a" * 5 + b"b" * 7
    assert http.put(f"{url}/{container}/to-slo", content=b"",
                    headers={"X-Symlink-Target": f"{container}/slo"}).status_code == 201
    via_link = http.get(f"{url}/{container}/to-slo", headers={"Range": "bytes=3-6"})
    assert via_link.status_code == 206 and via_link.content == b"aabb"
    assert via_link.headers["X-Static-Large-Object"] == "True"
    assert via_link.headers["Content-Location"].endswith(f"/{container}/slo")


def test_copy_with_range_copies_only_that_range(tester: tuple[str, str]) -> None:
    """As Swift's copy: the new object is what a GET with the request's Range answers."""
    http, url = client(tester)
    container = f"cpr-{uuid.uuid4().hex[:8]}"
    parts = {"s1": os.urandom(1000), "s2": os.urandom(500)}
    _put_segments(http, url, container, parts)
    manifest = [{"path": f"/{container}/s1"}, {"path": f"/{container}/s2"}]
    assert http.put(f"{url}/{container}/slo?multipart-manifest=put",
                    json=manifest).status_code == 201
    whole = parts["s1"] + parts["s2"]
    resp = http.request("COPY", f"{url}/{container}/slo",
                        headers={"Destination": f"{container}/part",
                                 "Range": "bytes=990-1009", "X-Object-Meta-Kept": "yes"})
    assert resp.status_code == 201, resp.text
    assert resp.headers["Etag"] == hashlib.md5(whole[990:1010]).hexdigest()
    got = http.get(f"{url}/{container}/part")
    assert got.content == whole[990:1010] and got.headers["X-Object-Meta-Kept"] == "yes"
    assert "X-Static-Large-Object" not in got.headers
    resp = http.put(f"{url}/{container}/tail", headers={"X-Copy-From": f"{container}/slo",
                                                         "Range": "bytes=-7"})
    assert resp.status_code == 201 and http.get(f"{url}/{container}/tail").content == whole[-7:]
    # several ranges: the multipart/byteranges document a GET would answer
    resp = http.put(f"{url}/{container}/multi", headers={"X-Copy-From": f"{container}/slo",
                                                          "Range": "bytes=0-1,1499-"})
    assert resp.status_code == 201
    assert _multipart(http.get(f"{url}/{container}/multi")) == [
        ("bytes 0-1/1500", whole[:2]), ("bytes 1499-1499/1500", whole[-1:])]
    resp = http.put(f"{url}/{container}/none", headers={"X-Copy-From": f"{container}/slo",
                                                         "Range": "bytes=2000-"})
    assert resp.status_code == 416 and resp.headers["Content-Range"] == "bytes */1500"
    assert http.head(f"{url}/{container}/none").status_code == 404
