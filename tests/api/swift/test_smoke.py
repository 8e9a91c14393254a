"""The first thing a user does: authenticate, create a container, round-trip an object."""

from __future__ import annotations

import swiftclient

from tests.harness import Server


def test_round_trip_with_swiftclient(server: Server, tester: tuple[str, str]) -> None:
    url, token = tester
    conn = swiftclient.Connection(preauthurl=url, preauthtoken=token, retries=0)
    conn.put_container("smoke")
    etag = conn.put_object("smoke", "hello.txt", b"hello world")
    headers, body = conn.get_object("smoke", "hello.txt")
    assert body == b"hello world"
    assert headers["etag"] == etag == "5eb63bbbe01eeed093cb22bb8f5acdc3"
    _, listing = conn.get_container("smoke")
    assert [o["name"] for o in listing] == ["hello.txt"]


def test_first_start_prints_working_demo_credentials(server: Server) -> None:
    url, token = server.auth_v1("demo:demo", server.passwords["demo"])
    assert "/v1/AUTH_" in url and token
