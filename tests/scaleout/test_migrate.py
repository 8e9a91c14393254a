"""`strato migrate --to postgresql://...`: a cloud made on SQLite by a real server, its
metadata moved into a fresh PostgreSQL database by a migration killed in the middle of a
table and run again, then served from PostgreSQL with the same data directory: every
client sees the same cloud (objects with their ETags, listings, counters, metadata, an
SLO, an image, the same passwords and application credential), and the report's counts
and digests agree.

In tests/scaleout (run on SQLite only): it brings its own SQLite source and PostgreSQL
target whatever STRATO_TEST_METADATA says."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import swiftclient.client
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3
from keystoneclient.v3 import client as ks_client

from strato.stores.metadata.postgresql.schema import migrate as migrate_schema
from tests import pg
from tests.api.image.support import Glance
from tests.harness import Server, strato

SQLITE = {"STRATO_METADATA": ""}
PASSWORD = "migrate-me-1234"
SMALL = [f"small/{n:02d}".encode() * 8 for n in range(12)]  # inline-sized
LARGE = [os.urandom(300 * 1024) for _ in range(2)]  # blob files
SEGMENTS = [os.urandom(64 * 1024), os.urandom(10 * 1024)]
IMAGE = os.urandom(40 * 1024)


def _session(server: Server, user: str, password: str, project: str) -> ks_session.Session:
    return ks_session.Session(auth=v3.Password(
        auth_url=f"{server.url}/identity/v3", username=user, password=password,
        user_domain_id="default", project_name=project, project_domain_id="default"))


def _make_cloud(server: Server) -> dict[str, Any]:
    """Fill the cloud through the clients; returns what an app credential needs."""
    server.add_user("demo", "mover", PASSWORD)
    session = _session(server, "mover", PASSWORD, "demo")
    swift = swiftclient.client.Connection(session=session, retries=0)
    swift.put_container("small", headers={"X-Container-Meta-Colour": "blue"})
    for number, body in enumerate(SMALL):
        swift.put_object("small", f"obj-{number:02d}", body,
                         headers={"X-Object-Meta-Number": str(number)})
    swift.put_object("small", "dir/ünïcødé ✓.txt", b"unicode name")
    swift.put_container("large")
    for number, body in enumerate(LARGE):
        swift.put_object("large", f"blob-{number}", body, content_type="application/x-test")
    swift.put_container("segments")
    manifest = []
    for number, body in enumerate(SEGMENTS):
        etag = swift.put_object("segments", f"part-{number}", body)
        manifest.append({"path": f"segments/part-{number}", "etag": etag,
                         "size_bytes": len(body)})
    swift.put_object("large", "slo", json.dumps(manifest),
                     query_string="multipart-manifest=put")
    credential = ks_client.Client(session=session).application_credentials.create("mover-app")
    glance = Glance(server, "mover", PASSWORD, "demo")
    image = glance.create(name="migrated-image")
    assert glance.upload(image["id"], IMAGE).status_code == 204
    glance.close()
    access_key = json.loads(server.cli("access-key", "create", "--user", "mover",
                                       "--json").stdout)
    return {"credential": (credential.id, credential.secret), "image": image["id"],
            "access_key": access_key}


def _hp_signed(storage: str, key: dict[str, str], path: str) -> str:
    """An HP Cloud style temp URL signed with a user's access key."""
    project_id = storage.rsplit("AUTH_", 1)[1]
    full = storage[storage.index("/v1/"):] + path
    expires = int(time.time()) + 120
    mac = hmac.new(key["secret"].encode(), f"GET\n{expires}\n{full}".encode(), hashlib.sha1)
    sig = f"{project_id}:{key['id']}:{mac.hexdigest()}"
    return f"{full}?temp_url_sig={sig}&temp_url_expires={expires}"


