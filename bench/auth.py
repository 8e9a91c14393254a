"""Login latency and throughput for every auth path, Strato beside OpenStack Keystone.

    python -m bench.auth [--quick] [--no-keystone] [--baseline SRC] [--json out.json]

Paths: Keystone v3 password (project scope), v3 application credential, v2.0 password and
Swift v1.0 (Strato only: Keystone dropped v2.0, and v1.0 is Swift's), token validation
(`GET /v3/auth/tokens`), each at concurrency 1 and 32, and Strato's first logins (every
login by a user not seen before, so every one pays the password hash). Keystone 30.0.0 runs
from PyPI in a venv this harness manages (`bench/keystone_server.py`). `--baseline SRC` also
starts a second Strato from another source tree (e.g. `git archive main src | tar -x`), so a
before/after comparison is made in the same run. Workloads take turns target by target, so a
change in the machine's load does not pass for a difference between servers.

Every response's status is checked and a token must come back; 429s are counted as refused,
any other status stops the run. Each workload is bounded by count and by time. Before each
measured workload, 2 x concurrency requests warm the connections (and Strato's memory of
verified secrets, on both workers); the first-login workload is measured cold, each user once.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import httpx
import orjson
import uvloop

from bench import keystone_server as ks
from bench.machine import describe, load
from bench.measure import Measure, Result
from bench.suite import log
from bench.workloads import BenchError
from tests.harness import Server

REPO = Path(__file__).resolve().parent.parent
PASSWORD = "bench-Password-0"
JSON = {"Content-Type": "application/json"}
GOALS = {"p50": 15.0, "p99": 40.0, "ops_s": 200.0}
"""Issue 19: at c=1 p50 <= 15 ms and p99 <= 40 ms, at c=32 >= 200 logins/s."""
LOGIN_PATHS = ("v3 password", "v3 app credential", "v2.0 password", "v1.0")


@dataclass
class Plan:
    c1: int = 300
    c32: int = 3000
    seconds: float = 30.0
    cold_c1: int = 60
    cold_c32: int = 160


QUICK = Plan(c1=100, c32=600, seconds=6.0, cold_c1=20, cold_c32=64)


@dataclass
class Target:
    name: str
    identity: str
    """Identity root: Strato's `<base>/identity`, Keystone's own root."""
    base: str | None
    """Strato's base URL (for `/auth/v1.0`); None for Keystone."""
    roots: Callable[[], list[int]]
    admin_password: str
    user_id: str = ""
    app_id: str = ""
    app_secret: str = ""
    token: str = ""
    cold: list[str] = field(default_factory=list)

    @property
    def strato(self) -> bool:
        return self.base is not None


def password_body(user: str, password: str = PASSWORD, project: str = "bench") -> bytes:
    return orjson.dumps({"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": user, "domain": {"name": "Default"}, "password": password}}},
        "scope": {"project": {"name": project, "domain": {"name": "Default"}}}}})


def login(identity: str, user: str, password: str, project: str) -> httpx.Response:
    resp = httpx.post(f"{identity}/v3/auth/tokens", timeout=120, headers=JSON,
                      content=password_body(user, password, project))
    if resp.status_code != 201:
        raise BenchError(f"login of {user}: {resp.status_code} {resp.text[:200]}")
    return resp


