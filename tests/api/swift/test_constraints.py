"""Swift's limits: name lengths, metadata limits, object size, length required."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

import pytest

from tests.api.swift.helpers import conn, new_container, raw, uniq
from tests.harness import Server


def test_object_name_length(tester: tuple[str, str]) -> None:
    name = new_container(tester)
    with raw(tester) as http:
        assert http.put(f"{name}/{'o' * 1024}", content=b"x").status_code == 201
        resp = http.put(f"{name}/{'o' * 1025}", content=b"x")
        assert resp.status_code == 400 and b"1025" in resp.content
        # bytes, not characters: 512 two-byte characters is the maximum
        assert http.put(f"{name}/{'é' * 512}", content=b"x").status_code == 201
        assert http.put(f"{name}/{'é' * 513}", content=b"x").status_code == 400
        assert http.get(name, params={"format": "json"}).json().__len__() == 2


def test_container_name_length(tester: tuple[str, str]) -> None:
    with raw(tester) as http:
        ok = uniq() + "c" * (256 - 14)
        assert http.put(ok).status_code == 201
        too_long = http.put(ok + "c")
        assert too_long.status_code == 400
        assert too_long.headers["Content-Type"] == "text/html; charset=UTF-8"
        assert b"longer than 256" in too_long.content
        assert http.head(ok + "c").status_code == 404


@pytest.mark.parametrize(("kind", "path"), [("object", "{c}/o"), ("container", "{c}")])
def test_metadata_limits(tester: tuple[str, str], kind: str, path: str) -> None:
    name = new_container(tester)
    target = path.format(c=name)
    prefix = f"X-{kind.title()}-Meta-"
    bad = [
        {prefix + "n" * 129: "v"},
        {prefix + "big": "v" * 257},
        {prefix + f"k{i}": "v" for i in range(91)},
        {prefix + f"k{i}": "v" * 200 for i in range(21)},
    ]
    good = [{prefix + "n" * 128: "v"}, {prefix + "big": "v" * 256},
            {prefix + f"k{i}": "v" for i in range(90)}]
    with raw(tester) as http:
        def send(headers: dict[str, str]) -> int:
            if kind == "object":
                return http.put(target, content=b"x", headers=headers).status_code
            return http.post(target, headers=headers).status_code

        for headers in bad:
            assert send(headers) == 400, next(iter(headers))
        if kind == "object":
            assert http.head(target).status_code == 404
        for headers in good:
            if kind == "container":  # limits apply to what is stored, so start afresh
                target = new_container(tester)
            assert send(headers) in (201, 204)


def test_account_metadata_limits(server: Server) -> None:
    project, user = uniq("p"), uniq("u")
    server.add_user(project, user, "pw", role="admin")
    url, token = server.auth_v1(f"{project}:{user}", "pw")
    c = conn((url, token))
    with raw((url, token)) as http:
        assert http.post("", headers={"X-Account-Meta-" + "n" * 129: "v"}).status_code == 400
        assert http.post("", headers={"X-Account-Meta-K": "v" * 257}).status_code == 400
        # stored metadata plus the new items must still fit
        for i in range(3):
            assert http.post("", headers={f"X-Account-Meta-K{i}{j}": "v" * 220
                                          for j in range(6)}).status_code == 204
        assert http.post("", headers={"X-Account-Meta-Last": "v" * 250}).status_code == 400
    assert "x-account-meta-last" not in c.head_account()


def test_too_large_is_413(make_server: object) -> None:
    srv: Server = make_server(extra_args=("--max-file-size", "1000"))  # type: ignore[operator]
    srv.add_user("p", "u", "pw", role="admin")
    tester = srv.auth_v1("p:u", "pw")
    name = new_container(tester)
    with raw(tester) as http:
        assert http.put(f"{name}/ok", content=b"x" * 1000).status_code == 201
        assert http.put(f"{name}/big", content=b"x" * 1001).status_code == 413

        def gen():
            for _ in range(20):
                yield b"x" * 100

        assert http.put(f"{name}/big", content=gen()).status_code == 413
        assert http.head(f"{name}/big").status_code == 404
    assert httpx_info(srv)["swift"]["max_file_size"] == 1000
    assert not list((srv.data_dir / "tmp").iterdir())


def httpx_info(srv: Server) -> dict:
    import httpx
    return httpx.get(srv.url + "/info").json()


def test_missing_length_is_411(tester: tuple[str, str]) -> None:
    name = new_container(tester)
    url, token = tester
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall((f"PUT {parts.path}/{name}/o HTTP/1.1\r\nHost: x\r\n"
                      f"X-Auth-Token: {token}\r\nConnection: close\r\n\r\n").encode())
        reply = sock.recv(65536)
    assert reply.startswith(b"HTTP/1.1 411"), reply
    with raw(tester) as http:
        assert http.head(f"{name}/o").status_code == 404


def test_auth_and_container_come_before_constraints(tester: tuple[str, str]) -> None:
    """As in Swift: a stranger learns nothing from constraint errors; 404 before 400/411."""
    import httpx

    url, _ = tester
    name = new_container(tester)
    long_name = "o" * 1025
    assert httpx.put(f"{url}/{name}/{long_name}", content=b"x").status_code == 401
    with raw(tester) as http:
        assert http.put(f"{uniq()}/{long_name}", content=b"x").status_code == 404
        assert http.put(f"{name}/{long_name}", content=b"x").status_code == 400
