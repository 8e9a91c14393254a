"""Every way the SDK logs in, against a real Strato: Swift v1.0, Keystone v3 password,
token and application credential, v2.0, and a given token + storage URL; a token is reused
until it is refused, then renewed once."""

from __future__ import annotations

import uuid

import httpx
import pytest

import strato.client as sc
from tests.client.conftest import arun
from tests.harness import Server


async def _roundtrip(cloud: sc.Cloud) -> str:
    name = f"auth-{uuid.uuid4().hex[:8]}"
    await cloud.objects.create_container(name)
    await cloud.objects.put(name, "o", b"data")
    _, body = await cloud.objects.get(name, "o")
    assert body == b"data"
    await cloud.objects.delete(name, "o")
    await cloud.objects.delete_container(name)
    return await cloud.objects.storage_url()


def _logins(server: Server) -> int:
    return server.log_path.read_text(errors="replace").count("POST /identity/v3/auth/tokens")


def _v3_token(server: Server) -> tuple[str, dict[str, object]]:
    response = httpx.post(server.url + "/identity/v3/auth/tokens", json={"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": "tester", "domain": {"id": "default"}, "password": "testing"}}},
        "scope": {"project": {"name": "test", "domain": {"id": "default"}}}}})
    response.raise_for_status()
    return response.headers["X-Subject-Token"], response.json()["token"]


def test_swift_v1_auth(server: Server) -> None:
    async def work() -> str:
        async with sc.connect(auth_type="v1password", auth_url=server.url + "/auth/v1.0",
                              username="test:tester", password="testing") as cloud:
            return await _roundtrip(cloud)

    assert "/v1/AUTH_" in arun(work())


def test_keystone_v3_password_token_and_versioned_url(keystone: dict[str, str],
                                                       server: Server) -> None:
    async def work() -> tuple[str, str]:
        async with sc.connect(**keystone) as cloud:
            by_password = await _roundtrip(cloud)
        token, _ = _v3_token(server)
        async with sc.connect(auth_url=server.url + "/identity/v3", token=token,
                              project_name="test", project_domain_name="Default") as cloud:
            by_token = await _roundtrip(cloud)
        return by_password, by_token

    by_password, by_token = arun(work())
    assert by_password == by_token


def test_application_credential(server: Server) -> None:
    token, body = _v3_token(server)
    user_id = body["user"]["id"]  # type: ignore[index]
    created = httpx.post(f"{server.url}/identity/v3/users/{user_id}/application_credentials",
                         headers={"X-Auth-Token": token},
                         json={"application_credential": {"name": f"sdk-{uuid.uuid4().hex}"}})
    created.raise_for_status()
    cred = created.json()["application_credential"]

    async def work() -> str:
        async with sc.connect(auth_type="v3applicationcredential",
                              auth_url=server.url + "/identity",
                              application_credential_id=cred["id"],
                              application_credential_secret=cred["secret"]) as cloud:
            return await _roundtrip(cloud)

    assert "/v1/AUTH_" in arun(work())


def test_keystone_v2(server: Server) -> None:
    async def work() -> str:
        async with sc.connect(auth_url=server.url + "/identity/v2.0", username="tester",
                              password="testing", project_name="test") as cloud:
            return await _roundtrip(cloud)

    assert "/v1/AUTH_" in arun(work())


def test_pre_authenticated_token_and_storage_url(server: Server) -> None:
    storage_url, token = server.auth_v1("test:tester", "testing")

    async def work() -> str:
        async with sc.connect(token=token, object_store_endpoint_override=storage_url) as cloud:
            return await _roundtrip(cloud)

    assert arun(work()) == storage_url


def test_token_reused_then_renewed_once_when_revoked(keystone: dict[str, str],
                                                     server: Server) -> None:
    async def work() -> None:
        async with sc.connect(**keystone) as cloud:
            before = _logins(server)
            for _ in range(5):
                await cloud.objects.account()
            assert _logins(server) - before == 1   # one login for five requests
            first = (await cloud.token()).value
            revoked = httpx.delete(server.url + "/identity/v3/auth/tokens",
                                   headers={"X-Auth-Token": first, "X-Subject-Token": first})
            assert revoked.status_code == 204
            await cloud.objects.account()          # 401, a new login, the same request again
            assert (await cloud.token()).value != first
            assert _logins(server) - before == 2

    arun(work())


def test_catalog_region_and_interface(keystone: dict[str, str]) -> None:
    async def work(**extra: str) -> str:
        async with sc.connect(**keystone, **extra) as cloud:
            return await cloud.session.endpoint("image")

    assert arun(work()).endswith("/image")
    with pytest.raises(sc.ConfigError, match="no public image endpoint in region Mars"):
        arun(work(region_name="Mars"))