def setup(t: Target, cold_users: int) -> None:
    """Through the Keystone API on either server: project `bench`, user `bench` (member), an
    application credential, and `cold_users` more members for the first-login workload."""
    admin = login(t.identity, "admin", t.admin_password, "admin").headers["X-Subject-Token"]
    api = httpx.Client(base_url=f"{t.identity}/v3", timeout=120,
                       headers={"X-Auth-Token": admin})
    with api:
        project = api.post("/projects", json={"project": {"name": "bench",
                                                          "domain_id": "default"}})
        project_id = project.json()["project"]["id"]
        role_id = api.get("/roles", params={"name": "member"}).json()["roles"][0]["id"]

        def member(name: str) -> str:
            user = api.post("/users", json={"user": {"name": name, "password": PASSWORD,
                                                     "domain_id": "default",
                                                     "default_project_id": project_id}})
            if user.status_code != 201:
                raise BenchError(f"user {name}: {user.status_code} {user.text[:200]}")
            user_id = str(user.json()["user"]["id"])
            grant = api.put(f"/projects/{project_id}/users/{user_id}/roles/{role_id}")
            if grant.status_code not in (200, 204):
                raise BenchError(f"grant {name}: {grant.status_code}")
            return user_id

        t.user_id = member("bench")
        t.cold = [f"cold-{i}" for i in range(cold_users)]
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(member, t.cold))
    t.token = login(t.identity, "bench", PASSWORD, "bench").headers["X-Subject-Token"]
    cred = httpx.post(f"{t.identity}/v3/users/{t.user_id}/application_credentials",
                      headers={"X-Auth-Token": t.token}, timeout=120,
                      json={"application_credential": {"name": "bench"}})
    if cred.status_code != 201:
        raise BenchError(f"application credential: {cred.status_code} {cred.text[:200]}")
    t.app_id = cred.json()["application_credential"]["id"]
    t.app_secret = cred.json()["application_credential"]["secret"]


Request = tuple[str, str, dict[str, str], bytes | None, int]
"""method, URL, headers, body, expected status."""


def requests(t: Target, path: str) -> Callable[[int], Request] | None:
    """The i-th request of a workload against `t`; None where `t` has no such path."""
    v3 = f"{t.identity}/v3/auth/tokens"
    if path == "v3 password":
        body = password_body("bench")
        return lambda i: ("POST", v3, JSON, body, 201)
    if path == "v3 app credential":
        body = orjson.dumps({"auth": {"identity": {
            "methods": ["application_credential"],
            "application_credential": {"id": t.app_id, "secret": t.app_secret}}}})
        return lambda i: ("POST", v3, JSON, body, 201)
    if path == "validate token":
        headers = {"X-Auth-Token": t.token, "X-Subject-Token": t.token}
        return lambda i: ("GET", v3, headers, None, 200)
    if not t.strato:
        return None
    if path == "v2.0 password":
        body = orjson.dumps({"auth": {"passwordCredentials": {
            "username": "bench", "password": PASSWORD}, "tenantName": "bench"}})
        return lambda i: ("POST", f"{t.identity}/v2.0/tokens", JSON, body, 200)
    if path == "v1.0":
        headers = {"X-Auth-User": "bench:bench", "X-Auth-Key": PASSWORD}
        return lambda i: ("GET", f"{t.base}/auth/v1.0", headers, None, 200)
    if path.startswith("v3 first login"):
        bodies = [password_body(name) for name in t.cold]
        return lambda i: ("POST", v3, JSON, bodies[i], 201)
    raise ValueError(path)


def has_token(headers: Mapping[str, str], data: bytes) -> bool:
    """A token came back: in a header (v3, v1.0) or in the body (v2.0)."""
    if headers.get("X-Subject-Token") or headers.get("X-Auth-Token"):
        return True
    try:
        return bool(orjson.loads(data)["access"]["token"]["id"])
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return False


async def drive(t: Target, make: Callable[[int], Request], conc: int, count: int,
                seconds: float, name: str, warm: bool = True) -> Result:
    """`count` requests from `conc` keep-alive clients, stopped after `seconds`."""
    result = Result(name)
    connector = aiohttp.TCPConnector(limit=conc)
    timeout = aiohttp.ClientTimeout(total=300)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        async def one(i: int, keep: bool) -> None:
            method, url, headers, body, expected = make(i)
            started = time.perf_counter()
            async with session.request(method, url, headers=headers, data=body) as resp:
                data = await resp.read()
                if resp.status == 429:
                    result.errors += keep
                    return
                if resp.status != expected or not has_token(resp.headers, data):
                    raise BenchError(f"{t.name} {name}: {resp.status} {data[:300]!r}")
            if keep:
                result.latencies.append(time.perf_counter() - started)
                result.ops += 1

        if warm:
            await asyncio.gather(*(one(i % max(1, count), False) for i in range(2 * conc)))
        counter = itertools.count()
        deadline = time.perf_counter() + seconds

        async def client() -> None:
            while (i := next(counter)) < count and time.perf_counter() < deadline:
                await one(i, True)

        with Measure(result, t.roots):
            await asyncio.gather(*(client() for _ in range(conc)))
    return result


