"""The crash loop (issue 14): a mixed load from several clients while the server is SIGKILLed
at random moments, again and again, and restarted on the same data.

Each client owns its own object names, so every name has one writer and at most one
operation in flight when the server dies. After every restart the test reads everything back
and checks it against what the clients were told:

- every acknowledged write (PUT small or large, SLO manifest and its segments, POST, COPY,
  DELETE, versioned PUT, bulk delete) is there with its ETag, metadata and bytes (the body's
  MD5 is checked, so a torn body shows), or gone if its deletion was acknowledged;
- an operation cut off by the kill has either happened whole or not at all;
- no name that was never written (or whose write was never acknowledged) appears;
- each container's object and byte counters equal what its listing counts;
- no temp file of a cut-off upload is left (they are reclaimed at start).

At the end the orphan sweep runs and every blob file left must be referenced by a row,
asked through the metadata store's own API (SQLite or PostgreSQL alike).

Bounded in count and time: `STRATO_CRASH_KILLS` kills at most (50, the issue's count), and
no new round after `STRATO_CRASH_SECONDS` (90) once `MIN_KILLS` are made: a round takes
about 5 s on a quiet two-core machine and up to 35 s on a loaded one (mostly the restart),
so CI makes as many kills as fit. `STRATO_CRASH_SECONDS=100000` makes all of them;
`STRATO_CRASH_SEED` replays a run's choices.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple
from urllib.parse import quote

import httpx
import pytest

from tests import pg
from tests.harness import Server

KILLS = int(os.environ.get("STRATO_CRASH_KILLS", "50"))
BUDGET = float(os.environ.get("STRATO_CRASH_SECONDS", "90"))
"""No new round starts after this many seconds of killing (at least MIN_KILLS are made)."""
MIN_KILLS = 3
SEED = int(os.environ.get("STRATO_CRASH_SEED", str(random.randrange(1 << 30))))
CLIENTS = 4
NAMES_PER_CLIENT = 6
PLAIN, VERSIONED, SEGMENTS = "plain", "versioned", "segments"
LOAD_SECONDS = (0.4, 2.5)
"""How long the clients run before each kill (uniformly at random in this range)."""


class Entry(NamedTuple):
    """What a name holds as a client sees it: GET's ETag, the MD5 of the bytes, a metadata
    value set by POST, and whether it is an SLO manifest."""
    etag: str
    md5: str
    meta: str | None = None
    slo: bool = False


State = Entry | None
"""None: the name does not exist."""
Key = tuple[str, str]
"""(container, object name)."""


def body(tag: str, size: int) -> bytes:
    """`size` bytes that name their write, so a body from another write is recognisable."""
    unit = f"{tag}|".encode()
    return (unit * (size // len(unit) + 1))[:size]


def md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


@dataclass
class Model:
    """What every client was told: the state of each name, and the write in flight."""
    acked: dict[Key, State] = field(default_factory=dict)
    versions: dict[str, set[str]] = field(default_factory=dict)
    """Versioned container: name -> ETags of every acknowledged version."""
    pending: dict[Key, State] = field(default_factory=dict)
    """Keys an unanswered operation would change, and to what."""
    pending_versions: dict[str, str] = field(default_factory=dict)
    writes: int = 0
    """Acknowledged operations, all clients, all rounds."""
    errors: list[str] = field(default_factory=list)

    def allowed(self, key: Key) -> set[State]:
        states = {self.acked.get(key)}
        if key in self.pending:
            states.add(self.pending[key])
        return states


class Client(threading.Thread):
    """One client's mixed load on its own names, until the server dies."""

    def __init__(self, index: int, url: str, token: str, model: Model, rng: random.Random
                 ) -> None:
        super().__init__(daemon=True)
        self.index, self.url, self.token = index, url, token
        self.model, self.rng = model, rng
        self.names = [f"c{index}-o{i}" for i in range(NAMES_PER_CLIENT)]
        self.http = httpx.Client(headers={"X-Auth-Token": token}, timeout=60)

    def run(self) -> None:
        ops: list[tuple[Callable[[], None], int]] = [
            (self.put_small, 5), (self.put_large, 2), (self.put_slo, 1), (self.post, 2),
            (self.copy, 2), (self.delete, 2), (self.put_versioned, 2), (self.bulk_delete, 1)]
        try:
            while True:
                self.rng.choices([op for op, _ in ops], [w for _, w in ops])[0]()
        except httpx.HTTPError:
            return  # the server died: what is pending may or may not have happened
        except AssertionError as exc:
            self.model.errors.append(f"client {self.index}: {exc}")
        finally:
            self.http.close()

    # ---- bookkeeping --------------------------------------------------------------------
    def tag(self) -> str:
        return f"c{self.index}-{self.rng.randrange(1 << 40):x}"

    def begin(self, changes: dict[Key, State]) -> None:
        self.model.pending = {**self.model.pending, **changes}

    def ack(self, changes: dict[Key, State]) -> None:
        for key, state in changes.items():
            self.model.acked[key] = state
            self.model.pending.pop(key, None)
        self.model.writes += 1

    def existing(self, *, slo: bool = True) -> list[str]:
        return [n for n in self.names if (entry := self.model.acked.get((PLAIN, n)))
                and (slo or not entry.slo)]

    def expect(self, resp: httpx.Response, *codes: int) -> None:
        assert resp.status_code in codes, (
            f"{resp.request.method} {resp.request.url.path}: {resp.status_code} {resp.text[:200]}")

    # ---- operations ---------------------------------------------------------------------
    def _put(self, name: str, size: int) -> None:
        data = body(self.tag(), size)
        entry = Entry(md5(data), md5(data))
        self.begin({(PLAIN, name): entry})
        resp = self.http.put(f"{self.url}/{PLAIN}/{name}", content=data)
        self.expect(resp, 201)
        assert resp.headers["etag"] == entry.etag
        self.ack({(PLAIN, name): entry})

    def put_small(self) -> None:
        self._put(self.rng.choice(self.names), self.rng.randint(0, 60_000))

    def put_large(self) -> None:
        self._put(self.rng.choice(self.names), self.rng.randint(100_000, 2_500_000))

    def put_slo(self) -> None:
        name = self.rng.choice(self.names)
        tag = self.tag()
        parts, manifest = [], []
        for k in range(2):
            data = body(f"{tag}-{k}", self.rng.randint(1, 200_000))
            segment = f"{name}/{tag}/{k}"
            key = (SEGMENTS, segment)
            self.begin({key: Entry(md5(data), md5(data))})
            resp = self.http.put(f"{self.url}/{SEGMENTS}/{quote(segment)}", content=data)
            self.expect(resp, 201)
            self.ack({key: Entry(md5(data), md5(data))})
            parts.append(data)
            manifest.append({"path": f"/{SEGMENTS}/{segment}", "etag": md5(data),
                             "size_bytes": len(data)})
        slo_etag = md5("".join(p["etag"] for p in manifest).encode())  # type: ignore[misc]
        entry = Entry(slo_etag, md5(b"".join(parts)), slo=True)
        self.begin({(PLAIN, name): entry})
        resp = self.http.put(f"{self.url}/{PLAIN}/{name}",
                             params={"multipart-manifest": "put"}, content=json.dumps(manifest))
        self.expect(resp, 201)
        assert resp.headers["etag"].strip('"') == slo_etag, resp.headers
        self.ack({(PLAIN, name): entry})

    def post(self) -> None:
        names = self.existing()
        if not names:
            return
        name = self.rng.choice(names)
        old = self.model.acked[(PLAIN, name)]
        assert old is not None
        entry = old._replace(meta=self.tag())
        self.begin({(PLAIN, name): entry})
        resp = self.http.post(f"{self.url}/{PLAIN}/{name}",
                              headers={"X-Object-Meta-Mark": entry.meta or ""})
        self.expect(resp, 202)
        self.ack({(PLAIN, name): entry})

    def copy(self) -> None:
        sources = self.existing(slo=False)  # a copy of a manifest would be its whole content
        if not sources:
            return
        source, target = self.rng.choice(sources), self.rng.choice(self.names)
        entry = self.model.acked[(PLAIN, source)]
        self.begin({(PLAIN, target): entry})
        resp = self.http.request("COPY", f"{self.url}/{PLAIN}/{source}",
                                 headers={"Destination": f"/{PLAIN}/{target}"})
        self.expect(resp, 201)
        self.ack({(PLAIN, target): entry})

    def delete(self) -> None:
        names = self.existing()
        if not names:
            return
        name = self.rng.choice(names)
        self.begin({(PLAIN, name): None})
        self.expect(self.http.delete(f"{self.url}/{PLAIN}/{name}"), 204)
        self.ack({(PLAIN, name): None})

    def bulk_delete(self) -> None:
        names = self.existing()
        if not names:
            return
        chosen = self.rng.sample(names, min(len(names), self.rng.randint(1, 3)))
        changes: dict[Key, State] = {(PLAIN, n): None for n in chosen}
        self.begin(changes)
        resp = self.http.post(
            f"{self.url}", params={"bulk-delete": "1"},
            headers={"Content-Type": "text/plain", "Accept": "application/json"},
            content="\n".join(quote(f"/{PLAIN}/{n}") for n in chosen))
        self.expect(resp, 200)
        result = resp.json()
        assert result["Response Status"] == "200 OK" and not result["Errors"], result
        assert result["Number Deleted"] == len(chosen), result
        self.ack(changes)

    def put_versioned(self) -> None:
        name = self.rng.choice(self.names)
        data = body(self.tag(), self.rng.choice([self.rng.randint(1, 60_000),
                                                 self.rng.randint(100_000, 400_000)]))
        entry = Entry(md5(data), md5(data))
        self.model.pending_versions[name] = entry.etag
        self.begin({(VERSIONED, name): entry})
        resp = self.http.put(f"{self.url}/{VERSIONED}/{name}", content=data)
        self.expect(resp, 201)
        self.model.versions.setdefault(name, set()).add(entry.etag)
        self.model.pending_versions.pop(name, None)
        self.ack({(VERSIONED, name): entry})


