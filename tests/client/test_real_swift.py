"""The SDK's object operations against real OpenStack Swift as well as Strato: what works on
one works on the other. Swift is the one `python -m bench.compare` uses (tests/realswift.py
installs it when its venv in ~/.cache/strato-bench is missing)."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import strato.client as sc
from tests.client.conftest import arun
from tests.harness import Server
from tests.realswift import swift_cluster

MiB = 2**20


@pytest.fixture(scope="module")
def real_swift(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    with swift_cluster(tmp_path_factory.mktemp("swift")) as cluster:
        storage_url, token = cluster.auth()
        yield {"token": token, "object_store_endpoint_override": storage_url}


@pytest.fixture(params=["strato", "swift"])
def login(request: pytest.FixtureRequest, server: Server) -> dict[str, str]:
    if request.param == "swift":
        return dict(request.getfixturevalue("real_swift"))
    storage_url, token = server.auth_v1("test:tester", "testing")
    return {"token": token, "object_store_endpoint_override": storage_url}


def test_object_operations(login: dict[str, str]) -> None:
    name = f"both-{uuid.uuid4().hex[:8]}"

    async def work() -> None:
        async with sc.connect(**login) as cloud:
            store = cloud.objects
            await store.create_container(name, {"X-Container-Meta-Color": "red"})
            assert (await store.container(name))["X-Container-Meta-Color"] == "red"
            for i in range(5):
                await store.put(name, f"dir/o{i}", f"body {i}".encode(),
                                headers={"X-Object-Meta-I": str(i)})
            page = sc.ObjectStore(cloud.session, page_size=2)
            assert [e.name async for e in page.objects(name)] == [f"dir/o{i}"
                                                                  for i in range(5)]
            assert [(e.name, e.is_prefix) async for e in store.objects(name, delimiter="/")] \
                == [("dir/", True)]
            await store.post(name, "dir/o1", {"X-Object-Meta-I": "one"})
            assert (await store.head(name, "dir/o1"))["X-Object-Meta-I"] == "one"
            await store.copy(name, "dir/o2", name, "copied")
            assert (await store.get(name, "copied"))[1] == b"body 2"
            with pytest.raises(sc.NotFound):
                await store.get(name, "missing")
            result = await store.bulk_delete([(name, f"dir/o{i}") for i in range(5)]
                                             + [(name, "copied")])
            assert result.deleted == 6
            await store.delete_container(name)

    arun(work())


def test_segmented_transfer_and_temp_url(login: dict[str, str], tmp_path: Path) -> None:
    name = f"both-big-{uuid.uuid4().hex[:8]}"
    source = tmp_path / "src.bin"
    source.write_bytes(os.urandom(3 * MiB + 17))
    # segments beside the manifest: a container's temp URL key reaches only its container
    options = sc.TransferOptions(segment_size=MiB, threshold=MiB, piece_size=MiB,
                                 concurrency=3, segment_container=name)

    async def work() -> str:
        async with sc.connect(**login) as cloud:
            await cloud.objects.create_container(name, {
                "X-Container-Meta-Temp-URL-Key": "both-key"})  # the shared account keeps none
            up = await cloud.upload(name, "big", source, options=options)
            assert up.segments == 4
            again = await cloud.upload(name, "big", source, options=options)
            assert again.reused == 4
            await cloud.download(name, "big", tmp_path / "back.bin", options=options)
            return await cloud.temp_url(name, "big", seconds=60)

    url = arun(work())
    assert (tmp_path / "back.bin").read_bytes() == source.read_bytes()
    assert hashlib.md5(httpx.get(url).content).hexdigest() == \
        hashlib.md5(source.read_bytes()).hexdigest()
