"""What the image lifecycle tests share: a private server per module, Keystone tokens for an
admin and for ordinary project members, and small Glance v2 calls over real HTTP."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import pg
from tests.harness import Server

OCTET = {"Content-Type": "application/octet-stream"}
PATCH = {"Content-Type": "application/openstack-images-v2.1-json-patch"}
DEADLINE = 30.0


@contextmanager
def running(tmp_path_factory: pytest.TempPathFactory, *extra_args: str,
            users: tuple[tuple[str, str], ...] = (("alpha", "alice"), ("beta", "bob")),
            workers: int = 1) -> Iterator[Server]:
    """A server of its own (settings under test), with one member user per project."""
    server = Server(tmp_path_factory.mktemp("img") / "data", workers=workers,
                    extra_args=tuple(extra_args)).start()
    try:
        add_members(server, users)
        yield server
    finally:
        server.stop()


def add_members(server: Server, users: tuple[tuple[str, str], ...]) -> None:
    """Each (project, user) made through Keystone's API (quicker than the CLI): the user has
    the `member` role on the project, password `<user>-pw`."""
    tok = token(server, "admin", server.passwords["admin"], "admin")
    with httpx.Client(base_url=f"{server.url}/identity/v3",
                      headers={"X-Auth-Token": tok}) as v3:
        roles = v3.get("/roles", params={"name": "member"}).json()["roles"]
        if roles:
            role_id = roles[0]["id"]
        else:
            resp = v3.post("/roles", json={"role": {"name": "member"}})
            assert resp.status_code == 201, resp.text
            role_id = resp.json()["role"]["id"]
        for project, user in users:
            resp = v3.post("/projects", json={"project": {"name": project,
                                                          "domain_id": "default"}})
            assert resp.status_code == 201, resp.text
            project_id = resp.json()["project"]["id"]
            resp = v3.post("/users", json={"user": {
                "name": user, "password": f"{user}-pw", "domain_id": "default",
                "default_project_id": project_id}})
            assert resp.status_code == 201, resp.text
            user_id = resp.json()["user"]["id"]
            resp = v3.put(f"/projects/{project_id}/users/{user_id}/roles/{role_id}")
            assert resp.status_code == 204, resp.text


def token(server: Server, user: str, password: str, project: str) -> str:
    resp = httpx.post(f"{server.url}/identity/v3/auth/tokens", json={"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": user, "domain": {"id": "default"}, "password": password}}},
        "scope": {"project": {"name": project, "domain": {"id": "default"}}}}})
    assert resp.status_code == 201, resp.text
    return resp.headers["X-Subject-Token"]


class Glance:
    """One caller of the image API: an httpx client on `/image/v2` with its token."""

    def __init__(self, server: Server, user: str, password: str, project: str) -> None:
        self.server = server
        self.tok = token(server, user, password, project)
        self.http = httpx.Client(base_url=f"{server.url}/image/v2",
                                 headers={"X-Auth-Token": self.tok}, timeout=60)
        self.project_id = self._project_id()

    def _project_id(self) -> str:
        resp = httpx.get(f"{self.server.url}/identity/v3/auth/tokens",
                         headers={"X-Auth-Token": self.tok, "X-Subject-Token": self.tok})
        assert resp.status_code == 200, resp.text
        return str(resp.json()["token"]["project"]["id"])

    def close(self) -> None:
        self.http.close()

    # -- calls ----------------------------------------------------------------------------
    def create(self, **body: Any) -> dict[str, Any]:
        body.setdefault("disk_format", "raw")
        body.setdefault("container_format", "bare")
        resp = self.http.post("/images", json=body)
        assert resp.status_code == 201, resp.text
        return dict(resp.json())

    def get(self, image_id: str) -> dict[str, Any]:
        resp = self.http.get(f"/images/{image_id}")
        assert resp.status_code == 200, resp.text
        return dict(resp.json())

    def status(self, image_id: str) -> str:
        return str(self.get(image_id)["status"])

    def upload(self, image_id: str, data: bytes, **headers: str) -> httpx.Response:
        return self.http.put(f"/images/{image_id}/file", content=data,
                             headers={**OCTET, **headers})

    def stage(self, image_id: str, data: bytes, **headers: str) -> httpx.Response:
        return self.http.put(f"/images/{image_id}/stage", content=data,
                             headers={**OCTET, **headers})

    def import_(self, image_id: str, method: str = "glance-direct", **body: Any
                ) -> httpx.Response:
        return self.http.post(f"/images/{image_id}/import",
                              json={"method": {"name": method, **body.pop("extra", {})},
                                    **body})

    def patch(self, image_id: str, ops: Any, headers: dict[str, str] | None = None
              ) -> httpx.Response:
        return self.http.patch(f"/images/{image_id}", content=json.dumps(ops),
                               headers=headers or PATCH)

    def active(self, data: bytes = b"\x00" * 1024, **body: Any) -> dict[str, Any]:
        image = self.create(**body)
        resp = self.upload(image["id"], data)
        assert resp.status_code == 204, resp.text
        return self.get(image["id"])

    def wait_status(self, image_id: str, wanted: str | Callable[[str], bool],
                    timeout: float = DEADLINE) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        check = wanted if callable(wanted) else (lambda s: s == wanted)
        while True:
            image = self.get(image_id)
            if check(image["status"]):
                return image
            if time.monotonic() > deadline:
                raise AssertionError(f"image {image_id} stayed {image['status']}, wanted "
                                     f"{wanted}")
            time.sleep(0.1)

    def tasks(self, image_id: str) -> list[dict[str, Any]]:
        resp = self.http.get(f"/images/{image_id}/tasks")
        assert resp.status_code == 200, resp.text
        return list(resp.json()["tasks"])


def admin(server: Server) -> Glance:
    return Glance(server, "admin", server.passwords["admin"], "admin")


def member(server: Server, project: str, user: str) -> Glance:
    return Glance(server, user, f"{user}-pw", project)


def error(resp: httpx.Response, status: int, *words: str) -> str:
    """The response is Glance's error `status` with a JSON body whose message says `words`."""
    assert resp.status_code == status, f"{resp.status_code} != {status}: {resp.text}"
    body = resp.json()
    message = body["error"]["message"] if "error" in body else body["message"]
    assert isinstance(message, str) and message, body
    for word in words:
        assert word.lower() in message.lower(), f"{word!r} not in {message!r}"
    return message


