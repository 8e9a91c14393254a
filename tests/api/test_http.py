"""Streaming end to end: a 1 GiB PUT and GET keep the server's memory flat.

A correctness property, not a speed test: a server that buffered bodies would need over a
gigabyte; one that streams stays near its idle size. No timing is asserted.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator

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