def read_state(http: httpx.Client, url: str) -> State:
    resp = http.get(url)
    if resp.status_code == 404:
        return None
    assert resp.status_code == 200, (url, resp.status_code, resp.text[:200])
    etag = resp.headers["etag"].strip('"')
    slo = resp.headers.get("x-static-large-object") == "True"
    return Entry(etag, md5(resp.content), resp.headers.get("x-object-meta-mark"), slo)


def listing(http: httpx.Client, url: str, **params: str) -> list[dict[str, object]]:
    """Every entry, page by page."""
    found: list[dict[str, object]] = []
    while True:
        resp = http.get(url, params={"format": "json", **params,
                                     **({"marker": str(found[-1]["name"])} if found else {})})
        assert resp.status_code in (200, 204), resp
        page = resp.json() if resp.status_code == 200 else []
        if not page:
            return found
        found.extend(page)
        if "versions" in params:  # one page is all the versions of a few names here
            return found


def verify(srv: Server, url: str, token: str, model: Model) -> int:
    """Check everything against the model after a restart; settle what was in flight to what
    the server shows (it must be one of the allowed outcomes). Returns the objects read."""
    checked = 0
    with httpx.Client(headers={"X-Auth-Token": token}, timeout=60) as http:
        # plain: every name a client owns, each read back whole
        seen = {}
        for c in range(CLIENTS):
            for i in range(NAMES_PER_CLIENT):
                key = (PLAIN, f"c{c}-o{i}")
                state = read_state(http, f"{url}/{PLAIN}/{key[1]}")
                assert state in model.allowed(key), (key, state, model.allowed(key))
                model.acked[key] = state
                checked += 1
                if state is not None:
                    seen[key[1]] = state
        entries = listing(http, f"{url}/{PLAIN}")
        assert sorted(str(e["name"]) for e in entries) == sorted(seen)
        for e in entries:  # a manifest lists its own MD5 as hash, the SLO's ETag apart
            assert str(e.get("slo_etag", e["hash"])).strip('"') == seen[str(e["name"])].etag, e
        counters(http, f"{url}/{PLAIN}", entries)

        # segments: every acknowledged one is listed with its ETag; unacknowledged ones may
        # be there whole (their PUT was in flight), never with another ETag
        segments = {str(e["name"]): e for e in listing(http, f"{url}/{SEGMENTS}")}
        for key, state in list(model.acked.items()):
            if key[0] == SEGMENTS:
                assert state is not None and segments[key[1]]["hash"] == state.etag, key
                checked += 1
        for name, e in segments.items():
            assert Entry(str(e["hash"]), str(e["hash"])) in model.allowed((SEGMENTS, name))
            model.acked[(SEGMENTS, name)] = Entry(str(e["hash"]), str(e["hash"]))
        counters(http, f"{url}/{SEGMENTS}", list(segments.values()))

        # versioned: the current version, and every acknowledged version listed
        current = []
        for c in range(CLIENTS):
            for i in range(NAMES_PER_CLIENT):
                key = (VERSIONED, f"c{c}-o{i}")
                state = read_state(http, f"{url}/{VERSIONED}/{key[1]}")
                assert state in model.allowed(key), (key, state, model.allowed(key))
                model.acked[key] = state
                checked += 1
                if state is not None:
                    current.append(key[1])
        versions = listing(http, f"{url}/{VERSIONED}", versions="")
        listed: dict[str, set[str]] = {}
        for e in versions:
            listed.setdefault(str(e["name"]), set()).add(str(e["hash"]))
        for name in set(listed) | set(model.versions):
            acked = model.versions.get(name, set())
            extra = listed.get(name, set()) - acked
            assert acked <= listed.get(name, set()), (name, acked, listed.get(name))
            assert extra <= {model.pending_versions.get(name)}, (name, extra)
            model.versions[name] = listed.get(name, set())
        plain_versioned = listing(http, f"{url}/{VERSIONED}")
        assert sorted(str(e["name"]) for e in plain_versioned) == sorted(current)
        head = http.head(f"{url}/{VERSIONED}")
        assert int(head.headers["x-container-object-count"]) == len(plain_versioned)
        assert int(head.headers["x-container-bytes-used"]) == sum(
            int(e["bytes"]) for e in versions)  # type: ignore[call-overload]
    model.pending.clear()
    model.pending_versions.clear()
    assert not list((srv.data_dir / "tmp").glob("*.tmp")), "temp files outlived the restart"
    return checked