# ---- disk images made by qemu-img -----------------------------------------------------------

def qemu_img(*args: str | Path) -> None:
    if shutil.which("qemu-img") is None:
        pytest.fail("qemu-img is needed to make test images: apt-get install qemu-utils")
    subprocess.run(["qemu-img", *map(str, args)], check=True, capture_output=True)


def qemu_info(path: Path) -> dict[str, Any]:
    out = subprocess.run(["qemu-img", "info", "--output=json", str(path)], check=True,
                         capture_output=True).stdout
    return dict(json.loads(out))


def blob_bytes(root: Path) -> tuple[int, int]:
    """(files, bytes) of blob files under a policy's `objects` directory."""
    files = [p for p in (root / "objects").rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


def image_objects(server: Server, image_id: str) -> dict[str, int]:
    """container -> size of every object holding this image's bytes (stores and staging)."""
    import sqlite3

    url = pg.database_of(server.data_dir)
    if url is not None:  # names are bytea there
        found = pg.fetch(url, "SELECT c.name, o.size FROM objects o JOIN containers c"
                         " ON c.id = o.container_id WHERE c.account = $1 AND o.name = $2",
                         b"\x00images", image_id.encode())
        return {bytes(name).decode(): int(size) for name, size in found}  # type: ignore
    db = sqlite3.connect(f"file:{server.data_dir / 'metadata.db'}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT c.name, o.size FROM objects o JOIN containers c"
                          " ON c.id = o.container_id WHERE c.account = ? AND o.name = ?",
                          ("\x00images", image_id)).fetchall()
    finally:
        db.close()
    return {str(name): int(size) for name, size in rows}


class RawPut:
    """A PUT written by hand on a socket, so a test can stop half-way through the body."""

    def __init__(self, server: Server, path: str, tok: str, length: int | None,
                 headers: dict[str, str] | None = None) -> None:
        """`length` None: the body is sent chunked (as glanceclient does)."""
        import socket

        self.chunked = length is None
        self.sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
        framing = "Transfer-Encoding: chunked" if length is None else f"Content-Length: {length}"
        lines = [f"PUT /image/v2{path} HTTP/1.1", f"Host: 127.0.0.1:{server.port}",
                 f"X-Auth-Token: {tok}", "Content-Type: application/octet-stream", framing,
                 *(f"{k}: {v}" for k, v in (headers or {}).items())]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())

    def send(self, data: bytes) -> None:
        if self.chunked:
            data = f"{len(data):x}\r\n".encode() + data + b"\r\n"
        self.sock.sendall(data)

    def end(self) -> None:
        """The last chunk of a chunked body."""
        self.sock.sendall(b"0\r\n\r\n")

    def response_status(self) -> int:
        """The status line of the answer (after the whole body was sent)."""
        received = b""
        while b"\r\n" not in received:  # weak-tests: ok (reads a status line)
            chunk = self.sock.recv(4096)
            if not chunk:
                break
            received += chunk
        self.sock.close()
        return int(received.split(b" ", 2)[1])

    def cut(self) -> None:
        self.sock.close()
