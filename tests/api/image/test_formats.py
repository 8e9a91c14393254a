"""The format inspector on the wire (glance-keystone.md A.10): what an upload or an import of
real qemu-img images ends as, the readable reason of every refusal, and the image left
queued with nothing stored; and qcow2 -> raw conversion on import."""

from __future__ import annotations

import hashlib
import http.server
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.api.image.support import (
    Glance,
    error,
    image_objects,
    member,
    qemu_img,
    qemu_info,
    running,
)
from tests.harness import Server

MiB = 1 << 20
JPEG = (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
        + bytes(range(256)) * 40 + b"\xff\xd9")


@pytest.fixture(scope="module")
def img(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("disks")
    pattern = (b"strato!" * 9363)[:65536]
    base = d / "base.raw"
    with open(base, "wb") as f:
        for i in range(32):  # 2 MiB of data scattered over 8 MiB, the rest sparse
            f.seek(i * 256 * 1024)
            f.write(pattern)
        f.truncate(8 * MiB)
    qemu_img("convert", "-f", "raw", "-O", "qcow2", base, d / "clean.qcow2")
    qemu_img("create", "-f", "qcow2", "-b", base, "-F", "raw", d / "backing.qcow2")
    qemu_img("create", "-f", "vmdk", "-o", "subformat=monolithicFlat", d / "flat.vmdk", "1M")
    qemu_img("create", "-f", "vmdk", "-o", "subformat=monolithicSparse", d / "sparse.vmdk",
             "3M")
    # a clean qcow2 whose guest disk holds a qcow2 with a backing file: converting it to raw
    # unfolds the inner one, which must be refused in turn
    qemu_img("convert", "-f", "raw", "-O", "qcow2", d / "backing.qcow2", d / "nested.qcow2")
    (d / "random.bin").write_bytes(os.urandom(96 * 1024))
    (d / "photo.jpg").write_bytes(JPEG)
    return {p.name: p for p in d.iterdir()}


@pytest.fixture(scope="module")
def web(img: dict[str, Path]) -> Iterator[str]:
    """A plain HTTP server on loopback serving the test disks, for web-download."""
    directory = img["clean.qcow2"].parent

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(directory), **kwargs)

        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            if not self.path.startswith("/slow/"):
                super().do_GET()
                return
            data = (directory / self.path.removeprefix("/slow/")).read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            step = len(data) // 20 + 1
            for start in range(0, len(data), step):  # about 2 s in all
                self.wfile.write(data[start:start + step])
                self.wfile.flush()
                time.sleep(0.1)

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, web: str) -> Iterator[Server]:
    port = web.rsplit(":", 1)[1]
    with running(tmp_path_factory, "--image-import-allowed-hosts", "127.0.0.1",
                 "--image-import-allowed-ports", port, users=(("alpha", "alice"),)) as srv:
        yield srv


@pytest.fixture(scope="module")
def converting(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Glance]:
    with running(tmp_path_factory, "--image-conversion-format", "raw",
                 users=(("alpha", "alice"),)) as srv:
        g = member(srv, "alpha", "alice")
        yield g
        g.close()


# ---- upload (PUT /file) ---------------------------------------------------------------------

def test_clean_qcow2_is_active_with_qemus_virtual_size(alice: Glance, img: dict[str, Path]
                                                        ) -> None:
    data = img["clean.qcow2"].read_bytes()
    image = alice.create(name="clean", disk_format="qcow2")
    assert alice.upload(image["id"], data).status_code == 204
    active = alice.get(image["id"])
    assert active["status"] == "active"
    assert active["size"] == len(data)
    assert active["virtual_size"] == qemu_info(img["clean.qcow2"])["virtual-size"] == 8 * MiB
    assert alice.http.get(f"/images/{image['id']}/file").content == data


def test_sparse_vmdk_is_active_with_qemus_virtual_size(alice: Glance, img: dict[str, Path]
                                                        ) -> None:
    image = alice.create(name="sparse", disk_format="vmdk")
    assert alice.upload(image["id"], img["sparse.vmdk"].read_bytes()).status_code == 204
    active = alice.get(image["id"])
    assert active["virtual_size"] == qemu_info(img["sparse.vmdk"])["virtual-size"] == 3 * MiB


def test_raw_is_sized_by_its_bytes(alice: Glance, img: dict[str, Path]) -> None:
    data = img["random.bin"].read_bytes()
    image = alice.create(name="raw", disk_format="raw")
    assert alice.upload(image["id"], data).status_code == 204
    active = alice.get(image["id"])
    assert active["status"] == "active"
    assert active["size"] == active["virtual_size"] == len(data)


