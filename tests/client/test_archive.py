"""The SDK reads Strato's archive download as a stream: every member written where the
caller says, checked against its listing MD5, with its mtime; damage is reported."""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path

import pytest

import strato.client as sc
from strato.client.archive import fetch_archive
from tests.client.conftest import arun


def test_fetch_archive_writes_and_verifies(keystone: dict[str, str], tmp_path: Path) -> None:
    container = f"carc-{uuid.uuid4().hex[:8]}"
    bodies = {f"f{i:03d}": os.urandom(100 + i * 999) for i in range(40)}

    async def work() -> tuple[int, dict[str, Path]]:
        async with sc.connect(**keystone) as cloud:
            await cloud.objects.create_container(container)
            for name, body in bodies.items():
                await cloud.objects.put(container, name, body,
                                        headers={"X-Object-Meta-Mtime": "1600000000.25"})
            listing = {e.name: e.hash async for e in cloud.objects.objects(container)}
            skipped = {"f005"}
            result = await fetch_archive(
                cloud.objects, container, expected=listing,
                target=lambda n: None if n in skipped else tmp_path / "out" / n)
            with pytest.raises(sc.ChecksumMismatch, match="in the listing"):
                await fetch_archive(cloud.objects, container, prefix="f01",
                                    expected={**listing, "f012": "0" * 32},
                                    target=lambda n: tmp_path / "bad" / n)
            return result.bytes, result.written

    total, written = arun(work())
    assert sorted(written) == sorted(set(bodies) - {"f005"})
    assert total == sum(len(b) for n, b in bodies.items() if n != "f005")
    for name, path in written.items():
        assert hashlib.md5(path.read_bytes()).digest() == hashlib.md5(bodies[name]).digest()
        assert path.stat().st_mtime == 1600000000.25
    assert not (tmp_path / "bad" / "f012").exists()
    assert not list(tmp_path.rglob("*.part"))
