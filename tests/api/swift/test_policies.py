"""Storage policies over HTTP: choosing one per container, where objects land, the account's
per-policy counts, /info, and copies between policies (on two filesystems when the machine
has /dev/shm)."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import swiftclient

from tests.api.swift.helpers import uniq
from tests.harness import Server

SHM = Path("/dev/shm")


def filed(text: bytes) -> bytes:
    """`text` repeated past inline_bytes, so the object gets a blob file."""
    return text * (70_000 // len(text) + 1)


def blobs(root: Path) -> set[str]:
    """Ids of the blob files under a policy's directory."""
    return {p.name for p in (root / "objects").rglob("*") if p.is_file()}


def policies_arg(silver_dir: Path, *, bronze_deprecated: bool) -> tuple[str, ...]:
    policies = [{"name": "gold", "aliases": ["yellow"], "default": True},
                {"name": "silver", "directory": str(silver_dir)},
                {"name": "bronze", "deprecated": bronze_deprecated}]
    return ("--storage-policies", json.dumps(policies))


@pytest.fixture(scope="module")
def silver_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """On another filesystem when there is one, so copies to and from it stream."""
    other = SHM.is_dir() and SHM.stat().st_dev != Path(tempfile.gettempdir()).stat().st_dev
    path = Path(tempfile.mkdtemp(dir=SHM)) if other else tmp_path_factory.mktemp("silver")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory, silver_dir: Path) -> Iterator[Server]:
    server = Server(tmp_path_factory.mktemp("policies") / "data",
                    extra_args=policies_arg(silver_dir, bronze_deprecated=True)).start()
    server.add_user("pol", "owner", "pw", role="admin")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def owner(srv: Server) -> tuple[str, str]:
    return srv.auth_v1("pol:owner", "pw")


@pytest.fixture
def client(owner: tuple[str, str]) -> Iterator[httpx.Client]:
    url, token = owner
    with httpx.Client(base_url=url + "/", headers={"X-Auth-Token": token}, timeout=30) as http:
        yield http


def swift(owner: tuple[str, str]) -> swiftclient.Connection:
    url, token = owner
    return swiftclient.Connection(preauthurl=url, preauthtoken=token, retries=0)


def fresh_account(srv: Server) -> tuple[str, str]:
    project = uniq("acct")
    srv.add_user(project, "u", "pw", role="admin")
    return srv.auth_v1(f"{project}:u", "pw")


def test_info_lists_usable_policies_in_swifts_shape(srv: Server) -> None:
    info = httpx.get(f"{srv.url}/info").json()
    assert info["swift"]["policies"] == [
        {"name": "gold", "aliases": "gold, yellow", "default": True},
        {"name": "silver", "aliases": "silver"},
    ]  # bronze is deprecated: no new containers, so clients are not offered it


def test_container_policy_is_chosen_once(client: httpx.Client) -> None:
    name = uniq()
    assert client.put(name, headers={"X-Storage-Policy": "Silver"}).status_code == 201
    assert client.head(name).headers["X-Storage-Policy"] == "silver"
    # a PUT without a policy, or naming the same one, keeps it
    assert client.put(name, headers={"X-Container-Meta-A": "1"}).status_code == 202
    assert client.put(name, headers={"X-Storage-Policy": "SILVER"}).status_code == 202
    # naming another is refused and changes nothing
    resp = client.put(name, headers={"X-Storage-Policy": "gold", "X-Container-Meta-B": "2"})
    assert resp.status_code == 409
    head = client.head(name).headers
    assert head["X-Storage-Policy"] == "silver" and head["X-Container-Meta-A"] == "1"
    assert "X-Container-Meta-B" not in head
    # a POST cannot change it either (Swift ignores the header there)
    assert client.post(name, headers={"X-Storage-Policy": "gold"}).status_code == 204
    assert client.get(name).headers["X-Storage-Policy"] == "silver"
    # once deleted, the name may come back in another policy
    assert client.delete(name).status_code == 204
    assert "X-Storage-Policy" not in client.head(name).headers
    assert client.put(name, headers={"X-Storage-Policy": "yellow"}).status_code == 201
    assert client.head(name).headers["X-Storage-Policy"] == "gold"
    plain = uniq()
    assert client.put(plain).status_code == 201
    assert client.head(plain).headers["X-Storage-Policy"] == "gold"


