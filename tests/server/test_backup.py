"""`strato backup` while the server takes writes, `strato restore` into a new directory, and
a server started on it: every object acknowledged before the backup began reads back with
its ETag and bytes, and the restored metadata is self-consistent (counters equal what the
listings count, every row has its bytes, no blob file without a row)."""

from __future__ import annotations

import hashlib
import json
import random
import threading
import time
from pathlib import Path

import httpx

from tests import pg
from tests.harness import Server, strato

SQLITE = {"STRATO_METADATA": ""}
"""`strato backup` is for SQLite metadata: these servers use it on the PostgreSQL run too."""
SIZES = (100, 5_000, 70_000, 300_000, 1_500_000)  # inline and file-backed, small and large
LOAD_SECONDS_BEFORE = 3.0
MAX_WRITES = 3000  # the load is bounded in count as well as in time


class Load:
    """Writers of new objects, an overwriter of a few hot names and a put-then-deleter,
    recording what each acknowledged write stored and when."""

    def __init__(self, url: str, token: str) -> None:
        self.url, self.token = url, token
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.acked: dict[str, tuple[float, str, bytes]] = {}  # new name -> (when, etag, body)
        self.hot: dict[str, set[str]] = {}  # hot name -> every etag ever sent for it
        self.hot_acked: dict[str, float] = {}  # hot name -> when a write of it was first acked
        self.writes = 0
        self.errors: list[str] = []
        self.threads = [threading.Thread(target=self._new, args=(i,)) for i in range(3)]
        self.threads += [threading.Thread(target=self._hot),
                         threading.Thread(target=self._churn)]

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=60)

    def _client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url + "/", timeout=60,
                            headers={"X-Auth-Token": self.token})

    def _running(self) -> bool:
        with self.lock:
            self.writes += 1
            return not self.stop.is_set() and self.writes <= MAX_WRITES

    def _put(self, client: httpx.Client, name: str, body: bytes) -> str | None:
        resp = client.put(f"load/{name}", content=body)
        if resp.status_code != 201:
            self.errors.append(f"PUT {name}: {resp.status_code}")
            return None
        return str(resp.headers["etag"])

    def _new(self, worker: int) -> None:
        rng = random.Random(worker)
        with self._client() as client:
            n = 0
            while self._running():
                body = rng.randbytes(rng.choice(SIZES))
                name = f"new-{worker}-{n}"
                n += 1
                etag = self._put(client, name, body)
                if etag is not None:
                    with self.lock:
                        self.acked[name] = (time.time(), etag, body)

    def _hot(self) -> None:
        rng = random.Random(99)
        with self._client() as client:
            while self._running():
                name = f"hot-{rng.randrange(4)}"
                body = rng.randbytes(rng.choice(SIZES))
                with self.lock:
                    self.hot.setdefault(name, set()).add(hashlib.md5(body).hexdigest())
                if self._put(client, name, body):
                    with self.lock:
                        self.hot_acked.setdefault(name, time.time())

    def _churn(self) -> None:
        rng = random.Random(7)
        with self._client() as client:
            n = 0
            while self._running():
                name = f"tmp-{n}"
                n += 1
                if self._put(client, name, rng.randbytes(rng.choice(SIZES))):
                    client.delete(f"load/{name}")


def listing(client: httpx.Client, container: str) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    while True:
        page = client.get(container, params={"format": "json", "limit": 1000,
                                             "marker": str(out[-1]["name"]) if out else ""})
        assert page.status_code in (200, 204)
        if page.status_code == 204 or not page.json():
            return out
        out += page.json()


