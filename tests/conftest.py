"""Fixtures shared by every integration test: a real server and real credentials."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import pg
from tests.harness import RUNNING, Server

TESTER = ("test", "tester", "testing")
PENDING_ON_POSTGRESQL = Path(__file__).with_name("postgresql_pending.txt")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """With STRATO_TEST_METADATA, the tests listed in postgresql_pending.txt are expected to
    fail (each line says why); they still run."""
    if not pg.SERVER_METADATA:
        return
    pending = {}
    for line in PENDING_ON_POSTGRESQL.read_text().splitlines():
        node, _, why = line.partition("#")
        if node.strip():
            pending[node.strip()] = why.strip()
    for item in items:
        if item.nodeid in pending:
            item.add_marker(pytest.mark.xfail(reason=pending[item.nodeid], strict=False))


@pytest.fixture(scope="module", autouse=True)
def _drop_test_databases() -> Iterator[None]:
    """With STRATO_TEST_METADATA, each server's database goes when its module ends (unless a
    server still runs on it, such as the session's)."""
    yield
    if pg.SERVER_METADATA:
        pg.drop_unused(RUNNING)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server for the session (two workers, as in production); tests use own containers."""
    yield from serve_with_tester(tmp_path_factory.mktemp("strato") / "data")


def serve_with_tester(data: Path, **options: Any) -> Iterator[Server]:
    """A running two-worker server on `data` whose `test:tester` is an admin; stops after.
    `options` go to `Server` (e.g. `extra_args`, `env`)."""
    srv = Server(data, **{"workers": 2, **options}).start()
    project, user, password = TESTER
    srv.add_user(project, user, password, role="admin")
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def make_server(tmp_path: Path) -> Iterator[type[Server] | object]:
    """Factory for a private server (crash tests, settings under test)."""
    started: list[Server] = []

    def make(**kwargs: object) -> Server:
        srv = Server(tmp_path / f"data{len(started)}", **kwargs)  # type: ignore[arg-type]
        started.append(srv)
        return srv.start()

    yield make
    for srv in started:
        srv.stop()


@pytest.fixture(scope="session")
def tester(server: Server) -> tuple[str, str]:
    """(storage URL, token) of `test:tester`, an account owner."""
    return server.auth_v1("test:tester", "testing")
