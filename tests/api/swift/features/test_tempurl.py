"""Temp URLs made by real clients (`swift tempurl`, openstacksdk) and fetched with curl."""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import swiftclient
from swiftclient.utils import generate_temp_url

from tests import pg
from tests.harness import Server

KEY = "s3cr3t-key"
SWIFT = str(Path(sys.executable).with_name("swift"))


def swift_tempurl(*args: str) -> str:
    out = subprocess.run([SWIFT, "tempurl", *args], capture_output=True, text=True, check=True,
                         timeout=60, env={"PATH": "/usr/bin:/bin"})
    return out.stdout.strip()


def curl(url: str, *args: str) -> tuple[int, bytes, str]:
    """(status, body, raw headers) as curl sees them."""
    out = subprocess.run(["curl", "-sS", "-g", "-D", "-", *args, url], capture_output=True,
                         timeout=60, check=True).stdout
    head, _, body = out.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, body, head.decode("latin-1").lower()


@pytest.fixture(scope="module")
def site(server: Server, tester: tuple[str, str]) -> Iterator[tuple[str, str]]:
    """(account path, container) holding `o.txt`, `dir/a`, `dir/b`, `other`; container key set."""
    url, token = tester
    conn = swiftclient.Connection(preauthurl=url, preauthtoken=token, retries=0)
    container = f"tu-{uuid.uuid4().hex[:8]}"
    conn.put_container(container, headers={"X-Container-Meta-Temp-URL-Key": KEY})
    for name in ("o.txt", "dir/a", "dir/b", "other"):
        conn.put_object(container, name, f"body of {name}".encode(),
                        headers={"X-Object-Meta-Secret": "hidden",
                                 "X-Object-Meta-Public-Note": "shown"})
    yield url[url.index("/v1/"):], container


@pytest.mark.parametrize("digest", ["sha1", "sha256", "sha512"])
def test_swift_tempurl_each_digest_works_with_curl(server: Server, site: tuple[str, str],
                                                  digest: str) -> None:
    account, container = site
    path = f"{account}/{container}/o.txt"
    signed = swift_tempurl("--digest", digest, "GET", "60", path, KEY)
    status, body, head = curl(server.url + signed)
    assert (status, body) == (200, b"body of o.txt")
    assert 'attachment; filename="o.txt"' in head
    assert "x-object-meta-public-note: shown" in head and "secret" not in head
    assert curl(server.url + signed, "-I")[0] == 200  # HEAD with a GET signature
    status, body, _ = curl(server.url + signed, "-X", "DELETE")
    assert (status, body) == (401, b"401 Unauthorized: Temp URL invalid\n")
    assert curl(server.url + signed.replace("o.txt", "other"))[0] == 401
    sig_start = signed.index("temp_url_sig=") + len("temp_url_sig=")
    flipped = "0" if signed[sig_start] != "0" else "1"
    assert curl(server.url + signed[:sig_start] + flipped + signed[sig_start + 1:])[0] == 401
    assert curl(server.url + signed.replace(KEY, ""), "-X", "PUT", "-d", "x")[0] == 401


def test_url_stops_working_when_it_expires(server: Server, site: tuple[str, str]) -> None:
    account, container = site
    # signed in-process with an absolute expiry: a CLI start can take longer than a short
    # lifetime on a loaded machine (the CLI's relative form is covered below)
    expires = int(time.time()) + 5
    signed = generate_temp_url(f"{account}/{container}/o.txt", expires, KEY, "GET",
                               absolute=True)
    assert curl(server.url + signed)[0] == 200
    time.sleep(max(0.0, expires + 1.2 - time.time()))
    status, body, _ = curl(server.url + signed)
    assert (status, body) == (401, b"401 Unauthorized: Temp URL invalid\n")


def test_prefix_based_iso8601_and_ip_range(server: Server, site: tuple[str, str]) -> None:
    account, container = site
    signed = swift_tempurl("--prefix-based", "GET", "60", f"{account}/{container}/dir/", KEY)
    assert "temp_url_prefix=dir" in signed
    for name in ("dir/a", "dir/b"):
        status, body, _ = curl(server.url + signed.replace("/dir/?", f"/{name}?"))
        assert (status, body) == (200, f"body of {name}".encode())
    assert curl(server.url + signed.replace("/dir/?", "/other?"))[0] == 401

    iso = swift_tempurl("--iso8601", "GET", "60", f"{account}/{container}/o.txt", KEY)
    assert "temp_url_expires=20" in iso and "Z" in iso
    assert curl(server.url + iso)[0] == 200

    local = swift_tempurl("--ip-range", "127.0.0.1", "GET", "60",
                          f"{account}/{container}/o.txt", KEY)
    assert curl(server.url + local)[0] == 200
    # the same signer as the CLI, in-process (each CLI start costs a second or two)
    network = generate_temp_url(f"{account}/{container}/o.txt", 60, KEY, "GET",
                                ip_range="127.0.0.0/8")
    assert curl(server.url + network)[0] == 200
    elsewhere = generate_temp_url(f"{account}/{container}/o.txt", 60, KEY, "GET",
                                  ip_range="10.0.0.0/8")
    assert curl(server.url + elsewhere)[0] == 401
    # the range is signed: widening it in the URL breaks the signature
    assert curl(server.url + elsewhere.replace("10.0.0.0/8", "0.0.0.0/0"))[0] == 401