def _view(swift: swiftclient.client.Connection) -> dict[str, Any]:
    """What a user sees: account and container heads (counters, metadata), listings, and
    every object's ETag, headers and body digest."""
    account_headers, containers = swift.get_account(full_listing=True)
    view: dict[str, Any] = {
        "account": {k: v for k, v in account_headers.items()
                    if k.startswith("x-account-") and "timestamp" not in k},
        "containers": containers}
    for container in containers:
        name = container["name"]
        headers, objects = swift.get_container(name, full_listing=True)
        view[name] = {"head": {k: v for k, v in headers.items()
                               if k.startswith("x-container-")},
                      "objects": objects}
        for obj in objects:
            head, body = swift.get_object(name, obj["name"])
            view[f"{name}/{obj['name']}"] = (
                head["etag"], head.get("content-type"), head.get("x-object-meta-number"),
                hashlib.md5(body).hexdigest(), len(body))
    return view


async def _block_fifth_object(url: str, data: Path, ready: threading.Event,
                              release: threading.Event) -> None:
    """Hold an uncommitted insert of the fifth object (in the copy's key order), so the
    migration's batch holding it waits on it: the run is then stopped mid-table, whatever
    the machine's speed."""
    conn = sqlite3.connect(data / "metadata.db")
    row = conn.execute("SELECT container_id, name FROM objects ORDER BY container_id, name "
                       "LIMIT 1 OFFSET 4").fetchone()
    conn.close()
    target = await asyncpg.connect(url)
    try:
        await migrate_schema(target)
        transaction = target.transaction()
        await transaction.start()
        await target.execute("INSERT INTO objects VALUES ($1, $2, 'x', 0, 'x', 'x', 0, '{}')",
                             row[0], row[1].encode())
        ready.set()
        await asyncio.to_thread(release.wait, 120)
        await transaction.rollback()
    finally:
        await target.close()


def _waiting_migrations(url: str) -> int:
    return int(pg.fetch(url, "SELECT count(*) FROM pg_stat_activity WHERE application_name ="
                        " 'strato-migrate' AND wait_event_type = 'Lock'")[0][0])


def _migrate_killed_midway(data: Path, url: str) -> None:
    """A run with one row per batch, SIGKILLed while it waits in the middle of `objects`."""
    ready, release = threading.Event(), threading.Event()
    blocker = threading.Thread(target=asyncio.run, args=(
        _block_fifth_object(url, data, ready, release),))
    blocker.start()
    try:
        assert ready.wait(60)
        process = subprocess.Popen(
            [sys.executable, "-m", "strato", "migrate", "--data-dir", str(data), "--to", url,
             "--batch-rows", "1"], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
            text=True, env={**os.environ, **SQLITE})
        deadline = time.monotonic() + 60
        while not _waiting_migrations(url):
            assert process.poll() is None and time.monotonic() < deadline, (
                "the migration did not wait on the held row")
            time.sleep(0.1)
        process.send_signal(signal.SIGKILL)
        _, errors = process.communicate(timeout=60)
        assert process.returncode == -signal.SIGKILL, errors
        assert "objects: 4 rows copied" in errors.splitlines()
    finally:
        release.set()
        blocker.join(60)
    assert pg.fetch(url, "SELECT count(*) FROM objects") == [(4,)]