def test_backup_under_load_restores_every_acknowledged_object(tmp_path: Path) -> None:
    srv = Server(tmp_path / "data", workers=2, env=SQLITE).start()
    restored: Server | None = None
    try:
        strato("user", "add", "--project", "bk", "--user", "keeper", "--password", "keep-it",
               "--role", "admin", data_dir=srv.data_dir, env=SQLITE)
        url, token = srv.auth_v1("bk:keeper", "keep-it")
        assert httpx.put(f"{url}/load", headers={"X-Auth-Token": token}).status_code == 201
        dest = tmp_path / "backup"
        with Load(url, token) as load:
            time.sleep(LOAD_SECONDS_BEFORE)
            began = time.time()
            with load.lock:
                before = {name: v for name, v in load.acked.items() if v[0] < began}
                hot_before = {name for name, when in load.hot_acked.items() if when < began}
            made = strato("backup", str(dest), "--json", data_dir=srv.data_dir, env=SQLITE)
            during = len(load.acked) - len(before)
            time.sleep(0.5)  # writes go on after the snapshot too
        assert not load.errors, load.errors[:5]
        report = json.loads(made.stdout)
        assert len(before) >= 10 and during >= 1, (len(before), during)
        assert (dest / "metadata.db").is_file() and (dest / "backup.json").is_file()
        # a non-empty directory is refused, for a backup and for a restore
        again = strato("backup", str(dest), data_dir=srv.data_dir, env=SQLITE, check=False)
        assert again.returncode == 1 and "not empty" in again.stderr
        refused = strato("restore", str(dest), data_dir=srv.data_dir, env=SQLITE, check=False)
        assert refused.returncode == 1 and "not empty" in refused.stderr
        srv.stop()

        target = tmp_path / "restored"
        done = strato("restore", str(dest), data_dir=target, env=SQLITE)
        assert "restored" in done.stdout
        # the restored blobs are exactly those the rows name: no orphan, nothing corrupt
        audit = json.loads(strato("audit", "run", "--json", data_dir=target, env=SQLITE).stdout)
        assert audit["quarantined"] == 0 and audit["skipped"] == 0, audit
        restored = Server(target, workers=1, env=SQLITE).start()
        url, token = restored.auth_v1("bk:keeper", "keep-it")
        with httpx.Client(base_url=url + "/", headers={"X-Auth-Token": token},
                          timeout=60) as client:
            for name, (_, etag, body) in sorted(before.items()):
                got = client.get(f"load/{name}")
                assert got.status_code == 200, name
                assert got.headers["etag"] == etag and got.content == body, name
            rows = listing(client, "load")
            names = {str(row["name"]) for row in rows}
            head = client.head("load")
            assert int(head.headers["x-container-object-count"]) == len(rows) == \
                report["objects"]
            assert int(head.headers["x-container-bytes-used"]) == sum(
                int(str(row["bytes"])) for row in rows)
            for row in rows:  # every row has its bytes, and they are what it says
                got = client.get(f"load/{row['name']}")
                assert got.status_code == 200, row
                assert hashlib.md5(got.content).hexdigest() == row["hash"], row
                assert len(got.content) == row["bytes"], row
            for name in names:
                if name.startswith("hot-"):
                    assert str(next(r["hash"] for r in rows if r["name"] == name)) in \
                        load.hot[name]
            assert set(before) | hot_before <= names  # overwritten since, but never lost
        print(f"backup under load: {len(before)} objects acknowledged before it began, "
              f"{during} during; {report['objects']} objects, {report['blobs']} blob files "
              f"({report['linked']} linked) in {report['seconds']} s; "
              f"{len(report['left_out'])} left out")
    finally:
        srv.stop()
        if restored is not None:
            restored.stop()


def test_backup_refuses_postgresql_metadata(tmp_path: Path) -> None:
    """PostgreSQL's metadata is backed up with its own tools: said plainly, nothing made."""
    database = pg.create_database()
    try:
        dest = tmp_path / "backup"
        made = strato("backup", str(dest), data_dir=tmp_path / "data",
                      env={"STRATO_METADATA": database}, check=False)
        assert made.returncode == 1
        assert "PostgreSQL" in made.stderr and "pg_dump" in made.stderr
        assert not dest.exists()
        back = strato("restore", str(tmp_path), data_dir=tmp_path / "data",
                      env={"STRATO_METADATA": database}, check=False)
        assert back.returncode == 1 and "pg_restore" in back.stderr
    finally:
        pg.drop_database(database)