REFUSED = [
    ("backing.qcow2", "qcow2", "backing file"),
    ("backing.qcow2", "raw", "backing file"),  # even declared raw, as Glance does
    ("random.bin", "qcow2", "does not match disk_format qcow2"),
    ("photo.jpg", "qcow2", "does not match disk_format qcow2"),
    ("flat.vmdk", "vmdk", "monolithicFlat"),
    ("clean.qcow2", "vmdk", "qcow2"),
]


@pytest.mark.parametrize(("name", "disk_format", "reason"), REFUSED)
def test_upload_refused(alice: Glance, server: Server, img: dict[str, Path], name: str,
                        disk_format: str, reason: str) -> None:
    image = alice.create(name=f"bad-{name}", disk_format=disk_format)
    iid = image["id"]
    message = error(alice.upload(iid, img[name].read_bytes()), 400, reason)
    assert "not acceptable" in message
    after = alice.get(iid)
    assert after["status"] == "queued"
    assert after["size"] is None and after["virtual_size"] is None
    assert after["checksum"] is None
    assert image_objects(server, iid) == {}
    assert alice.http.get(f"/images/{iid}/file").status_code == 204


def test_refused_upload_can_be_retried_with_good_data(alice: Glance, img: dict[str, Path]
                                                       ) -> None:
    image = alice.create(name="second-chance", disk_format="qcow2")
    error(alice.upload(image["id"], img["backing.qcow2"].read_bytes()), 400)
    assert alice.upload(image["id"], img["clean.qcow2"].read_bytes()).status_code == 204
    assert alice.get(image["id"])["virtual_size"] == 8 * MiB


def test_other_containers_are_not_inspected(alice: Glance) -> None:
    """Glance inspects bare images only: an ova is a tarball whatever its disk_format."""
    image = alice.create(name="ova", disk_format="vmdk", container_format="ova")
    assert alice.upload(image["id"], JPEG).status_code == 204
    assert alice.status(image["id"]) == "active"


# ---- import (glance-direct) -----------------------------------------------------------------

@pytest.mark.parametrize(("name", "disk_format", "reason"), REFUSED[:5])
def test_import_refused_ends_the_import(alice: Glance, server: Server, img: dict[str, Path],
                                        name: str, disk_format: str, reason: str) -> None:
    image = alice.create(name=f"bad-import-{name}", disk_format=disk_format)
    iid = image["id"]
    assert alice.stage(iid, img[name].read_bytes()).status_code == 204
    assert alice.import_(iid).status_code == 202
    failed = alice.wait_status(iid, "queued")
    assert failed["os_glance_failed_import"] == "Policy-0"
    assert reason.lower() in failed["os_glance_failed_import_reason"].lower()
    assert "os_glance_import_task" not in failed
    assert "os_glance_importing_to_stores" not in failed
    assert failed["size"] is None and failed["virtual_size"] is None
    [task] = alice.tasks(iid)
    assert task["status"] == "failure"
    assert reason.lower() in task["message"].lower()
    assert task["expires_at"] is not None
    assert image_objects(server, iid) == {}, "neither the staged nor the stored bytes stay"
    # the import can start over with good data
    assert alice.http.patch(f"/images/{iid}", json=[], headers={
        "Content-Type": "application/openstack-images-v2.1-json-patch"}).status_code == 200
    good = img["clean.qcow2"] if disk_format == "qcow2" else img["sparse.vmdk"]
    if disk_format == "raw":
        good = img["random.bin"]
    assert alice.stage(iid, good.read_bytes()).status_code == 204
    assert alice.import_(iid).status_code == 202
    done = alice.wait_status(iid, "active")
    assert "os_glance_failed_import" not in done
    assert "os_glance_failed_import_reason" not in done
    assert done["size"] == good.stat().st_size


def test_import_of_clean_qcow2_keeps_it_qcow2_without_conversion(
        alice: Glance, img: dict[str, Path]) -> None:
    data = img["clean.qcow2"].read_bytes()
    image = alice.create(name="imported", disk_format="qcow2")
    assert alice.stage(image["id"], data).status_code == 204
    assert alice.import_(image["id"]).status_code == 202
    done = alice.wait_status(image["id"], "active")
    assert (done["disk_format"], done["size"], done["virtual_size"]) == \
        ("qcow2", len(data), 8 * MiB)
    assert alice.http.get(f"/images/{image['id']}/file").content == data


def test_web_download_of_a_clean_qcow2(alice: Glance, web: str, img: dict[str, Path]) -> None:
    image = alice.create(name="fetched", disk_format="qcow2")
    resp = alice.import_(image["id"], "web-download", extra={"uri": f"{web}/clean.qcow2"})
    assert resp.status_code == 202, resp.text
    done = alice.wait_status(image["id"], "active")
    assert done["virtual_size"] == 8 * MiB
    assert done["size"] == img["clean.qcow2"].stat().st_size
    assert alice.http.get(f"/images/{image['id']}/file").content == \
        img["clean.qcow2"].read_bytes()


