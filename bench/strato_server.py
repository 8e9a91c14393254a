"""A private Strato server for a benchmark: the test harness's Server plus a bench user."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from tests.harness import Server


def start(data_dir: Path, workers: int | None = None) -> tuple[Server, str, str]:
    """Start Strato with its default worker count (one per core); returns (server,
    storage URL, token) of a fresh `bench:bench` account owner."""
    server = Server(data_dir=data_dir, workers=workers or os.cpu_count() or 1)
    return server, *ready(server)


def ready(server: Server) -> tuple[str, str]:
    """Start a server made by the caller (who stops it); returns (storage URL, token)."""
    server.start()
    password = secrets.token_urlsafe(12)
    server.add_user("bench", "bench", password, role="admin")
    return server.auth_v1("bench:bench", password)


def roots(server: Server) -> list[int]:
    return [server.process.pid] if server.process else []
