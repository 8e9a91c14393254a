"""`--image-hash-algo` (Glance's hashing_algorithm): what `os_hash_value` is computed with."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.api.image.support import OCTET, token
from tests.harness import Server


def test_sha256_images(make_server: Callable[..., Server]) -> None:
    server = make_server(extra_args=("--image-hash-algo", "sha256"))
    api = httpx.Client(base_url=f"{server.url}/image/v2", timeout=30, headers={
        "X-Auth-Token": token(server, "admin", server.passwords["admin"], "admin")})
    data = os.urandom(300_000)
    image = api.post("/images", json={"disk_format": "raw", "container_format": "bare"})
    iid = image.json()["id"]
    assert api.put(f"/images/{iid}/file", content=data, headers=OCTET).status_code == 204
    shown = api.get(f"/images/{iid}").json()
    assert shown["os_hash_algo"] == "sha256"
    assert shown["os_hash_value"] == hashlib.sha256(data).hexdigest()
    assert shown["checksum"] == hashlib.md5(data).hexdigest()


def test_unknown_hash_is_refused_at_start(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "strato", "serve", "--data-dir", str(tmp_path / "d"),
         "--image-hash-algo", "crc32"], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "image_hash_algo" in result.stderr and "sha512" in result.stderr
