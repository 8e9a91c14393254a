"""A GET or HEAD of a plain object reads its token once, then its account, container, object
and inline bytes in one statement (`ObjectStore.lookup`).

The server runs in this process (uvicorn on a real socket) so a SQLite trace callback can
count the metadata statements one request makes; the client is an ordinary HTTP client.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from strato.stores.metadata.sqlite import db
from tests.harness import Server, in_process_server

MAX_READS = 2
"""One statement for the token (with its user, project and roles), one for the rest."""


@pytest.fixture
def counted(make_server: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, list[str]]]:
    """(storage URL's origin, SELECT statements run since the list was last cleared) of an
    in-process server on a data directory prepared by the CLI."""
    prepared: Server = make_server()
    prepared.add_user("budget", "reader", "pw")
    prepared.stop()
    statements: list[str] = []
    connect = db.connect

    def traced(path: Path) -> sqlite3.Connection:
        conn = connect(path)
        conn.set_trace_callback(
            lambda sql: statements.append(sql) if sql.lstrip().upper().startswith("SELECT")
            else None)
        return conn

    monkeypatch.setattr(db, "connect", traced)
    with in_process_server(prepared.data_dir) as origin:
        yield origin, statements


def test_plain_object_get_and_head_read_each_row_once(counted: tuple[str, list[str]]
                                                      ) -> None:
    origin, statements = counted
    auth = httpx.get(f"{origin}/auth/v1.0",
                     headers={"X-Auth-User": "budget:reader", "X-Auth-Key": "pw"})
    auth.raise_for_status()
    url, token = auth.headers["X-Storage-Url"], auth.headers["X-Auth-Token"]
    with httpx.Client(headers={"X-Auth-Token": token}) as client:
        assert client.put(f"{url}/c").status_code == 201
        assert client.put(f"{url}/c/o", content=b"x" * 4096).status_code == 201
        for method in ("GET", "HEAD"):
            statements.clear()
            response = client.request(method, f"{url}/c/o")
            assert response.status_code == 200
            assert response.headers["Content-Length"] == "4096"
            assert len(statements) <= MAX_READS, (method, statements)
        statements.clear()
        assert client.get(f"{url}/c/missing").status_code == 404
        assert len(statements) <= MAX_READS, statements
