"""An import whose server is killed mid-way is finished after the restart: tasks live in
the metadata store and the background runner takes over one whose worker stopped beating."""

from __future__ import annotations

import hashlib
import http.server
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.image.support import token
from tests.harness import Server

IMAGE = os.urandom(2 * 1024 * 1024 + 5)


@pytest.fixture
def origin() -> Iterator[tuple[str, threading.Event]]:
    """A loopback web server whose first download stalls half-way until released."""
    release = threading.Event()
    first = threading.Event()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(IMAGE)))
            self.end_headers()
            if not first.is_set():
                first.set()
                self.wfile.write(IMAGE[:1024])
                self.wfile.flush()
                release.wait(60)
                return
            self.wfile.write(IMAGE)

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/disk.raw", release
    finally:
        release.set()
        httpd.shutdown()


def _token(server: Server) -> str:
    return token(server, "admin", server.passwords["admin"], "admin")


def test_import_survives_a_killed_server(make_server: Callable[..., Server],
                                         origin: tuple[str, threading.Event]) -> None:
    uri, release = origin
    server = make_server(extra_args=("--image-import-allowed-hosts", "127.0.0.1",
                                     "--image-import-allowed-ports", "",
                                     "--image-import-wait", "0.5"))
    api = httpx.Client(base_url=f"{server.url}/image/v2",
                       headers={"X-Auth-Token": _token(server)}, timeout=30)
    image = api.post("/images", json={"name": "web", "disk_format": "raw",
                                      "container_format": "bare"}).json()
    resp = api.post(f"/images/{image['id']}/import",
                    json={"method": {"name": "web-download", "uri": uri}})
    assert resp.status_code == 202, resp.text
    assert api.get(f"/images/{image['id']}").json()["status"] == "importing"

    server.kill()  # mid-download: no shutdown code runs
    release.set()
    server.start()
    api.headers["X-Auth-Token"] = _token(server)
    deadline = time.monotonic() + 60
    while (shown := api.get(f"/images/{image['id']}").json())["status"] != "active":
        assert shown["status"] == "importing", shown
        assert time.monotonic() < deadline, "the import was not taken over"
        time.sleep(0.5)
    body = api.get(f"/images/{image['id']}/file").content
    assert hashlib.sha512(body).hexdigest() == shown["os_hash_value"] == \
        hashlib.sha512(IMAGE).hexdigest()
    tasks = api.get(f"/images/{image['id']}/tasks").json()["tasks"]
    assert [t["status"] for t in tasks] == ["success"]
    assert "os_glance_import_task" not in shown


def test_conversion_scratch_of_a_killed_server_is_reclaimed_at_start(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    scratch = data_dir / "tmp" / "strato-convert-killed"
    scratch.mkdir(parents=True)
    (scratch / "source").write_bytes(b"\0" * 4096)
    past = time.time() - 60
    os.utime(scratch, (past, past))
    other = data_dir / "tmp" / "not-ours"
    other.mkdir()
    server = Server(data_dir).start()
    try:
        assert not scratch.exists()
        assert other.exists()  # only the image service's scratch directories
    finally:
        server.stop()
