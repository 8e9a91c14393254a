"""The SDK's image operations against a real Strato image service: create, upload, stage
and import (glance-direct, web-download), download with its hash checked, update, delete,
and waiting that reports each status and, on failure, the server's reason."""

from __future__ import annotations

import hashlib
import http.server
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import strato.client as sc
from tests.client.conftest import arun
from tests.harness import Server

IMAGE = os.urandom(3 << 20)


class _Mirror(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path != "/image.raw":
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(IMAGE)))
        self.end_headers()
        self.wfile.write(IMAGE)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def mirror() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Mirror)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def cloud_args(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A server that may import from this test's loopback mirror."""
    srv = Server(tmp_path_factory.mktemp("images") / "data",
                 extra_args=("--image-import-allowed-hosts", "127.0.0.1",
                             "--image-import-allowed-ports", "")).start()
    srv.add_user("imgs", "imager", "imaging", role="member")
    try:
        yield {"auth_url": srv.url + "/identity", "username": "imager",
               "password": "imaging", "project_name": "imgs"}
    finally:
        srv.stop()


@pytest.fixture
def raw(tmp_path: Path) -> Path:
    path = tmp_path / "disk.raw"
    path.write_bytes(IMAGE)
    return path


def test_create_upload_wait_download_update_delete(cloud_args: dict[str, str], raw: Path,
                                                   tmp_path: Path) -> None:
    statuses: list[str] = []

    async def work() -> None:
        async with sc.connect(**cloud_args) as cloud:
            image = await cloud.images.create("sdk-put", disk_format="raw",
                                              container_format="bare", os_distro="debian")
            assert image["status"] == "queued"
            await cloud.images.upload(image["id"], raw)
            done = await cloud.images.wait(image["id"],
                                           on_status=lambda i: statuses.append(i["status"]))
            assert done["size"] == len(IMAGE)
            assert done["os_hash_value"] == hashlib.sha512(IMAGE).hexdigest()
            await cloud.images.download(image["id"], tmp_path / "back.raw")
            assert (tmp_path / "back.raw").read_bytes() == IMAGE
            changed = await cloud.images.update(image["id"], name="renamed", os_distro=None,
                                                purpose="testing")
            assert changed["name"] == "renamed" and changed["purpose"] == "testing"
            assert "os_distro" not in changed
            assert image["id"] in [i["id"] async for i in cloud.images.list()]
            await cloud.images.delete(image["id"])
            with pytest.raises(sc.NotFound):
                await cloud.images.get(image["id"])

    arun(work())
    assert statuses[-1] == "active"


def test_glance_direct_and_web_download_imports(cloud_args: dict[str, str], raw: Path,
                                                mirror: str) -> None:
    async def work() -> None:
        async with sc.connect(**cloud_args) as cloud:
            staged = await cloud.images.create("sdk-direct", disk_format="raw",
                                               container_format="bare")
            await cloud.images.stage(staged["id"], raw)
            await cloud.images.import_(staged["id"], "glance-direct")
            assert (await cloud.images.wait(staged["id"], timeout=60))["size"] == len(IMAGE)
            fetched = await cloud.images.create("sdk-web", disk_format="raw",
                                                container_format="bare")
            await cloud.images.import_(fetched["id"], "web-download", uri=f"{mirror}/image.raw")
            done = await cloud.images.wait(fetched["id"], timeout=60)
            assert done["os_hash_value"] == hashlib.sha512(IMAGE).hexdigest()

    arun(work())


def test_failed_import_says_why(cloud_args: dict[str, str], mirror: str) -> None:
    async def work() -> None:
        async with sc.connect(**cloud_args) as cloud:
            image = await cloud.images.create("sdk-broken", disk_format="raw",
                                              container_format="bare")
            await cloud.images.import_(image["id"], "web-download", uri=f"{mirror}/missing")
            await cloud.images.wait(image["id"], timeout=60, interval=0.2)

    with pytest.raises(sc.ImageFailed) as failed:
        arun(work())
    # not a bare status: the task's own message, which names what the server got
    assert "404" in failed.value.reason, failed.value.reason
