"""haproxy (Debian's package) in front of Strato nodes, as docs/scale-out.md configures it:
round robin, `/healthcheck` every 500 ms, and a request whose connection a dead node refuses
is sent to another node (`retries` + `option redispatch`)."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import httpx

from tests.harness import Server, free_port

CONFIG = """\
global
    maxconn 512

defaults
    mode http
    option http-keep-alive
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    retries 3
    option redispatch

frontend strato
    bind 127.0.0.1:{port}
    default_backend nodes

backend nodes
    balance roundrobin
    option httpchk GET /healthcheck
    http-check expect status 200
    default-server inter 500ms fall 2 rise 2
{servers}
"""


class Haproxy:
    def __init__(self, directory: Path, nodes: list[Server]) -> None:
        binary = shutil.which("haproxy") or "/usr/sbin/haproxy"
        if not Path(binary).exists():
            raise RuntimeError("no haproxy: install Debian's haproxy (scripts/test does)")
        self.binary = binary
        self.port = free_port()
        self.config = directory / "haproxy.cfg"
        servers = "\n".join(f"    server node{number} 127.0.0.1:{node.port} check"
                            for number, node in enumerate(nodes, 1))
        self.config.write_text(CONFIG.format(port=self.port, servers=servers))
        self.log = directory / "haproxy.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Haproxy:
        subprocess.run([self.binary, "-c", "-f", str(self.config)], check=True,
                       capture_output=True)
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen([self.binary, "-db", "-f", str(self.config)],
                                            stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/healthcheck", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"haproxy did not serve:\n{self.log.read_text()}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None
