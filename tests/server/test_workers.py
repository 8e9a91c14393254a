"""Several worker processes on one data directory: no lost updates, reads see every write."""

from __future__ import annotations

import random
import threading
from collections import Counter
from http.client import HTTPConnection
from urllib.parse import urlsplit

import httpx
import psutil

from tests.api.swift.helpers import conn, uniq
from tests.harness import Server


def test_two_workers_really_serve(server: Server) -> None:
    assert server.workers == 2
    assert server.process is not None
    children = psutil.Process(server.process.pid).children(recursive=True)
    assert sum("strato" in " ".join(p.cmdline()) or "multiprocessing" in " ".join(p.cmdline())
               for p in children) >= 2


def test_concurrent_writes_keep_counters(server: Server, tester: tuple[str, str]) -> None:
    url, token = tester
    container = uniq()
    conn(tester).put_container(container)
    final: dict[str, int] = {}
    lock = threading.Lock()
    errors: list[str] = []

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        for i in range(15):
            name = f"shared-{rng.randint(0, 9)}" if i % 2 else f"own-{seed}-{i}"
            size = rng.randint(0, 5000)
            # a fresh connection each time, so requests spread over both workers
            with httpx.Client(headers={"X-Auth-Token": token}, timeout=30) as http:
                if rng.random() < 0.2:
                    resp = http.delete(f"{url}/{container}/{name}")
                    if resp.status_code not in (204, 404):
                        errors.append(f"DELETE {resp.status_code}")
                    with lock:
                        final.pop(name, None)
                    continue
                resp = http.put(f"{url}/{container}/{name}", content=b"x" * size)
                # a shared name's PUT may lose to a newer one that committed first: Swift
                # answers that one 202 (the newest timestamp wins), and the listing decides
                lost = resp.status_code == 202 and name.startswith("shared-")
                if resp.status_code != 201 and not lost:
                    errors.append(f"PUT {resp.status_code}")
                got = http.head(f"{url}/{container}/{name}")
                if got.status_code not in (200, 404):
                    errors.append(f"HEAD {got.status_code}")
                with lock:
                    final[name] = size

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, Counter(errors)
    headers, listing = conn(tester).get_container(container, full_listing=True)
    # shared names raced between threads: trust the listing, check counters against it
    listed = {o["name"]: o["bytes"] for o in listing}
    assert {n for n in listed if n.startswith("own-")} == {
        n for n in final if n.startswith("own-")}
    assert int(headers["x-container-object-count"]) == len(listed)
    assert int(headers["x-container-bytes-used"]) == sum(listed.values())
    assert len(worker_pids(server, container)) == 2, "requests did not reach both workers"


def test_read_your_writes_across_workers(server: Server, tester: tuple[str, str]) -> None:
    url, token = tester
    container = uniq()
    conn(tester).put_container(container)
    parts = urlsplit(url)

    def fresh(method: str, path: str, body: bytes | None = None) -> tuple[int, bytes, dict]:
        """One request on its own connection (the kernel picks the worker)."""
        http = HTTPConnection(parts.hostname, parts.port, timeout=30)
        try:
            http.request(method, f"{parts.path}/{container}{path}", body=body,
                         headers={"X-Auth-Token": token})
            resp = http.getresponse()
            return resp.status, resp.read(), {k.lower(): v for k, v in resp.getheaders()}
        finally:
            http.close()

    for i in range(20):
        assert fresh("PUT", "/o", str(i).encode())[0] == 201
        assert fresh("GET", "/o")[1] == str(i).encode()
        _, _, head = fresh("HEAD", "")
        assert head["x-container-object-count"] == "1"
        assert head["x-container-bytes-used"] == str(len(str(i)))
    assert len(worker_pids(server, container)) == 2, "requests did not reach both workers"


def worker_pids(server: Server, container: str) -> set[str]:
    """Pids of the workers that logged an access line for `container`."""
    return {line.split()[2] for line in server.log_path.read_text(errors="replace").splitlines()
            if "strato.access" in line and f"/{container}" in line}
