"""X-Forwarded-For (and Forwarded, X-Real-IP) name the client only when a configured proxy
sends them (issue 14): everywhere the client address is used — login lockout keys, temp URL
`temp_url_ip_range`, the access log."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.harness import Server

FORGED = {"X-Forwarded-For": "10.1.1.1", "Forwarded": "for=10.1.1.1", "X-Real-IP": "10.1.1.1"}
KEY = "proxy-test-key"


@pytest.fixture(scope="module")
def direct(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Default settings (no trusted proxies); two failed logins lock a user out."""
    srv = Server(tmp_path_factory.mktemp("direct") / "data", extra_args=(
        "--login-max-failures", "2", "--login-lockout-seconds", "60")).start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def proxied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Loopback is a trusted proxy."""
    srv = Server(tmp_path_factory.mktemp("proxied") / "data", extra_args=(
        "--trusted-proxies", "127.0.0.0/8", "--login-max-failures", "2",
        "--login-lockout-seconds", "60")).start()
    try:
        yield srv
    finally:
        srv.stop()


def login(srv: Server, password: str, headers: dict[str, str] | None = None) -> int:
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "demo", "password": password}}}}}
    return httpx.post(f"{srv.url}/identity/v3/auth/tokens", json=body, headers=headers,
                      timeout=60).status_code


def temp_url(srv: Server, ip_range: str) -> str:
    """A GET temp URL for a fresh 1-byte object, limited to `ip_range`."""
    url, token = srv.auth_v1("demo:demo", srv.passwords["demo"])
    auth = {"X-Auth-Token": token}
    httpx.put(f"{url}/tu", headers={**auth, "X-Container-Meta-Temp-URL-Key": KEY})
    httpx.put(f"{url}/tu/o", headers=auth, content=b"x").raise_for_status()
    path = url[url.index("/v1/"):] + "/tu/o"
    expires = int(time.time()) + 600
    sig = hmac.new(KEY.encode(), f"ip={ip_range}\nGET\n{expires}\n{path}".encode(),
                   hashlib.sha256).hexdigest()
    return (f"{srv.url}{path}?temp_url_sig={sig}&temp_url_expires={expires}"
            f"&temp_url_ip_range={ip_range}")


def access_clients(srv: Server, marker: str) -> set[str]:
    time.sleep(0.5)
    return {line.split("strato.access: ", 1)[1].split(" ", 1)[0]
            for line in srv.log_path.read_text(errors="replace").splitlines()
            if "strato.access" in line and marker in line}


def test_forged_headers_from_a_client_are_ignored(direct: Server) -> None:
    signed = temp_url(direct, "10.1.1.1")
    assert httpx.get(signed, headers=FORGED).status_code == 401
    assert httpx.get(signed.replace("/tu/o?", "/tu/o?marker-direct&")).status_code == 401
    assert access_clients(direct, "/healthcheck?forged") == set()
    httpx.get(f"{direct.url}/healthcheck?forged", headers=FORGED)
    assert access_clients(direct, "/healthcheck?forged") == {"127.0.0.1"}

    assert login(direct, "wrong-1") == 401
    assert login(direct, "wrong-2") == 401
    # locked out: another claimed address does not make another lockout key
    assert login(direct, direct.passwords["demo"], FORGED) == 429
    assert login(direct, direct.passwords["demo"]) == 429


def test_a_trusted_proxy_names_the_client(proxied: Server) -> None:
    signed = temp_url(proxied, "10.1.1.1")
    assert httpx.get(signed, headers={"X-Forwarded-For": "10.1.1.1"}).status_code == 200
    assert httpx.get(signed).status_code == 401  # the proxy itself is not in the range
    httpx.get(f"{proxied.url}/healthcheck?via-proxy", headers={"X-Forwarded-For": "10.1.1.1"})
    assert access_clients(proxied, "/healthcheck?via-proxy") == {"10.1.1.1"}

    one = {"X-Forwarded-For": "10.2.2.2"}
    assert login(proxied, "wrong-1", one) == 401
    assert login(proxied, "wrong-2", one) == 401
    assert login(proxied, proxied.passwords["demo"], one) == 429
    # a client behind the proxy from another address has its own lockout key
    assert login(proxied, proxied.passwords["demo"], {"X-Forwarded-For": "10.3.3.3"}) == 201