def test_bad_policy_names_are_refused_with_swifts_text(client: httpx.Client) -> None:
    name = uniq()
    resp = client.put(name, headers={"X-Storage-Policy": "platinum"})
    assert resp.status_code == 400 and resp.text == "Invalid X-Storage-Policy 'platinum'"
    resp = client.put(name, headers={"X-Storage-Policy": "bronze"})
    assert resp.status_code == 400 and resp.text == "Storage Policy 'bronze' is deprecated"
    assert client.head(name).status_code == 404  # nothing was created
    client.put(name)
    resp = client.put(name, headers={"X-Storage-Policy": "platinum"})
    assert resp.status_code == 400
    assert client.head(name).headers["X-Storage-Policy"] == "gold"


def test_swiftclient_sees_the_policy(owner: tuple[str, str]) -> None:
    conn, name = swift(owner), uniq()
    conn.put_container(name, headers={"X-Storage-Policy": "silver"})
    assert conn.head_container(name)["x-storage-policy"] == "silver"
    with pytest.raises(swiftclient.ClientException) as exc:
        conn.put_container(name, headers={"X-Storage-Policy": "gold"})
    assert exc.value.http_status == 409


def test_objects_land_in_their_policys_directory(srv: Server, silver_dir: Path,
                                                 client: httpx.Client) -> None:
    gold, silver = uniq(), uniq()
    client.put(gold)
    client.put(silver, headers={"X-Storage-Policy": "silver"})
    gold_before, silver_before = blobs(srv.data_dir), blobs(silver_dir)
    assert client.put(f"{gold}/o", content=filed(b"gold data")).status_code == 201
    assert client.put(f"{silver}/o", content=filed(b"silver data")).status_code == 201
    new_gold, new_silver = blobs(srv.data_dir) - gold_before, blobs(silver_dir) - silver_before
    assert len(new_gold) == 1 and len(new_silver) == 1
    assert (silver_dir / "objects" / next(iter(new_silver))[:2]).is_dir()
    assert client.get(f"{gold}/o").content == filed(b"gold data")
    assert client.get(f"{silver}/o").content == filed(b"silver data")
    # an overwrite and a delete reclaim the blob in the container's own directory
    client.put(f"{silver}/o", content=filed(b"silver again"))
    assert not new_silver & blobs(silver_dir)
    assert client.delete(f"{silver}/o").status_code == 204
    assert blobs(silver_dir) == silver_before
    assert new_gold <= blobs(srv.data_dir)


def test_account_reports_each_policy_with_containers(srv: Server) -> None:
    url, token = fresh_account(srv)
    with httpx.Client(base_url=url + "/", headers={"X-Auth-Token": token}) as http:
        head = http.head("").headers
        assert not [h for h in head if h.lower().startswith("x-account-storage-policy-")]
        http.put("g")
        http.put("s1", headers={"X-Storage-Policy": "silver"})
        http.put("s2", headers={"X-Storage-Policy": "silver"})
        http.put("g/a", content=b"12345")
        http.put("g/b", content=b"1")
        http.put("s1/c", content=b"123")
        head = http.head("").headers
        assert head["X-Account-Container-Count"] == "3"
        assert head["X-Account-Storage-Policy-Gold-Container-Count"] == "1"
        assert head["X-Account-Storage-Policy-Gold-Object-Count"] == "2"
        assert head["X-Account-Storage-Policy-Gold-Bytes-Used"] == "6"
        assert head["X-Account-Storage-Policy-Silver-Container-Count"] == "2"
        assert head["X-Account-Storage-Policy-Silver-Object-Count"] == "1"
        assert head["X-Account-Storage-Policy-Silver-Bytes-Used"] == "3"
        assert not [h for h in head if "bronze" in h.lower()]
        listing = http.get("", params={"format": "json"}).json()
        assert {e["name"]: e["storage_policy"] for e in listing} == {
            "g": "gold", "s1": "silver", "s2": "silver"}
        xml = http.get("", params={"format": "xml"}).text
        assert "<name>s2</name>" in xml and "<storage_policy>silver</storage_policy>" in xml
    conn = swiftclient.Connection(preauthurl=url, preauthtoken=token, retries=0)
    headers, _ = conn.get_account()
    assert headers["x-account-storage-policy-silver-container-count"] == "2"
    # as Swift's account database: a policy whose containers are all gone stays, at zero
    conn.delete_object("s1", "c")
    conn.delete_container("s1")
    conn.delete_container("s2")
    head = conn.head_account()
    assert [head[f"x-account-storage-policy-silver-{k}"]
            for k in ("container-count", "object-count", "bytes-used")] == ["0", "0", "0"]
    assert head["x-account-storage-policy-gold-bytes-used"] == "6"
    assert head["x-account-container-count"] == "1"


