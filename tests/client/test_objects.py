"""The SDK's object operations against a real Strato server: CRUD, metadata, listings that
page, copy, bulk delete (and its fallback), capabilities, and the blocking facade."""

from __future__ import annotations

import uuid

import pytest

import strato.client as sc
from strato.client import blocking
from tests.client.conftest import arun
from tests.harness import Server


def test_containers_objects_metadata_and_copy(keystone: dict[str, str]) -> None:
    name = f"sdk-{uuid.uuid4().hex[:8]}"

    async def work() -> None:
        async with sc.connect(**keystone) as cloud:
            store = cloud.objects
            assert await store.create_container(name, {"X-Container-Meta-Color": "blue"})
            assert not await store.create_container(name)  # exists: 202, not an error
            assert (await store.container(name))["X-Container-Meta-Color"] == "blue"
            etag = await store.put(name, "dir/ünïcode name.txt", b"hello",
                                   headers={"X-Object-Meta-Kind": "greeting",
                                            "Content-Type": "text/plain"})
            assert etag == "5d41402abc4b2a76b9719d911017c592"
            headers, body = await store.get(name, "dir/ünïcode name.txt")
            assert body == b"hello" and sc.objects.metadata(headers) == {"Kind": "greeting"}
            await store.post(name, "dir/ünïcode name.txt", {"X-Object-Meta-Kind": "changed"})
            assert (await store.head(name, "dir/ünïcode name.txt"))["X-Object-Meta-Kind"] \
                == "changed"
            copied = await store.copy(name, "dir/ünïcode name.txt", name, "copy.txt")
            assert sc.objects.unquote_etag(copied["Etag"]) == etag
            _, ranged = await store.get(name, "copy.txt", headers={"Range": "bytes=1-3"})
            assert ranged == b"ell"
            names = [e.name async for e in store.objects(name)]
            assert names == ["copy.txt", "dir/ünïcode name.txt"]
            rolled = [(e.name, e.is_prefix) async for e in store.objects(name, delimiter="/")]
            assert rolled == [("copy.txt", False), ("dir/", True)]
            with pytest.raises(sc.NotFound) as missing:
                await store.head(name, "nope")
            assert missing.value.request_id  # the server's transaction id, for its logs
            with pytest.raises(sc.Conflict):
                await store.delete_container(name)
            assert await store.delete(name, "copy.txt")
            assert not await store.delete(name, "copy.txt")
            assert (await store.account())["X-Account-Container-Count"]
            assert name in [c.name async for c in store.containers(prefix="sdk-")]

    arun(work())


def test_listing_pages_with_marker(keystone: dict[str, str]) -> None:
    name = f"pages-{uuid.uuid4().hex[:8]}"

    async def work() -> list[str]:
        async with sc.connect(**keystone) as cloud:
            store = sc.ObjectStore(cloud.session, page_size=7)
            await store.create_container(name)
            for i in range(30):
                await store.put(name, f"o{i:03d}", b"x")
            everything = [e.name async for e in store.objects(name)]
            assert [e.name async for e in store.objects(name, limit=10)] == everything[:10]
            assert [e.name async for e in store.objects(name, marker="o025")] == \
                everything[26:]
            return everything

    assert arun(work()) == [f"o{i:03d}" for i in range(30)]


def test_bulk_delete_and_its_fallback(keystone: dict[str, str]) -> None:
    name = f"bulk-{uuid.uuid4().hex[:8]}"

    async def work() -> None:
        async with sc.connect(**keystone) as cloud:
            store = cloud.objects
            await store.create_container(name)
            for i in range(12):
                await store.put(name, f"o{i}", b"x")
            result = await store.bulk_delete([(name, f"o{i}") for i in range(6)] + [
                (name, "never-there")])
            assert (result.deleted, result.not_found, result.errors) == (6, 1, [])
            each = await store._delete_each([(name, f"o{i}") for i in range(6, 12)]
                                            + [(name, None)])
            assert (each.deleted, each.not_found) == (7, 0)
            with pytest.raises(sc.NotFound):
                await store.container(name)

    arun(work())


def test_capabilities_found_beside_the_storage_url(keystone: dict[str, str]) -> None:
    async def work() -> dict[str, object]:
        async with sc.connect(**keystone) as cloud:
            return await cloud.objects.capabilities()

    caps = arun(work())
    assert {"swift", "slo", "tempurl", "bulk_delete"} <= set(caps)


def test_blocking_facade(keystone: dict[str, str]) -> None:
    name = f"sync-{uuid.uuid4().hex[:8]}"
    with blocking.connect(**keystone) as cloud:
        cloud.objects.create_container(name)
        cloud.objects.put(name, "a", b"1")
        cloud.objects.put(name, "b", b"22")
        listed = [(e.name, e.bytes) for e in cloud.objects.objects(name)]
        assert listed == [("a", 1), ("b", 2)]
        assert cloud.objects.get(name, "b")[1] == b"22"


def test_wrong_password_is_unauthorized(keystone: dict[str, str], server: Server) -> None:
    async def work() -> None:
        async with sc.connect(**{**keystone, "password": "wrong"}) as cloud:
            await cloud.token()

    with pytest.raises(sc.Unauthorized):
        arun(work())


def test_server_down_is_connection_failed(keystone: dict[str, str]) -> None:
    from tests.harness import free_port

    dead = f"http://127.0.0.1:{free_port()}/identity"

    async def work() -> None:
        async with sc.connect(**{**keystone, "auth_url": dead},
                              retry=sc.RetryPolicy(attempts=2, backoff=0.01)) as cloud:
            await cloud.token()

    with pytest.raises(sc.ConnectionFailed):
        arun(work())
