"""CORS as a browser exercises it: preflight OPTIONS, then the actual request with Origin."""

from __future__ import annotations

import uuid

import httpx
import pytest
import swiftclient

from tests.harness import Server

ORIGIN = "https://app.example.com"


@pytest.fixture(scope="module")
def cors_container(tester: tuple[str, str]) -> tuple[str, str]:
    url, token = tester
    conn = swiftclient.Connection(preauthurl=url, preauthtoken=token, retries=0)
    container = f"cors-{uuid.uuid4().hex[:8]}"
    conn.put_container(container, headers={
        "X-Container-Meta-Access-Control-Allow-Origin": f"{ORIGIN} https://other.example.com",
        "X-Container-Meta-Access-Control-Max-Age": "600",
        "X-Container-Meta-Access-Control-Expose-Headers": "X-Custom-Thing"})
    conn.put_object(container, "o", b"cors body", headers={"X-Object-Meta-Color": "blue"})
    return f"{url}/{container}", token


def test_preflight_allowed_and_refused(server: Server, cors_container: tuple[str, str]) -> None:
    url, _ = cors_container
    resp = httpx.options(f"{url}/o", headers={
        "Origin": ORIGIN, "Access-Control-Request-Method": "PUT",
        "Access-Control-Request-Headers": "x-auth-token, content-type"})
    assert resp.status_code == 200
    assert resp.headers["access-control-allow-origin"] == ORIGIN
    assert resp.headers["access-control-max-age"] == "600"
    assert "PUT" in resp.headers["access-control-allow-methods"].split(", ")
    assert resp.headers["access-control-allow-headers"] == "x-auth-token, content-type"
    assert "Origin" in resp.headers["vary"]

    for headers in ({"Origin": "https://evil.example.com",
                     "Access-Control-Request-Method": "GET"},
                    {"Origin": ORIGIN, "Access-Control-Request-Method": "BREW"}):
        resp = httpx.options(f"{url}/o", headers=headers)
        assert resp.status_code == 401
        assert "access-control-allow-origin" not in resp.headers

    plain = httpx.options(f"{url}/o")
    assert plain.status_code == 200 and "GET" in plain.headers["allow"]
    missing = httpx.options(f"{url}-missing/o", headers={
        "Origin": ORIGIN, "Access-Control-Request-Method": "GET"})
    assert missing.status_code == 401


def test_actual_request_headers(server: Server, cors_container: tuple[str, str]) -> None:
    url, token = cors_container
    resp = httpx.get(f"{url}/o", headers={"Origin": ORIGIN, "X-Auth-Token": token})
    assert resp.status_code == 200 and resp.content == b"cors body"
    assert resp.headers["access-control-allow-origin"] == ORIGIN
    exposed = resp.headers["access-control-expose-headers"].split(", ")
    assert {"etag", "x-timestamp", "x-trans-id", "x-object-meta-color",
            "x-custom-thing"} <= set(exposed)
    # errors from the object layer carry the headers too, so the browser can read them
    missing = httpx.get(f"{url}/nope", headers={"Origin": ORIGIN, "X-Auth-Token": token})
    assert missing.status_code == 404
    assert missing.headers["access-control-allow-origin"] == ORIGIN
    # strict_cors_mode: an origin the container does not list gets no CORS headers
    other = httpx.get(f"{url}/o", headers={"Origin": "https://evil.example.com",
                                           "X-Auth-Token": token})
    assert other.status_code == 200 and "access-control-allow-origin" not in other.headers


def test_wildcard_origin(server: Server, tester: tuple[str, str]) -> None:
    url, token = tester
    conn = swiftclient.Connection(preauthurl=url, preauthtoken=token, retries=0)
    container = f"cors-{uuid.uuid4().hex[:8]}"
    conn.put_container(container, headers={
        "X-Container-Meta-Access-Control-Allow-Origin": "*", "X-Container-Read": ".r:*"})
    conn.put_object(container, "pub", b"public")
    resp = httpx.get(f"{url}/{container}/pub", headers={"Origin": "https://any.where"})
    assert resp.status_code == 200 and resp.headers["access-control-allow-origin"] == "*"
    pre = httpx.options(f"{url}/{container}", headers={
        "Origin": "https://any.where", "Access-Control-Request-Method": "GET"})
    assert pre.status_code == 200 and pre.headers["access-control-allow-origin"] == "*"