def test_copy_between_policies(srv: Server, silver_dir: Path, client: httpx.Client) -> None:
    gold, silver = uniq(), uniq()
    client.put(gold)
    client.put(silver, headers={"X-Storage-Policy": "silver"})
    data = bytes(range(256)) * 4096  # 1 MiB: several chunks when streamed
    client.put(f"{gold}/src", content=data, headers={"X-Object-Meta-K": "v"})
    silver_before = blobs(silver_dir)
    resp = client.put(f"{silver}/dst", headers={"X-Copy-From": f"{gold}/src"})
    assert resp.status_code == 201
    copied = blobs(silver_dir) - silver_before
    assert len(copied) == 1
    got = client.get(f"{silver}/dst")
    assert got.content == data and got.headers["X-Object-Meta-K"] == "v"
    gold_before = blobs(srv.data_dir)
    resp = client.request("COPY", f"{silver}/dst", headers={"Destination": f"{gold}/back"})
    assert resp.status_code == 201 and len(blobs(srv.data_dir) - gold_before) == 1
    # each copy stands alone: removing the source leaves it whole
    client.delete(f"{gold}/src")
    client.delete(f"{silver}/dst")
    assert client.get(f"{gold}/back").content == data
    assert not copied & blobs(silver_dir)


def test_slo_with_segments_in_another_policy(client: httpx.Client) -> None:
    gold, silver = uniq(), uniq()
    client.put(gold)
    client.put(silver, headers={"X-Storage-Policy": "silver"})
    parts = [b"a" * 1000, b"b" * 10]
    manifest = []
    for i, part in enumerate(parts):
        etag = client.put(f"{silver}/seg{i}", content=part).headers["Etag"]
        manifest.append({"path": f"/{silver}/seg{i}", "etag": etag, "size_bytes": len(part)})
    resp = client.put(f"{gold}/big", params={"multipart-manifest": "put"},
                      content=json.dumps(manifest))
    assert resp.status_code == 201
    assert client.get(f"{gold}/big").content == b"".join(parts)
    assert client.get(f"{gold}/big", headers={"Range": "bytes=995-1004"}).content == \
        b"aaaaabbbbb"


def test_versions_follow_the_primarys_policy(srv: Server, silver_dir: Path,
                                             client: httpx.Client) -> None:
    name = uniq()
    client.put(name, headers={"X-Storage-Policy": "silver", "X-Versions-Enabled": "true"})
    gold_before, silver_before = blobs(srv.data_dir), blobs(silver_dir)
    client.put(f"{name}/o", content=filed(b"v1"))
    client.put(f"{name}/o", content=filed(b"v2"))
    # the versions container is in silver too: every version's blob is there
    assert len(blobs(silver_dir) - silver_before) >= 2
    assert blobs(srv.data_dir) == gold_before
    versions = client.get(name, params={"versions": "", "format": "json"}).json()
    assert len(versions) == 2
    old = versions[-1]["version_id"]
    assert client.get(f"{name}/o", params={"version-id": old}).content == filed(b"v1")


def test_account_quota_per_policy_counts_that_policy_only(srv: Server) -> None:
    """A reseller's `X-Account-Quota-Bytes-Policy-<name>` (name or alias) limits uploads into
    containers of that policy only, with Swift's own message."""
    project = uniq("pq")
    srv.add_user(project, "u", "pw", role="admin")
    url, token = srv.auth_v1(f"{project}:u", "pw")
    _, admin_token = srv.auth_v1("admin:admin", srv.passwords["admin"])
    owner = swiftclient.Connection(preauthurl=url, preauthtoken=token, retries=0)
    reseller = swiftclient.Connection(preauthurl=url, preauthtoken=admin_token, retries=0)
    owner.put_container("g")
    owner.put_container("s", headers={"X-Storage-Policy": "silver"})
    owner.put_object("g", "big", b"x" * 100)
    reseller.post_account({"X-Account-Quota-Bytes-Policy-yellow": "10"})  # gold's alias
    assert owner.head_account()["x-account-quota-bytes-policy-gold"] == "10"
    owner.put_object("s", "fits", b"y" * 50)  # silver has no quota
    resp = httpx.put(f"{url}/g/more", content=b"z", headers={"X-Auth-Token": token})
    assert (resp.status_code, resp.text) == (413, "Upload exceeds policy quota.")
    reseller.post_account({"X-Account-Quota-Bytes-Policy-silver": "60"})
    owner.put_object("s", "still", b"y" * 10)
    resp = httpx.put(f"{url}/s/over", content=b"y", headers={"X-Auth-Token": token})
    assert resp.status_code == 413
    assert [o["name"] for o in owner.get_container("s")[1]] == ["fits", "still"]