def test_put_filename_inline_and_disallowed_headers(server: Server, tester: tuple[str, str],
                                                   site: tuple[str, str]) -> None:
    account, container = site
    url, token = tester
    put = swift_tempurl("PUT", "60", f"{account}/{container}/uploaded.bin", KEY)
    assert curl(server.url + put, "-X", "PUT", "--data-binary", "uploaded!")[0] == 201
    conn = swiftclient.Connection(preauthurl=url, preauthtoken=token, retries=0)
    assert conn.get_object(container, "uploaded.bin")[1] == b"uploaded!"
    status, body, _ = curl(server.url + put, "-X", "PUT", "--data-binary", "",
                           "-H", f"X-Object-Manifest: {container}/dir/")
    assert status == 400 and b"X-Object-Manifest" in body
    assert "x-object-manifest" not in conn.head_object(container, "uploaded.bin")

    get = swift_tempurl("GET", "60", f"{account}/{container}/o.txt", KEY)
    head = curl(server.url + get + "&filename=report%20final.txt")[2]
    assert ('content-disposition: attachment; filename="report final.txt"; '
            "filename*=utf-8''report%20final.txt") in head
    assert "content-disposition: inline\r" in curl(server.url + get + "&inline")[2]


def test_keys_hidden_from_non_owners_and_info_advertises(
        server: Server, tester: tuple[str, str], site: tuple[str, str]) -> None:
    _, container = site
    url, token = tester
    reader = f"tu3-{uuid.uuid4().hex[:6]}"
    server.add_user("test", reader, "pw", role="reader")
    _, reader_token = server.auth_v1(f"test:{reader}", "pw")
    conn = swiftclient.Connection(preauthurl=url, preauthtoken=token, retries=0)
    conn.post_container(container, {"X-Container-Read": f"test:{reader}"})
    seen = swiftclient.Connection(preauthurl=url, preauthtoken=reader_token,
                                  retries=0).head_container(container)
    assert "x-container-meta-temp-url-key" not in seen
    assert conn.head_container(container)["x-container-meta-temp-url-key"] == KEY
    info = httpx.get(f"{server.url}/info").json()["tempurl"]
    assert info["methods"] == ["GET", "HEAD", "PUT", "POST", "DELETE"]
    assert set(info["allowed_digests"]) == {"sha1", "sha256", "sha512"}
    assert info["outgoing_allow_headers"] == ["x-object-meta-public-*"]


@pytest.fixture(scope="module")
def own_account(server: Server) -> tuple[str, str, str]:
    """(storage URL, token, user) of a fresh project, for account-wide keys and access keys."""
    name = f"tu{uuid.uuid4().hex[:6]}"
    server.add_user(name, name, "pw", role="admin")
    url, token = server.auth_v1(f"{name}:{name}", "pw")
    return url, token, name


def test_openstacksdk_sha1_temp_url_with_account_key(server: Server,
                                                    own_account: tuple[str, str, str]) -> None:
    import openstack

    url, token, _ = own_account
    conn = openstack.connect(auth_type="admin_token", auth={"endpoint": url, "token": token},
                             load_yaml_config=False, load_envvars=False)
    conn.object_store.set_account_temp_url_key("account-key")
    conn.object_store.create_container("sdk")
    conn.object_store.upload_object(container="sdk", name="f.txt", data=b"from the sdk")
    path = url[url.index("/v1/"):] + "/sdk/f.txt"
    signed = conn.object_store.generate_temp_url(path, 60, "GET")
    assert "temp_url_sig=" in signed and len(signed.split("temp_url_sig=")[1][:40]) == 40
    status, body, _ = curl(server.url + signed)
    assert (status, body) == (200, b"from the sdk")
    conn.object_store.set_account_temp_url_key("rotated")
    assert curl(server.url + signed)[0] == 401


def hp_sig(key_id: str, secret: str, project_id: str, method: str, expires: int,
           path: str) -> str:
    mac = hmac.new(secret.encode(), f"{method}\n{expires}\n{path}".encode(), hashlib.sha1)
    return f"{project_id}:{key_id}:{mac.hexdigest()}"


def test_hp_cloud_style_signature_with_access_key(server: Server,
                                                 own_account: tuple[str, str, str]) -> None:
    url, token, user = own_account
    conn = swiftclient.Connection(preauthurl=url, preauthtoken=token, retries=0)
    conn.put_container("hp")
    conn.put_object("hp", "doc.txt", b"hp style")
    created = json.loads(server.cli("access-key", "create", "--user", user, "--json").stdout)
    project_id = url.rsplit("AUTH_", 1)[1]
    assert created["project_id"] == project_id
    listed = server.cli("access-key", "list", "--user", user).stdout
    assert created["id"] in listed and created["secret"] not in listed
    path = url[url.index("/v1/"):] + "/hp/doc.txt"
    expires = int(time.time()) + 60
    sig = hp_sig(created["id"], created["secret"], project_id, "GET", expires, path)
    good = f"{server.url}{path}?temp_url_sig={sig}&temp_url_expires={expires}"
    assert curl(good)[:2] == (200, b"hp style")
    wrong_secret = hp_sig(created["id"], "nope", project_id, "GET", expires, path)
    assert curl(good.replace(sig, wrong_secret))[0] == 401
    assert curl(good, "-X", "DELETE")[0] == 401
    assert curl(good.replace(f"{project_id}:", "someoneelse:"))[0] == 401
    server.cli("access-key", "delete", "--user", user, "--id", created["id"])
    assert curl(good)[0] == 401


