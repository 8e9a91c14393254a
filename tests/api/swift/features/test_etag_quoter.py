"""etag_quoter: RFC 7232 quoted object ETags, per account or container, as Swift's."""

from __future__ import annotations

import hashlib

import httpx

from tests.api.swift.helpers import new_container, raw
from tests.harness import Server

BARE = hashlib.md5(b"test").hexdigest()


def test_account_and_container_settings_quote_object_etags(make_server: object) -> None:
    """The order Swift's functional test walks: container on, account on with the container
    unset, container off beats the account; the settings read back under their names."""
    srv: Server = make_server(extra_args=("--etag-quoter",))  # type: ignore[operator]
    srv.add_user("test", "tester", "testing", role="admin")
    tester = srv.auth_v1("test:tester", "testing")
    info = httpx.get(srv.url + "/info").json()
    assert info["etag_quoter"] == {"enable_by_default": False}
    name = new_container(tester)
    with raw(tester) as http:
        put = http.put(f"{name}/o", content=b"test")
        assert put.headers["Etag"] == BARE

        def etag() -> str:
            return http.head(f"{name}/o").headers["Etag"]

        assert etag() == BARE
        assert http.post(name, headers={"X-Container-Rfc-Compliant-Etags": "t"}
                         ).status_code == 204
        assert http.head(name).headers["X-Container-Rfc-Compliant-Etags"] == "True"
        assert etag() == f'"{BARE}"'
        assert http.get(f"{name}/o").headers["Etag"] == f'"{BARE}"'
        assert http.put(f"{name}/p", content=b"test").headers["Etag"] == f'"{BARE}"'
        assert http.get(name, params={"format": "json"}).json()[0]["hash"] == BARE
        assert http.post("", headers={"X-Account-Rfc-Compliant-Etags": "t"}).status_code == 204
        assert http.head("").headers["X-Account-Rfc-Compliant-Etags"] == "True"
        assert http.post(name, headers={"X-Container-Rfc-Compliant-Etags": ""}
                         ).status_code == 204
        assert "X-Container-Rfc-Compliant-Etags" not in http.head(name).headers
        assert etag() == f'"{BARE}"'
        http.post(name, headers={"X-Container-Rfc-Compliant-Etags": "f"})
        assert etag() == BARE
        http.post("", headers={"X-Remove-Account-Rfc-Compliant-Etags": "x"})
        assert "X-Account-Rfc-Compliant-Etags" not in http.head("").headers
        # a client cannot reach the system metadata behind the setting directly
        http.post(name, headers={"X-Remove-Container-Rfc-Compliant-Etags": "x"})
        http.post(name, headers={"X-Container-Sysmeta-Rfc-Compliant-Etags": "True"})
        assert "X-Container-Rfc-Compliant-Etags" not in http.head(name).headers
        assert etag() == BARE


def test_quoted_by_default_and_turned_off(make_server: object) -> None:
    srv: Server = make_server(  # type: ignore[operator]
        extra_args=("--etag-quoter", "--etag-quoter-by-default"))
    srv.add_user("test", "tester", "testing", role="admin")
    tester = srv.auth_v1("test:tester", "testing")
    assert httpx.get(srv.url + "/info").json()["etag_quoter"]["enable_by_default"] is True
    name = new_container(tester)
    with raw(tester) as http:
        assert http.put(f"{name}/o", content=b"test").headers["Etag"] == f'"{BARE}"'
        http.post(name, headers={"X-Container-Rfc-Compliant-Etags": "false"})
        assert http.head(f"{name}/o").headers["Etag"] == BARE
    off: Server = make_server()  # type: ignore[operator]  # off by default, as in Swift
    assert "etag_quoter" not in httpx.get(off.url + "/info").json()
