"""Access-key (EC2) secrets are encrypted at rest with the credential key repository: never
in clear in any file of the data directory or in the PostgreSQL table, still usable after
`strato credential-key rotate` (by the running server too), rows written in clear by an
older release encrypted on start, and a missing repository refused with one line."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
import httpx

from tests import pg
from tests.harness import Server, strato

LEGACY_SECRET = "legacy-secret-written-in-clear-0123456789"


def _admin(srv: Server) -> tuple[str, str, str]:
    """(token, user id, project id) of the seeded admin."""
    resp = httpx.post(f"{srv.url}/identity/v3/auth/tokens", timeout=60, json={"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": "admin", "domain": {"id": "default"}, "password": srv.passwords["admin"]}}},
        "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}})
    assert resp.status_code == 201, resp.text
    token = resp.json()["token"]
    return resp.headers["X-Subject-Token"], token["user"]["id"], token["project"]["id"]


def _object(srv: Server, token: str, project_id: str) -> str:
    """The path of an object in the admin's account, for temp URLs to fetch."""
    path = f"/v1/AUTH_{project_id}/keys"
    assert httpx.put(srv.url + path, headers={"X-Auth-Token": token}).status_code in (201, 202)
    assert httpx.put(f"{srv.url}{path}/doc", content=b"signed with an access key",
                     headers={"X-Auth-Token": token}).status_code == 201
    return f"{path}/doc"


def _signed_get(srv: Server, path: str, project_id: str, key_id: str, secret: str) -> int:
    """GET through an HP-style temp URL signed with the access key: 200 only if the server
    can still read the secret."""
    expires = int(time.time()) + 300
    mac = hmac.new(secret.encode(), f"GET\n{expires}\n{path}".encode(), hashlib.sha1)
    sig = f"{project_id}:{key_id}:{mac.hexdigest()}"
    resp = httpx.get(f"{srv.url}{path}?temp_url_sig={sig}&temp_url_expires={expires}")
    if resp.status_code == 200:
        assert resp.content == b"signed with an access key"
    return resp.status_code


def _stored(srv: Server) -> dict[str, str]:
    """Access key id -> the secret column as stored, read from the database itself."""
    url = pg.metadata_env(srv.data_dir).get("STRATO_METADATA")
    if url:
        async def read() -> dict[str, str]:
            conn = await asyncpg.connect(url)
            try:
                return {r[0]: r[1] for r in await conn.fetch("SELECT id, secret FROM "
                                                              "access_keys")}
            finally:
                await conn.close()
        return asyncio.run(read())
    with sqlite3.connect(srv.data_dir / "metadata.db") as conn:
        return dict(conn.execute("SELECT id, secret FROM access_keys").fetchall())


def _appears_anywhere(srv: Server, secret: str) -> list[str]:
    """Files of the data directory, and PostgreSQL rows, whose bytes hold `secret`."""
    found = [str(p) for p in srv.data_dir.rglob("*")
             if p.is_file() and secret.encode() in p.read_bytes()]
    url = pg.metadata_env(srv.data_dir).get("STRATO_METADATA")
    if url:
        async def rows() -> str:
            conn = await asyncpg.connect(url)
            try:
                return repr(await conn.fetch("SELECT * FROM access_keys"))
            finally:
                await conn.close()
        if secret in asyncio.run(rows()):
            found.append("table access_keys")
    return found


def _ec2_credential(srv: Server, token: str, user_id: str, project_id: str) -> dict[str, str]:
    resp = httpx.post(f"{srv.url}/identity/v3/users/{user_id}/credentials/OS-EC2",
                      headers={"X-Auth-Token": token}, json={"tenant_id": project_id})
    assert resp.status_code == 201, resp.text
    return resp.json()["credential"]


def test_secrets_are_never_stored_in_clear(make_server: object) -> None:
    srv: Server = make_server()  # type: ignore[operator]
    token, user_id, project_id = _admin(srv)
    path = _object(srv, token, project_id)
    cli_key = json.loads(srv.cli("access-key", "create", "--user", "admin", "--json").stdout)
    ec2 = _ec2_credential(srv, token, user_id, project_id)
    time.sleep(0.5)  # whatever SQLite keeps in its WAL is on disk to be searched
    for key_id, secret in ((cli_key["id"], cli_key["secret"]), (ec2["access"], ec2["secret"])):
        assert _appears_anywhere(srv, secret) == []
        assert _stored(srv)[key_id].startswith("fernet:")
        assert _signed_get(srv, path, project_id, key_id, secret) == 200
    shown = httpx.get(f"{srv.url}/identity/v3/users/{user_id}/credentials/OS-EC2/"
                      f"{ec2['access']}", headers={"X-Auth-Token": token})
    assert shown.json()["credential"]["secret"] == ec2["secret"]  # S3 clients need it back
    keys = srv.data_dir / "credential-keys"
    assert keys.stat().st_mode & 0o777 == 0o700
    assert [(p.name, p.stat().st_mode & 0o777) for p in keys.iterdir()] == [("1", 0o600)]


