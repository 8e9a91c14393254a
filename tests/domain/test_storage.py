"""The storage service in process: the real service over a real SQLite metadata store and
real local blob stores in a temp dir, no server.

What a user of the Swift API relies on, checked at the layer that decides it (and fast
enough to run once per mutant, see `scripts/mutation`): an object reads back whole, a
replaced or deleted object's blob leaves the disk after its row moved on, the counters follow
every write, expired objects are gone for readers and counters, a failed write leaves nothing
behind, containers keep their policy and are deleted only when empty.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import logging
import os
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from strato.domain.policies import PolicySet, StoragePolicy, UnknownPolicy
from strato.domain.storage import (
    ContainerNotEmpty,
    ContainerNotFound,
    EtagMismatch,
    InsufficientStorage,
    ObjectNotFound,
    ObjectTooLarge,
    ObjectUnreadable,
    OlderThanStored,
    PolicyConflict,
    StorageService,
)
from strato.stores.blob.base import BlobNotFound, BlobReader
from strato.stores.blob.local import LocalBlobStore
from strato.stores.metadata.base import SYNC_KEY
from strato.stores.metadata.records import (
    INLINE,
    ContainerRecord,
    ListingQuery,
    ObjectRecord,
)
from strato.stores.metadata.secretbox import KeyRepository, SecretBox
from strato.stores.metadata.sqlite import SqliteMetadataStore
from tests.tmpfs import small_tmpfs

ACCOUNT = "AUTH_test"
MAX = 1000  # max_file_size of the service under test
INLINE_BYTES = 100


@dataclass
class Env:
    svc: StorageService
    meta: SqliteMetadataStore
    gold: LocalBlobStore
    silver: LocalBlobStore
    tmp: Path

    def files(self, store: LocalBlobStore | None = None) -> set[str]:
        """Blob files on disk (one policy's, else both)."""
        stores = [store] if store else [self.gold, self.silver]
        return {p.name for s in stores for p in s.objects_dir.rglob("*") if p.is_file()}

    def temps(self) -> list[Path]:
        return [p for s in (self.gold, self.silver) for p in s.tmp_dir.iterdir()]

    async def container(self, name: str = "c", policy: StoragePolicy | None = None
                        ) -> ContainerRecord:
        return (await self.svc.create_container(ACCOUNT, name, {}, policy))[0]

    async def fresh(self, container: ContainerRecord) -> ContainerRecord:
        return await self.svc.require_container(container.account, container.name)

    async def put(self, container: ContainerRecord, name: str, data: bytes, **kw: object
                  ) -> tuple[ObjectRecord, ObjectRecord | None]:
        kw.setdefault("content_type", "application/octet-stream")
        kw.setdefault("meta", {})
        return await self.svc.put_object(container, name, body(data), **kw)  # type: ignore[arg-type]

    async def read(self, container: ContainerRecord, name: str) -> bytes:
        record = await self.svc.get_object(container, name)
        assert record is not None
        record, reader = await self.svc.open_object(container, record)
        return await read_all(reader, record.size)


async def read_all(reader: BlobReader, size: int) -> bytes:
    try:
        return b"".join([chunk async for chunk in reader.iter_range(0, size)])
    finally:
        reader.close()


async def body(data: bytes, piece: int = 7) -> AsyncIterator[bytes]:
    for start in range(0, len(data), piece):
        yield data[start:start + piece]


def logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    """What the service told the operator (its log), then forgotten."""
    found = [r.getMessage() for r in caplog.records if r.name == "strato.storage"]
    caplog.clear()
    return found


def run(tmp_path: Path, test: Callable[[Env], Awaitable[None]], *,
        inline_bytes: int = INLINE_BYTES, silver: Path | None = None) -> None:
    """`test` on a fresh service; `silver` puts that policy's store there (a small disk)."""
    async def main() -> None:
        meta = SqliteMetadataStore(tmp_path / "metadata.db")
        keys = KeyRepository(tmp_path / "keys")
        keys.setup()
        meta.secret_box = SecretBox(keys)
        await meta.open()
        gold = LocalBlobStore(tmp_path / "gold", fsync=False)
        second = LocalBlobStore(silver or tmp_path / "silver", fsync=False)
        policies = PolicySet([StoragePolicy("gold", ("old-gold",), True, False, gold),
                              StoragePolicy("silver", (), False, False, second)])
        svc = StorageService(meta, policies, max_file_size=MAX, inline_bytes=inline_bytes)
        try:
            await test(Env(svc, meta, gold, second, tmp_path))
        finally:
            await meta.close()

    asyncio.run(main())


# ---- writes and reads ---------------------------------------------------------------------


def test_objects_read_back_whole_inline_or_in_a_blob(tmp_path: Path) -> None:
    """Up to `inline_bytes` (inclusive) the bytes live in the row; one more byte goes to a
    blob file that starts with the pieces held so far."""
    async def test(env: Env) -> None:
        c = await env.container()
        at = bytes(range(INLINE_BYTES))
        over = bytes(range(INLINE_BYTES + 1))
        small, old = await env.put(c, "at", at)
        assert old is None
        assert small.blob_id.startswith(INLINE) and len(small.blob_id) == len(INLINE) + 32
        assert small.size == INLINE_BYTES and small.etag == hashlib.md5(at).hexdigest()
        assert env.files() == set()
        big, _ = await env.put(c, "over", over)
        assert env.files() == {big.blob_id} and not big.blob_id.startswith(INLINE)
        assert big.size == INLINE_BYTES + 1 and big.etag == hashlib.md5(over).hexdigest()
        assert await env.read(c, "at") == at
        assert await env.read(c, "over") == over
        empty, _ = await env.put(c, "empty", b"")
        assert empty.etag == hashlib.md5(b"").hexdigest() and empty.size == 0
        assert await env.read(c, "empty") == b""
        assert env.files() == {big.blob_id}
        assert env.temps() == []
        stored = await env.svc.get_object(c, "over")
        assert stored == big
        assert (await env.fresh(c)).object_count == 3
        assert (await env.fresh(c)).bytes_used == 2 * INLINE_BYTES + 1

    run(tmp_path, test)


def test_without_inline_every_object_gets_a_blob(tmp_path: Path) -> None:
    async def test(env: Env) -> None:
        c = await env.container()
        empty, _ = await env.put(c, "empty", b"")
        one, _ = await env.put(c, "one", b"x")
        assert env.files() == {empty.blob_id, one.blob_id}
        assert await env.read(c, "one") == b"x" and await env.read(c, "empty") == b""
        assert await env.meta.inline_data(one.blob_id) is None
        default = StorageService(env.meta, env.svc.policies, max_file_size=MAX)
        tiny, _ = await default.put_object(c, "tiny", body(b"t"), content_type="", meta={})
        assert tiny.blob_id in env.files()

    run(tmp_path, test, inline_bytes=0)


def test_record_carries_what_the_writer_gave(tmp_path: Path) -> None:
    async def test(env: Env) -> None:
        c = await env.container()
        before = time.time()
        record, _ = await env.put(c, "o", b"data", content_type="text/plain",
                                  meta={"meta-color": "blue"}, delete_at=4_000_000_000)
        assert record.container_id == c.id and record.name == "o"
        assert record.content_type == "text/plain" and record.meta == {"meta-color": "blue"}
        assert record.delete_at == 4_000_000_000
        assert before - 1e-5 <= record.timestamp <= time.time() + 1e-5
        assert record.timestamp == round(record.timestamp, 5)
        assert await env.svc.get_object(c, "o") == record
        pushed, _ = await env.put(c, "p", b"data", timestamp=1234.5)
        assert pushed.timestamp == 1234.5

    run(tmp_path, test)


def test_size_limit_is_inclusive_and_max_size_replaces_it(tmp_path: Path) -> None:
    async def test(env: Env) -> None:
        c = await env.container()
        await env.put(c, "max", b"m" * MAX)
        assert await env.read(c, "max") == b"m" * MAX
        with pytest.raises(ObjectTooLarge, match=r"^over$"):
            await env.put(c, "over", b"m" * (MAX + 1))
        with pytest.raises(ObjectTooLarge, match=r"^small-limit$"):
            await env.put(c, "small-limit", b"m" * 11, max_size=10)
        await env.put(c, "ten", b"m" * 10, max_size=10)
        await env.put(c, "image", b"i" * (MAX + 500), max_size=MAX + 500)
        assert await env.read(c, "image") == b"i" * (MAX + 500)
        assert await env.svc.get_object(c, "over") is None
        assert await env.svc.get_object(c, "small-limit") is None
        assert env.temps() == []
        assert len(env.files()) == 2  # "max" and "image"

    run(tmp_path, test)


def test_a_refused_write_stores_nothing_and_keeps_the_old_object(tmp_path: Path) -> None:
    """Wrong ETag, wrong length, too large: the old object stays whole, no file is left."""
    async def test(env: Env) -> None:
        c = await env.container()
        for data in (b"small", b"b" * 500):
            old, _ = await env.put(c, "o", b"original" * 20)
            files = env.files()
            md5 = hashlib.md5(data).hexdigest()
            with pytest.raises(EtagMismatch, match=r"^o$"):
                await env.put(c, "o", data, expected_etag="0" * 32)
            with pytest.raises(EtagMismatch, match=r"^o$"):
                await env.put(c, "o", data, expected_size=len(data) + 1)
            with pytest.raises(ObjectTooLarge, match=r"^o$"):
                await env.put(c, "o", data, expected_size=len(data) - 1)
            assert env.files() == files and env.temps() == []
            assert await env.svc.get_object(c, "o") == old
            assert await env.read(c, "o") == b"original" * 20
            new, replaced = await env.put(c, "o", data, expected_etag=f'"{md5.upper()}"',
                                          expected_size=len(data))
            assert replaced == old and new.etag == md5
            assert await env.read(c, "o") == data
            await env.svc.delete_object(c, "o")

    run(tmp_path, test)


def test_a_full_disk_while_streaming_is_insufficient_storage(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """ENOSPC from the body (a full filesystem under the writer) names the policy and
    removes what was written; other errors pass through unchanged, also cleaned up."""
    async def failing(data: bytes, err: int) -> AsyncIterator[bytes]:
        yield data
        raise OSError(err, os.strerror(err))

    async def test(env: Env) -> None:
        silver = await env.container("s", env.svc.policies.find("silver"))
        for data in (b"x" * 10, b"x" * 300):
            with pytest.raises(InsufficientStorage) as full:
                await env.svc.put_object(silver, "o", failing(data, errno.ENOSPC),
                                         content_type="", meta={})
            assert full.value.where == "silver" and str(full.value) == "silver"
            assert logged(caplog) == [
                f"policy silver is full: a PUT of o failed after {len(data)} bytes "
                "([Errno 28] No space left on device)"]
            with pytest.raises(OSError) as other:
                await env.svc.put_object(silver, "o", failing(data, errno.EIO),
                                         content_type="", meta={})
            assert not isinstance(other.value, InsufficientStorage)
            assert other.value.errno == errno.EIO
            assert logged(caplog) == []
        assert env.temps() == [] and env.files() == set()
        assert await env.svc.get_object(silver, "o") is None
        assert (await env.fresh(silver)).object_count == 0

    run(tmp_path, test)


def test_check_room(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async def test(env: Env) -> None:
        c = await env.container("s", env.svc.policies.find("silver"))
        env.svc.check_room(c, 1000)
        env.svc.check_room(c, INLINE_BYTES)
        with pytest.raises(InsufficientStorage) as full:
            env.svc.check_room(c, 1 << 62)
        assert full.value.where == "silver"
        [message] = logged(caplog)
        assert re.fullmatch(rf"policy silver: \d+ bytes free, a PUT of {1 << 62} refused",
                            message), message
        free, _ = env.silver.disk_usage()
        env.svc.check_room(c, free // 2)
        # a body kept inline needs no file, so no room is asked of the disk
        env.svc.inline_bytes = 1 << 62
        env.svc.check_room(c, 1 << 62)

    run(tmp_path, test)


# ---- replacement, deletion, counters ------------------------------------------------------


def test_replacing_frees_the_old_blob_and_moves_the_counters(tmp_path: Path) -> None:
    async def test(env: Env) -> None:
        c = await env.container()
        sizes = [5, 300, 400, 7, 0, 250]
        previous: ObjectRecord | None = None
        for size in sizes:
            data = bytes([size % 251]) * size
            record, old = await env.put(c, "o", data)
            assert old == previous
            assert record.timestamp == round(record.timestamp, 5)
            assert await env.read(c, "o") == data
            blobs = env.files()
            assert blobs == ({record.blob_id} if size > INLINE_BYTES else set())
            if previous is not None and previous.blob_id.startswith(INLINE):
                assert await env.meta.inline_data(previous.blob_id) is None
            fresh = await env.fresh(c)
            assert (fresh.object_count, fresh.bytes_used) == (1, size)
            previous = record
        stats = await env.svc.account_stats(ACCOUNT)
        assert (stats.container_count, stats.object_count, stats.bytes_used) == (1, 1, 250)

    run(tmp_path, test)


def test_delete_removes_row_then_blob_and_counters(tmp_path: Path) -> None:
    async def test(env: Env) -> None:
        c = await env.container()
        big, _ = await env.put(c, "big", b"b" * 500)
        small, _ = await env.put(c, "small", b"s" * 5)
        assert (await env.fresh(c)).bytes_used == 505
        assert await env.svc.delete_object(c, "big") == big
        assert env.files() == set()
        assert await env.svc.get_object(c, "big") is None
        fresh = await env.fresh(c)
        assert (fresh.object_count, fresh.bytes_used) == (1, 5)
        assert await env.svc.delete_object(c, "small") == small
        assert await env.meta.inline_data(small.blob_id) is None
        fresh = await env.fresh(c)
        assert (fresh.object_count, fresh.bytes_used) == (0, 0)
        with pytest.raises(ObjectNotFound, match=r"^small$"):
            await env.svc.delete_object(c, "small")

    run(tmp_path, test)


def test_deleting_an_expired_object_reclaims_it_but_answers_not_found(tmp_path: Path
                                                                       ) -> None:
    async def test(env: Env) -> None:
        c = await env.container()
        await env.put(c, "gone", b"g" * 500, delete_at=int(time.time()) - 5)
        await env.put(c, "later", b"l" * 500, delete_at=int(time.time()) + 3600)
        with pytest.raises(ObjectNotFound, match=r"^gone$"):
            await env.svc.delete_object(c, "gone")
        later = await env.svc.delete_object(c, "later")
        assert later.name == "later"
        assert env.files() == set()
        assert await env.meta.get_object(c.id, "gone") is None

    run(tmp_path, test)


def test_a_write_into_a_deleted_container_leaves_no_blob(tmp_path: Path) -> None:
    async def test(env: Env) -> None:
        c = await env.container()
        await env.svc.delete_container(ACCOUNT, "c")
        for data in (b"x" * 500, b"x"):
            with pytest.raises(ContainerNotFound, match=rf"^{c.id}$"):
                await env.put(c, "o", data)
        assert env.files() == set() and env.temps() == []

    run(tmp_path, test)


def test_a_full_metadata_database_drops_the_new_blob(tmp_path: Path,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    """SQLITE_FULL on the row: nothing refers to the new blob, so it goes; the old object
    stays readable."""
    async def test(env: Env) -> None:
        c = await env.container()
        old, _ = await env.put(c, "o", b"o" * 500)
        pages = env.meta.db.query_one("PRAGMA page_count")
        assert pages is not None

        def cap(conn: object) -> None:
            conn.execute(f"PRAGMA max_page_count = {pages[0]}")  # type: ignore[attr-defined]

        await env.meta.db.write(cap)
        huge = {"meta-pad": "p" * 200_000}
        for data in (b"n" * 600, b"n"):
            with pytest.raises(InsufficientStorage) as full:
                await env.put(c, "o", data, meta=huge)
            assert full.value.where == "metadata"
            assert logged(caplog) == ["metadata store is full: the row of o was not written "
                                      "(database or disk is full)"]
            assert env.files() == {old.blob_id}
        assert await env.read(c, "o") == b"o" * 500

    run(tmp_path, test)


# ---- timestamps (container sync pushes) ---------------------------------------------------


def test_pushed_writes_must_be_newer_than_the_object_and_its_tombstone(tmp_path: Path
                                                                        ) -> None:
    async def test(env: Env) -> None:
        c = await env.container()
        await env.put(c, "o", b"first", timestamp=100.0)
        for stale in (100.0, 99.0):
            with pytest.raises(OlderThanStored, match=r"^o$"):
                await env.put(c, "o", b"older", timestamp=stale)
            with pytest.raises(OlderThanStored, match=r"^o$"):
                await env.svc.delete_object(c, "o", timestamp=stale)
        assert await env.read(c, "o") == b"first"
        await env.put(c, "o", b"second", timestamp=100.5)
        assert await env.read(c, "o") == b"second"
        await env.svc.delete_object(c, "o", timestamp=200.0)
        assert await env.meta.tombstone(c.id, "o") == 200.0
        for stale in (200.0, 150.0):
            with pytest.raises(OlderThanStored, match=r"^o$"):
                await env.put(c, "o", b"older", timestamp=stale)
        assert await env.svc.get_object(c, "o") is None
        await env.put(c, "o", b"third", timestamp=200.25)
        assert await env.read(c, "o") == b"third"
        # a client's own write (no timestamp) is not checked against the pushed ones
        await env.put(c, "o", b"client")
        assert await env.read(c, "o") == b"client"

    run(tmp_path, test)


# ---- expiry -------------------------------------------------------------------------------


def test_expired_objects_are_invisible_until_reaped(tmp_path: Path) -> None:
    async def test(env: Env) -> None:
        c = await env.container()
        past = int(time.time()) - 5
        expired, _ = await env.put(c, "e", b"e" * 500, delete_at=past)
        other = (await env.svc.create_container("AUTH_other", "x", {}))[0]
        theirs, _ = await env.put(other, "e", b"t", delete_at=past)
        await env.put(c, "live", b"l", delete_at=int(time.time()) + 3600)
        assert await env.svc.get_object(c, "e") is None
        assert await env.svc.get_object(c, "e", open_expired=True) == expired
        assert await env.svc.get_object(c, "live") is not None
        listed = await env.svc.list_objects(c, ListingQuery())
        assert [r.name for r in listed] == ["live"]
        # expired a moment ago (delete-at is in whole seconds): reaped at once, no delay
        if time.time() % 1 > 0.8:
            await asyncio.sleep(1.05 - time.time() % 1)
        await env.put(c, "just", b"j" * 7, delete_at=int(time.time()))
        assert await env.svc.get_object(c, "just") is None
        stats = await env.svc.account_stats(ACCOUNT)  # reaps first
        assert (stats.object_count, stats.bytes_used) == (1, 1)
        assert await env.meta.get_object(c.id, "e") is None
        assert env.files() == set()
        # another account's are left to the expirer (or that account's own reads)
        assert await env.svc.get_object(other, "e", open_expired=True) == theirs

    run(tmp_path, test)


def test_reaping_goes_batch_by_batch_and_keeps_to_its_scope(tmp_path: Path) -> None:
    async def test(env: Env) -> None:
        a = await env.container("a")
        b = await env.container("b", env.svc.policies.find("silver"))
        other = (await env.svc.create_container("AUTH_other", "x", {}))[0]
        past = int(time.time()) - 100
        for i in range(4):
            await env.put(a, f"a{i}", b"a" * 200, delete_at=past)
            await env.put(b, f"b{i}", b"b" * (i + 1), delete_at=past)
        await env.put(other, "x", b"x" * 200, delete_at=past)
        await env.put(a, "keep", b"k" * 200, delete_at=past + 10_000)
        # 100 s past due: not yet with a delay of 1000 s
        assert await env.svc.expire_pass(batch=2, delay=1000) == 0
        assert await env.svc.reap_expired(ACCOUNT, b.id, batch=2) == 4
        assert (await env.fresh(b)).object_count == 0
        assert await env.svc.reap_expired(ACCOUNT, batch=2) == 4
        assert len(env.files()) == 2  # other's and "keep"
        assert (await env.fresh(a)).object_count == 1
        assert await env.svc.expire_pass(batch=2, delay=50) == 1
        assert env.files() == {(await env.svc.get_object(a, "keep")).blob_id}  # type: ignore[union-attr]
        assert await env.svc.expire_pass() == 0

    run(tmp_path, test)


def test_reaping_a_container_that_is_gone_leaves_its_blob_to_the_sweeper(tmp_path: Path
                                                                          ) -> None:
    async def test(env: Env) -> None:
        c = await env.container()
        record, _ = await env.put(c, "o", b"o" * 500, delete_at=int(time.time()) - 5)
        gone = ObjectRecord(999_999, "o", record.blob_id, 500, record.etag, "", 1.0, {})
        await env.svc._delete_blob(gone)  # no such container: nothing to do, no error
        assert env.files() == {record.blob_id}
        await env.svc._delete_blob(record)
        assert env.files() == set()

    run(tmp_path, test)


# ---- containers ---------------------------------------------------------------------------


def test_a_container_with_objects_cannot_be_deleted_but_expired_ones_do_not_count(
        tmp_path: Path) -> None:
    async def test(env: Env) -> None:
        c = await env.container()
        assert await env.svc.get_container(ACCOUNT, "c") == c
        # expired objects elsewhere are the expirer's, not this delete's
        neighbour = await env.container("neighbour")
        await env.put(neighbour, "e", b"e", delete_at=int(time.time()) - 5)
        await env.put(c, "live", b"x")
        with pytest.raises(ContainerNotEmpty, match=r"^c$"):
            await env.svc.delete_container(ACCOUNT, "c")
        await env.svc.delete_object(c, "live")
        await env.put(c, "e1", b"e" * 500, delete_at=int(time.time()) - 5)
        await env.put(c, "e2", b"e", delete_at=int(time.time()) - 5)
        await env.svc.delete_container(ACCOUNT, "c")
        assert await env.svc.get_container(ACCOUNT, "c") is None
        assert env.files() == set()
        assert await env.svc.get_object(neighbour, "e", open_expired=True) is not None
        with pytest.raises(ContainerNotFound, match=r"^c$"):
            await env.svc.delete_container(ACCOUNT, "c")
        with pytest.raises(ContainerNotFound, match=r"^c$"):
            await env.svc.require_container(ACCOUNT, "c")

    run(tmp_path, test)


def test_containers_keep_their_policy(tmp_path: Path) -> None:
    async def test(env: Env) -> None:
        silver = env.svc.policies.find("silver")
        assert silver is not None
        c, created = await env.svc.create_container(ACCOUNT, "c", {"meta-a": "1"})
        assert created and c.policy == "gold" and env.svc.policy_of(c).blobs is env.gold
        s, created = await env.svc.create_container(ACCOUNT, "s", {}, silver)
        assert created and s.policy == "silver"
        again, created = await env.svc.create_container(ACCOUNT, "s", {"meta-b": "2"})
        assert not created and again.policy == "silver" and again.meta == {"meta-b": "2"}
        with pytest.raises(PolicyConflict, match=r"^c$"):
            await env.svc.create_container(ACCOUNT, "c", {}, silver)
        record, _ = await env.put(s, "o", b"o" * 500)
        assert env.files(env.silver) == {record.blob_id} and env.files(env.gold) == set()
        before = time.time()
        updated = await env.svc.update_container(ACCOUNT, "c", {"meta-b": "3"}, ["meta-a"])
        assert updated.meta == {"meta-b": "3"}
        assert before <= updated.put_timestamp <= time.time()
        assert (await env.fresh(c)).put_timestamp == updated.put_timestamp
        with pytest.raises(ContainerNotFound, match=r"^nope$"):
            await env.svc.update_container(ACCOUNT, "nope", {"meta-b": "3"})
        names = [r.name for r in await env.svc.list_containers(ACCOUNT, ListingQuery())]
        assert names == ["c", "s"]

    run(tmp_path, test)


def test_account_stats_per_policy_by_current_name(tmp_path: Path) -> None:
    """A policy renamed (its old name now an alias) adds into the current name; a policy no
    longer configured is left out of the per-policy counts, not out of the totals."""
    async def test(env: Env) -> None:
        c = await env.container()
        old, _ = await env.meta.create_container(ACCOUNT, "old", {}, 1.0, "old-gold")
        gone, _ = await env.meta.create_container(ACCOUNT, "gone", {}, 1.0, "removed")
        await env.put(c, "o", b"x" * 3)
        await env.put(old, "o", b"y" * 4)
        await env.put(old, "p", b"y" * 5)
        await env.meta.put_object(ObjectRecord(gone.id, "o", "a" * 32, 6, "e", "", 1.0, {}))
        await env.svc.create_container(ACCOUNT, "s", {}, env.svc.policies.find("silver"))
        stats = await env.svc.account_stats(ACCOUNT)
        assert (stats.container_count, stats.object_count, stats.bytes_used) == (4, 4, 18)
        assert set(stats.per_policy) == {"gold", "silver"}
        gold = stats.per_policy["gold"]
        assert (gold.container_count, gold.object_count, gold.bytes_used) == (2, 3, 12)
        silver = stats.per_policy["silver"]
        assert (silver.container_count, silver.object_count, silver.bytes_used) == (1, 0, 0)

    run(tmp_path, test)


def test_check_policies_adopts_legacy_containers_and_refuses_unknown_ones(tmp_path: Path
                                                                           ) -> None:
    async def test(env: Env) -> None:
        await env.meta.create_container(ACCOUNT, "legacy1", {}, 1.0, "")
        await env.meta.create_container(ACCOUNT, "legacy2", {}, 1.0, "")
        await env.meta.create_container(ACCOUNT, "renamed", {}, 1.0, "OLD-GOLD")
        assert await env.svc.check_policies() == 2
        legacy = await env.svc.require_container(ACCOUNT, "legacy1")
        assert legacy.policy == "gold"
        assert await env.svc.check_policies() == 0
        await env.meta.create_container(ACCOUNT, "lost", {}, 1.0, "bronze")
        with pytest.raises(UnknownPolicy) as unknown:
            await env.svc.check_policies()
        assert str(unknown.value) == (
            "containers use storage policy 'bronze', which is not configured; declare it "
            "(with deprecated = true to take no new containers) or name it as an alias of "
            "another policy with the same directory")

    run(tmp_path, test)


def test_accounts(tmp_path: Path) -> None:
    async def test(env: Env) -> None:
        assert await env.svc.get_account(ACCOUNT) is None
        record = await env.svc.update_account(ACCOUNT, {"meta-a": "1", "meta-b": "2"})
        assert record.meta == {"meta-a": "1", "meta-b": "2"}
        record = await env.svc.update_account(ACCOUNT, {}, ["meta-a"])
        assert record.meta == {"meta-b": "2"}
        assert await env.svc.get_account(ACCOUNT) == record
        assert abs(record.created_at - time.time()) < 60

    run(tmp_path, test)


# ---- container sync settings --------------------------------------------------------------


def test_sync_key_is_sealed_and_opened(tmp_path: Path, caplog: pytest.LogCaptureFixture
                                       ) -> None:
    async def test(env: Env) -> None:
        c, _ = await env.svc.create_container(ACCOUNT, "c", {SYNC_KEY: "s3cret"})
        assert c.meta[SYNC_KEY] != "s3cret" and "s3cret" not in c.meta[SYNC_KEY]
        assert env.svc.sync_key(c) == "s3cret"
        c = await env.svc.update_container(ACCOUNT, "c", {SYNC_KEY: "other"})
        assert c.meta[SYNC_KEY] != "other" and env.svc.sync_key(c) == "other"
        c = await env.svc.update_container(ACCOUNT, "c", {SYNC_KEY: ""})
        assert SYNC_KEY not in c.meta and env.svc.sync_key(c) == ""
        plain = await env.container("plain")
        assert env.svc.sync_key(plain) == ""
        sealed, _ = await env.svc.create_container(ACCOUNT, "k", {SYNC_KEY: "x"})
        assert logged(caplog) == []
        env.meta.secret_box = None  # a node without the credential key
        assert env.svc.sync_key(sealed) == ""
        assert logged(caplog) == [
            f"the container sync key of {ACCOUNT}/k cannot be opened: this metadata store "
            "has no credential key repository to seal access-key secrets with"]

    run(tmp_path, test)


def test_sync_to_changes_reset_the_queue(tmp_path: Path) -> None:
    async def test(env: Env) -> None:
        syncing = "x-container-sync-to"

        async def queued(c: ContainerRecord) -> list[str]:
            return [change.name for change in await env.meta.sync_changes(c.id, 100)]

        async def drain(c: ContainerRecord) -> None:
            changes = await env.meta.sync_changes(c.id, 100)
            await env.meta.drop_sync_changes(c.id, [change.id for change in changes])

        c = await env.container()
        await env.put(c, "b", b"1")
        await env.put(c, "a", b"2")
        c = await env.svc.update_container(ACCOUNT, "c", {syncing: "//r/c/AUTH_x/d"})
        assert [row[0] for row in await env.meta.syncing_containers()] == [c.id]
        assert await queued(c) == ["a", "b"]
        await drain(c)
        await env.svc.update_container(ACCOUNT, "c", {syncing: "//r/c/AUTH_x/d"})
        await env.svc.update_container(ACCOUNT, "c", {"meta-x": "1"})
        assert await queued(c) == []  # the same place: nothing is sent again
        await env.svc.update_container(ACCOUNT, "c", {syncing: "//r/c/AUTH_x/e"})
        assert await queued(c) == ["a", "b"]
        await env.svc.update_container(ACCOUNT, "c", {}, [syncing])
        assert await env.meta.syncing_containers() == []
        assert await queued(c) == []
        created, _ = await env.svc.create_container(ACCOUNT, "n", {syncing: "//r/c/AUTH_x/n"})
        assert [row[0] for row in await env.meta.syncing_containers()] == [created.id]
        await env.svc.create_container(ACCOUNT, "n", {syncing: "//r/c/AUTH_x/n"})
        await env.svc.create_container(ACCOUNT, "n", {syncing: ""})
        assert await env.meta.syncing_containers() == []

    run(tmp_path, test)


# ---- copies, metadata updates, reads that race writes -------------------------------------


def test_copies_are_independent_of_their_source(tmp_path: Path) -> None:
    async def test(env: Env) -> None:
        gold = await env.container("g")
        silver = await env.container("s", env.svc.policies.find("silver"))
        for size in (5, 500):
            data = bytes([size % 256]) * size
            source, _ = await env.put(gold, "src", data, meta={"meta-a": "1"},
                                      content_type="text/a")
            for target in (gold, silver):
                before = time.time()
                copy, old = await env.svc.copy_object(
                    target, source, "copy", content_type="text/b", meta={"meta-b": "2"},
                    delete_at=4_000_000_000)
                assert old is None and copy.blob_id != source.blob_id
                assert copy.blob_id.startswith(INLINE) == (size <= INLINE_BYTES)
                assert (copy.container_id, copy.name) == (target.id, "copy")
                assert (copy.size, copy.etag) == (source.size, source.etag)
                assert (copy.content_type, copy.meta) == ("text/b", {"meta-b": "2"})
                assert copy.delete_at == 4_000_000_000
                assert before - 1e-5 <= copy.timestamp <= time.time() + 1e-5
                assert copy.timestamp == round(copy.timestamp, 5)
                assert await env.svc.get_object(target, "copy") == copy
                await env.put(gold, "src", b"changed")
                assert await env.read(target, "copy") == data
                await env.svc.delete_object(gold, "src")
                assert await env.read(target, "copy") == data
                if size > INLINE_BYTES:
                    assert await env.meta.inline_data(copy.blob_id) is None
                    assert copy.blob_id in env.files(env.gold if target is gold else env.silver)
                await env.svc.delete_object(target, "copy")
                source, _ = await env.put(gold, "src", data, meta={"meta-a": "1"},
                                          content_type="text/a")
            await env.svc.delete_object(gold, "src")
        assert env.files() == set()

    run(tmp_path, test)


def test_a_copy_over_an_object_frees_its_blob(tmp_path: Path) -> None:
    async def test(env: Env) -> None:
        for policy in ("gold", "silver"):
            c = await env.container(policy, env.svc.policies.find(policy))
            source, _ = await env.put(c, "src", b"s" * 300)
            for data in (b"t" * 400, b"t"):
                target, _ = await env.put(c, "dst", data)
                copy, old = await env.svc.copy_object(c, source, "dst", content_type="",
                                                      meta={})
                assert old == target
                assert env.files() == {source.blob_id, copy.blob_id}
                assert await env.meta.inline_data(target.blob_id) is None
                assert await env.read(c, "dst") == b"s" * 300
            await env.svc.delete_object(c, "src")
            await env.svc.delete_object(c, "dst")

    run(tmp_path, test)


def test_a_copy_onto_a_full_disk_is_insufficient_storage(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A copy to another policy's disk copies the bytes; with that disk full it is refused
    as a full write is, naming the policy, and leaves no temp file nor row."""
    async def test(env: Env) -> None:
        gold = await env.container("g")
        silver = await env.container("s", env.svc.policies.find("silver"))
        source, _ = await env.put(gold, "src", b"s" * 500)
        filler = env.silver.root / "filler"
        with contextlib.suppress(OSError), open(filler, "wb") as out:
            while True:
                out.write(b"f" * 4096)
                out.flush()
        caplog.clear()
        with pytest.raises(InsufficientStorage) as full:
            await env.svc.copy_object(silver, source, "copy", content_type="", meta={})
        assert full.value.where == "silver"
        assert await env.svc.get_object(silver, "copy") is None
        assert env.temps() == [] and env.files() == {source.blob_id}
        [message] = logged(caplog)
        assert message.startswith("policy silver is full: a copy to copy failed ([Errno 28]")
        filler.unlink()
        copy, _ = await env.svc.copy_object(silver, source, "copy", content_type="", meta={})
        assert await env.read(silver, "copy") == b"s" * 500
        assert env.files(env.silver) == {copy.blob_id}

    with small_tmpfs(tmp_path / "small", 256 * 1024) as mount:
        run(tmp_path, test, silver=mount)


def test_a_copy_of_a_source_gone_meanwhile_is_not_found(tmp_path: Path) -> None:
    async def test(env: Env) -> None:
        c = await env.container()
        for data in (b"x", b"x" * 500):
            source, _ = await env.put(c, "src", data)
            await env.svc.delete_object(c, "src")
            with pytest.raises(ObjectNotFound, match=r"^src$"):
                await env.svc.copy_object(c, source, "copy", content_type="", meta={})
        elsewhere = source._replace(container_id=999_999)
        with pytest.raises(ObjectNotFound, match=r"^src$"):
            await env.svc.copy_object(c, elsewhere, "copy", content_type="", meta={})
        assert await env.svc.get_object(c, "copy") is None

    run(tmp_path, test)


def test_update_object_replaces_metadata_and_touch_moves_the_time(tmp_path: Path) -> None:
    async def test(env: Env) -> None:
        c = await env.container()
        record, _ = await env.put(c, "o", b"x", meta={"meta-a": "1"}, timestamp=100.0)
        updated = await env.svc.update_object(c, record, {"meta-b": "2"}, "text/x", None)
        assert updated.meta == {"meta-b": "2"} and updated.content_type == "text/x"
        assert updated.timestamp == 100.0
        for _ in range(4):  # 5 decimals, as Swift's timestamps (one in ten has a 0 in 6th)
            before = time.time()
            touched = await env.svc.update_object(c, record, {}, None, 4_000_000_000,
                                                  touch=True)
            assert before - 1e-5 <= touched.timestamp <= time.time() + 1e-5
            assert touched.timestamp == round(touched.timestamp, 5)
        assert touched.delete_at == 4_000_000_000
        assert touched.content_type == "text/x"
        await env.svc.delete_object(c, "o")
        with pytest.raises(ObjectNotFound, match=r"^o$"):
            await env.svc.update_object(c, record, {}, None, None)

    run(tmp_path, test)


def test_a_read_follows_an_overwrite_that_freed_its_blob(tmp_path: Path) -> None:
    async def test(env: Env) -> None:
        c = await env.container()
        for first, second in ((b"a" * 500, b"b" * 600), (b"a", b"b"), (b"a" * 500, b"b")):
            old, _ = await env.put(c, "o", first)
            new, _ = await env.put(c, "o", second)
            record, reader = await env.svc.open_object(c, old)
            assert record == new
            assert await read_all(reader, record.size) == second
            await env.svc.delete_object(c, "o")
            with pytest.raises(ObjectNotFound, match=r"^o$"):
                await env.svc.open_object(c, new)

    run(tmp_path, test)


def test_open_blob(tmp_path: Path) -> None:
    async def test(env: Env) -> None:
        c = await env.container("s", env.svc.policies.find("silver"))
        small, _ = await env.put(c, "small", b"small")
        big, _ = await env.put(c, "big", b"B" * 500)
        assert await read_all(await env.svc.open_blob(small), 5) == b"small"
        assert await read_all(await env.svc.open_blob(big), 500) == b"B" * 500
        with pytest.raises(BlobNotFound) as missing:
            await env.svc.open_blob(big._replace(container_id=999_999))
        assert str(missing.value) == big.blob_id
        await env.svc.delete_object(c, "small")
        with pytest.raises(BlobNotFound) as missing:
            await env.svc.open_blob(small)
        assert str(missing.value) == small.blob_id

    run(tmp_path, test)


# ---- damaged blobs ------------------------------------------------------------------------


class FailingReader(BlobReader):
    """A blob on a disk that fails to read it: stands in for the hardware, not our code."""

    size = 10

    def __init__(self, err: int) -> None:
        self.err = err
        self.closed = False

    async def iter_range(self, start: int, end: int) -> AsyncIterator[bytes]:
        yield b""

    def probe(self, offset: int) -> None:
        raise OSError(self.err, os.strerror(self.err))

    def close(self) -> None:
        self.closed = True


def test_an_unreadable_blob_is_quarantined_and_its_object_gone(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async def test(env: Env) -> None:
        c = await env.container()
        record, _ = await env.put(c, "o", b"o" * 500)
        small, _ = await env.put(c, "small", b"s")
        eio = OSError(errno.EIO, "Input/output error")
        assert not await env.svc.read_failed(c, record, OSError(errno.EBADF, "bad fd"))
        assert not await env.svc.read_failed(c, record, ValueError("x"))
        assert not await env.svc.read_failed(c, small, eio)
        assert await env.svc.get_object(c, "small") == small
        assert env.files() == {record.blob_id}
        with pytest.raises(OSError):
            await env.svc.probe(c, record, FailingReader(errno.EBADF), 0)
        for offset in (0, 499, 500):
            real = env.gold.open(record.blob_id)
            await env.svc.probe(c, record, real, offset)
            assert await read_all(real, 500) == b"o" * 500
        assert logged(caplog) == []
        assert await env.svc.get_object(c, "o") == record
        reader = FailingReader(errno.EIO)
        before = time.time()
        with pytest.raises(ObjectUnreadable, match=r"^o$"):
            await env.svc.probe(c, record, reader, 0)
        assert reader.closed
        assert await env.svc.get_object(c, "o") is None
        assert env.files() == set()
        [(blob_id, details)] = list(env.gold.quarantined())
        assert blob_id == record.blob_id
        moved = env.gold.quarantine_dir / record.blob_id
        assert moved.read_bytes() == b"o" * 500
        at = details.pop("quarantined_at")
        assert isinstance(at, float) and before <= at <= time.time()
        assert details == {  # what `strato audit status` shows the operator
            "blob_id": record.blob_id, "account": ACCOUNT, "container": "c", "object": "o",
            "container_id": c.id, "etag": record.etag, "size": 500,
            "reason": "read error: [Errno 5] Input/output error"}
        assert logged(caplog) == [
            f"read error on object o in container c (policy gold, blob {record.blob_id}): "
            f"[Errno 5] Input/output error; blob quarantined to {moved}"]
        fresh = await env.fresh(c)
        assert (fresh.object_count, fresh.bytes_used) == (1, 1)
        # the blob gone already (an overwrite freed it): the new row is left alone
        new, _ = await env.put(c, "o", b"n" * 500)
        assert await env.svc.read_failed(c, record, eio)
        assert await env.svc.get_object(c, "o") == new
        assert logged(caplog) == [
            f"read error on object o in container c (policy gold, blob {record.blob_id}): "
            "[Errno 5] Input/output error; blob quarantined to (already gone)"]
        ok, _ = await env.svc.open_object(c, new)
        assert ok == new

    run(tmp_path, test)


def test_quarantine_object(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async def test(env: Env) -> None:
        c = await env.container()
        record, _ = await env.put(c, "o", b"o" * 500)
        before = time.time()
        assert await env.svc.quarantine_object(record._replace(container_id=999_999),
                                               "bad") is None
        assert env.files() == {record.blob_id}
        where = await env.svc.quarantine_object(record, "etag mismatch", account=ACCOUNT,
                                                container="c")
        assert where is not None and Path(where).read_bytes() == b"o" * 500
        assert await env.svc.get_object(c, "o") is None
        assert (await env.fresh(c)).object_count == 0
        [(_, details)] = list(env.gold.quarantined())
        at = details.pop("quarantined_at")
        assert isinstance(at, float) and before <= at <= time.time()
        assert details == {
            "blob_id": record.blob_id, "account": ACCOUNT, "container": "c", "object": "o",
            "container_id": c.id, "etag": record.etag, "size": 500, "reason": "etag mismatch"}
        assert logged(caplog) == [
            f"OBJECT LOST: {ACCOUNT}/c/o (blob {record.blob_id}): etag mismatch; its bytes "
            f"are in {where}; restore it from a backup or upload it again"]
        assert await env.svc.quarantine_object(record, "again") is None
        assert logged(caplog) == []
        # unnamed (the auditor knows the blob only) and a row changed meanwhile
        second, _ = await env.put(c, "p", b"p" * 500)
        await env.svc.update_object(c, second, {}, None, 4_000_000_000)
        where = await env.svc.quarantine_object(second, "bad")
        assert where is not None
        [(_, details)] = [q for q in env.gold.quarantined() if q[0] == second.blob_id]
        assert (details["account"], details["container"]) == ("", "")
        assert logged(caplog) == [
            f"OBJECT LOST: ?/{c.id}/p (blob {second.blob_id}): bad; its bytes are in "
            f"{where} (its row had changed already); restore it from a backup or upload it "
            "again"]

    run(tmp_path, test)


# ---- sweeping -----------------------------------------------------------------------------


def test_sweep_removes_old_orphans_and_dead_temp_files_only(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async def test(env: Env) -> None:
        c = await env.container()
        s = await env.container("s", env.svc.policies.find("silver"))
        kept, _ = await env.put(c, "o", b"k" * 500)
        kept_silver, _ = await env.put(s, "o", b"k" * 500)
        orphans = []
        for store in (env.gold, env.silver, env.silver):
            writer = store.writer()
            await writer.write(b"orphan" * 100)
            await writer.finish()
            await writer.commit()
            orphans.append((store, writer.blob_id))
        fresh_orphan = env.gold.writer()
        await fresh_orphan.write(b"new")
        await fresh_orphan.finish()
        await fresh_orphan.commit()
        old = time.time() - 7200
        for store, blob_id in orphans:
            os.utime(store.path_for(blob_id), (old, old))
        for path in (env.gold.path_for(kept.blob_id), env.silver.path_for(kept_silver.blob_id)):
            os.utime(path, (old, old))
        for store in (env.gold, env.silver):
            dead = store.tmp_dir / "dead.tmp"
            dead.write_bytes(b"half")
            os.utime(dead, (old, old))
        (env.gold.tmp_dir / "young.tmp").write_bytes(b"half")
        caplog.set_level(logging.INFO, logger="strato.storage")
        assert await env.svc.sweep_pass(3600) == (3, 2)
        assert logged(caplog) == ["sweep removed 3 orphan blobs and 2 temp files"]
        assert env.files() == {kept.blob_id, kept_silver.blob_id, fresh_orphan.blob_id}
        assert [p.name for p in env.temps()] == ["young.tmp"]
        assert await env.read(c, "o") == b"k" * 500
        assert await env.svc.sweep_pass(3600) == (0, 0)
        assert logged(caplog) == []
        os.utime(env.gold.path_for(fresh_orphan.blob_id), (old, old))
        assert await env.svc.sweep_pass(3600) == (1, 0)
        assert logged(caplog) == ["sweep removed 1 orphan blobs and 0 temp files"]

    run(tmp_path, test)
