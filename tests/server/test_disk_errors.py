"""A disk that fails reads (issue 14): real EIO from the kernel, on a storage policy kept on an
ext4 filesystem over a loop device made by the test.

How the error is made: the loop device reads its blocks from a backing file; a block past
the end of that file cannot be read, and the kernel reports an I/O error for it, as for a bad
sector. So the test writes objects, finds where each blob's blocks lie (`filefrag`), cuts
the backing file short in the middle of the blocks of the last two blobs, drops those blobs'
pages from the cache, and reads them through the server. (The filesystem has no journal and
is mounted `noatime`, so no write lands past the cut meanwhile: a later write there would
turn the missing blocks into zeros.)

- the blob unreadable from its first byte: `503`, logged, quarantined (moved to
  `quarantined/objects/` under the policy's directory), then `404`;
- the blob unreadable half-way: its answer has started (`200`, headers sent), so the
  connection is cut short (the client sees fewer bytes than Content-Length, never wrong
  ones), logged and quarantined, then `404`;
- the other objects on the same filesystem still read back, and a new PUT of the lost name
  works.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.harness import Server

FS_BYTES = 64 << 20
BLOCK = 4096
OBJECT_BYTES = 2 << 20
EXTENT = re.compile(r"^\s*\d+:\s+\d+\.\.\s*\d+:\s+(\d+)\.\.\s*(\d+):", re.M)
SWIFT_503 = ("<html><h1>Service Unavailable</h1><p>The server is currently unavailable. "
             "Please try again at a later time.</p></html>")


def run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, check=False)


@pytest.fixture
def loop_fs(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """(mount point, backing file) of a fresh ext4 on a loop device, torn down after."""
    missing = [t for t in ("losetup", "mkfs.ext4", "filefrag", "mount") if not shutil.which(t)]
    if os.geteuid() != 0 or missing:
        pytest.skip(f"needs root and {', '.join(missing) or 'loop devices'} to make a disk "
                    "that fails reads")
    backing = tmp_path / "disk.img"
    with open(backing, "wb") as f:
        f.truncate(FS_BYTES)
    made = run("mkfs.ext4", "-q", "-F", "-b", str(BLOCK), "-O", "^has_journal",
               "-E", "lazy_itable_init=0", str(backing))
    assert made.returncode == 0, made.stderr
    attached = run("losetup", "-f", "--show", str(backing))
    if attached.returncode != 0:
        pytest.skip(f"no loop device here: {attached.stderr.strip()}")
    device = attached.stdout.strip()
    mount = tmp_path / "disk"
    mount.mkdir()
    try:
        mounted = run("mount", "-o", "noatime", device, str(mount))
        if mounted.returncode != 0:
            pytest.skip(f"cannot mount a loop device here: {mounted.stderr.strip()}")
        try:
            yield mount, backing
        finally:
            run("umount", "-l", str(mount))
    finally:
        run("losetup", "-d", device)


def extents(path: Path) -> list[tuple[int, int]]:
    """[first byte, end byte) on the device of each extent of the file."""
    out = run("filefrag", "-v", f"-b{BLOCK}", str(path))
    assert out.returncode == 0, out.stderr
    return [(int(a) * BLOCK, (int(b) + 1) * BLOCK) for a, b in EXTENT.findall(out.stdout)]


def md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def test_eio_on_a_blob_read_answers_5xx_and_quarantines(loop_fs: tuple[Path, Path],
                                                         tmp_path: Path) -> None:
    mount, backing = loop_fs
    policies = [{"name": "gold", "default": True},
                {"name": "flaky", "directory": str(mount / "blobs")}]
    # the auditor off: it would find (and quarantine) the bad blobs first, and this tests
    # what a request that meets them does
    srv = Server(tmp_path / "data", extra_args=("--storage-policies", json.dumps(policies),
                                               "--auditor-bytes-per-second", "0"))
    srv.start()
    try:
        url, token = srv.auth_v1("demo:demo", srv.passwords["demo"])
        http = httpx.Client(headers={"X-Auth-Token": token}, timeout=60)
        assert http.put(f"{url}/c", headers={"X-Storage-Policy": "flaky"}).status_code == 201
        bodies = {f"o{i}": os.urandom(OBJECT_BYTES) for i in range(4)}
        for name, data in bodies.items():
            assert http.put(f"{url}/c/{name}", content=data).status_code == 201

        # each object's blob file, and where its blocks lie
        os.sync()
        by_digest = {md5(data): name for name, data in bodies.items()}
        blobs: dict[str, Path] = {}
        for path in (mount / "blobs" / "objects").rglob("*"):
            if path.is_file():
                blobs[by_digest[md5(path.read_bytes())]] = path
        assert sorted(blobs) == sorted(bodies)
        order = sorted(bodies, key=lambda n: extents(blobs[n])[0][0])
        good, half, dead = order[:2], order[2], order[3]
        cut = extents(blobs[half])[0][0] + OBJECT_BYTES // 2
        for name in good:
            assert max(end for _, end in extents(blobs[name])) <= cut, "blobs interleave"
        assert min(start for start, _ in extents(blobs[dead])) >= cut

        os.truncate(backing, cut)  # the blocks past here now fail to read
        for name in (half, dead):
            fd = os.open(blobs[name], os.O_RDONLY)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            os.close(fd)

        # unreadable from the start: a 503 before anything is sent, then quarantined
        resp = http.get(f"{url}/c/{dead}")
        assert (resp.status_code, resp.text) == (503, SWIFT_503)
        assert not blobs[dead].exists()
        assert (mount / "blobs" / "quarantined" / "objects" / blobs[dead].name).exists()
        assert http.get(f"{url}/c/{dead}").status_code == 404

        # unreadable half-way: the answer had started; cut short, never wrong bytes
        received = bytearray()
        with pytest.raises(httpx.HTTPError), http.stream("GET", f"{url}/c/{half}") as stream:
            assert stream.status_code == 200
            for chunk in stream.iter_bytes():
                received += chunk
        assert 0 < len(received) < OBJECT_BYTES
        assert received == bodies[half][:len(received)]  # what came is right
        assert (mount / "blobs" / "quarantined" / "objects" / blobs[half].name).exists()
        assert http.get(f"{url}/c/{half}").status_code == 404

        log = srv.log_path.read_text()
        for name in (dead, half):
            assert f"read error on object {name} in container c (policy flaky" in log
        assert log.count("blob quarantined to ") == 2
        assert all(http.head(f"{url}/c/{name}").status_code == 404 for name in (dead, half))
        listed = http.get(f"{url}/c", params={"format": "json"}).json()
        assert not {dead, half} & {entry["name"] for entry in listed}  # gone from listings

        # the rest of the disk still serves; a new write of a lost name works
        for name in good:
            resp = http.get(f"{url}/c/{name}")
            assert resp.status_code == 200 and resp.content == bodies[name]
        assert http.put(f"{url}/c/{dead}", content=b"again").status_code == 201
        assert http.get(f"{url}/c/{dead}").content == b"again"
        http.close()
    finally:
        srv.stop()