@pytest.mark.parametrize(("name", "reason"), [("backing.qcow2", "backing file"),
                                              ("photo.jpg", "does not match"),
                                              ("missing.qcow2", "404")])
def test_web_download_refused_ends_the_import(alice: Glance, server: Server, web: str,
                                              name: str, reason: str) -> None:
    image = alice.create(name=f"fetched-{name}", disk_format="qcow2")
    iid = image["id"]
    resp = alice.import_(iid, "web-download", extra={"uri": f"{web}/{name}"})
    assert resp.status_code == 202, resp.text
    failed = alice.wait_status(iid, "queued")
    assert reason in failed["os_glance_failed_import_reason"]
    assert failed["os_glance_failed_import"] == "Policy-0"
    [task] = alice.tasks(iid)
    assert task["status"] == "failure" and reason in task["message"]
    assert image_objects(server, iid) == {}


def test_deleting_an_image_while_it_imports(alice: Glance, server: Server, web: str
                                            ) -> None:
    image = alice.create(name="doomed-import", disk_format="qcow2")
    iid = image["id"]
    answers: list[int] = []
    starter = threading.Thread(target=lambda: answers.append(alice.import_(
        iid, "web-download", extra={"uri": f"{web}/slow/clean.qcow2"}).status_code))
    starter.start()
    alice.wait_status(iid, "importing", timeout=10)
    assert alice.http.delete(f"/images/{iid}").status_code == 204
    starter.join(60)
    assert answers == [202]
    error(alice.http.get(f"/images/{iid}"), 404)
    tasks = [t for t in alice.http.get("/tasks").json()["tasks"] if t.get("image_id") == iid]
    assert [t["status"] for t in tasks] == ["failure"]
    assert "deleted" in alice.http.get(f"/tasks/{tasks[0]['id']}").json()["message"]
    assert image_objects(server, iid) == {}


def test_conversion_to_raw_on_import(converting: Glance, img: dict[str, Path],
                                     tmp_path: Path) -> None:
    image = converting.create(name="converted", disk_format="qcow2")
    iid = image["id"]
    assert converting.stage(iid, img["clean.qcow2"].read_bytes()).status_code == 204
    assert converting.import_(iid).status_code == 202
    done = converting.wait_status(iid, "active")
    assert done["disk_format"] == "raw"
    assert done["size"] == done["virtual_size"] == 8 * MiB
    data = converting.http.get(f"/images/{iid}/file").content
    expected = img["base.raw"].read_bytes()
    assert data == expected
    assert done["checksum"] == hashlib.md5(expected).hexdigest()
    assert done["os_hash_value"] == hashlib.sha512(expected).hexdigest()
    out = tmp_path / "download.img"
    out.write_bytes(data)
    assert qemu_info(out)["format"] == "raw"


def test_conversion_never_runs_on_a_refused_image(converting: Glance, img: dict[str, Path]
                                                  ) -> None:
    image = converting.create(name="not-converted", disk_format="qcow2")
    iid = image["id"]
    assert converting.stage(iid, img["backing.qcow2"].read_bytes()).status_code == 204
    assert converting.import_(iid).status_code == 202
    failed = converting.wait_status(iid, "queued")
    assert "backing file" in failed["os_glance_failed_import_reason"]
    assert failed["disk_format"] == "qcow2"


def test_conversion_output_is_inspected_and_nothing_stays(converting: Glance,
                                                          img: dict[str, Path]) -> None:
    image = converting.create(name="nested", disk_format="qcow2")
    iid = image["id"]
    assert converting.stage(iid, img["nested.qcow2"].read_bytes()).status_code == 204
    assert converting.import_(iid).status_code == 202
    failed = converting.wait_status(iid, "queued")
    reason = failed["os_glance_failed_import_reason"]
    assert "converted" in reason and "backing file" in reason
    assert failed["disk_format"] == "qcow2" and failed["size"] is None
    assert image_objects(converting.server, iid) == {}, "the unconverted data stayed"
    [task] = converting.tasks(iid)
    assert task["status"] == "failure" and "backing file" in task["message"]


def test_plain_upload_is_not_converted(converting: Glance, img: dict[str, Path]) -> None:
    """Conversion is an import plugin in Glance: PUT /file keeps the data as sent."""
    data = img["clean.qcow2"].read_bytes()
    image = converting.create(name="uploaded", disk_format="qcow2")
    assert converting.upload(image["id"], data).status_code == 204
    active = converting.get(image["id"])
    assert (active["disk_format"], active["size"]) == ("qcow2", len(data))
