"""SIGKILL of the `strato serve` parent leaves no worker behind holding the port."""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path

import httpx
import psutil

from tests.harness import Server

DEADLINE = 10.0


def gone(proc: psutil.Process) -> bool:
    try:
        return proc.status() == psutil.STATUS_ZOMBIE  # exited, not yet reaped
    except psutil.NoSuchProcess:
        return True


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def test_workers_exit_when_the_parent_is_killed(tmp_path: Path) -> None:
    srv = Server(tmp_path / "data", workers=2).start()
    workers: list[psutil.Process] = []
    try:
        assert srv.process is not None
        parent = psutil.Process(srv.process.pid)
        workers = parent.children(recursive=True)
        assert len([w for w in workers if "spawn" in " ".join(w.cmdline())]) >= 2, workers
        assert httpx.get(f"{srv.url}/healthcheck").status_code == 200
        os.kill(parent.pid, signal.SIGKILL)  # the parent only: no shutdown code runs
        srv.process.wait(timeout=10)
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:
            if all(gone(w) for w in workers) and port_free(srv.port):
                break
            time.sleep(0.1)
        left = [w.pid for w in workers if not gone(w)]
        assert not left, f"orphaned workers still running: {left}"
        assert port_free(srv.port), "the port is still held"
        # and a new server starts on the same port and directory
        srv.process = None
        again = Server(srv.data_dir, port=srv.port, workers=1).start()
        again.stop()
    finally:
        for worker in workers:  # orphans this test made (psutil checks the pid was not reused)
            if not gone(worker):
                worker.kill()
        srv.stop()
