"""Archive download (`GET <container>?archive=tar`, Strato's own): a tar of a listing range,
read by a stock tar reader, with every object as the caller may read it and no other."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import threading
import uuid
from typing import Any

import httpx

from tests.conftest import TESTER
from tests.harness import Server


def _client(tester: tuple[str, str]) -> tuple[httpx.Client, str]:
    url, token = tester
    return httpx.Client(headers={"X-Auth-Token": token}, timeout=60), url


def _members(body: bytes) -> dict[str, tuple[bytes, dict[str, str], int]]:
    with tarfile.open(fileobj=io.BytesIO(body), mode="r|") as tar:
        out = {}
        for info in tar:
            data = tar.extractfile(info)
            assert data is not None
            out[info.name] = (data.read(), dict(info.pax_headers), int(info.mtime))
        return out


def test_archive_of_a_listing_range(tester: tuple[str, str]) -> None:
    http, url = _client(tester)
    container = f"arc-{uuid.uuid4().hex[:8]}"
    assert http.put(f"{url}/{container}").status_code == 201
    bodies = {f"d/{i:02d}-ü.txt": f"object {i}".encode() * (i * 37 + 1) for i in range(12)}
    for name, body in bodies.items():
        assert http.put(f"{url}/{container}/{name}", content=body, headers={
            "X-Object-Meta-Mtime": "1700000000.5", "X-Object-Meta-Color": "teal",
            "Content-Type": "text/plain"}).status_code == 201
    whole = http.get(f"{url}/{container}", params={"archive": "tar"})
    assert whole.status_code == 200 and whole.headers["Content-Type"] == "application/x-tar"
    members = _members(whole.content)
    assert list(members) == sorted(bodies)
    data, pax, mtime = members["d/03-ü.txt"]
    assert data == bodies["d/03-ü.txt"]
    assert pax["STRATO.etag"] == hashlib.md5(data).hexdigest()
    assert pax["SCHILY.xattr.user.meta.color"] == "teal"
    assert pax["SCHILY.xattr.user.mime_type"].startswith("text/plain")
    assert mtime == 1700000000
    names = sorted(bodies)
    ranged = http.get(f"{url}/{container}", params={
        "archive": "tar", "marker": names[2], "end_marker": names[9], "limit": "4"})
    assert list(_members(ranged.content)) == names[3:7]
    assert http.get(f"{url}/{container}", params={"archive": "zip"}).status_code == 400
    info = httpx.get(url.split("/v1/")[0] + "/info").json()
    assert info["bulk_download"]["formats"] == ["tar"]


def test_large_objects_come_whole_and_flagged(tester: tuple[str, str]) -> None:
    http, url = _client(tester)
    container = f"arc-slo-{uuid.uuid4().hex[:8]}"
    assert http.put(f"{url}/{container}").status_code == 201
    for i in range(2):
        assert http.put(f"{url}/{container}/seg{i}", content=bytes([65 + i]) * 1000
                        ).status_code == 201
    manifest = [{"path": f"/{container}/seg{i}"} for i in range(2)]
    assert http.put(f"{url}/{container}/whole", params={"multipart-manifest": "put"},
                    content=json.dumps(manifest)).status_code == 201
    members = _members(http.get(f"{url}/{container}", params={
        "archive": "tar", "prefix": "whole"}).content)
    data, pax, _ = members["whole"]
    assert data == b"A" * 1000 + b"B" * 1000 and pax["STRATO.manifest"] == "1"


def test_archive_needs_the_right_to_read(server: Server, tester: tuple[str, str]) -> None:
    http, url = _client(tester)
    container = f"arc-acl-{uuid.uuid4().hex[:8]}"
    assert http.put(f"{url}/{container}").status_code == 201
    assert http.put(f"{url}/{container}/secret", content=b"x").status_code == 201
    assert httpx.get(f"{url}/{container}", params={"archive": "tar"}).status_code == 401
    server.add_user("arc-other", "arc-other", "pw-other")
    _, other_token = server.auth_v1("arc-other:arc-other", "pw-other")
    refused = httpx.get(f"{url}/{container}", params={"archive": "tar"},
                        headers={"X-Auth-Token": other_token})
    assert refused.status_code == 403 and b"x" not in refused.content


def test_an_archive_lets_other_requests_on_its_worker_through(make_server: Any) -> None:
    """Small members are read and sent without ever waiting when the client reads fast; the
    archive must still let the other requests of its (here: only) worker through, not hold
    them to its end."""
    srv = make_server(workers=1)
    srv.add_user(*TESTER, role="admin")
    http, url = _client(srv.auth_v1("test:tester", "testing"))
    count, size = 2500, 4096
    packed = io.BytesIO()
    with tarfile.open(fileobj=packed, mode="w") as tar:
        for i in range(count):
            info = tarfile.TarInfo(f"o{i:05d}")
            info.size = size
            tar.addfile(info, io.BytesIO(i.to_bytes(4, "big") * (size // 4)))
    made = http.put(f"{url}/busy", params={"extract-archive": "tar"},
                    content=packed.getvalue(), headers={"Accept": "application/json"})
    assert made.json()["Number Files Created"] == count
    received: list[int] = [0]
    started = threading.Event()

    def read_archive() -> None:
        with http.stream("GET", f"{url}/busy", params={"archive": "tar"}) as response:
            for chunk in response.iter_raw(1 << 16):
                received[0] += len(chunk)
                started.set()

    reader = threading.Thread(target=read_archive)
    reader.start()
    assert started.wait(30)
    head = httpx.head(f"{url}/busy", headers=http.headers, timeout=60)
    at_head = received[0]
    reader.join(60)
    total = received[0]
    assert head.status_code == 204 and total > count * size
    assert at_head < total / 2, f"the HEAD waited for {at_head} of {total} archive bytes"
