"""Bulk delete (swiftclient's POST, rclone's DELETE) and extract-archive, with real clients."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import tarfile
import uuid
from pathlib import Path
from urllib.parse import quote
from xml.etree import ElementTree

import httpx
import swiftclient

from strato.api.swift.features.bulk import _clean_name
from strato.api.swift.features.report import best_format, render
from tests.harness import Server

SWIFT = str(Path(sys.executable).with_name("swift"))


def http_client(tester: tuple[str, str]) -> tuple[httpx.Client, str]:
    url, token = tester
    return httpx.Client(headers={"X-Auth-Token": token}, timeout=60), url


def test_swift_delete_of_a_container_uses_bulk_delete(server: Server,
                                                      tester: tuple[str, str]) -> None:
    url, token = tester
    conn = swiftclient.Connection(preauthurl=url, preauthtoken=token, retries=0)
    container = f"bulk-{uuid.uuid4().hex[:8]}"
    conn.put_container(container)
    for index in range(25):
        conn.put_object(container, f"dir/obj {index}+ü", b"x" * index)
    env = {**os.environ, "ST_AUTH": f"{server.url}/auth/v1.0", "ST_USER": "test:tester",
           "ST_KEY": "testing"}
    result = subprocess.run([SWIFT, "--debug", "delete", container], env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "dir/obj 24+ü" in result.stdout
    http, _ = http_client(tester)
    assert http.head(f"{url}/{container}").status_code == 404
    assert "-X POST" in result.stderr and "?bulk-delete" in result.stderr  # one request


def test_rclone_style_delete_reports_each_item(tester: tuple[str, str]) -> None:
    http, url = http_client(tester)
    container = f"bd-{uuid.uuid4().hex[:8]}"
    keep = f"bd-keep-{uuid.uuid4().hex[:8]}"
    for name in (container, keep):
        assert http.put(f"{url}/{name}").status_code == 201
    for name in ("a", "b/c", "sp ace"):
        assert http.put(f"{url}/{container}/{name}", content=b"1").status_code == 201
    assert http.put(f"{url}/{keep}/stays", content=b"1").status_code == 201
    lines = [f"/{container}/a", f"/{container}/b/c", f"/{container}/{quote('sp ace')}",
             f"/{container}/missing", f"/{keep}", f"/{container}"]
    response = http.request("DELETE", f"{url}?bulk-delete=1", content="\n".join(lines),
                            headers={"Content-Type": "text/plain",
                                     "Accept": "application/json"})
    assert response.status_code == 200
    assert response.json() == {
        "Number Deleted": 4, "Number Not Found": 1, "Response Status": "400 Bad Request",
        "Response Body": "", "Errors": [[f"/{keep}", "409 Conflict"]]}
    assert http.head(f"{url}/{container}").status_code == 404
    assert http.get(f"{url}/{keep}/stays").content == b"1"

    xml = http.post(f"{url}?bulk-delete", content=f"/{keep}/stays\n/{keep}\n",
                    headers={"Accept": "application/xml"})
    root = ElementTree.fromstring(xml.content)
    assert root.tag == "delete"
    assert root.findtext("number_deleted") == "2"
    assert root.findtext("response_status") == "200 OK"
    empty = http.post(f"{url}?bulk-delete", content="")
    assert "Response Status: 400 Bad Request" in empty.text
    assert "Response Body: Invalid bulk delete." in empty.text


def test_bulk_delete_needs_rights_per_item(server: Server, tester: tuple[str, str]) -> None:
    http, url = http_client(tester)
    container = f"bd-acl-{uuid.uuid4().hex[:8]}"
    assert http.put(f"{url}/{container}").status_code == 201
    assert http.put(f"{url}/{container}/o", content=b"1").status_code == 201
    anonymous = httpx.post(f"{url}?bulk-delete", content=f"/{container}/o\n",
                           headers={"Accept": "application/json"})
    assert anonymous.json()["Errors"] == [[f"/{container}/o", "401 Unauthorized"]]
    assert http.get(f"{url}/{container}/o").status_code == 200


def _tar(members: list[tuple[tarfile.TarInfo, bytes | None]], mode: str = "w:gz") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as tar:  # type: ignore[call-overload]
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buffer.getvalue()


def _file(name: str, data: bytes, **pax: str) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.pax_headers = dict(pax)
    return info, data


def test_extract_archive_creates_containers_and_objects(tester: tuple[str, str]) -> None:
    http, url = http_client(tester)
    top = f"ea-{uuid.uuid4().hex[:8]}"
    tree = {f"{top}/readme.txt": b"hello", f"{top}/docs/a.md": b"# a",
            f"{top}/docs/deep/b.bin": os.urandom(300_000)}
    members = [_file(name, data) for name, data in tree.items()]
    members.append(_file(f"{top}/meta.txt", b"m", **{
        "SCHILY.xattr.user.mime_type": "text/x-custom",
        "SCHILY.xattr.user.meta.colour": "blue"}))
    members.append(_file("toplevel.txt", b"ignored: no container"))
    body = _tar(members, "w:gz")
    response = http.put(f"{url}?extract-archive=tar.gz", content=body,
                        headers={"Accept": "application/json", "X-Object-Meta-Batch": "7"})
    assert response.status_code == 200
    assert response.json() == {"Number Files Created": 4, "Response Status": "201 Created",
                               "Response Body": "", "Errors": []}
    for name, data in tree.items():
        got = http.get(f"{url}/{name}")
        assert got.content == data and got.headers["X-Object-Meta-Batch"] == "7"
    meta = http.head(f"{url}/{top}/meta.txt")
    assert meta.headers["Content-Type"] == "text/x-custom"
    assert meta.headers["X-Object-Meta-Colour"] == "blue"

    into = f"ea-into-{uuid.uuid4().hex[:8]}"
    plain = http.put(f"{url}/{into}/pre/fix?extract-archive=tar.bz2",
                     content=_tar([_file("x/y.txt", b"yy")], "w:bz2"))
    assert "Number Files Created: 1" in plain.text
    assert http.get(f"{url}/{into}/pre/fix/x/y.txt").content == b"yy"
    broken = http.put(f"{url}/{into}?extract-archive=tar.gz", content=b"not a tarball")
    assert "Response Status: 400 Bad Request" in broken.text
    assert "Invalid Tar File" in broken.text
    unsupported = http.put(f"{url}/{into}?extract-archive=zip", content=b"x")
    assert unsupported.status_code == 400


def test_many_small_members_land_whole_and_the_last_of_a_name_wins(
        tester: tuple[str, str]) -> None:
    """Small members are stored while the archive is read on (several at once); what the
    report says matches what is stored: every member once, a name given twice holds its
    later body, a member refused in the middle changes nothing else, and a large member
    between small ones streams."""
    http, url = http_client(tester)
    top = f"many-{uuid.uuid4().hex[:8]}"
    bodies = {f"{top}/f{i:03d}": os.urandom(1 + i * 37) for i in range(300)}
    members = [_file(name, data) for name, data in bodies.items()]
    large = os.urandom(600_000)
    members.insert(150, _file(f"{top}/large", large))
    link = tarfile.TarInfo(f"{top}/link")
    link.type, link.linkname = tarfile.SYMTYPE, "f000"
    members.insert(100, (link, None))
    for name in (f"{top}/f010", f"{top}/f299"):  # again, later in the archive
        bodies[name] = b"second body of " + name.encode()
        members.append(_file(name, bodies[name]))
    response = http.put(f"{url}?extract-archive=tar", content=_tar(members, "w"),
                        headers={"Accept": "application/json"})
    report = response.json()
    assert report["Number Files Created"] == 303  # 300, the large one, two again
    assert report["Errors"] == [[quote(f"{top}/link"), "400 Bad Request"]]
    listed = http.get(f"{url}/{top}?format=json").json()
    assert sorted(o["name"] for o in listed) == sorted(
        [n.split("/", 1)[1] for n in bodies] + ["large"])
    etags = {o["name"]: o["hash"] for o in listed}
    for name, data in bodies.items():
        assert etags[name.split("/", 1)[1]] == hashlib.md5(data).hexdigest(), name
    assert http.get(f"{url}/{top}/large").content == large
    assert http.head(f"{url}/{top}").headers["X-Container-Object-Count"] == "301"


def test_malicious_archive_changes_nothing_outside_the_upload_path(
        tester: tuple[str, str], tmp_path: Path) -> None:
    http, url = http_client(tester)
    container = f"evil-{uuid.uuid4().hex[:8]}"
    assert http.put(f"{url}/{container}").status_code == 201
    before = {c["name"] for c in http.get(f"{url}?format=json").json()}
    sentinel = tmp_path / "pwned"
    link = tarfile.TarInfo("link")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    hard = tarfile.TarInfo("hard")
    hard.type, hard.linkname = tarfile.LNKTYPE, "/etc/passwd"
    device = tarfile.TarInfo("dev")
    device.type, device.devmajor, device.devminor = tarfile.CHRTYPE, 1, 3
    members = [_file(str(sentinel), b"abs"), _file("../escape", b"up"),
               _file("a/../../escape2", b"up"), (link, None), (hard, None), (device, None),
               _file("fine.txt", b"ok")]
    response = http.put(f"{url}/{container}?extract-archive=tar", content=_tar(members, "w"),
                        headers={"Accept": "application/json"})
    report = response.json()
    assert report["Number Files Created"] == 2
    refused = {name for name, _ in report["Errors"]}
    assert refused == {"../escape", "a/../../escape2", "link", "hard", "dev"}
    assert not sentinel.exists()
    names = [o["name"] for o in http.get(f"{url}/{container}?format=json").json()]
    assert sorted(names) == sorted(["fine.txt", str(sentinel).lstrip("/")])
    # the session server is shared: only containers this upload could have created count
    created = {c["name"] for c in http.get(f"{url}?format=json").json()} - before
    assert not created & {"..", ".", "escape", "escape2", "a", "link", "hard", "dev"}


def test_a_bad_pax_size_is_an_invalid_archive_not_a_500(tester: tuple[str, str]) -> None:
    """Found by fuzzing (fuzz/targets.py, `tar`): a PAX `size` record that is not a number
    escaped as a ValueError (a 500), and a negative one made a member of negative size."""
    http, url = http_client(tester)
    container = f"pax-size-{uuid.uuid4().hex[:8]}"
    for size in ("abc", "-5", ""):
        body = _tar([_file(f"{container}/a", b"abc", size=size)], "w")
        response = http.put(f"{url}?extract-archive=tar", content=body,
                            headers={"Accept": "application/json"})
        assert response.status_code == 200, response.text
        report = response.json()
        assert report["Response Status"] == "400 Bad Request", (size, report)
        assert "Invalid Tar File" in report["Response Body"]
        assert report["Number Files Created"] == 0
    assert http.get(f"{url}/{container}/a").status_code == 404


def test_archive_bombs_are_bounded(make_server: object, tmp_path: Path) -> None:
    server: Server = make_server(env={"STRATO_MAX_FILE_SIZE": "100000"})  # type: ignore[operator]
    server.add_user("bomb", "user", "pw", role="admin")
    url, token = server.auth_v1("bomb:user", "pw")
    http = httpx.Client(headers={"X-Auth-Token": token}, timeout=60)
    zeros = b"\0" * 5_000_000  # compresses to a few KiB
    body = _tar([_file("c/huge", zeros), _file("c/small", b"s")], "w:gz")
    assert len(body) < 50_000
    response = http.put(f"{url}?extract-archive=tar.gz", content=body,
                        headers={"Accept": "application/json"})
    report = response.json()
    assert report["Errors"] == [["c/huge", "413 Request Entity Too Large"]]
    assert report["Number Files Created"] == 1
    assert http.head(f"{url}/c/huge").status_code == 404


def test_report_formats_and_name_rules_unit() -> None:
    """Unit: Accept negotiation, the three report renderings, archive name cleaning."""
    assert best_format(None) == "text/plain"
    assert best_format("application/json") == "application/json"
    assert best_format("text/xml;q=0.9, application/json;q=0.5") == "text/xml"
    assert best_format("*/*") == "text/plain"
    assert best_format("image/png") is None
    result = {"Number Deleted": 1, "Response Status": "200 OK"}
    errors = [["/c/o", "409 Conflict"]]
    assert render("text/plain", result, errors, "delete") == (
        b"Number Deleted: 1\nResponse Status: 200 OK\nErrors:\n/c/o, 409 Conflict\n")
    assert b'"Errors":[["/c/o","409 Conflict"]]' in render("application/json", result,
                                                           errors, "delete")
    assert b"<number_deleted>1</number_deleted>" in render("application/xml", result,
                                                           errors, "delete")
    assert _clean_name("/abs/./x//y") == "abs/x/y"
    assert _clean_name("a/../../b") is None and _clean_name("..") is None