def counters(http: httpx.Client, url: str, entries: list[dict[str, object]]) -> None:
    """The container's counters equal what its listing counts. A manifest counts its own
    stored size, as in Swift, where the listing shows the SLO's total: HEAD tells it."""
    total = 0
    for e in entries:
        if "slo_etag" in e:
            manifest = http.head(f"{url}/{quote(str(e['name']))}",
                                 params={"multipart-manifest": "get"})
            total += int(manifest.headers["content-length"])
        else:
            total += int(e["bytes"])  # type: ignore[call-overload]
    head = http.head(url)
    assert int(head.headers["x-container-object-count"]) == len(entries), url
    assert int(head.headers["x-container-bytes-used"]) == total, url


def unreferenced_blobs(srv: Server) -> list[str]:
    """Blob files no object row refers to, asked through the metadata store (SQLite or
    PostgreSQL, whichever the server uses; a reader beside the running server)."""
    from strato.stores.metadata.sqlite import SqliteMetadataStore

    blobs = [p.name for p in (srv.data_dir / "objects").rglob("*")
             if p.is_file() and len(p.name) == 32]

    async def ask() -> list[str]:
        url = pg.database_of(srv.data_dir)
        if url is not None:
            from strato.stores.metadata.postgresql import PostgresMetadataStore
            store: object = PostgresMetadataStore(url)
        else:
            store = SqliteMetadataStore(srv.data_dir / "metadata.db")
        await store.open()  # type: ignore[attr-defined]
        try:
            return [b for b in blobs
                    if not await store.blob_referenced(b)]  # type: ignore[attr-defined]
        finally:
            await store.close()  # type: ignore[attr-defined]

    return asyncio.run(ask())