def test_metadata_database_is_private(server: Server) -> None:
    """It holds temp URL keys and access-key secrets as is, so only the owner may read it."""
    paths = list(server.data_dir.glob("metadata.db*"))
    # on PostgreSQL there is no such file; on SQLite a loop over nothing proved nothing
    assert (server.data_dir / "metadata.db" in paths) != bool(pg.SERVER_METADATA), paths
    for path in paths:
        assert path.stat().st_mode & 0o077 == 0, path


def test_copies_stay_within_the_key_scope(server: Server, tester: tuple[str, str],
                                          site: tuple[str, str]) -> None:
    """A container key's PUT URL cannot copy from another container (or account)."""
    account, container = site
    url, token = tester
    conn = swiftclient.Connection(preauthurl=url, preauthtoken=token, retries=0)
    private = f"tu-priv-{uuid.uuid4().hex[:6]}"
    conn.put_container(private)
    conn.put_object(private, "secret", b"private data")
    put = generate_temp_url(f"{account}/{container}/stolen", 60, KEY, "PUT")
    status, _, _ = curl(server.url + put, "-X", "PUT", "--data-binary", "",
                        "-H", f"X-Copy-From: {private}/secret")
    assert status == 401
    status, _, _ = curl(server.url + put, "-X", "PUT", "--data-binary", "",
                        "-H", f"X-Copy-From: {container}/o.txt")
    assert status == 201
    assert conn.get_object(container, "stolen")[1] == b"body of o.txt"
    head = curl(server.url + generate_temp_url(f"{account}/{container}/o.txt", 60, KEY, "GET"),
                "-I")[2]
    assert "expires: " in head and 'content-disposition: attachment; filename="o.txt"' in head


def test_link_followed_within_the_key_scope(server: Server) -> None:
    """A temp URL to a symlink reaches its target wherever the key reaches: an account key
    anywhere in its account, a container key only inside its container (as in Swift, where
    the key's scope is checked again on the target's path)."""
    name = f"tl{uuid.uuid4().hex[:6]}"
    server.add_user(name, name, "pw", role="admin")
    url, token = server.auth_v1(f"{name}:{name}", "pw")
    conn = swiftclient.Connection(preauthurl=url, preauthtoken=token, retries=0)
    conn.post_account({"X-Account-Meta-Temp-URL-Key": "account-key"})
    conn.put_container("targets")
    conn.put_object("targets", "t.txt", b"target object body")
    conn.put_container("links", headers={"X-Container-Meta-Temp-URL-Key": "container-key"})
    conn.put_object("links", "away", b"", headers={"X-Symlink-Target": "targets/t.txt"})
    path = f"{url[url.index('/v1/'):]}/links/away"
    status, body, _ = curl(server.url + generate_temp_url(path, 60, "account-key", "GET"))
    assert (status, body) == (200, b"target object body")
    for method, args in (("GET", ()), ("HEAD", ("-I",))):
        signed = generate_temp_url(path, 60, "container-key", method)
        assert curl(server.url + signed, *args)[0] == 401
    # inside its container a container key follows links as well
    conn.put_object("links", "t2.txt", b"near body")
    conn.put_object("links", "near", b"", headers={"X-Symlink-Target": "links/t2.txt"})
    near = generate_temp_url(f"{url[url.index('/v1/'):]}/links/near", 60, "container-key",
                             "GET")
    assert curl(server.url + near)[:2] == (200, b"near body")


def test_expiry_past_year_9999_is_refused_not_500(server: Server, site: tuple[str, str]) -> None:
    """An expiry the Expires header cannot carry (an HTTP date has a 4-digit year) is one the
    server cannot represent: refused as invalid (401), like any expiry Swift cannot parse.
    Found by hand (issue 14): 253402300800 answered 500."""
    account, container = site
    path = f"{account}/{container}/o.txt"
    last = 253402300799  # 9999-12-31T23:59:59Z
    for expires, status in ((last, 200), (last + 1, 401), (10**30, 401)):
        sig = hmac.new(KEY.encode(), f"GET\n{expires}\n{path}".encode(),
                       hashlib.sha256).hexdigest()
        resp = httpx.get(f"{server.url}{path}",
                         params={"temp_url_sig": sig, "temp_url_expires": str(expires)})
        assert resp.status_code == status, (expires, resp.text)
        if status == 200:
            assert resp.headers["Expires"] == "Fri, 31 Dec 9999 23:59:59 GMT"