def test_rotation_keeps_old_credentials_working(make_server: object) -> None:
    """Rotated by the CLI while the server runs: every row is re-encrypted with the new
    primary, the server (which loaded only the old key) still verifies signatures, and once
    the old keys are gone nothing needed them."""
    srv: Server = make_server()  # type: ignore[operator]
    token, user_id, project_id = _admin(srv)
    path = _object(srv, token, project_id)
    made = [_ec2_credential(srv, token, user_id, project_id) for _ in range(3)]
    assert all(_signed_get(srv, path, project_id, c["access"], c["secret"]) == 200
               for c in made)
    before = _stored(srv)
    out = srv.cli("credential-key", "rotate")
    assert "primary credential key is now 2; 3 secrets re-encrypted" in out.stderr
    after = _stored(srv)
    assert all(after[k] != before[k] and after[k].startswith("fernet:") for k in before)
    assert all(_signed_get(srv, path, project_id, c["access"], c["secret"]) == 200
               for c in made)
    newer = _ec2_credential(srv, token, user_id, project_id)
    out = srv.cli("credential-key", "rotate", "--keep", "1")
    assert "keys kept: 3; removed: 1, 2" in out.stderr
    keys = srv.data_dir / "credential-keys"
    assert sorted(p.name for p in keys.iterdir()) == ["3"]
    for cred in [*made, newer]:
        assert _signed_get(srv, path, project_id, cred["access"], cred["secret"]) == 200
    srv.stop()
    srv.start()  # a fresh process with only key 3
    for cred in [*made, newer]:
        assert _signed_get(srv, path, project_id, cred["access"], cred["secret"]) == 200


def test_secrets_in_clear_are_encrypted_on_start(make_server: object) -> None:
    """A row as a release without encryption wrote it (and no key repository at all, as
    after an upgrade) is encrypted by the next start, and still signs."""
    srv: Server = make_server()  # type: ignore[operator]
    token, user_id, project_id = _admin(srv)
    path = _object(srv, token, project_id)
    srv.stop()
    shutil.rmtree(srv.data_dir / "credential-keys")
    row = ("LEGACYACCESSKEY", LEGACY_SECRET, user_id, project_id, time.time())
    url = pg.metadata_env(srv.data_dir).get("STRATO_METADATA")
    if url:
        async def insert() -> None:
            conn = await asyncpg.connect(url)
            try:
                await conn.execute("INSERT INTO access_keys VALUES ($1, $2, $3, $4, $5)", *row)
            finally:
                await conn.close()
        asyncio.run(insert())
    else:
        with sqlite3.connect(srv.data_dir / "metadata.db") as conn:
            conn.execute("INSERT INTO access_keys VALUES (?, ?, ?, ?, ?)", row)
    srv.start()
    assert _stored(srv)["LEGACYACCESSKEY"].startswith("fernet:")
    assert ("secrets encrypted with the primary credential key (access-key secrets, container "
            "sync keys): 1") in srv.log_path.read_text()
    time.sleep(0.5)
    assert _appears_anywhere(srv, LEGACY_SECRET) == []
    assert _signed_get(srv, path, project_id, "LEGACYACCESSKEY", LEGACY_SECRET) == 200


def test_missing_key_repository_is_a_clear_error(make_server: object, tmp_path: Path) -> None:
    """Encrypted secrets and no keys: `strato serve` and the CLI stop with one line naming
    the directory, and create no new keys (that would lose the secrets for good); with the
    repository back, all works again."""
    srv: Server = make_server()  # type: ignore[operator]
    token, user_id, project_id = _admin(srv)
    path = _object(srv, token, project_id)
    cred = _ec2_credential(srv, token, user_id, project_id)
    srv.stop()
    keys = srv.data_dir / "credential-keys"
    aside = tmp_path / "keys-aside"
    shutil.move(keys, aside)
    run = subprocess.run(
        [sys.executable, "-m", "strato", "serve", "--data-dir", str(srv.data_dir), "--port",
         str(srv.port)], capture_output=True, text=True, timeout=120,
        env={**os.environ, **pg.metadata_env(srv.data_dir)})
    assert run.returncode == 1, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and f"no credential keys in {keys}" in lines[0], run.stderr
    assert not keys.exists()
    listed = strato("access-key", "list", "--user", "admin", data_dir=srv.data_dir, check=False)
    assert listed.returncode == 1 and "no credential keys" in listed.stderr
    assert "Traceback" not in listed.stderr
    shutil.move(aside, keys)
    srv.start()
    assert _signed_get(srv, path, project_id, cred["access"], cred["secret"]) == 200


