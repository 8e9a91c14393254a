"""The workers share a burst of new connections (`server/accept.py`), and one that cannot
take its share does not hold new connections up."""

from __future__ import annotations

import os
import select
import signal
import socket
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from strato.server.accept import ALL_SLOTS, SLOTS_ENV, worker_slots
from tests.harness import Server

REQUEST = b"GET /healthcheck HTTP/1.1\r\nHost: strato\r\n\r\n"


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server of its own: no other test's idle connections count against a worker."""
    server = Server(tmp_path_factory.mktemp("accept") / "data", workers=2).start()
    _wait_for_both(server)
    yield server
    server.stop()


def _workers(server: Server) -> list[psutil.Process]:
    assert server.process is not None
    return [p for p in psutil.Process(server.process.pid).children(recursive=True)
            if any(c.status == psutil.CONN_LISTEN and c.laddr.port == server.port
                   for c in p.net_connections("tcp"))]


def _slots(server: Server) -> Path:
    return Path(psutil.Process(_workers(server)[0].pid).environ()[SLOTS_ENV])


def _wait_for_both(server: Server) -> None:
    """The first worker answers the readiness probe; the second may still be starting (and
    rightly takes no share until it serves)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        pids = ALL_SLOTS.unpack_from(_slots(server).read_bytes())[::2]
        if sum(1 for pid in pids if pid) == 2:
            return
        time.sleep(0.1)
    raise AssertionError("the second worker did not start serving")


def _answered(sock: socket.socket) -> bool:
    sock.sendall(REQUEST)
    return sock.recv(65536).startswith(b"HTTP/1.1 200")


def _owners(server: Server, socks: list[socket.socket]) -> Counter[int]:
    """Which worker holds each connection (by the client's port)."""
    ports = {s.getsockname()[1] for s in socks}
    return Counter({w.pid: sum(1 for c in w.net_connections("tcp")
                               if c.raddr and c.raddr.port in ports)
                    for w in _workers(server)})


def _burst(server: Server, count: int) -> list[socket.socket]:
    """`count` connections started at once, as a client's connection pool opens them."""
    socks = [socket.socket() for _ in range(count)]
    for sock in socks:
        sock.setblocking(False)
        sock.connect_ex(("127.0.0.1", server.port))
    _, writable, _ = select.select([], socks, [], 10)
    assert len(writable) == count
    for sock in socks:
        sock.setblocking(True)
        sock.settimeout(10)
    return socks


def _settled(server: Server) -> None:
    """Wait until the workers saw the last burst's connections close (their counts)."""
    deadline = time.monotonic() + 10
    while any(ALL_SLOTS.unpack_from(_slots(server).read_bytes())[1::2]):
        assert time.monotonic() < deadline, "the workers still count closed connections"
        time.sleep(0.02)


def test_a_burst_of_connections_is_shared_by_the_workers(two_workers: Server) -> None:
    """Each worker takes its share of four connections opened at once. A worker gives
    the other 10 ms to take one before it takes it itself, so on a machine loaded enough
    to keep a worker off the CPU that long a burst may still split unevenly: most must not."""
    assert len(_workers(two_workers)) == 2
    shares: list[list[int]] = []
    for _ in range(8):
        _settled(two_workers)
        socks = _burst(two_workers, 4)
        try:
            assert all(_answered(s) for s in socks)
            shares.append(sorted(_owners(two_workers, socks).values()))
        finally:
            for sock in socks:
                sock.close()
    assert shares.count([2, 2]) >= 6, shares


def test_a_stopped_worker_does_not_hold_new_connections_up(two_workers: Server) -> None:
    """A worker that holds fewer connections but cannot take any (stopped here; busy in a
    long callback in life) gets a few milliseconds, then the other accepts after all."""
    stopped, live = _workers(two_workers)
    socks: list[socket.socket] = []
    os.kill(stopped.pid, signal.SIGSTOP)
    try:
        for _ in range(6):
            started = time.monotonic()
            sock = socket.create_connection(("127.0.0.1", two_workers.port), timeout=10)
            socks.append(sock)
            assert _answered(sock)
            assert time.monotonic() - started < 1
    finally:
        os.kill(stopped.pid, signal.SIGCONT)
    try:
        assert _owners(two_workers, socks) == Counter({live.pid: 6, stopped.pid: 0})
        socks += _burst(two_workers, 2)  # and the resumed one takes its share again
        assert all(_answered(s) for s in socks[-2:])
        assert _owners(two_workers, socks[-2:])[stopped.pid] >= 1
    finally:
        for sock in socks:
            sock.close()


def test_the_workers_slots_file_goes_with_the_server(tmp_path: Path) -> None:
    server = Server(tmp_path / "data", workers=2).start()
    try:
        _wait_for_both(server)
        slots = _slots(server)
    finally:
        server.stop()
    assert not slots.exists()



def test_no_slots_file_where_no_temporary_file_can_be_made(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """`strato serve` then starts its workers without one: each accepts on its own."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "missing"))
    with worker_slots() as slots:
        assert slots is None
    assert "each accepts on its own" in caplog.text
