"""Three nodes behind haproxy on one PostgreSQL database and one data directory, under a
bounded mixed load (PUT, GET, DELETE, listings; small objects and SLO manifests) from
several clients, while one node is SIGKILLed and started again and then PostgreSQL crashes
(`pg_ctl stop -m immediate`) and starts again.

What must hold: every acknowledged write reads back intact; a request fails only when it
was in flight on the killed node (at most one per client) or met the database while it was
away (answered 503: try again); nothing half-written is ever visible (each listed object
reads back whole, with the bytes of one write); the orphan sweep leaves no blob without a
row and no temp file.

The database is a PostgreSQL server of the test's own (`private_pg.py`): the machine's
shared one serves the other tests. The nodes are processes on loopback ports, not hosts in
network namespaces (`test_netns.py` makes them hosts): see docs/scale-out.md.
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests import pg
from tests.harness import Server
from tests.scaleout.haproxy import Haproxy
from tests.scaleout.nodes import start_nodes
from tests.scaleout.private_pg import PrivatePostgres

CLIENTS = 4
MAX_OPS = 500
"""Per client: the load is bounded in count as well as in time."""
KILL_AT, NODE_DOWN = 5.0, 3.0
DB_CRASH_AT, DB_DOWN = 13.0, 1.0
LOAD_SECONDS = 24.0
DB_GRACE = 3.0
"""Seconds after the database is back within which a request may still fail (a pooled
connection the crash closed is found dead on its next use)."""
SWEEP_MIN_AGE = 10.0
SEGMENT = 70 * 1024  # over inline_bytes: segments are files


def body(name: str) -> bytes:
    """Up to 200 KiB (some inline in the database, some files), known from the name."""
    rng = random.Random(name)
    size = rng.choice([rng.randint(0, 4096), rng.randint(60_000, 200_000)])
    unit = f"{name}|".encode()
    return (unit * (size // len(unit) + 1))[:size]


def digest(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()  # a checksum, as Swift's ETag


@dataclass
class Failure:
    op: str
    start: float
    end: float
    detail: str


@dataclass(eq=False)
class Client(threading.Thread):
    """Writes, reads, deletes and lists names of its own; records what each name may hold
    (`possible`: digests, None for absent) and every request that failed."""

    number: int
    storage: str
    token: str
    stop: threading.Event
    possible: dict[str, set[str | None]] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    ops: int = 0

    def __post_init__(self) -> None:
        threading.Thread.__init__(self, daemon=True)

    def run(self) -> None:
        rng = random.Random(self.number)
        with httpx.Client(base_url=self.storage + "/", timeout=30,
                          headers={"X-Auth-Token": self.token}) as http:
            while not self.stop.is_set() and self.ops < MAX_OPS:
                self.ops += 1
                acked = [n for n, p in self.possible.items() if len(p) == 1 and None not in p]
                roll = rng.random()
                if roll < 0.5 or not acked:
                    self.put(http, f"c{self.number}-{self.ops}")
                elif roll < 0.6:
                    self.put_slo(http, f"c{self.number}-{self.ops}-slo", rng.randint(2, 3))
                elif roll < 0.8:
                    self.get(http, rng.choice(acked))
                elif roll < 0.9:
                    self.delete(http, rng.choice(acked))
                else:
                    self.list(http)

    def request(self, http: httpx.Client, op: str, method: str, path: str,
                **kwargs: object) -> httpx.Response | None:
        """The response, or None after recording a failure (no answer, or a 5xx)."""
        start = time.monotonic()
        try:
            resp = http.request(method, path, **kwargs)  # type: ignore[arg-type]
        except httpx.HTTPError as exc:
            detail = f"{type(exc).__name__}: {exc}"
        else:
            if resp.status_code < 500:
                return resp
            detail = f"{resp.status_code} {resp.text[:100]}"
        self.failures.append(Failure(f"{op} {path}", start, time.monotonic(), detail))
        time.sleep(0.1)
        return None

    def put(self, http: httpx.Client, name: str) -> None:
        data = body(name)
        self.possible[name] = {None}
        resp = self.request(http, "PUT", "PUT", f"load/{name}", content=data)
        if resp is None:
            self.possible[name].add(digest(data))
        elif resp.status_code == 201:
            self.possible[name] = {digest(data)}
        else:
            self.violations.append(f"PUT {name}: {resp.status_code}")

    def put_slo(self, http: httpx.Client, name: str, count: int) -> None:
        parts = [body(f"{name}/{i}")[:SEGMENT] + bytes(SEGMENT) for i in range(count)]
        manifest = []
        for i, part in enumerate(parts):
            resp = self.request(http, "PUT segment", "PUT", f"segs/{name}/{i}", content=part)
            if resp is None:
                return  # the manifest is never written: the name stays absent
            if resp.status_code != 201:
                self.violations.append(f"PUT segs/{name}/{i}: {resp.status_code}")
                return
            manifest.append({"path": f"segs/{name}/{i}", "etag": digest(part),
                             "size_bytes": len(part)})
        whole = digest(b"".join(parts))
        self.possible[name] = {None}
        resp = self.request(http, "PUT manifest", "PUT", f"load/{name}",
                            params={"multipart-manifest": "put"},
                            content=json.dumps(manifest).encode())
        if resp is None:
            self.possible[name].add(whole)
        elif resp.status_code == 201:
            self.possible[name] = {whole}
        else:
            self.violations.append(f"PUT manifest {name}: {resp.status_code} {resp.text}")

    def get(self, http: httpx.Client, name: str) -> None:
        resp = self.request(http, "GET", "GET", f"load/{name}")
        if resp is not None and (resp.status_code != 200
                                 or digest(resp.content) not in self.possible[name]):
            self.violations.append(f"GET {name}: {resp.status_code}, {len(resp.content)} bytes "
                                   "not as acknowledged")

    def delete(self, http: httpx.Client, name: str) -> None:
        resp = self.request(http, "DELETE", "DELETE", f"load/{name}")
        if resp is None:
            self.possible[name].add(None)
        elif resp.status_code == 204:
            self.possible[name] = {None}
        else:
            self.violations.append(f"DELETE {name}: {resp.status_code}")

    def list(self, http: httpx.Client) -> None:
        resp = self.request(http, "list", "GET", "load", params={
            "prefix": f"c{self.number}-", "format": "json"})
        if resp is None:
            return
        listed = {o["name"] for o in resp.json()}
        for name, possible in self.possible.items():
            if None not in possible and name not in listed:
                self.violations.append(f"list: acknowledged {name} missing")
            if possible == {None} and name in listed:
                self.violations.append(f"list: deleted {name} listed")


@dataclass
class Cluster:
    db: PrivatePostgres
    nodes: list[Server]
    proxy: Haproxy
    windows: dict[str, tuple[float, float]] = field(default_factory=dict)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    db = PrivatePostgres().init()
    nodes: list[Server] = []
    proxy: Haproxy | None = None
    try:
        nodes = start_nodes(tmp_path, 3, db.url, workers=1, extra_args=(
            "--sweep-min-age", str(SWEEP_MIN_AGE), "--sweep-interval", "1"))
        proxy = Haproxy(tmp_path, nodes).start()
        yield Cluster(db, nodes, proxy)
    finally:
        if proxy is not None:
            proxy.stop()
        for node in nodes:
            node.stop()
        db.destroy()


def run_faults(cluster: Cluster, clients: list[Client]) -> None:
    """Drive the timeline: kill a node, start it again, crash the database, start it again;
    records each fault's window (monotonic seconds)."""
    begun = time.monotonic()

    def at(offset: float) -> None:
        time.sleep(max(0.0, begun + offset - time.monotonic()))

    victim = cluster.nodes[1]
    at(KILL_AT)
    killed = time.monotonic()
    victim.kill()  # returns once the node's processes are gone
    cluster.windows["node"] = (killed, time.monotonic())
    at(KILL_AT + NODE_DOWN)
    victim.start()
    at(DB_CRASH_AT)
    crashed = time.monotonic()
    cluster.db.stop("immediate")
    time.sleep(DB_DOWN)
    cluster.db.start()
    cluster.windows["database"] = (crashed, time.monotonic() + DB_GRACE)
    at(LOAD_SECONDS)
    for client in clients:
        client.stop.set()
    for client in clients:
        client.join(timeout=60)
        assert not client.is_alive()


