"""A single-node, one-replica OpenStack Swift (SAIO style) on loopback, for comparison.

Swift 2.38.3 from PyPI in its own venv; tempauth; one account, container and object server
(one worker each) and a proxy with 1 or 2 workers and Swift's default middleware pipeline;
memcached; rings of part power 10 with one device each on an XFS loop-mounted image (Swift
keeps object metadata in xattrs, which ext4 caps below Swift's limits).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.suite import log
from tests.harness import free_port

SWIFT_VERSION = "2.38.3"
APT = ["liberasurecode1", "liberasurecode-dev", "memcached", "attr", "xfsprogs", "nginx-light"]
PIPELINE = ("catch_errors gatekeeper healthcheck proxy-logging cache listing_formats "
            "container_sync bulk tempurl ratelimit formpost s3api tempauth staticweb copy "
            "container-quotas account-quotas slo dlo versioned_writes symlink proxy-logging "
            "proxy-server")
EGG = {"proxy-logging": "proxy_logging", "container-quotas": "container_quotas",
       "account-quotas": "account_quotas", "cache": "memcache"}


def ensure_apt() -> None:
    """Install the Debian packages Swift and the nginx ceiling need (root only)."""
    missing = [p for p in APT
               if subprocess.run(["dpkg", "-s", p], capture_output=True).returncode != 0]
    if not missing:
        return
    if os.geteuid() != 0:
        sys.exit(f"missing Debian packages (run as root or install): {' '.join(missing)}")
    log(f"apt-get install {' '.join(missing)}")
    subprocess.run(["apt-get", "update", "-qq"], check=True, timeout=600)
    subprocess.run(["apt-get", "install", "-y", "-qq", *missing], check=True, timeout=900,
                   env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
                   stdout=subprocess.DEVNULL)


def ensure_venv(venv: Path) -> Path:
    """A venv with swift==2.38.3 and python-swiftclient (created once, then reused)."""
    bindir = venv / "bin"
    marker = venv / f".swift-{SWIFT_VERSION}"
    if not marker.exists():
        log(f"installing swift=={SWIFT_VERSION} into {venv}")
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
        subprocess.run([str(bindir / "pip"), "install", "-q", f"swift=={SWIFT_VERSION}",
                        "python-swiftclient"], check=True, timeout=1200)
        marker.touch()
    return bindir


@contextlib.contextmanager
def xfs_mount(workdir: Path, size_gib: int) -> Iterator[Path]:
    """A sparse XFS image loop-mounted at workdir/mnt; unmounted and deleted afterwards.

    The loop device does direct I/O on its image where the kernel allows it: a plain loop
    device keeps a second page cache under XFS (the image file's), so a write is copied once
    more and an fsync writes the whole object to the real disk only then, which no real disk
    does. Both servers run on it alike."""
    image, mnt = workdir / "xfs.img", workdir / "mnt"
    mnt.mkdir(parents=True, exist_ok=True)
    with open(image, "wb") as f:
        f.truncate(size_gib << 30)
    subprocess.run(["mkfs.xfs", "-q", "-f", str(image)], check=True, timeout=120)
    attach = subprocess.run(["losetup", "--direct-io=on", "--find", "--show", str(image)],
                            capture_output=True, text=True, timeout=60)
    device = attach.stdout.strip() if attach.returncode == 0 else ""
    if device:
        log(f"XFS image on {device} with direct I/O")
        subprocess.run(["mount", "-o", "noatime", device, str(mnt)], check=True, timeout=60)
    else:
        log(f"XFS image on a plain loop device ({attach.stderr.strip()})")
        subprocess.run(["mount", "-o", "loop,noatime", str(image), str(mnt)], check=True,
                       timeout=60)
    try:
        yield mnt
    finally:
        for _ in range(10):
            if subprocess.run(["umount", str(mnt)], capture_output=True).returncode == 0:
                break
            time.sleep(1)
        else:
            subprocess.run(["umount", "-l", str(mnt)], capture_output=True)
        if device:
            subprocess.run(["losetup", "-d", device], capture_output=True)
        image.unlink(missing_ok=True)


def drop_page_cache(*roots: Path) -> None:
    """Every file under `roots` (or each root that is a file, such as the XFS image behind
    the loop mount) out of the page cache: written back first, then its clean pages dropped."""
    os.sync()
    for root in roots:
        files = [root] if root.is_file() else (p for p in root.rglob("*") if p.is_file())
        for path in files:
            try:
                fd = os.open(path, os.O_RDONLY)
            except OSError:
                continue  # gone meanwhile, or not ours to read
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


def _ini(sections: dict[str, dict[str, str]]) -> str:
    return "\n".join(f"[{name}]\n" + "".join(f"{k} = {v}\n" for k, v in body.items())
                     for name, body in sections.items())


@dataclass(frozen=True)
class SyncRealm:
    """A container sync realm this cluster joins, as cluster `name`; `peers` maps the other
    clusters' names to their `/v1/` endpoint URLs (this one's is added from its port)."""

    realm: str
    key: str
    name: str
    peers: dict[str, str] = field(default_factory=dict)


@dataclass
class SwiftCluster:
    bindir: Path
    root: Path  # on the XFS mount
    user: str = "bench:bench"
    key: str = "benchkey"
    sync: SyncRealm | None = None
    """Set: the realms file holds this realm (else a lone `saio` one, never used) and the
    container server's config a [container-sync] section for `run_container_sync`."""
    ports: dict[str, int] = field(default_factory=dict)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def etc(self) -> Path:
        return self.root / "etc"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.ports['proxy']}"

    def configure(self) -> None:
        self.etc.mkdir(parents=True, exist_ok=True)
        (self.root / "node" / "sda1").mkdir(parents=True, exist_ok=True)
        (self.root / "log").mkdir(exist_ok=True)
        # swift_dir in every server's config also moves swift.conf there: /etc is untouched
        (self.etc / "swift.conf").write_text(_ini({
            "swift-hash": {"swift_hash_path_suffix": "strato-bench",
                           "swift_hash_path_prefix": "strato-bench"},
            "storage-policy:0": {"name": "gold", "default": "yes"}}))
        for kind in ("account", "container", "object", "proxy", "memcached"):
            self.ports[kind] = free_port()
        common = {"bind_ip": "127.0.0.1", "swift_dir": str(self.etc), "user": "root",
                  "devices": str(self.root / "node"), "mount_check": "false", "workers": "1",
                  "log_level": "INFO"}
        with ThreadPoolExecutor(3) as pool:  # each step starts Python: the rings in parallel
            list(pool.map(self.build_ring, ("account", "container", "object")))
        for kind in ("account", "container", "object"):
            (self.etc / f"{kind}-server.conf").write_text(_ini({
                "DEFAULT": {**common, "bind_port": str(self.ports[kind])},
                "pipeline:main": {"pipeline": f"healthcheck recon {kind}-server"},
                f"app:{kind}-server": {"use": f"egg:swift#{kind}"},
                "filter:healthcheck": {"use": "egg:swift#healthcheck"},
                "filter:recon": {"use": "egg:swift#recon",
                                 "recon_cache_path": str(self.root / "recon")},
                f"{kind}-replicator": {}, f"{kind}-auditor": {},
                **({"container-sync": {"internal_client_conf_path":
                                       str(self.etc / "internal-client.conf")}}
                   if kind == "container" and self.sync else {})}))
        if self.sync:
            # the sync daemon reads its source objects through an in-process proxy: it must
            # find this cluster's rings, not /etc/swift's
            (self.etc / "internal-client.conf").write_text(_ini({
                "DEFAULT": {"swift_dir": str(self.etc), "user": "root"},
                "pipeline:main": {"pipeline": "catch_errors proxy-logging cache symlink "
                                              "proxy-server"},
                "app:proxy-server": {"use": "egg:swift#proxy",
                                     "account_autocreate": "true"},
                "filter:cache": {"use": "egg:swift#memcache", "memcache_servers":
                                 f"127.0.0.1:{self.ports['memcached']}"},
                **{f"filter:{name}": {"use": f"egg:swift#{EGG.get(name, name)}"}
                   for name in ("catch_errors", "proxy-logging", "symlink")}}))
        self.write_proxy_conf(workers=1)

    def build_ring(self, kind: str) -> None:
        builder = self.etc / f"{kind}.builder"
        rb = str(self.bindir / "swift-ring-builder")
        subprocess.run([rb, str(builder), "create", "10", "1", "1"], check=True,
                       capture_output=True, timeout=60)
        subprocess.run([rb, str(builder), "add", f"r1z1-127.0.0.1:{self.ports[kind]}/sda1",
                        "100"], check=True, capture_output=True, timeout=60)
        subprocess.run([rb, str(builder), "rebalance"], capture_output=True, timeout=60)

    def write_proxy_conf(self, workers: int) -> None:
        sections = {
            "DEFAULT": {"bind_ip": "127.0.0.1", "bind_port": str(self.ports["proxy"]),
                        "swift_dir": str(self.etc), "user": "root", "workers": str(workers),
                        "log_level": "INFO"},
            "pipeline:main": {"pipeline": PIPELINE},
            # one node on a shared machine: Swift's 0.5 s connect timeout and its error
            # limiting (10 errors take the only node out for 60 s) turned a CPU-starved
            # moment into 503s for every request of the next minute
            "app:proxy-server": {"use": "egg:swift#proxy", "allow_account_management": "true",
                                 "account_autocreate": "true", "conn_timeout": "5",
                                 "error_suppression_limit": "1000"},
            "filter:tempauth": {"use": "egg:swift#tempauth",
                                "user_bench_bench": f"{self.key} .admin"},
            # Swift's default pool (2 connections, 1 s wait) turns a busy c=32 run into
            # spurious 401s (tempauth cannot reach its tokens); an operator would raise it
            "filter:cache": {"use": "egg:swift#memcache",
                             "memcache_servers": f"127.0.0.1:{self.ports['memcached']}",
                             "memcache_max_connections": "32", "pool_timeout": "10",
                             "io_timeout": "10", "connect_timeout": "2", "tries": "3"},
            "filter:container_sync": {"use": "egg:swift#container_sync",
                                      "current": (f"//{self.sync.realm}/{self.sync.name}"
                                                  if self.sync else "//saio/saio_endpoint")},
            "filter:versioned_writes": {"use": "egg:swift#versioned_writes",
                                        "allow_versioned_writes": "true",
                                        "allow_object_versioning": "true"},
        }
        for name in PIPELINE.split()[:-1]:
            sections.setdefault(f"filter:{name}", {"use": f"egg:swift#{EGG.get(name, name)}"})
        realm = {"saio": {"key": "bench", "cluster_saio_endpoint": f"{self.url}/v1/"}}
        if self.sync:
            clusters = {**self.sync.peers, self.sync.name: f"{self.url}/v1/"}
            realm = {self.sync.realm: {"key": self.sync.key, **{
                f"cluster_{name}": url for name, url in clusters.items()}}}
        (self.etc / "container-sync-realms.conf").write_text(_ini(realm))
        (self.etc / "proxy-server.conf").write_text(_ini(sections))

    def _spawn(self, name: str, argv: list[str]) -> None:
        log_file = open(self.root / "log" / f"{name}.log", "ab")  # noqa: SIM115 - child's
        self.procs[name] = subprocess.Popen(argv, stdout=log_file, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        log_file.close()

    def start(self) -> None:
        self._spawn("memcached", ["memcached", "-u", "root", "-l", "127.0.0.1", "-p",
                                  str(self.ports["memcached"]), "-U", "0", "-m", "256"])
        for kind in ("account", "container", "object", "proxy"):
            self._spawn(kind, [str(self.bindir / f"swift-{kind}-server"),
                               str(self.etc / f"{kind}-server.conf"), "-v"])
        self.wait_ready()

    def run_container_sync(self, timeout: float = 120) -> str:
        """One pass of Swift's container sync daemon over every syncing container; its log."""
        # the servers read swift.conf from their swift_dir, the daemons only from /etc/swift
        # (which stays untouched): point Swift at ours before its daemon's entry point runs
        launch = ("import sys; from swift.common.utils import set_swift_dir; "
                  f"set_swift_dir({str(self.etc)!r}); from swift.container.sync import main; "
                  "sys.argv[0] = 'swift-container-sync'; sys.exit(main())")
        done = subprocess.run([str(self.bindir / "python"), "-c", launch,
                               str(self.etc / "container-server.conf"), "once", "-v"],
                              capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"swift-container-sync: {done.returncode}: "
                               f"{done.stdout[-3000:]}{done.stderr[-3000:]}")
        return done.stdout + done.stderr

    def restart_proxy(self, workers: int) -> None:
        self._stop("proxy")
        self.write_proxy_conf(workers)
        self._spawn("proxy", [str(self.bindir / "swift-proxy-server"),
                              str(self.etc / "proxy-server.conf"), "-v"])
        self.wait_ready()

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    raise RuntimeError(f"swift {name} exited: "
                                       f"{(self.root / 'log' / f'{name}.log').read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/healthcheck", timeout=2).status_code == 200:
                    self.auth()
                    return
            except (httpx.HTTPError, RuntimeError):
                pass
            time.sleep(0.3)
        raise RuntimeError("swift did not become ready")

    def auth(self) -> tuple[str, str]:
        r = httpx.get(f"{self.url}/auth/v1.0",
                      headers={"X-Auth-User": self.user, "X-Auth-Key": self.key}, timeout=10)
        if r.status_code != 200:
            raise RuntimeError(f"swift auth: {r.status_code}")
        return r.headers["X-Storage-Url"], r.headers["X-Auth-Token"]

    def roots(self) -> list[int]:
        return [p.pid for p in self.procs.values() if p.poll() is None]

    def _stop(self, name: str) -> None:
        proc = self.procs.pop(name, None)
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=20)

    def stop(self) -> None:
        for name in list(self.procs):
            self._stop(name)


def nginx_conf(root: Path, docroot: Path, port: int) -> Path:
    """nginx with sendfile on, serving docroot on 127.0.0.1:port (the GET ceiling)."""
    (root / "logs").mkdir(parents=True, exist_ok=True)
    conf = root / "nginx.conf"
    conf.write_text(f"""user root;
worker_processes auto;
daemon off;
pid {root}/nginx.pid;
error_log {root}/logs/error.log warn;
events {{ worker_connections 256; }}
http {{
    sendfile on;
    tcp_nopush on;
    access_log off;
    client_body_temp_path {root}/tmp;
    server {{
        listen 127.0.0.1:{port};
        root {docroot};
    }}
}}
""")
    (root / "tmp").mkdir(exist_ok=True)
    return conf


def start_nginx(root: Path, docroot: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    conf = nginx_conf(root, docroot, port)
    proc = subprocess.Popen(["nginx", "-p", str(root), "-c", str(conf)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        with contextlib.suppress(httpx.HTTPError):
            httpx.get(url + "/", timeout=1)
            return proc, url
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError("nginx did not start")


def stop_proc(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=20)


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
