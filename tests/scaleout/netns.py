"""Hosts of a test's own: Linux network namespaces on one bridge, for scale-out tests whose
nodes must be separate network stacks (a host that vanishes without a FIN).

Every host is a namespace with one veth link, `eth0`, whose other end is a port of a bridge
that lives in a namespace of its own: the root namespace's links and routes are never
touched. The addresses are loopback ones, as every test here uses (127.77.0.0/24): each host
keeps only 127.0.0.1 on `lo` (its `local 127.0.0.0/8` route goes), so the other 127.77.0.x
route over `eth0`, and `route_localnet` lets the kernel send and take loopback addresses on
it. Cutting a host (`Network.cut`) takes its bridge port down: its packets go nowhere and
nothing, not even a FIN or a RST, reaches the others, as when a host loses power.

Namespace names carry the test process's pid (`strato-<pid>-<n>-<host>`), so parallel test
workers never collide and a later run deletes what a killed run left behind.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path

from tests.harness import Server

PREFIX = "strato-"
SUBNET = "127.77.0"
_serial = count()


def _ip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], check=True, capture_output=True, text=True,
                          timeout=30)


def unavailable() -> str | None:
    """Why this machine cannot make network namespaces, or None when it can."""
    if os.geteuid() != 0:
        return "network namespaces need root (`ip netns add`); scripts/test runs as root"
    if shutil.which("ip") is None:
        return "no `ip` command: install iproute2 (scripts/test does)"
    name = f"{PREFIX}{os.getpid()}-probe"
    try:
        _ip("netns", "add", name)
    except subprocess.CalledProcessError as exc:
        return f"`ip netns add` fails here: {exc.stderr.strip()}"
    with contextlib.suppress(subprocess.CalledProcessError):
        _ip("netns", "delete", name)
    return None


def delete_namespace(name: str) -> None:
    """Kill what still runs in it, then delete it (its links go with it)."""
    with contextlib.suppress(subprocess.CalledProcessError):
        for pid in _ip("netns", "pids", name).stdout.split():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), 9)
        _ip("netns", "delete", name)


def delete_abandoned() -> None:
    """Namespaces of test processes that are gone (killed before their clean-up ran)."""
    for line in _ip("netns", "list").stdout.splitlines():
        match = re.match(rf"({re.escape(PREFIX)}(\d+)-\S+)", line)
        if match and not Path(f"/proc/{match.group(2)}").exists():
            delete_namespace(match.group(1))


@dataclass
class Host:
    namespace: str
    address: str
    port: str
    """The host's port on the bridge (a link in the bridge's namespace)."""

    @property
    def prefix(self) -> tuple[str, ...]:
        """Runs a command on this host."""
        return ("ip", "netns", "exec", self.namespace)


@dataclass
class Network:
    name: str = field(default_factory=lambda: f"{PREFIX}{os.getpid()}-{next(_serial)}")
    hosts: dict[str, Host] = field(default_factory=dict)

    @property
    def bridge(self) -> str:
        return f"{self.name}-br"

    def create(self) -> Network:
        _ip("netns", "add", self.bridge)
        _ip("-n", self.bridge, "link", "add", "br0", "type", "bridge")
        _ip("-n", self.bridge, "link", "set", "br0", "up")
        return self

    def add_host(self, label: str) -> Host:
        """A new namespace with `eth0` on the bridge and the next address."""
        host = Host(f"{self.name}-{label}", f"{SUBNET}.{len(self.hosts) + 1}",
                    f"p{len(self.hosts) + 1}")
        _ip("netns", "add", host.namespace)
        self.hosts[label] = host
        _ip("-n", self.bridge, "link", "add", host.port, "type", "veth", "peer", "name", "eth0",
            "netns", host.namespace)
        _ip("-n", self.bridge, "link", "set", host.port, "master", "br0", "up")
        _ip("-n", host.namespace, "link", "set", "lo", "up")
        # lo answers for 127.0.0.1 alone: the rest of 127/8 routes like any other address
        _ip("-n", host.namespace, "route", "del", "local", "127.0.0.0/8", "dev", "lo",
            "table", "local")
        subprocess.run([*host.prefix, "sh", "-c",
                        "echo 1 > /proc/sys/net/ipv4/conf/eth0/route_localnet"],
                       check=True, timeout=30)
        _ip("-n", host.namespace, "addr", "add", f"{host.address}/24", "dev", "eth0")
        _ip("-n", host.namespace, "link", "set", "eth0", "up")
        return host

    def cut(self, host: Host) -> None:
        """The host is gone for the others: no packet in or out, and none to say so."""
        _ip("-n", self.bridge, "link", "set", host.port, "down")

    def destroy(self) -> None:
        for host in self.hosts.values():
            delete_namespace(host.namespace)
        delete_namespace(self.bridge)


class RemoteError(Exception):
    """No answer came (refused, reset, timed out)."""


@dataclass
class Response:
    status_code: int
    headers: dict[str, str]
    content: bytes
    seconds: float

    def json(self) -> object:
        return json.loads(self.content)


class Client:
    """HTTP from a host of the network: a `netns_client.py` process running there."""

    def __init__(self, host: Host) -> None:
        script = Path(__file__).with_name("netns_client.py")
        self.process = subprocess.Popen([*host.prefix, sys.executable, str(script)],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        text=True)

    def request(self, method: str, url: str, *, headers: dict[str, str] | None = None,
                content: bytes | None = None, timeout: float = 30) -> Response:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps({
            "method": method, "url": url, "headers": headers or {}, "timeout": timeout,
            "body": base64.b64encode(content).decode() if content is not None else None,
        }) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError("the namespace client exited")
        answer = json.loads(line)
        if "error" in answer:
            raise RemoteError(answer["error"])
        return Response(answer["status"], {k.lower(): v for k, v in answer["headers"].items()},
                        base64.b64decode(answer["body"]), answer["seconds"])

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:  # still waiting for an answer
            self.process.kill()
            self.process.wait(timeout=10)


@dataclass
class Node(Server):
    """`strato serve` on a host of the network; its readiness is asked through `client`
    (the test process cannot reach the namespace)."""

    client: Client | None = None

    def healthy(self) -> bool:
        assert self.client is not None
        try:
            return self.client.request("GET", f"{self.url}/healthcheck",
                                       timeout=1).status_code == 200
        except RemoteError:
            return False


def start_node(host: Host, client: Client, data_dir: Path, metadata: str, *,
               port: int = 8080, extra_args: tuple[str, ...] = ()) -> Node:
    """A node of one worker on `host`. The nodes share `data_dir` (as one filesystem
    mounted on every host) but not its `identity.mark`, which the processes of one host
    share through memory: each node sees a file of its own over it (a bind mount in the
    node's mount namespace, which `ip netns exec` makes), so that, as on separate hosts,
    one node learns of another's identity changes through PostgreSQL's NOTIFY alone."""
    data_dir.mkdir(parents=True, exist_ok=True)
    mark = data_dir / "identity.mark"
    mark.touch()
    own_mark = data_dir.parent / f"identity.mark.{host.namespace}"
    own_mark.touch()
    node = Node(data_dir, port=port, workers=1, host=host.address, client=client,
                env={"STRATO_METADATA": metadata},
                command_prefix=(*host.prefix, "sh", "-c",
                                'mount --bind "$1" "$2" && shift 2 && exec "$@"', "sh",
                                str(own_mark), str(mark)),
                extra_args=("--host", host.address, *extra_args))
    return node


def wait_for(what: str, check: Callable[[], bool], timeout: float,
             interval: float = 0.2) -> float:
    """Seconds until `check()` is true; fails after `timeout`."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{what}: not within {timeout:.1f} s")
        time.sleep(interval)
    return time.monotonic() - started
