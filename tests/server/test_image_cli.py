"""`strato image-admin ...` against a running server's data directory: restore brings a deleted
image back with its data, the scrubber reclaims it later, bytes and all."""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.api.image.support import token
from tests.harness import Server

IMAGE_BYTES = 3 * 1024 * 1024 + 17  # over the inline limit: its bytes live in a blob file


def _token(server: Server) -> str:
    return token(server, "admin", server.passwords["admin"], "admin")


def _blob_bytes(data_dir: Path) -> int:
    return sum(f.stat().st_size for f in (data_dir / "objects").rglob("*") if f.is_file())


def _wait(check: Callable[[], bool], seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.2)


def test_restore_then_scrub(make_server: Callable[..., Server]) -> None:
    server = make_server(extra_args=("--image-delayed-delete", "--image-scrub-time", "3600",
                                     "--image-scrub-interval", "0.5"))
    api = httpx.Client(base_url=f"{server.url}/image/v2",
                       headers={"X-Auth-Token": _token(server)}, timeout=30)
    data = os.urandom(IMAGE_BYTES)
    image = api.post("/images", json={"name": "keep-me", "disk_format": "raw",
                                      "container_format": "bare"}).json()
    before = _blob_bytes(server.data_dir)
    resp = api.put(f"/images/{image['id']}/file", content=data,
                   headers={"Content-Type": "application/octet-stream"})
    assert resp.status_code == 204, resp.text
    assert _blob_bytes(server.data_dir) - before >= IMAGE_BYTES

    assert api.delete(f"/images/{image['id']}").status_code == 204
    shown = json.loads(server.cli("image-admin", "show", image["id"]).stdout)
    assert shown["status"] == "pending_delete"
    listed = server.cli("image-admin", "list", "--status", "pending_delete").stdout
    assert image["id"] in listed

    server.cli("image-admin", "restore", image["id"])
    restored = api.get(f"/images/{image['id']}").json()
    assert restored["status"] == "active"
    body = api.get(f"/images/{image['id']}/file").content
    assert hashlib.sha512(body).hexdigest() == hashlib.sha512(data).hexdigest() == \
        restored["os_hash_value"]

    again = server.cli("image-admin", "restore", image["id"], check=False)
    assert again.returncode == 1 and "not pending_delete" in again.stderr

    assert api.delete(f"/images/{image['id']}").status_code == 204
    kept = server.cli("image-admin", "scrub")  # scrub_time 1 h: nothing is old enough yet
    assert "reclaimed the data of 0 images" in kept.stderr
    assert _blob_bytes(server.data_dir) - before >= IMAGE_BYTES
    done = server.cli("image-admin", "scrub", "--scrub-time", "0")
    assert "reclaimed the data of 1 images" in done.stderr
    assert json.loads(server.cli("image-admin", "show", image["id"]).stdout)["status"] == "deleted"
    assert _blob_bytes(server.data_dir) - before < IMAGE_BYTES  # its blob file is gone
    assert api.get(f"/images/{image['id']}").status_code == 404
    missing = server.cli("image-admin", "restore", image["id"], check=False)
    assert missing.returncode == 3


def test_background_scrubber_reclaims_after_scrub_time(
        make_server: Callable[..., Server]) -> None:
    server = make_server(extra_args=("--image-delayed-delete", "--image-scrub-time", "1",
                                     "--image-scrub-interval", "0.5"))
    api = httpx.Client(base_url=f"{server.url}/image/v2",
                       headers={"X-Auth-Token": _token(server)}, timeout=30)
    image = api.post("/images", json={"name": "gone", "disk_format": "raw",
                                      "container_format": "bare"}).json()
    before = _blob_bytes(server.data_dir)
    api.put(f"/images/{image['id']}/file", content=os.urandom(IMAGE_BYTES),
            headers={"Content-Type": "application/octet-stream"})
    assert api.delete(f"/images/{image['id']}").status_code == 204
    _wait(lambda: json.loads(server.cli("image-admin", "show", image["id"]).stdout)["status"]
          == "deleted")
    assert _blob_bytes(server.data_dir) - before < IMAGE_BYTES
