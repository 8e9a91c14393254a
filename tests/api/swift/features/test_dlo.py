"""Dynamic Large Objects with the real `swift` CLI and raw HTTP like openstacksdk/rclone."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import uuid
from pathlib import Path

import httpx

from tests.harness import Server

MIB = 1024 * 1024
SWIFT = str(Path(sys.executable).with_name("swift"))


def swift_cli(server: Server, *args: str, cwd: Path | None = None
              ) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ST_AUTH": f"{server.url}/auth/v1.0", "ST_USER": "test:tester",
           "ST_KEY": "testing"}
    result = subprocess.run([SWIFT, *args], env=env, capture_output=True, text=True,
                            cwd=cwd, timeout=300)
    assert result.returncode == 0, result.stderr + result.stdout
    return result


def test_swift_upload_use_dlo_round_trips(server: Server, tester: tuple[str, str],
                                          tmp_path: Path) -> None:
    container = f"dlo-{uuid.uuid4().hex[:8]}"
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(50 * MIB))
    swift_cli(server, "upload", "--segment-size", str(MIB), "--use-dlo", container,
              "big.bin", cwd=tmp_path)
    url, token = tester
    head = httpx.head(f"{url}/{container}/big.bin", headers={"X-Auth-Token": token})
    assert head.headers["X-Object-Manifest"].startswith(f"{container}_segments/big.bin/")
    assert int(head.headers["Content-Length"]) == 50 * MIB
    out = tmp_path / "out.bin"
    swift_cli(server, "download", container, "big.bin", "-o", str(out))
    assert hashlib.md5(out.read_bytes()).hexdigest() == hashlib.md5(
        source.read_bytes()).hexdigest()
    again = swift_cli(server, "upload", "--segment-size", str(MIB), "--use-dlo",
                      "--skip-identical", "--verbose", container, "big.bin", cwd=tmp_path)
    assert "segment" not in again.stdout
    swift_cli(server, "delete", container, "big.bin")
    listing = httpx.get(f"{url}/{container}_segments?format=json",
                        headers={"X-Auth-Token": token}).json()
    assert listing == []


def test_prefix_matching_the_manifest_itself_is_read_raw(tester: tuple[str, str]) -> None:
    """openstacksdk names segments `<obj>/000000` and points the manifest at `<c>/<obj>`."""
    url, token = tester
    http = httpx.Client(headers={"X-Auth-Token": token}, timeout=30)
    container = f"sdk-{uuid.uuid4().hex[:8]}"
    assert http.put(f"{url}/{container}").status_code == 201
    parts = [os.urandom(1000), os.urandom(10), os.urandom(2500)]
    for index, data in enumerate(parts):
        assert http.put(f"{url}/{container}/obj/{index:06d}", content=data).status_code == 201
    put = http.put(f"{url}/{container}/obj", content=b"",
                   headers={"X-Object-Manifest": f"{container}/obj"})
    assert put.status_code == 201
    assert put.headers["Etag"] == hashlib.md5(b"").hexdigest()
    expected = b"".join(parts)
    head = http.head(f"{url}/{container}/obj")
    assert int(head.headers["Content-Length"]) == len(expected)
    etags = hashlib.md5(b"").hexdigest() + "".join(hashlib.md5(p).hexdigest() for p in parts)
    assert head.headers["Etag"] == f'"{hashlib.md5(etags.encode()).hexdigest()}"'
    assert head.headers["X-Object-Manifest"] == f"{container}/obj"
    got = http.get(f"{url}/{container}/obj")
    assert got.content == expected
    ranged = http.get(f"{url}/{container}/obj", headers={"Range": "bytes=995-1014"})
    assert ranged.status_code == 206 and ranged.content == expected[995:1015]
    manifest = http.get(f"{url}/{container}/obj?multipart-manifest=get")
    assert manifest.content == b"" and manifest.headers["X-Object-Manifest"]

    copied = http.request("COPY", f"{url}/{container}/obj",
                          headers={"Destination": f"/{container}/flat"})
    assert copied.status_code == 201
    flat = http.get(f"{url}/{container}/flat")
    assert flat.content == expected and "X-Object-Manifest" not in flat.headers

    # URL-quoted header values are decoded; bad ones are refused
    quoted = http.put(f"{url}/{container}/q", content=b"",
                      headers={"X-Object-Manifest": f"{container}/ob%6A/"})
    assert quoted.status_code == 201
    assert http.get(f"{url}/{container}/q").content == expected
    bad = http.put(f"{url}/{container}/bad", content=b"", headers={"X-Object-Manifest": "x"})
    assert bad.status_code == 400
    assert bad.text == "X-Object-Manifest must be in the format container/prefix"
    # a POST without the header turns the manifest back into a plain object
    assert http.post(f"{url}/{container}/q", headers={"X-Object-Meta-A": "b"}
                     ).status_code == 202
    assert http.get(f"{url}/{container}/q").content == b""


def test_copy_with_range_copies_only_that_range(tester: tuple[str, str]) -> None:
    """As Swift's copy: one range of a DLO is copied alone; several get all of it, as a
    DLO's GET answers them."""
    url, token = tester
    http = httpx.Client(headers={"X-Auth-Token": token}, timeout=30)
    container = f"cpr-{uuid.uuid4().hex[:8]}"
    assert http.put(f"{url}/{container}").status_code == 201
    parts = [os.urandom(600), os.urandom(400)]
    for index, data in enumerate(parts):
        assert http.put(f"{url}/{container}/seg/{index}", content=data).status_code == 201
    assert http.put(f"{url}/{container}/dlo", content=b"",
                    headers={"X-Object-Manifest": f"{container}/seg/"}).status_code == 201
    whole = b"".join(parts)
    resp = http.request("COPY", f"{url}/{container}/dlo",
                        headers={"Destination": f"{container}/part", "Range": "bytes=590-609"})
    assert resp.status_code == 201
    got = http.get(f"{url}/{container}/part")
    assert got.content == whole[590:610] and "X-Object-Manifest" not in got.headers
    resp = http.put(f"{url}/{container}/both", headers={"X-Copy-From": f"{container}/dlo",
                                                         "Range": "bytes=0-1,-1"})
    assert resp.status_code == 201 and http.get(f"{url}/{container}/both").content == whole