def row(target: str, r: Result) -> str:
    return (f"{r.name:<28}{target:<16}{r.ops_s:>10.1f}{r.pct(50):>10.2f}{r.pct(95):>10.2f}"
            f"{r.pct(99):>10.2f}{r.cpu_ms_per_op:>10.2f}{r.ops:>7}{r.errors:>6}")


HEADER = (f"{'workload':<28}{'server':<16}{'ops/s':>10}{'p50 ms':>10}{'p95 ms':>10}"
          f"{'p99 ms':>10}{'CPU ms/op':>10}{'n':>7}{'429':>6}")


async def run_all(targets: list[Target], plan: Plan) -> dict[str, dict[str, Result]]:
    out: dict[str, dict[str, Result]] = {t.name: {} for t in targets}
    paths = [*LOGIN_PATHS, "validate token"]
    for path in paths:
        for conc, count in ((1, plan.c1), (32, plan.c32)):
            for t in targets:
                make = requests(t, path)
                if make is None:
                    continue
                r = await drive(t, make, conc, count, plan.seconds, f"{path} c={conc}")
                out[t.name][r.name] = r
                log(row(t.name, r))
    for conc, count in ((1, plan.cold_c1), (32, plan.cold_c32)):
        for t in targets:
            if not t.strato:
                continue
            start = plan.cold_c1 if conc == 32 else 0
            name = f"v3 first login c={conc}"
            make = requests(t, "v3 first login")
            assert make is not None
            r = await drive(t, lambda i, m=make, s=start: m(s + i), conc, count, plan.seconds,
                            name, warm=False)
            out[t.name][r.name] = r
            log(row(t.name, r))
    return out


def report(out: dict[str, dict[str, Result]]) -> str:
    names = list(out)
    lines = [HEADER]
    workloads = list(dict.fromkeys(k for results in out.values() for k in results))
    for key in workloads:
        for name in names:
            if key in out[name]:
                lines.append(row(name, out[name][key]))
        ours = out[names[0]].get(key)
        for other in names[1:]:
            theirs = out[other].get(key)
            if ours and theirs and ours.pct(50) and ours.ops_s:
                lines.append(f"{'':<28}{other} / {names[0]}: p50 "
                             f"{theirs.pct(50) / ours.pct(50):.1f}x, CPU per login "
                             f"{theirs.cpu_ms_per_op / max(ours.cpu_ms_per_op, 0.01):.1f}x;"
                             f" {names[0]} / {other}: ops/s {ours.ops_s / theirs.ops_s:.1f}x")
    lines.append("")
    first = out[names[0]]
    for path in LOGIN_PATHS:
        c1, c32 = first.get(f"{path} c=1"), first.get(f"{path} c=32")
        if c1 is None or c32 is None:
            continue
        checks = [("p50", c1.pct(50), c1.pct(50) <= GOALS["p50"]),
                  ("p99", c1.pct(99), c1.pct(99) <= GOALS["p99"]),
                  ("c=32 ops/s", c32.ops_s, c32.ops_s >= GOALS["ops_s"])]
        verdict = " ".join(f"{label} {value:.1f} {'PASS' if ok else 'MISS'}"
                           for label, value, ok in checks)
        lines.append(f"goal {path:<20} {verdict}")
    return "\n".join(lines)


KDF_ROUNDS = 15
BCRYPT = ("import bcrypt, sys, time; h = bcrypt.hashpw(b'pw', bcrypt.gensalt(12)); t = []\n"
          "for _ in range(int(sys.argv[1])):\n"
          "    s = time.perf_counter(); bcrypt.checkpw(b'pw', h)\n"
          "    t.append(time.perf_counter() - s)\n"
          "print(' '.join(map(str, t)))")


