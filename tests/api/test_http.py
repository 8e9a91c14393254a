"""Streaming end to end: a 1 GiB PUT and GET keep the server's memory flat, and a streamed
body stops when its client goes away.

Correctness properties, not speed tests: a server that buffered bodies would need over a
gigabyte; one that streams stays near its idle size. No timing is asserted.
"""

from __future__ import annotations

import hashlib
import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import psutil

from tests.harness import Server

MiB = 1024 * 1024
TOTAL = 1024 * MiB
LIMIT = 150 * MiB


class PeakRss(threading.Thread):
    """Samples the resident size of the server's process tree until stopped."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.root = psutil.Process(pid)
        self.peak = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.02):
            try:
                procs = [self.root, *self.root.children(recursive=True)]
                self.peak = max([self.peak, *(p.memory_info().rss for p in procs)])
            except psutil.Error:
                continue


def generated(md5: hashlib._Hash) -> Iterator[bytes]:
    """1 GiB made on the fly (each MiB numbered), hashed as it is sent."""
    block = bytearray(b"0123456789abcdef" * (MiB // 16))
    for i in range(TOTAL // MiB):
        block[:8] = i.to_bytes(8, "big")
        chunk = bytes(block)
        md5.update(chunk)
        yield chunk


def test_one_gib_put_and_get_stay_flat(make_server: object) -> None:
    # fsync off: durability is not under test here, and it keeps disk time out of the run
    srv: Server = make_server(workers=1, extra_args=("--no-fsync",))  # type: ignore[operator]
    srv.add_user("big", "big", "pw", role="admin")
    url, token = srv.auth_v1("big:big", "pw")
    assert srv.process is not None
    monitor = PeakRss(srv.process.pid)
    monitor.start()
    hdr = {"X-Auth-Token": token}
    try:
        with httpx.Client(headers=hdr, timeout=300) as http:
            assert http.put(f"{url}/big").status_code == 201
            sent = hashlib.md5()
            resp = http.put(f"{url}/big/blob", content=generated(sent),
                            headers={"Content-Length": str(TOTAL)})
            assert resp.status_code == 201
            etag = resp.headers["Etag"]
            md5 = hashlib.md5()
            size = 0
            with http.stream("GET", f"{url}/big/blob") as got:
                assert got.status_code == 200
                assert got.headers["Content-Length"] == str(TOTAL)
                for chunk in got.iter_raw(MiB):
                    md5.update(chunk)
                    size += len(chunk)
    finally:
        monitor.stop.set()
        monitor.join()
    assert size == TOTAL
    assert md5.hexdigest() == etag == sent.hexdigest()
    assert 0 < monitor.peak < LIMIT, f"server peak RSS {monitor.peak / MiB:.0f} MiB"


def test_a_streamed_body_stops_when_its_client_goes_away(make_server: object) -> None:
    """A large object's segments are streamed chunk by chunk; a client that reads the head
    and leaves (as a downloader does that finds the object too big for one GET and goes for
    ranges) must not have the server read the whole object for nobody."""
    srv: Server = make_server(workers=1, extra_args=("--no-fsync",))  # type: ignore[operator]
    srv.add_user("big", "big", "pw", role="admin")
    url, token = srv.auth_v1("big:big", "pw")
    hdr = {"X-Auth-Token": token}
    segments, segment = 8, 32 * MiB
    with httpx.Client(headers=hdr, timeout=120) as http:
        assert http.put(f"{url}/segs").status_code == 201
        manifest = []
        for i in range(segments):
            data = i.to_bytes(8, "big") * (segment // 8)
            made = http.put(f"{url}/segs/{i:02d}", content=data)
            assert made.status_code == 201
            manifest.append({"path": f"/segs/{i:02d}", "etag": made.headers["Etag"],
                             "size_bytes": segment})
        made = http.put(f"{url}/segs/whole", params={"multipart-manifest": "put"},
                        content=json.dumps(manifest))
        assert made.status_code == 201
    parts = urlsplit(f"{url}/segs/whole")
    with socket.create_connection((parts.hostname, parts.port), timeout=20) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        sock.sendall(f"GET {parts.path} HTTP/1.1\r\nHost: x\r\nX-Auth-Token: {token}\r\n"
                     "\r\n".encode())
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")
    # closed with the body unread: the access log says how much the server sent
    line = re.compile(rb'"GET ' + re.escape(parts.path.encode()) + rb'" 200 (\d+) ')
    deadline = time.monotonic() + 30
    while not (found := line.findall(srv.log_path.read_bytes())) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert found, "no access log line for the GET"
    total = segments * segment
    assert int(found[-1]) < total / 4, f"sent {int(found[-1])} of {total} bytes to no one"
