"""`GET /info` with real limits, `/healthcheck`, and transaction ids on every response."""

from __future__ import annotations

import httpx
import swiftclient

import strato
from tests.harness import Server


def test_info_has_real_limits(server: Server) -> None:
    resp = httpx.get(server.url + "/info")
    assert resp.status_code == 200
    swift = resp.json()["swift"]
    assert swift["max_file_size"] == 5 * 1024**3 + 2
    assert swift["max_object_name_length"] == 1024
    assert swift["max_container_name_length"] == 256
    assert swift["container_listing_limit"] == 10000
    assert swift["max_meta_count"] == 90
    assert swift["max_meta_value_length"] == 256
    assert swift["max_meta_name_length"] == 128
    assert swift["max_meta_overall_size"] == 4096


def test_info_version_is_a_swift_release_number(server: Server) -> None:
    """Clients split `swift.version` into integers; Strato's own version has its own key."""
    info = httpx.get(server.url + "/info").json()
    assert [int(part) for part in info["swift"]["version"].split(".")] >= [2, 38]
    assert info["strato"]["version"] == strato.__version__


def test_info_via_swiftclient(server: Server) -> None:
    info = swiftclient.Connection(server.url + "/auth/v1.0", "test:tester", "testing",
                                  retries=0).get_capabilities(server.url + "/info")
    assert "swift" in info


def test_info_rejects_writes(server: Server) -> None:
    assert httpx.post(server.url + "/info").status_code == 405
    options = httpx.options(server.url + "/info")  # as Swift's info controller, no token needed
    assert (options.status_code, options.headers["Allow"]) == (200, "HEAD, GET, OPTIONS")


def test_healthcheck(server: Server) -> None:
    resp = httpx.get(server.url + "/healthcheck")
    assert resp.status_code == 200 and resp.text == "OK"


def test_trans_id_on_every_response(server: Server, tester: tuple[str, str]) -> None:
    url, token = tester
    responses = [
        httpx.get(server.url + "/info"),
        httpx.get(server.url + "/healthcheck"),
        httpx.get(server.url + "/nothing-here"),
        httpx.get(server.url + "/auth/v1.0", headers={"X-Auth-User": "x:y", "X-Auth-Key": "z"}),
        httpx.get(url),
        httpx.get(url, headers={"X-Auth-Token": token}),
        httpx.get(url + "/missing", headers={"X-Auth-Token": token}),
        httpx.get(server.url + "/v1/AUTH_x/%FF", headers={"X-Auth-Token": token}),
        httpx.get(url, headers={"X-Auth-Token": token, **{f"X-H{i}": "v" for i in range(120)}}),
    ]
    ids = set()
    for resp in responses:
        trans = resp.headers.get("X-Trans-Id")
        assert trans and trans.startswith("tx"), resp
        assert resp.headers["X-Openstack-Request-Id"] == trans
        ids.add(trans)
    assert len(ids) == len(responses)


def test_crossdomain_policy_is_served_only_when_configured(make_server: object) -> None:
    policy = '<allow-access-from domain="*.example.com" secure="true" />'
    srv: Server = make_server(extra_args=("--crossdomain-policy", policy))  # type: ignore[operator]
    resp = httpx.get(srv.url + "/crossdomain.xml")
    assert resp.status_code == 200 and resp.headers["Content-Type"] == "application/xml"
    assert resp.text == (
        '<?xml version="1.0"?>\n<!DOCTYPE cross-domain-policy SYSTEM '
        '"http://www.adobe.com/xml/dtds/cross-domain-policy.dtd" >\n'
        f"<cross-domain-policy>\n{policy}\n</cross-domain-policy>")
    assert httpx.get(srv.url + "/info").json()["crossdomain"] == {}
    assert httpx.post(srv.url + "/crossdomain.xml").status_code == 412


def test_crossdomain_is_off_by_default(server: Server) -> None:
    assert httpx.get(server.url + "/crossdomain.xml").status_code == 412
    info = httpx.get(server.url + "/info").json()
    assert "crossdomain" not in info and info["swift"]["allow_open_expired"] is False