def kdf_costs(venv: Path) -> str:
    """One password check at each of OWASP's Argon2id minimum points, argon2-cffi's defaults
    (what Strato used before) and Keystone's bcrypt cost 12 (in Keystone's venv, if there):
    median and range of KDF_ROUNDS checks, in this process, one at a time."""
    from argon2 import PasswordHasher as Argon2

    from strato.domain.passwords import OWASP_MINIMUMS

    def spread(label: str, times: list[float]) -> str:
        times = sorted(t * 1000 for t in times)
        return (f"{label:<36}{times[len(times) // 2]:>9.1f}{times[0]:>9.1f}{times[-1]:>9.1f}")

    lines = [f"{'one password check':<36}{'p50 ms':>9}{'min':>9}{'max':>9}"]
    points = [(m, t, 1) for m, t in OWASP_MINIMUMS] + [(65536, 3, 4)]
    for memory, passes, lanes in points:
        hasher = Argon2(time_cost=passes, memory_cost=memory, parallelism=lanes)
        stored = hasher.hash("pw")
        times = []
        for _ in range(KDF_ROUNDS):
            started = time.perf_counter()
            hasher.verify(stored, "pw")
            times.append(time.perf_counter() - started)
        label = f"argon2id m={memory} KiB t={passes} p={lanes}"
        lines.append(spread(label + (" (before)" if lanes == 4 else ""), times))
    python = venv / "bin" / "python"
    if python.exists():
        out = subprocess.run([str(python), "-c", BCRYPT, str(KDF_ROUNDS)], capture_output=True,
                             text=True, timeout=300, check=True).stdout
        lines.append(spread("bcrypt cost 12 (Keystone)", [float(x) for x in out.split()]))
    return "\n".join(lines)


def start_strato(root: Path, name: str, src: Path | None) -> tuple[Server, Target]:
    env = {"PYTHONPATH": f"{src}:{REPO}"} if src else {}
    server = Server(data_dir=root / name / "data", workers=os.cpu_count() or 1, env=env)
    server.start()
    target = Target(name, f"{server.url}/identity", server.url,
                    lambda: [server.process.pid] if server.process else [],
                    server.passwords["admin"])
    return server, target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller counts, 6 s bounds")
    parser.add_argument("--no-keystone", action="store_true", help="Strato only")
    parser.add_argument("--baseline", type=Path, help="also run a Strato from this source "
                        "tree (the directory holding the `strato` package)")
    parser.add_argument("--venv", type=Path,
                        default=Path.home() / ".cache" / "strato-bench" / "keystone-venv")
    parser.add_argument("--workdir", type=Path, help="where data directories go")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--kdf", action="store_true", help="only time one password check at "
                        "each Argon2id parameter point and bcrypt cost 12")
    args = parser.parse_args()
    plan = QUICK if args.quick else Plan()
    print(describe(), flush=True)
    if args.kdf:
        print(kdf_costs(args.venv))
        print(load())
        return
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="strato-auth-", dir=args.workdir) as tmp:
        root = Path(tmp)
        stops: list[Callable[[], None]] = []
        try:
            server, strato = start_strato(root, "strato", None)
            stops.append(server.stop)
            targets = [strato]
            if args.baseline:
                base_server, baseline = start_strato(root, "strato-base",
                                                     args.baseline.resolve())
                stops.append(base_server.stop)
                targets.append(baseline)
            if not args.no_keystone:
                keystone = ks.Keystone(ks.ensure_venv(args.venv), root / "keystone")
                stops.append(keystone.stop)
                keystone.start()
                targets.append(Target("keystone", keystone.url, None, keystone.roots,
                                      ks.ADMIN_PASSWORD))
            for t in targets:
                setup(t, plan.cold_c1 + plan.cold_c32 if t.strato else 0)
                log(f"{t.name} ready")
            out = uvloop.run(run_all(targets, plan))
        finally:
            for stop in reversed(stops):
                stop()
    print()
    print(report(out))
    print(f"{load()}; {time.monotonic() - started:.0f} s")
    if args.json:
        args.json.write_text(json.dumps({t: {k: vars(r) | {"latencies": None,
                                                           "p50": r.pct(50), "p99": r.pct(99)}
                                             for k, r in rs.items()}
                                         for t, rs in out.items()}, indent=1))


if __name__ == "__main__":
    main()