def blob_ids_on_disk(data_dir: Path) -> set[str]:
    return {p.name for p in (data_dir / "objects").rglob("*") if p.is_file()}


def test_acknowledged_writes_survive_a_node_kill_and_a_database_crash(cluster: Cluster
                                                                      ) -> None:
    storage, token = cluster.nodes[0].auth_v1("demo:demo", cluster.nodes[0].passwords["demo"])
    storage = cluster.proxy.url + storage[storage.index("/v1/"):]
    for container in ("load", "segs"):
        assert httpx.put(f"{storage}/{container}", headers={"X-Auth-Token": token}
                         ).status_code == 201
    stop = threading.Event()
    clients = [Client(number, storage, token, stop) for number in range(CLIENTS)]
    for client in clients:
        client.start()
    run_faults(cluster, clients)

    failures = [f for c in clients for f in c.failures]
    print(f"{sum(c.ops for c in clients)} operations, {len(failures)} failed")  # with -s
    assert not [v for c in clients for v in c.violations]
    kill_from, kill_to = cluster.windows["node"]
    db_from, db_to = cluster.windows["database"]
    on_killed = [f for f in failures if f.start <= kill_to and f.end >= kill_from]
    during_db = [f for f in failures if f.end >= db_from and f.start <= db_to]
    others = [f for f in failures if f not in on_killed and f not in during_db]
    assert not others, (cluster.windows, others[:5])
    assert len(on_killed) <= CLIENTS  # one request in flight per client at most
    # a node tells the client to try again, rather than reporting an error of its own
    assert not [f for f in during_db if f.detail.startswith("500")], during_db[:3]
    last = max((f.end for f in during_db), default=db_from) - (db_to - DB_GRACE)
    print(f"failed: {len(on_killed)} in flight on the killed node, {len(during_db)} during "
          f"the database crash (window {db_to - db_from:.1f} s, the last {last:+.1f} s after "
          "it was back):", Counter(f.detail[:60] for f in failures).most_common(4))
    assert sum(c.ops for c in clients) >= 100, "too little load to mean anything"

    # every acknowledged write reads back whole, through every node; every listed object
    # reads back whole, and nothing acknowledged is missing from the listing
    with httpx.Client(timeout=30, headers={"X-Auth-Token": token}) as http:
        listing = http.get(f"{storage}/load", params={"format": "json", "limit": 10_000})
        assert listing.status_code == 200
        listed = {o["name"]: o["bytes"] for o in listing.json()}
        possible = {n: p for c in clients for n, p in c.possible.items()}
        assert set(listed) <= set(possible)
        for number, (name, states) in enumerate(sorted(possible.items())):
            node = cluster.nodes[number % len(cluster.nodes)]
            resp = http.get(f"{node.url}{storage[storage.index('/v1/'):]}/load/{name}")
            if resp.status_code == 404:
                assert None in states, f"{name} acknowledged, now missing"
                assert name not in listed, f"{name} listed without data"
                continue
            assert resp.status_code == 200, (name, resp.status_code)
            assert digest(resp.content) in states, f"{name}: not the bytes of one write"
            assert name in listed, f"{name} readable but not listed"

    # the sweep (its leader is any node) leaves exactly the blobs rows refer to
    data_dir = cluster.nodes[0].data_dir
    referenced: set[str] = set()
    deadline = time.monotonic() + SWEEP_MIN_AGE + 30
    while time.monotonic() < deadline:
        rows = pg.fetch(cluster.db.url, "SELECT blob_id FROM objects o WHERE NOT EXISTS"
                        " (SELECT 1 FROM inline_blobs i WHERE i.id = o.blob_id)")
        referenced = {str(row[0]) for row in rows}
        temps = list((data_dir / "tmp").iterdir())
        if blob_ids_on_disk(data_dir) == referenced and not temps:
            break
        time.sleep(0.5)
    on_disk = blob_ids_on_disk(data_dir)
    assert referenced <= on_disk, "rows whose blob is gone"
    assert on_disk == referenced, f"{len(on_disk - referenced)} orphan blobs left"
    assert not list((data_dir / "tmp").iterdir())
