"""Container and account quotas: 413 for sized, chunked and copied uploads."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest
import swiftclient

from tests.harness import Server


def conn_for(creds: tuple[str, str]) -> swiftclient.Connection:
    return swiftclient.Connection(preauthurl=creds[0], preauthtoken=creds[1], retries=0)


def chunks(data: bytes, size: int = 4) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start:start + size]


def test_container_bytes_quota(server: Server, tester: tuple[str, str]) -> None:
    url, token = tester
    conn = conn_for(tester)
    name = f"cq-{uuid.uuid4().hex[:8]}"
    conn.put_container(name, headers={"X-Container-Meta-Quota-Bytes": "10"})
    conn.put_object(name, "fits", b"12345678")
    with pytest.raises(swiftclient.ClientException) as exc:
        conn.put_object(name, "too-big", b"123")
    assert exc.value.http_status == 413
    # chunked: no Content-Length, refused while streaming, nothing stored
    resp = httpx.put(f"{url}/{name}/chunked", content=chunks(b"abcdefgh"),
                     headers={"X-Auth-Token": token})
    assert (resp.status_code, resp.text) == (413, "Upload exceeds quota.")
    # copies count the source's size, by COPY and by X-Copy-From
    with pytest.raises(swiftclient.ClientException) as exc:
        conn.copy_object(name, "fits", f"/{name}/copy")
    assert exc.value.http_status == 413
    resp = httpx.put(f"{url}/{name}/copy2", headers={"X-Auth-Token": token,
                                                     "X-Copy-From": f"{name}/fits"})
    assert resp.status_code == 413
    assert [o["name"] for o in conn.get_container(name)[1]] == ["fits"]
    # a small chunked upload within quota still works
    ok = httpx.put(f"{url}/{name}/ok", content=chunks(b"12"), headers={"X-Auth-Token": token})
    assert ok.status_code == 201


def test_container_count_quota_and_validation(server: Server, tester: tuple[str, str]) -> None:
    conn = conn_for(tester)
    name = f"cq-{uuid.uuid4().hex[:8]}"
    conn.put_container(name, headers={"X-Container-Meta-Quota-Count": "1"})
    conn.put_object(name, "one", b"1")
    with pytest.raises(swiftclient.ClientException) as exc:
        conn.put_object(name, "two", b"2")
    assert exc.value.http_status == 413
    for header, message in (("X-Container-Meta-Quota-Bytes", "Invalid bytes quota."),
                            ("X-Container-Meta-Quota-Count", "Invalid count quota.")):
        with pytest.raises(swiftclient.ClientException) as exc:
            conn.post_container(name, {header: "lots"})
        assert exc.value.http_status == 400 and message in str(exc.value)


def test_account_quota_set_by_reseller_only(server: Server) -> None:
    project = f"aq{uuid.uuid4().hex[:6]}"
    server.add_user(project, project, "pw", role="admin")
    owner = server.auth_v1(f"{project}:{project}", "pw")
    admin = server.auth_v1("admin:admin", server.passwords["admin"])
    conn = conn_for(owner)
    with pytest.raises(swiftclient.ClientException) as exc:
        conn.post_account({"X-Account-Meta-Quota-Bytes": "100"})
    assert exc.value.http_status == 403
    reseller = swiftclient.Connection(preauthurl=owner[0], preauthtoken=admin[1], retries=0)
    with pytest.raises(swiftclient.ClientException) as exc:
        reseller.post_account({"X-Account-Meta-Quota-Bytes": "many"})
    assert exc.value.http_status == 400
    reseller.post_account({"X-Account-Meta-Quota-Bytes": "10"})
    assert conn.head_account()["x-account-meta-quota-bytes"] == "10"
    conn.put_container("a")
    conn.put_container("b")
    conn.put_object("a", "x", b"123456")
    with pytest.raises(swiftclient.ClientException) as exc:
        conn.put_object("b", "y", b"123456")
    assert exc.value.http_status == 413
    with pytest.raises(swiftclient.ClientException) as exc:
        conn.post_account({"X-Remove-Account-Meta-Quota-Bytes": "x"})
    assert exc.value.http_status == 403
    reseller.post_account({"X-Remove-Account-Meta-Quota-Bytes": "x"})
    conn.put_object("b", "y", b"123456")


def test_account_quota_headers_are_reseller_only(server: Server) -> None:
    """`X-Account-Quota-Bytes/-Count` and the per-policy forms, as Swift's account_quotas."""
    project = f"aq{uuid.uuid4().hex[:6]}"
    server.add_user(project, project, "pw", role="admin")
    owner = server.auth_v1(f"{project}:{project}", "pw")
    admin = server.auth_v1("admin:admin", server.passwords["admin"])
    url = owner[0]
    conn = conn_for(owner)
    reseller = swiftclient.Connection(preauthurl=url, preauthtoken=admin[1], retries=0)
    reseller.post_account({"X-Account-Quota-Bytes-Policy-Policy-0": "100"})
    for header, value in (("X-Account-Quota-Bytes", "0"), ("X-Account-Quota-Count", "0"),
                          ("X-Account-Quota-Bytes-Policy-Policy-0", "5"),
                          ("X-Account-Quota-Count-Policy-Policy-0", "0"),
                          ("X-Remove-Account-Quota-Bytes-Policy-Policy-0", "t")):
        resp = httpx.post(url, headers={"X-Auth-Token": owner[1], header: value,
                                        "X-Account-Meta-Also": "no"})
        assert resp.status_code == 403, header
    head = conn.head_account()
    assert head["x-account-quota-bytes-policy-policy-0"] == "100"
    assert "x-account-quota-bytes" not in head and "x-account-meta-also" not in head
    with pytest.raises(swiftclient.ClientException) as exc:
        reseller.post_account({"X-Account-Quota-Count": "-1"})
    assert exc.value.http_status == 400
    # a count quota of two objects; the owner sees it, the third upload is refused
    reseller.post_account({"X-Account-Quota-Count": "2",
                           "X-Remove-Account-Quota-Bytes-Policy-Policy-0": "t"})
    head = conn.head_account()
    assert head["x-account-quota-count"] == "2"
    assert "x-account-quota-bytes-policy-policy-0" not in head
    conn.put_container("c")
    conn.put_object("c", "one", b"1")
    conn.put_object("c", "two", b"2")
    with pytest.raises(swiftclient.ClientException) as exc:
        conn.put_object("c", "three", b"3")
    assert exc.value.http_status == 413
    reseller.put_object("c", "three", b"3")  # a reseller is not held to account quotas
    # a policy byte quota has its own message; an empty value removes a quota
    reseller.post_account({"X-Account-Quota-Count": "",
                           "X-Account-Quota-Bytes-Policy-Policy-0": "4"})
    resp = httpx.put(f"{url}/c/four", content=b"45", headers={"X-Auth-Token": owner[1]})
    assert (resp.status_code, resp.text) == (413, "Upload exceeds policy quota.")
    reseller.post_account({"X-Remove-Account-Quota-Bytes-Policy-Policy-0": "t"})
    conn.put_object("c", "four", b"45")
    assert "x-account-quota-count" not in conn.head_account()
