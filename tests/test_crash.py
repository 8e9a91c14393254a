"""SIGKILL the server mid-stream of overwrites and deletes; every acknowledged write survives.

After the restart each object is in a state the client could have caused: its last
acknowledged write (or deletion), or the one operation in flight when the server died, never
a mix or a torn body. Then the orphan sweep reclaims blobs no row refers to.
"""

from __future__ import annotations

import fcntl
import random
import socket
import threading
import time

import httpx
import swiftclient

from tests import stored
from tests.harness import Server

NAMES = [f"obj-{i}" for i in range(6)]
INLINE_BYTES = 64 * 1024  # the default: smaller bodies commit with their row


def body(name: str, version: int) -> bytes:
    """Up to 400 kB; over half fit in inline_bytes."""
    unit = f"{name}@{version}|".encode()
    rng = random.Random(f"{name}/{version}")
    size = rng.randint(1, 60_000 if rng.random() < 0.5 else 400_000)
    return (unit * (size // len(unit) + 1))[:size]


def parse_version(name: str, data: bytes) -> int:
    """The version a body was written as; fails on any torn or mixed body."""
    head = data.split(b"|", 1)[0].decode()
    got_name, _, version = head.partition("@")
    assert got_name == name, head
    assert data == body(name, int(version)), f"{name}: torn or mixed body"
    return int(version)


class Writer(threading.Thread):
    """Overwrites and deletes until the server dies; records what was acknowledged."""

    def __init__(self, url: str, token: str) -> None:
        super().__init__(daemon=True)
        self.url, self.token = url, token
        self.acked: dict[str, int | None] = {}  # name -> version, None = deleted
        self.pending: tuple[str, int | None] | None = None
        self.count = 0

    def run(self) -> None:
        rng = random.Random(1)
        version = 0
        with httpx.Client(headers={"X-Auth-Token": self.token}, timeout=30) as http:
            while True:
                name = rng.choice(NAMES)
                delete = name in self.acked and rng.random() < 0.25
                version += 1
                self.pending = (name, None if delete else version)
                try:
                    if delete:
                        resp = http.delete(f"{self.url}/crash/{name}")
                        ok = resp.status_code in (204, 404)
                    else:
                        resp = http.put(f"{self.url}/crash/{name}", content=body(name, version))
                        ok = resp.status_code == 201
                except httpx.HTTPError:
                    return  # the server died: `pending` may or may not have happened
                assert ok, resp
                self.acked[name] = self.pending[1]
                self.pending = None
                self.count += 1


def blob_files(server: Server) -> int:
    return sum(1 for p in (server.data_dir / "objects").rglob("*") if p.is_file())


def inline_rows(server: Server) -> int:
    return stored.count(server.data_dir, "inline_blobs")


def test_sigkill_mid_stream(make_server: object) -> None:
    srv: Server = make_server(extra_args=(  # type: ignore[operator]
        "--sweep-min-age", "1", "--sweep-interval", "1"))
    srv.add_user("crash", "crasher", "pw", role="admin")
    url, token = srv.auth_v1("crash:crasher", "pw")
    swiftclient.put_container(url, token, "crash")

    writer = Writer(url, token)
    writer.start()
    deadline = time.monotonic() + 20
    while writer.count < 60 and time.monotonic() < deadline and writer.is_alive():
        time.sleep(0.05)
    time.sleep(random.uniform(0, 0.2))
    srv.kill()
    writer.join(timeout=30)
    assert not writer.is_alive()
    assert writer.count >= 60, "too few writes before the kill to mean anything"

    # what a crash between "blob renamed into place" and "row committed" leaves behind,
    # for certain (the kill above may or may not have hit that window)
    orphan = srv.data_dir / "objects" / "ab" / "cd" / ("abcd" + "0" * 28)
    orphan.parent.mkdir(parents=True, exist_ok=True)
    orphan.write_bytes(b"orphan")
    (srv.data_dir / "tmp" / ("f" * 32 + ".tmp")).write_bytes(b"half")
    srv.start()
    _, token = srv.auth_v1("crash:crasher", "pw")
    live: dict[str, int] = {}
    with httpx.Client(headers={"X-Auth-Token": token}, timeout=30) as http:
        for name in NAMES:
            allowed = {writer.acked.get(name, None)}
            if writer.pending and writer.pending[0] == name:
                allowed.add(writer.pending[1])
            resp = http.get(f"{url}/crash/{name}")
            if resp.status_code == 404:
                assert None in allowed, (name, allowed)
                continue
            assert resp.status_code == 200
            version = parse_version(name, resp.content)
            assert version in allowed, (name, version, allowed)
            live[name] = len(resp.content)
        listing = http.get(f"{url}/crash", params={"format": "json"})
        assert sorted(o["name"] for o in listing.json()) == sorted(live)
        assert {o["name"]: o["bytes"] for o in listing.json()} == live
        head = http.head(f"{url}/crash")
        assert int(head.headers["X-Container-Object-Count"]) == len(live)
        assert int(head.headers["X-Container-Bytes-Used"]) == sum(live.values())

    # leftovers of the crash (uncommitted temp files, blobs of rows never written or
    # already replaced) are swept; live objects keep theirs: a file, or their bytes in the
    # database up to inline_bytes
    filed = sum(1 for size in live.values() if size > INLINE_BYTES)
    assert inline_rows(srv) == len(live) - filed
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if blob_files(srv) == filed and not list((srv.data_dir / "tmp").iterdir()):
            break
        time.sleep(0.25)
    assert blob_files(srv) == filed
    assert not orphan.exists()
    assert not list((srv.data_dir / "tmp").iterdir())
    with httpx.Client(headers={"X-Auth-Token": token}, timeout=30) as http:
        for name in live:
            parse_version(name, http.get(f"{url}/crash/{name}").content)


def test_temp_files_of_a_killed_upload_are_reclaimed_at_start(make_server: object) -> None:
    """Issue 14: a SIGKILL mid-upload leaves the partial temp file; the next start reclaims
    it at once (the sweep would wait `sweep_min_age`, an hour by default), in every policy's
    tmp/, and a file another live process is writing stays."""
    policies = '[{"name": "gold", "default": true}, {"name": "silver"}]'
    srv: Server = make_server(extra_args=("--storage-policies", policies))  # type: ignore[operator]
    url, token = srv.auth_v1("demo:demo", srv.passwords["demo"])
    swiftclient.put_container(url, token, "big")
    sock = socket.create_connection(("127.0.0.1", srv.port))
    path = url[url.index("/v1/"):]
    sock.sendall(f"PUT {path}/big/o HTTP/1.1\r\nHost: x\r\nX-Auth-Token: {token}\r\n"
                 f"Content-Length: {100 << 20}\r\n\r\n".encode() + b"x" * (8 << 20))
    tmp = srv.data_dir / "tmp"
    deadline = time.monotonic() + 20
    while not list(tmp.glob("*.tmp")) and time.monotonic() < deadline:
        time.sleep(0.05)
    partial = list(tmp.glob("*.tmp"))
    assert partial, "the upload never reached a temp file"
    srv.kill()
    sock.close()
    silver_tmp = srv.data_dir / "policies" / "silver" / "tmp"
    (silver_tmp / ("e" * 32 + ".tmp")).write_bytes(b"half")
    live = silver_tmp / ("d" * 32 + ".tmp")
    with open(live, "wb") as holder:  # another process's writer, still running
        fcntl.flock(holder.fileno(), fcntl.LOCK_EX)
        srv.start()
        assert [p.name for p in silver_tmp.iterdir()] == [live.name]
    assert not any(p.exists() for p in partial)
    assert "temp files left by an interrupted upload reclaimed" in srv.log_path.read_text()