@pytest.mark.timeout(BUDGET + 300)  # the last round may start just before the budget ends
def test_crash_loop(tmp_path: Path) -> None:
    print(f"\ncrash loop: up to {KILLS} kills in {BUDGET:.0f} s, seed {SEED} "
          "(STRATO_CRASH_SEED replays it)")
    rng = random.Random(SEED)
    srv = Server(tmp_path / "data", workers=2)
    srv.start()
    started = time.monotonic()
    model = Model()
    checked = 0
    try:
        srv.add_user("loop", "looper", "pw", role="admin")
        url, token = srv.auth_v1("loop:looper", "pw")
        with httpx.Client(headers={"X-Auth-Token": token}, timeout=60) as http:
            for container in (PLAIN, SEGMENTS):
                assert http.put(f"{url}/{container}").status_code in (201, 202)
            assert http.put(f"{url}/{VERSIONED}",
                            headers={"X-Versions-Enabled": "true"}).status_code in (201, 202)
        kills = 0
        while kills < KILLS and (kills < MIN_KILLS or time.monotonic() - started < BUDGET):
            clients = [Client(i, url, token, model, random.Random(rng.random()))
                       for i in range(CLIENTS)]
            before = model.writes
            for client in clients:
                client.start()
            time.sleep(rng.uniform(*LOAD_SECONDS))
            srv.kill()
            for client in clients:
                client.join(timeout=60)
                assert not client.is_alive(), "a client hung after the kill"
            assert not model.errors, model.errors
            srv.start()
            url, token = srv.auth_v1("loop:looper", "pw")
            checked += verify(srv, url, token, model)
            kills += 1
            print(f"kill {kills}: {model.writes - before} writes acknowledged before it, "
                  f"{model.writes} in all ({time.monotonic() - started:.0f} s)")
        assert model.writes >= kills * 5, "too few writes between kills to mean anything"
        srv.stop()

        # the orphan sweep: at once (no age guard worth the name: nothing writes now)
        srv.extra_args = ("--sweep-min-age", "1", "--sweep-interval", "1")
        time.sleep(1.1)  # every blob file is now older than the guard
        srv.start()
        url, token = srv.auth_v1("loop:looper", "pw")
        checked += verify(srv, url, token, model)
        deadline = time.monotonic() + 60  # the first pass starts a second after the start
        while (left := unreferenced_blobs(srv)) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert left == [], f"{len(left)} blobs no row refers to outlived the sweep"
        for line in srv.log_path.read_text().splitlines():
            if "sweep removed" in line:
                print(line)
        srv.stop()
        srv.extra_args = ()
        srv.start()
        url, token = srv.auth_v1("loop:looper", "pw")
        checked += verify(srv, url, token, model)  # the sweep removed nothing still used
    finally:
        srv.stop()
    print(f"crash loop: {kills} kills survived, {model.writes} acknowledged writes, "
          f"{checked} objects read back and checked, {time.monotonic() - started:.0f} s")