def test_node_without_the_new_key_refuses_until_it_gets_it(make_server: object,
                                                           tmp_path: Path) -> None:
    """Another node (here, the CLI on a copy of the repository) rotates: this server cannot
    open the re-encrypted secrets, so it refuses their signatures with 401 and logs why, not
    a 500; once the new key is copied over, the next request works, with no restart."""
    srv: Server = make_server()  # type: ignore[operator]
    token, user_id, project_id = _admin(srv)
    path = _object(srv, token, project_id)
    cred = _ec2_credential(srv, token, user_id, project_id)
    assert _signed_get(srv, path, project_id, cred["access"], cred["secret"]) == 200
    other_node = tmp_path / "other-node-keys"
    shutil.copytree(srv.data_dir / "credential-keys", other_node)
    strato("credential-key", "rotate", data_dir=srv.data_dir,
           env={"STRATO_CREDENTIAL_KEY_REPOSITORY": str(other_node)})
    assert _signed_get(srv, path, project_id, cred["access"], cred["secret"]) == 401
    assert f"access key {cred['access']} refused" in srv.log_path.read_text()
    shutil.copy2(other_node / "2", srv.data_dir / "credential-keys" / "2")
    assert _signed_get(srv, path, project_id, cred["access"], cred["secret"]) == 200


SYNC_KEY = "container-sync-key-kept-sealed-0123456789"
REALM_KEY = "realm-key-for-the-sync-key-test"


def _stored_sync_key(srv: Server) -> str:
    """The X-Container-Sync-Key of container `synced`, as stored."""
    url = pg.metadata_env(srv.data_dir).get("STRATO_METADATA")
    if url:
        async def read() -> str:
            conn = await asyncpg.connect(url)
            try:
                return await conn.fetchval(  # type: ignore[no-any-return]
                    "SELECT meta FROM containers WHERE name = $1", b"synced")
            finally:
                await conn.close()
        meta = asyncio.run(read())
    else:
        with sqlite3.connect(srv.data_dir / "metadata.db") as conn:
            meta = conn.execute("SELECT meta FROM containers WHERE name = 'synced'"
                                ).fetchone()[0]
    return json.loads(meta)["x-container-sync-key"]  # type: ignore[no-any-return]


def _sync_put(srv: Server, path: str, key: str) -> int:
    """A container sync push signed with `key` (Swift's X-Container-Sync-Auth)."""
    stamp, nonce = f"{time.time():016.05f}", os.urandom(8).hex()
    message = f"PUT\n{path}\n{stamp}\n{nonce}\n{key}".encode()
    sig = hmac.new(REALM_KEY.encode(), message, hashlib.sha1).hexdigest()
    return httpx.put(srv.url + path, content=b"pushed", headers={
        "X-Timestamp": stamp, "X-Container-Sync-Auth": f"realm {nonce} {sig}"}).status_code


def test_container_sync_keys_are_sealed_and_resealed(make_server: object,
                                                     tmp_path: Path) -> None:
    """A container's sync key is kept like an access-key secret: sealed in the database,
    shown in clear to the owner, still verifying pushes after a rotation (re-encrypted with
    the new key)."""
    realms = tmp_path / "realms.conf"
    realms.write_text(f"[realm]\nkey = {REALM_KEY}\ncluster_here = http://127.0.0.1:1/v1/\n")
    srv: Server = make_server(env={  # type: ignore[operator]
        "STRATO_CONTAINER_SYNC_REALMS": str(realms)})
    token, _, project_id = _admin(srv)
    container = f"/v1/AUTH_{project_id}/synced"
    assert httpx.put(srv.url + container, headers={
        "X-Auth-Token": token, "X-Container-Sync-Key": SYNC_KEY}).status_code == 201
    time.sleep(0.5)
    assert _appears_anywhere(srv, SYNC_KEY) == []
    sealed = _stored_sync_key(srv)
    assert sealed.startswith("fernet:")
    head = httpx.head(srv.url + container, headers={"X-Auth-Token": token})
    assert head.headers["X-Container-Sync-Key"] == SYNC_KEY
    assert _sync_put(srv, f"{container}/a", SYNC_KEY) == 201
    assert _sync_put(srv, f"{container}/b", "another-key") == 401

    out = srv.cli("credential-key", "rotate")
    assert "1 secrets re-encrypted" in out.stderr
    resealed = _stored_sync_key(srv)
    assert resealed.startswith("fernet:") and resealed != sealed
    assert _sync_put(srv, f"{container}/c", SYNC_KEY) == 201  # the server reads key 2
    assert httpx.head(srv.url + container, headers={"X-Auth-Token": token}
                      ).headers["X-Container-Sync-Key"] == SYNC_KEY
    assert httpx.post(srv.url + container, headers={
        "X-Auth-Token": token, "X-Container-Sync-Key": ""}).status_code == 204
    assert "X-Container-Sync-Key" not in httpx.head(
        srv.url + container, headers={"X-Auth-Token": token}).headers