def test_an_embedded_cloud_moves_to_postgresql(tmp_path: Path) -> None:
    data = tmp_path / "data"
    source = Server(data, env=SQLITE).start()
    try:
        made = _make_cloud(source)
        before = _view(swiftclient.client.Connection(
            session=_session(source, "mover", PASSWORD, "demo"), retries=0))
        admin_password = source.passwords["admin"]
    finally:
        source.stop()

    url = pg.create_database()
    try:
        _migrate_killed_midway(data, url)
        done = strato("migrate", "--to", url, "--json", data_dir=data, env=SQLITE)
        report = json.loads(done.stdout)
        assert report["resumed"] and report["matches"], done.stdout
        tables = {t["table"]: t for t in report["tables"]}
        for name in ("users", "app_credentials", "access_keys", "containers", "objects",
                     "inline_blobs", "images"):
            assert tables[name]["source_rows"] > 0, name
            assert tables[name]["source_digest"] == tables[name]["target_digest"]
        assert tables["objects"]["target_rows"] == tables["objects"]["source_rows"]

        # another cloud may not be poured into this database
        other = strato("init", data_dir=tmp_path / "other", env=SQLITE)
        assert other.returncode == 0
        refused = strato("migrate", "--to", url, data_dir=tmp_path / "other", env=SQLITE,
                         check=False)
        assert refused.returncode == 1 and "another cloud" in refused.stderr

        # the report sees a row that differs: one ETag changed behind the copy's back
        [(etag,)] = pg.fetch(url, "SELECT etag FROM objects WHERE name = $1", b"blob-0")
        pg.fetch(url, "UPDATE objects SET etag = 'x' WHERE name = $1", b"blob-0")
        again = strato("migrate", "--to", url, data_dir=data, env=SQLITE, check=False)
        assert again.returncode == 3, again.stderr
        differing = [line.split()[0] for line in again.stdout.splitlines()
                     if line.endswith("DIFFERS")]
        assert differing == ["objects"]
        pg.fetch(url, "UPDATE objects SET etag = $2 WHERE name = $1", b"blob-0", etag)

        served = Server(data, env={"STRATO_METADATA": url}).start()
        try:
            assert not served.passwords, "the server seeded a new identity"
            after = _view(swiftclient.client.Connection(
                session=_session(served, "mover", PASSWORD, "demo"), retries=0))
            assert after == before
            slo = after["large/slo"]
            assert slo[4] == sum(map(len, SEGMENTS))
            assert slo[3] == hashlib.md5(b"".join(SEGMENTS)).hexdigest()
            _session(served, "admin", admin_password, "admin").get_token()
            cred_id, secret = made["credential"]
            app = ks_session.Session(auth=v3.ApplicationCredential(
                auth_url=f"{served.url}/identity/v3", application_credential_id=cred_id,
                application_credential_secret=secret))
            assert swiftclient.client.Connection(session=app, retries=0).get_object(
                "large", "blob-1")[1] == LARGE[1]
            glance = Glance(served, "mover", PASSWORD, "demo")
            image = glance.get(made["image"])
            assert image["status"] == "active"
            assert image["checksum"] == hashlib.md5(IMAGE).hexdigest()
            assert glance.http.get(f"/images/{made['image']}/file").content == IMAGE
            glance.close()
            # new containers get ids past the copied ones
            swift = swiftclient.client.Connection(
                session=_session(served, "mover", PASSWORD, "demo"), retries=0)
            swift.put_container("after-move")
            swift.put_object("after-move", "x", b"new")
            # the access key's secret, still sealed with the data directory's keys, signs
            storage = swift.get_auth()[0]
            signed = httpx.get(served.url + _hp_signed(storage, made["access_key"],
                                                       "/large/blob-0"))
            assert signed.status_code == 200 and signed.content == LARGE[0]
            assert swift.get_object("after-move", "x")[1] == b"new"
        finally:
            served.stop()
    finally:
        pg.drop_database(url)


def test_a_database_a_server_seeded_is_refused(tmp_path: Path) -> None:
    """A database holding a cloud of its own (here one `strato init` seeded) is left as it
    was: the copy would mix two clouds' identities."""
    url = pg.create_database()
    try:
        assert strato("init", data_dir=tmp_path / "pg-cloud",
                      env={"STRATO_METADATA": url}).returncode == 0
        users = pg.fetch(url, "SELECT id FROM users ORDER BY id")
        assert strato("init", data_dir=tmp_path / "data", env=SQLITE).returncode == 0
        refused = strato("migrate", "--to", url, data_dir=tmp_path / "data", env=SQLITE,
                         check=False)
        assert refused.returncode == 1
        assert "holds another cloud (its users table has rows)" in refused.stderr
        assert pg.fetch(url, "SELECT id FROM users ORDER BY id") == users
        assert pg.fetch(url, "SELECT count(*) FROM strato_migration") == [(0,)]
    finally:
        pg.drop_database(url)
