"""`strato serve --tls-cert --tls-key`: HTTPS with a certificate made at test time, driven by
the real clients that verify it against its CA (python-swiftclient, openstacksdk, the Strato
SDK and CLI), the URLs the server hands out, the protocol versions and ciphers it refuses,
and a plain-HTTP request on the TLS port."""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import ssl
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import openstack
import pytest
import swiftclient
from keystoneauth1.exceptions import ClientException as KeystoneError
from swiftclient.exceptions import ClientException

import strato.client as sc
from tests.harness import Server
from tests.tls import Certs, make_certs


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory, certs: Certs) -> Iterator[Server]:
    """Two workers serving HTTPS; the certificate comes from STRATO_* variables (the flags and
    the config file are tried by the tests that start servers of their own)."""
    srv = Server(tmp_path_factory.mktemp("tls-data") / "data", workers=2, cacert=certs.ca,
                 env={"STRATO_TLS_CERT": str(certs.cert), "STRATO_TLS_KEY": str(certs.key)})
    srv.start()
    srv.add_user("tls", "alice", "alice-secret", role="member")
    try:
        yield srv
    finally:
        srv.stop()


def _clean_os_env(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    for name in list(os.environ):
        if name.startswith(("OS_", "ST_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))


def test_urls_handed_out_are_https(tls_server: Server) -> None:
    """Swift v1.0 auth's storage URL and every Keystone catalog endpoint use https, so a
    client that logs in over TLS never falls back to plain HTTP."""
    storage_url, _ = tls_server.auth_v1("tls:alice", "alice-secret")
    assert storage_url.startswith(f"https://127.0.0.1:{tls_server.port}/v1/AUTH_")
    resp = httpx.post(f"{tls_server.url}/identity/v3/auth/tokens", verify=tls_server.verify,
                      json={"auth": {"identity": {"methods": ["password"], "password": {
                          "user": {"name": "alice", "domain": {"id": "default"},
                                   "password": "alice-secret"}}},
                          "scope": {"project": {"name": "tls", "domain": {"id": "default"}}}}})
    assert resp.status_code == 201
    urls = [e["url"] for s in resp.json()["token"]["catalog"] for e in s["endpoints"]]
    assert urls and all(u.startswith(f"https://127.0.0.1:{tls_server.port}/") for u in urls)
    versions = httpx.get(f"{tls_server.url}/identity", verify=tls_server.verify)
    hrefs = [link["href"] for v in versions.json()["versions"]["values"] for link in v["links"]]
    assert hrefs and all(h.startswith("https://") for h in hrefs)


def test_swiftclient_verifies_with_the_ca(tls_server: Server, certs: Certs) -> None:
    """python-swiftclient with `cacert` (its --os-cacert) round-trips an object larger than
    the socket buffers (sent through TLS, not sendfile); without the CA it refuses the
    server."""
    conn = swiftclient.Connection(authurl=f"{tls_server.url}/auth/v1.0", user="tls:alice",
                                  key="alice-secret", cacert=str(certs.ca), retries=0)
    container = f"tls-{uuid.uuid4().hex[:8]}"
    data = os.urandom(3 * 1024 * 1024 + 17)
    conn.put_container(container)
    etag = conn.put_object(container, "big", data)
    assert etag == hashlib.md5(data).hexdigest()
    headers, body = conn.get_object(container, "big")
    assert body == data and headers["etag"] == etag
    _, ranged = conn.get_object(container, "big", headers={"Range": "bytes=1000-1999"})
    assert ranged == data[1000:2000]
    untrusting = swiftclient.Connection(authurl=f"{tls_server.url}/auth/v1.0",
                                        user="tls:alice", key="alice-secret", retries=0)
    with pytest.raises((ClientException, OSError)) as refused:
        untrusting.head_account()
    assert "CERTIFICATE_VERIFY_FAILED" in str(refused.value)


def test_swift_cli_with_os_cacert(tls_server: Server, certs: Certs) -> None:
    """The `swift` command with --os-cacert, as an operator would type it."""
    swift = str(Path(sys.executable).parent / "swift")
    base = [swift, "-A", f"{tls_server.url}/auth/v1.0", "-U", "tls:alice", "-K",
            "alice-secret"]
    ok = subprocess.run([*base, "--os-cacert", str(certs.ca), "stat"], capture_output=True,
                        text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    assert "Account: AUTH_" in ok.stdout
    refused = subprocess.run([*base, "stat"], capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0
    assert "CERTIFICATE_VERIFY_FAILED" in refused.stderr


def test_openstacksdk_with_cacert_in_clouds_yaml(tls_server: Server, certs: Certs,
                                                 tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """`strato cloud-config --cacert` writes the CA into clouds.yaml; openstacksdk verifies
    the identity and object-store endpoints with it."""
    _clean_os_env(monkeypatch, tmp_path)
    out = tls_server.cli("cloud-config", "--user", "alice", "--project", "tls", "--password",
                         "alice-secret", "--url", tls_server.url, "--cacert", str(certs.ca))
    assert f'cacert: "{certs.ca}"' in out.stdout
    clouds = tmp_path / "clouds.yaml"
    clouds.write_text(out.stdout)
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(clouds))
    conn = openstack.connect(cloud="strato")
    assert conn.object_store.get_endpoint().startswith("https://")
    container = f"sdk-tls-{uuid.uuid4().hex[:8]}"
    conn.object_store.create_container(name=container)
    conn.object_store.upload_object(container=container, name="a.txt", data=b"over tls")
    assert conn.object_store.download_object("a.txt", container=container) == b"over tls"
    clouds.write_text(out.stdout.replace(f'    cacert: "{certs.ca}"\n', ""))
    with pytest.raises((openstack.exceptions.SDKException, KeystoneError)) as refused:
        openstack.connect(cloud="strato").object_store.get_account_metadata()
    assert "CERTIFICATE_VERIFY_FAILED" in str(refused.value)


def test_strato_sdk_and_cli_with_cacert(tls_server: Server, certs: Certs, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The Strato SDK verifies against `cacert` (clouds.yaml) or OS_CACERT, the `strato`
    client CLI against --os-cacert; with neither it refuses the server."""
    _clean_os_env(monkeypatch, tmp_path)
    login = {"auth_url": f"{tls_server.url}/identity", "username": "alice",
             "password": "alice-secret", "project_name": "tls",
             "user_domain_name": "Default", "project_domain_name": "Default"}
    name = f"sc-tls-{uuid.uuid4().hex[:8]}"

    async def round_trip(**extra: str) -> bytes:
        async with sc.connect(**login, **extra) as cloud:
            await cloud.objects.create_container(name)
            await cloud.objects.put(name, "o", b"sdk over tls")
            _, body = await cloud.objects.get(name, "o")
            return body

    assert asyncio.run(round_trip(cacert=str(certs.ca))) == b"sdk over tls"
    with pytest.raises(sc.errors.ClientError) as refused:
        asyncio.run(round_trip())
    assert "certificate" in str(refused.value).lower()
    env = {**os.environ, "OS_AUTH_URL": login["auth_url"], "OS_USERNAME": "alice",
           "OS_PASSWORD": "alice-secret", "OS_PROJECT_NAME": "tls",
           "OS_USER_DOMAIN_NAME": "Default", "OS_PROJECT_DOMAIN_NAME": "Default"}

    def strato_list(*flags: str, **more: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "strato", "list", name, *flags],
                              capture_output=True, text=True, timeout=60,
                              env={**env, **more})

    by_env = strato_list(OS_CACERT=str(certs.ca))
    assert by_env.returncode == 0, by_env.stderr
    assert by_env.stdout.split() == ["o"]
    by_flag = strato_list("--os-cacert", str(certs.ca))
    assert by_flag.returncode == 0, by_flag.stderr
    assert by_flag.stdout.split() == ["o"]
    refused_cli = strato_list()
    assert refused_cli.returncode != 0
    assert "certificate" in refused_cli.stderr.lower()
    assert "Traceback" not in refused_cli.stderr


#: The `strato` CLI with a stand-in for the system's CA directory (argv[1]), since a test
#: may not add its CA to the real one.
WITH_SYSTEM_CA_DIRECTORY = """
import atexit, os, ssl, sys
paths = ssl.get_default_verify_paths()
atexit.register(lambda: print("CAs loaded:", sys.modules["aiohttp.connector"]
                              ._SSL_CONTEXT_VERIFIED.cert_store_stats()["x509_ca"]))
stand_in = sys.argv.pop(1)
ssl.get_default_verify_paths = lambda: paths._replace(openssl_capath=stand_in)
from strato.cli import main
main()
"""


def test_strato_cli_verifies_through_the_system_ca_directory(
        tls_server: Server, certs: Certs, tmp_path: Path) -> None:
    """The CLI imports its HTTP client with only the system's hashed CA directory in view
    (loading the whole CA bundle cost 40 ms of every start): a server whose CA is there is
    trusted, one whose CA is not is refused, as with the bundle."""
    name = f"sc-dir-{uuid.uuid4().hex[:8]}"
    storage_url, token = tls_server.auth_v1("tls:alice", "alice-secret")
    assert httpx.put(f"{storage_url}/{name}", headers={"X-Auth-Token": token},
                     verify=str(certs.ca)).status_code == 201
    trusted, other = tmp_path / "trusted", tmp_path / "other"
    for directory, pem in ((trusted, certs.ca.read_bytes()),
                           (other, next(Path("/etc/ssl/certs").glob("*.0")).read_bytes())):
        directory.mkdir()
        (directory / "ca.pem").write_bytes(pem)
        subprocess.run(["openssl", "rehash", str(directory)], check=True)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OS_", "ST_", "SSL_CERT_"))}

    def strato_list(directory: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", WITH_SYSTEM_CA_DIRECTORY, str(directory), "list", name,
             "--os-storage-url", storage_url, "--os-auth-token", token],
            capture_output=True, text=True, timeout=60,
            env={**env, "SSL_CERT_DIR": str(directory)})

    listed = strato_list(trusted)
    assert listed.returncode == 0, listed.stderr
    # the one certificate the handshake looked up, not the system bundle's hundred and more
    assert listed.stdout == "CAs loaded: 1\n"
    refused = strato_list(other)
    assert refused.returncode != 0 and "certificate" in refused.stderr.lower()


def _handshake(port: int, ctx: ssl.SSLContext) -> str:
    """The TLS version negotiated with the server, or raises ssl.SSLError."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
            ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        return str(tls.version())


def test_old_protocols_and_weak_ciphers_refused(tls_server: Server, certs: Certs) -> None:
    """TLS 1.3 and 1.2 with an AEAD suite are accepted; TLS 1.0/1.1, and TLS 1.2 with
    CBC-SHA1, RSA key exchange or NULL ciphers, fail the handshake (the client is told to
    allow them all, so only the server's refusal stops it)."""
    good = ssl.create_default_context(cafile=certs.ca)
    assert _handshake(tls_server.port, good) == "TLSv1.3"
    good.maximum_version = ssl.TLSVersion.TLSv1_2
    assert _handshake(tls_server.port, good) == "TLSv1.2"
    for low, high, ciphers in (
            (ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1, "ALL:@SECLEVEL=0"),
            (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_2,
             "ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA:AES128-SHA:AES256-SHA:"
             "AES128-GCM-SHA256:ECDHE-ECDSA-AES128-SHA256:@SECLEVEL=0"),
            (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_2, "eNULL:aNULL:@SECLEVEL=0")):
        weak = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        weak.load_verify_locations(certs.ca)
        weak.set_ciphers(ciphers)
        weak.minimum_version, weak.maximum_version = low, high
        with pytest.raises((ssl.SSLError, ConnectionResetError)):
            _handshake(tls_server.port, weak)


def test_plain_http_on_the_tls_port_fails_cleanly(tls_server: Server) -> None:
    """A plain-HTTP request gets no HTTP answer (nothing is served unencrypted) and the
    connection closes at once; the server goes on serving HTTPS."""
    with socket.create_connection(("127.0.0.1", tls_server.port), timeout=10) as sock:
        sock.sendall(b"GET /healthcheck HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        received = b""
        while chunk := sock.recv(4096):
            received += chunk
    assert not received.startswith(b"HTTP/")
    assert b"OK" not in received
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{tls_server.port}/healthcheck", timeout=10)
    assert httpx.get(f"{tls_server.url}/healthcheck",
                     verify=tls_server.verify).status_code == 200


def test_tls_from_config_file_and_bad_files(tmp_path: Path, certs: Certs) -> None:
    """tls_cert/tls_key from the TOML config; a missing or mismatched file, or a key without
    a certificate, stops `strato serve` with one line before anything is served."""
    config = tmp_path / "strato.toml"
    config.write_text(f'tls_cert = "{certs.cert}"\ntls_key = "{certs.key}"\n')
    srv = Server(tmp_path / "data", cacert=certs.ca, extra_args=("--config", str(config)))
    srv.start()
    try:
        assert srv.url.startswith("https://")
        storage_url, _ = srv.auth_v1("admin:admin", srv.passwords["admin"])
        assert storage_url.startswith("https://")
    finally:
        srv.stop()
    other = make_certs(tmp_path / "other")
    base = [sys.executable, "-m", "strato", "serve", "--data-dir", str(tmp_path / "data"),
            "--port", "1"]
    for args, expected in (
            (["--tls-cert", str(tmp_path / "nope.pem")], "nope.pem not found"),
            (["--tls-cert", str(certs.cert), "--tls-key", str(other.key)],
             "must be PEM files, the key unencrypted and matching the certificate"),
            (["--tls-key", str(certs.key)], "tls_key is set without tls_cert")):
        run = subprocess.run([*base, *args], capture_output=True, text=True, timeout=60,
                             env={**os.environ, "STRATO_METADATA": ""})
        assert run.returncode == 1, run.stderr
        lines = run.stderr.strip().splitlines()
        assert len(lines) == 1 and expected in lines[0], run.stderr
