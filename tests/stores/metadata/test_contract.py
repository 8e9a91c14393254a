"""The contract every MetadataStore backend must keep, run against each backend.

Adding a backend (PostgreSQL) means adding one entry to conftest.BACKENDS; every test here
(and in test_image_contract.py) then runs against it too.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from strato.stores.metadata.base import SYNC_KEY, Conflict, NotFound, Superseded
from strato.stores.metadata.records import (
    INLINE,
    UNCOUNTED,
    AccessKeyRecord,
    AccountRecord,
    AppCredentialRecord,
    AssignmentRecord,
    ContainerRecord,
    DomainRecord,
    GroupRecord,
    ListingQuery,
    LoginFailures,
    Lookup,
    ObjectRecord,
    ProjectRecord,
    RoleRecord,
    Subdir,
    TokenRecord,
    TokenView,
    UserRecord,
)
from strato.stores.metadata.secretbox import PREFIX, KeyRepository, SecretBox
from tests.stores.metadata.conftest import Env


def account() -> str:
    return f"AUTH_{uuid.uuid4().hex}"


_STAMPS = itertools.count()


def obj(container: ContainerRecord, name: str, size: int = 1, *, blob: str | None = None,
        delete_at: int | None = None, timestamp: float | None = None, **meta: str
        ) -> ObjectRecord:
    """Each write a little newer than the last (from 1000.0), as a clock gives them: a
    write not newer than the stored row changes nothing."""
    if timestamp is None:
        timestamp = 1000.0 + next(_STAMPS) * 1e-6
    return ObjectRecord(container.id, name, blob or uuid.uuid4().hex, size, "e" * 32,
                        "text/plain", timestamp, dict(meta), delete_at)


def container(env: Env, acct: str | None = None, name: str = "c", policy: str = "gold"
              ) -> ContainerRecord:
    record, created = env.run(env.store.create_container(acct or account(), name, {}, 1.0,
                                                         policy))
    assert created
    return record


# ---- accounts and containers ------------------------------------------------------------

def test_account_meta_merge_and_stats(env: Env) -> None:
    s, acct = env.store, account()
    assert env.run(s.get_account(acct)) is None
    rec = env.run(s.update_account_meta(acct, {"x-account-meta-a": "1"}, (), 5.0))
    assert rec.meta == {"x-account-meta-a": "1"} and rec.created_at == 5.0
    rec = env.run(s.update_account_meta(acct, {"x-account-meta-b": "2", "x-account-meta-a": ""},
                                        (), 6.0))
    assert rec.meta == {"x-account-meta-b": "2"} and rec.created_at == 5.0
    env.run(s.update_account_meta(acct, {}, ["x-account-meta-b"], 7.0))
    assert env.run(s.get_account(acct)).meta == {}  # type: ignore[union-attr]
    c1 = container(env, acct, "one")
    c2 = container(env, acct, "two")
    env.run(s.put_object(obj(c1, "a", 10)))
    env.run(s.put_object(obj(c2, "b", 5)))
    stats = env.run(s.account_stats(acct))
    assert (stats.container_count, stats.object_count, stats.bytes_used) == (2, 2, 15)
    empty = env.run(s.account_stats(account()))
    assert (empty.container_count, empty.object_count, empty.bytes_used) == (0, 0, 0)


def test_account_and_container_records_read_back_whole(env: Env) -> None:
    """Every column comes back from the row it was stored in, and a metadata update is
    read back by the next get (not only returned)."""
    s, acct = env.store, account()
    rec = env.run(s.update_account_meta(acct, {"x-account-meta-a": "1"}, (), 5.0))
    assert rec == AccountRecord(acct, 5.0, {"x-account-meta-a": "1"})
    assert env.run(s.get_account(acct)) == rec
    # removing or blanking names that are not there is harmless
    rec = env.run(s.update_account_meta(acct, {"x-account-meta-none": ""},
                                        ["x-account-meta-gone"], 6.0))
    assert rec == AccountRecord(acct, 5.0, {"x-account-meta-a": "1"})

    made = container(env, acct, "c")
    assert env.run(s.get_container(acct, "c")) == ContainerRecord(
        made.id, acct, "c", 1.0, 1.0, 0, 0, {}, "gold") == made
    env.run(s.put_object(obj(made, "o", 7)))
    env.run(s.put_object(obj(made, "o2", 0)))  # two objects: no count equals a timestamp
    env.run(s.update_container_meta(acct, "c", {"x-container-meta-k": "v"},
                                    ["x-container-meta-absent"]))
    assert env.run(s.get_container(acct, "c")) == ContainerRecord(
        made.id, acct, "c", 1.0, 1.0, 2, 7, {"x-container-meta-k": "v"}, "gold")
    again, created = env.run(s.create_container(acct, "c", {}, 4.0, "gold"))
    assert not created and again == env.run(s.get_container(acct, "c")) == ContainerRecord(
        made.id, acct, "c", 1.0, 4.0, 2, 7, {"x-container-meta-k": "v"}, "gold")
    blank, _ = env.run(s.create_container(acct, "b", {"x-container-meta-e": "",
                                                      "x-container-meta-f": "1"}, 5.0, "gold"))
    assert blank.meta == {"x-container-meta-f": "1"}  # a blank value stores nothing
    assert env.run(s.get_container(acct, "b")).meta == {"x-container-meta-f": "1"}
    env.run(s.update_container_meta(acct, "c", {}, (), now=9.0))  # Swift's POST moves it
    assert env.run(s.get_container(acct, "c")).put_timestamp == 9.0

    # a policy keeps its line, at zero, after its last container goes (as in Swift)
    gone = container(env, acct, "s", policy="silver")
    env.run(s.delete_container(acct, gone.name))
    env.run(s.put_object(obj(made, "p", 3)))
    per = {name: (p.container_count, p.object_count, p.bytes_used)
           for name, p in env.run(s.account_stats(acct)).per_policy.items()}
    assert per == {"gold": (2, 3, 10), "silver": (0, 0, 0)}


def test_container_lifecycle(env: Env) -> None:
    s, acct = env.store, account()
    rec, created = env.run(s.create_container(acct, "c", {"x-container-meta-a": "1"}, 1.0,
                                              "gold"))
    assert created and rec.object_count == 0 and rec.meta == {"x-container-meta-a": "1"}
    again, created = env.run(s.create_container(acct, "c", {"x-container-meta-b": "2"}, 2.0,
                                                "silver"))
    assert not created and again.id == rec.id and again.put_timestamp == 2.0
    assert again.meta == {"x-container-meta-a": "1", "x-container-meta-b": "2"}
    assert again.policy == "gold"  # a policy not insisted on leaves the container's alone
    assert env.run(s.get_container(acct, "c")) == again  # stored, not only returned
    updated = env.run(s.update_container_meta(acct, "c", {"x-container-meta-a": ""},
                                              ["x-container-meta-b"]))
    assert updated.meta == {}
    with pytest.raises(NotFound):
        env.run(s.update_container_meta(acct, "missing", {}, ()))
    env.run(s.put_object(obj(rec, "o")))
    with pytest.raises(Conflict):
        env.run(s.delete_container(acct, "c"))
    env.run(s.delete_object(rec.id, "o"))
    env.run(s.delete_container(acct, "c"))
    assert env.run(s.get_container(acct, "c")) is None
    with pytest.raises(NotFound):
        env.run(s.delete_container(acct, "c"))
    with pytest.raises(NotFound):  # a write racing a container delete is refused
        env.run(s.put_object(obj(rec, "late")))


def test_concurrent_creates_of_one_container_make_one(env: Env) -> None:
    """PUTs of one new container at once (each on a connection of its own on PostgreSQL,
    where all but one find the row made meanwhile): one is created, each of the others
    merges into it and answers with it."""
    s, acct = env.store, account()

    async def burst() -> list[tuple[ContainerRecord, bool]]:
        # reads at once first: on PostgreSQL, a connection each is open for the creates,
        # which then all look for the row before any has made it
        assert await asyncio.gather(*(s.get_container(acct, "c") for _ in range(8))) == [
            None] * 8
        return await asyncio.gather(*(s.create_container(
            acct, "c", {f"x-container-meta-k{i}": "v"}, 1.0, "gold") for i in range(8)))

    made = env.run(burst())
    assert sorted(created for _, created in made) == [False] * 7 + [True]
    stored = env.run(s.get_container(acct, "c"))
    assert stored is not None and {r.id for r, _ in made} == {stored.id}
    assert stored.meta == {f"x-container-meta-k{i}": "v" for i in range(8)}


def test_container_policy_is_fixed_at_creation(env: Env) -> None:
    s, acct = env.store, account()
    rec = container(env, acct, "p", policy="silver")
    assert rec.policy == "silver" and env.run(s.container_policy(rec.id)) == "silver"
    with pytest.raises(Conflict):  # insisting on another policy changes nothing
        env.run(s.create_container(acct, "p", {"x-container-meta-a": "1"}, 2.0, "gold",
                                   require_policy=True))
    kept = env.run(s.get_container(acct, "p"))
    assert kept is not None and kept.policy == "silver" and kept.meta == {}
    again, created = env.run(s.create_container(acct, "p", {}, 3.0, "silver",
                                                require_policy=True))
    assert not created and again.policy == "silver" and again.put_timestamp == 3.0
    assert env.run(s.container_policy(10**9)) is None
    assert {"silver"} <= env.run(s.container_policies())


def test_account_stats_per_policy(env: Env) -> None:
    s, acct = env.store, account()
    gold, silver = container(env, acct, "g"), container(env, acct, "s", policy="silver")
    container(env, acct, "s2", policy="silver")
    env.run(s.put_object(obj(gold, "a", 10)))
    env.run(s.put_object(obj(silver, "b", 5)))
    env.run(s.put_object(obj(silver, "c", 7)))
    stats = env.run(s.account_stats(acct))
    assert (stats.container_count, stats.object_count, stats.bytes_used) == (3, 3, 22)
    per = {name: (p.container_count, p.object_count, p.bytes_used)
           for name, p in stats.per_policy.items()}
    assert per == {"gold": (1, 1, 10), "silver": (2, 2, 12)}
    assert env.run(s.account_stats(account())).per_policy == {}


def test_policy_stats_sum_every_account(env: Env) -> None:
    s = env.store
    policy = f"p{uuid.uuid4().hex[:8]}"  # the store is shared by the module's tests
    assert policy not in env.run(s.policy_stats())
    one, two = container(env, account(), "x", policy=policy), container(
        env, account(), "y", policy=policy)
    container(env, account(), "empty", policy=policy)
    env.run(s.put_object(obj(one, "a", 10)))
    env.run(s.put_object(obj(two, "b", 5)))
    env.run(s.put_object(obj(two, "c", 7)))
    stats = env.run(s.policy_stats())[policy]
    assert (stats.container_count, stats.object_count, stats.bytes_used) == (3, 3, 22)
    env.run(s.delete_object(two.id, "c"))
    assert env.run(s.policy_stats())[policy].object_count == 2
    env.run(s.put_object(obj(two, "d", 1)))
    env.run(s.put_object(obj(two, "e", 1)))  # containers and objects now differ in count
    stats = env.run(s.policy_stats())[policy]
    assert (stats.container_count, stats.object_count, stats.bytes_used) == (3, 4, 17)


def test_check_writable_passes_on_an_open_store(env: Env) -> None:
    env.run(env.store.check_writable(5.0))


# ---- objects and counters ---------------------------------------------------------------

def container_counts(env: Env, c: ContainerRecord) -> tuple[int, int]:
    """(object count, bytes used) as the store reports them now."""
    rec = env.run(env.store.get_container(c.account, c.name))
    assert rec is not None
    return rec.object_count, rec.bytes_used


def test_counters_move_with_rows(env: Env) -> None:
    s = env.store
    c = container(env)

    def counts() -> tuple[int, int]:
        return container_counts(env, c)

    assert env.run(s.put_object(obj(c, "a", 10))) is None
    assert counts() == (1, 10)
    first = env.run(s.get_object(c.id, "a"))
    old = env.run(s.put_object(obj(c, "a", 3)))
    assert old == first
    assert counts() == (1, 3)
    env.run(s.put_object(obj(c, "b", 7)))
    assert counts() == (2, 10)
    removed = env.run(s.delete_object(c.id, "a"))
    assert removed is not None and removed.size == 3
    assert env.run(s.delete_object(c.id, "a")) is None
    assert counts() == (1, 7)


def test_uncounted_objects_keep_their_bytes_out(env: Env) -> None:
    """An object marked UNCOUNTED counts as an object but not its bytes, through every
    write that can add, drop or replace the mark."""
    s = env.store
    c = container(env)

    def counts() -> tuple[int, int]:
        return container_counts(env, c)

    env.run(s.put_object(obj(c, "a", 10, **{UNCOUNTED: "1"})))
    assert counts() == (1, 0)
    env.run(s.put_object(obj(c, "a", 4)))  # replaced by a counted object
    assert counts() == (1, 4)
    env.run(s.update_object(c.id, "a", {UNCOUNTED: "1"}, None, None))
    assert counts() == (1, 0)
    env.run(s.update_object(c.id, "a", {}, None, None))
    assert counts() == (1, 4)
    env.run(s.put_object(obj(c, "a", 6, **{UNCOUNTED: "1"})))
    env.run(s.delete_object(c.id, "a"))
    assert counts() == (0, 0)


def test_concurrent_writes_keep_counters_exact(env: Env) -> None:
    s = env.store
    c = container(env)
    rng = random.Random(7)
    sizes = {f"o{i}": rng.randint(0, 1000) for i in range(40)}

    async def burst() -> None:
        await asyncio.gather(*(s.put_object(obj(c, n, sz)) for n, sz in sizes.items()))
        await asyncio.gather(*(s.put_object(obj(c, n, sz * 2))
                               for n, sz in list(sizes.items())[:20]))
        await asyncio.gather(*(s.delete_object(c.id, n) for n in list(sizes)[30:]))

    env.run(burst())
    expected = {n: (sz * 2 if i < 20 else sz) for i, (n, sz) in enumerate(sizes.items())
                if i < 30}
    rec = env.run(s.get_container(c.account, c.name))
    assert rec is not None
    assert (rec.object_count, rec.bytes_used) == (len(expected), sum(expected.values()))


def test_concurrent_deletes_each_answer_for_their_own_row(env: Env) -> None:
    """Deletes sent together (which PostgreSQL sends as one statement) each get the row they
    removed; of two deletes of one name, exactly one removes it; one older than the row
    removes nothing and says so; inline bytes and counters go with what was removed."""
    s = env.store
    c = container(env)
    rows = {f"d{i}": obj(c, f"d{i}", i + 1, blob=INLINE + uuid.uuid4().hex) for i in range(24)}
    for row in rows.values():
        env.run(s.put_object(row, b"x" * row.size))
    late = obj(c, "late", 5, timestamp=5000.0)
    env.run(s.put_object(late))

    async def burst() -> list[Any]:
        calls = [s.delete_object(c.id, n, older_than=4000.0) for n in rows]
        calls += [s.delete_object(c.id, "d0", older_than=4000.0),
                  s.delete_object(c.id, "missing", older_than=4000.0),
                  s.delete_object(c.id, "late", older_than=4000.0)]
        return await asyncio.gather(*calls, return_exceptions=True)

    *removed, again, missing, older = env.run(burst())
    assert removed[1:] == list(rows.values())[1:]
    assert sorted([removed[0], again], key=lambda r: r is None) == [rows["d0"], None]
    assert missing is None
    assert isinstance(older, Superseded) and older.stored == 5000.0
    assert all(env.run(s.inline_data(r.blob_id)) is None for r in rows.values())
    rec = env.run(s.get_container(c.account, c.name))
    assert rec is not None and (rec.object_count, rec.bytes_used) == (1, 5)
    assert env.run(s.get_object(c.id, "late")) == late


def test_concurrent_puts_each_answer_for_their_own_row(env: Env) -> None:
    """PUTs sent together (which PostgreSQL sends as one statement) each get their own
    answer: the row they replaced, None for a new name, NotFound for a container that is
    gone, Superseded for one older than the row (the batch's other writes still land); two
    PUTs of one name keep the newer; inline bytes and counters follow what was written."""
    s = env.store
    c = container(env)
    olds = [obj(c, f"p{i}", 10, blob=INLINE + uuid.uuid4().hex) for i in range(8)]
    for row in olds:
        env.run(s.put_object(row, b"o" * 10))
    late = obj(c, "late", 5, timestamp=5000.0)
    env.run(s.put_object(late))
    news = [obj(c, f"p{i}", i + 1, blob=INLINE + uuid.uuid4().hex) for i in range(8)]
    fresh = [obj(c, f"n{i}", 100) for i in range(8)]
    newer = obj(c, "twice", 7, timestamp=4001.0)
    older = obj(c, "twice", 3, timestamp=4000.0)
    stale = obj(c, "late", 1, timestamp=4000.0)
    orphan = ObjectRecord(10**9, "x", INLINE + uuid.uuid4().hex, 1, "e" * 32, "text/plain",
                          1.0, {})

    async def burst() -> list[Any]:
        calls = [s.put_object(r, b"n" * r.size) for r in news]
        calls += [s.put_object(r) for r in fresh]
        calls += [s.put_object(newer), s.put_object(older), s.put_object(stale),
                  s.put_object(orphan, b"x")]
        return await asyncio.gather(*calls, return_exceptions=True)

    answers = env.run(burst())
    assert answers[:8] == olds and answers[8:16] == [None] * 8
    twice_answers, stale_answer, orphan_answer = answers[16:18], answers[18], answers[19]
    assert None in twice_answers  # the first of the two to land made the name
    other = next(a for a in twice_answers if a is not None)
    assert other == older or (isinstance(other, Superseded) and other.stored == 4001.0)
    assert isinstance(stale_answer, Superseded) and stale_answer.stored == 5000.0
    assert isinstance(orphan_answer, NotFound)
    assert env.run(s.get_object(c.id, "twice")) == newer
    assert env.run(s.get_object(c.id, "late")) == late
    assert all(env.run(s.inline_data(r.blob_id)) is None for r in [*olds, orphan])
    assert [env.run(s.inline_data(r.blob_id)) for r in news] == [b"n" * r.size for r in news]
    rec = env.run(s.get_container(c.account, c.name))
    assert rec is not None and rec.object_count == 8 + 8 + 1 + 1
    assert rec.bytes_used == sum(r.size for r in news) + 800 + 7 + 5


def test_newest_timestamp_wins_whatever_the_commit_order(env: Env) -> None:
    """Swift's object server rule: a PUT replaces the row only with a strictly newer
    timestamp, a POST moves it only forward, a delete removes only an older row; the loser
    raises Superseded (the winning timestamp with it) and changes nothing: row, inline
    bytes, counters, the sync queue."""
    s = env.store
    c = container(env)
    env.run(s.set_container_sync(c.id, True, 5.0))

    def state() -> tuple[Any, ...]:
        rec = env.run(s.get_container(c.account, c.name))
        assert rec is not None
        return (env.run(s.get_object(c.id, "a")), rec.object_count, rec.bytes_used,
                len(env.run(s.sync_changes(c.id, 100))))

    first = obj(c, "a", 10, blob=f"{INLINE}{uuid.uuid4().hex}", timestamp=2000.0)
    assert env.run(s.put_object(first, b"x" * 10)) is None
    before = state()
    assert before[1:3] == (1, 10)
    for stamp in (1999.0, 2000.0):  # older, and equal: the stored row wins
        loser = obj(c, "a", 99, blob=f"{INLINE}{uuid.uuid4().hex}", timestamp=stamp)
        with pytest.raises(Superseded) as lost:
            env.run(s.put_object(loser, b"y" * 99))
        assert lost.value.stored == 2000.0
        assert env.run(s.inline_data(loser.blob_id)) is None
        assert state() == before
    assert env.run(s.inline_data(first.blob_id)) == b"x" * 10
    for now in (1500.0, 2000.0):
        with pytest.raises(Superseded):
            env.run(s.update_object(c.id, "a", {"x-object-meta-m": "1"}, None, None, now=now))
        assert state() == before
    for when, older_than in ((1000.0, None), (None, 2000.0), (None, 1999.0)):
        with pytest.raises(Superseded):
            env.run(s.delete_object(c.id, "a", when, older_than=older_than))
        assert state() == before
    assert env.run(s.tombstone(c.id, "a")) is None
    newer = obj(c, "a", 7, timestamp=2001.0)
    assert env.run(s.put_object(newer)) == first
    assert env.run(s.inline_data(first.blob_id)) is None
    assert state()[:3] == (newer, 1, 7)
    moved = env.run(s.update_object(c.id, "a", {"x-object-meta-m": "1"}, None, None,
                                    now=2002.0))
    assert moved.timestamp == 2002.0
    assert env.run(s.delete_object(c.id, "a", 2003.0)) == moved  # a pushed delete
    # a name deleted with a later time (a sync push's) is written again only after it
    env.run(s.put_object(obj(c, "a", 1, timestamp=2004.0)))
    assert env.run(s.delete_object(c.id, "a", 5000.0)) is not None
    gone = state()
    with pytest.raises(Superseded) as lost:
        env.run(s.put_object(obj(c, "a", 3, timestamp=4000.0)))
    assert lost.value.stored == 5000.0 and state() == gone
    assert env.run(s.put_object(obj(c, "a", 3, timestamp=5000.5))) is None
    assert state()[1:3] == (1, 3)
    # a client's delete carries its node's clock: it removes a row older than that
    plain = container(env, name="plain")
    env.run(s.put_object(obj(plain, "p", 1, timestamp=10.0)))
    assert env.run(s.delete_object(plain.id, "p", older_than=10.5)) is not None
    assert env.run(s.delete_object(plain.id, "p", older_than=11.0)) is None  # no row: None


def test_racing_puts_of_one_name_leave_the_newest(env: Env) -> None:
    """PUTs of one name in flight at once, committed in any order: the newest timestamp is
    the row, counted once; every other one is either replaced or Superseded."""
    s = env.store
    c = container(env)
    stamps = [3000.0 + i for i in range(24)]
    random.Random(3).shuffle(stamps)

    async def race() -> list[Any]:
        return await asyncio.gather(*(s.put_object(obj(c, "r", int(t) - 2990, timestamp=t))
                                      for t in stamps), return_exceptions=True)

    outcomes = env.run(race())
    assert all(o is None or isinstance(o, (ObjectRecord, Superseded)) for o in outcomes), outcomes
    assert sum(o is None for o in outcomes) == 1  # one insert, then replacements or losers
    row = env.run(s.get_object(c.id, "r"))
    assert row is not None and row.timestamp == max(stamps)
    rec = env.run(s.get_container(c.account, c.name))
    assert rec is not None and (rec.object_count, rec.bytes_used) == (1, row.size)


def test_update_object_replaces_meta_only(env: Env) -> None:
    s = env.store
    c = container(env)
    original = obj(c, "o", 5, **{"x-object-meta-a": "1"})
    env.run(s.put_object(original))
    updated = env.run(s.update_object(c.id, "o", {"x-object-meta-b": "2"}, "image/png", 99))
    stored = env.run(s.get_object(c.id, "o"))
    assert updated == stored
    assert stored is not None and stored.meta == {"x-object-meta-b": "2"}
    assert (stored.content_type, stored.delete_at) == ("image/png", 99)
    assert (stored.blob_id, stored.size, stored.etag) == (original.blob_id, 5, original.etag)
    kept = env.run(s.update_object(c.id, "o", {}, None, None))
    assert kept.content_type == "image/png" and kept.delete_at is None
    assert kept.timestamp == original.timestamp  # no `now`: the timestamp stays
    moved = env.run(s.update_object(c.id, "o", {}, None, None, now=2000.0))
    assert moved.timestamp == 2000.0 == env.run(s.get_object(c.id, "o")).timestamp
    with pytest.raises(NotFound):
        env.run(s.update_object(c.id, "missing", {}, None, None))


def test_writes_answer_with_the_whole_record_they_wrote_or_met(env: Env) -> None:
    """What a write returns (a POST's container, the row a PUT replaced, the stored time
    that superseded an update) is the record as stored, every field from its own column,
    and account stats count containers and objects apart."""
    s, acct = env.store, account()
    c = container(env, acct, "c", policy="silver")
    env.run(s.put_object(obj(c, "a", 7)))
    env.run(s.put_object(obj(c, "b", 0)))
    env.run(s.put_object(obj(c, "d", 2)))
    moved = env.run(s.update_container_meta(acct, "c", {}, (), now=3.0))
    updated = env.run(s.update_container_meta(acct, "c", {"x-container-meta-k": "v"}, ()))
    assert moved == ContainerRecord(c.id, acct, "c", 1.0, 3.0, 3, 9, {}, "silver")
    assert updated == env.run(s.get_container(acct, "c")) == ContainerRecord(
        c.id, acct, "c", 1.0, 3.0, 3, 9, {"x-container-meta-k": "v"}, "silver")
    again, created = env.run(s.create_container(acct, "c", {}, 4.0, "silver"))
    assert not created and again == env.run(s.get_container(acct, "c")) == ContainerRecord(
        c.id, acct, "c", 1.0, 4.0, 3, 9, {"x-container-meta-k": "v"}, "silver")
    stats = env.run(s.account_stats(acct))
    assert (stats.container_count, stats.object_count, stats.bytes_used) == (1, 3, 9)

    expiring = obj(c, "e", 4, delete_at=2_000_000_000, **{"x-object-meta-m": "1"})
    env.run(s.put_object(expiring))
    assert env.run(s.put_object(obj(c, "e", 5))) == expiring  # its expiry too
    stored = env.run(s.get_object(c.id, "e"))
    assert stored is not None
    with pytest.raises(Superseded) as older:
        env.run(s.update_object(c.id, "e", {}, None, None, now=stored.timestamp - 1))
    assert older.value.stored == stored.timestamp


def test_a_delete_removes_an_object_with_an_expiry(env: Env) -> None:
    """A client's DELETE of an object that has an X-Delete-At removes it like any other,
    alone, among others, or stamped with its own time."""
    s = env.store
    c = container(env)
    rows = [obj(c, f"x{i}", i + 1, delete_at=2_000_000_000 + i) for i in range(4)]
    for row in rows:
        env.run(s.put_object(row))

    async def burst() -> list[Any]:
        return await asyncio.gather(*(s.delete_object(c.id, r.name) for r in rows[:3]))

    assert env.run(burst()) == rows[:3]
    assert env.run(s.delete_object(c.id, "x3", 5000.0)) == rows[3]
    assert env.run(s.list_objects(c.id, ListingQuery(), 0.0)) == []
    rec = env.run(s.get_container(c.account, c.name))
    assert rec is not None and (rec.object_count, rec.bytes_used) == (0, 0)


def test_sync_queue_follows_every_write_of_a_syncing_container(env: Env) -> None:
    """Turning sync on queues what the container holds; then every write (PUT, POST,
    delete, the expirer's guarded delete) queues its name, in order, until dropped; other
    containers queue nothing; turning sync off, or deleting the container, empties it."""
    s = env.store
    c = container(env)
    other = container(env, name="other")
    env.run(s.put_object(obj(c, "before")))
    assert env.run(s.sync_changes(c.id, 10)) == []
    env.run(s.set_container_sync(c.id, True, 5.0))
    assert env.run(s.syncing_containers()) == [(c.id, c.account, "c")]
    assert [ch.name for ch in env.run(s.sync_changes(c.id, 10))] == ["before"]
    env.run(s.put_object(obj(c, "é", delete_at=50)))
    env.run(s.put_object(obj(other, "elsewhere")))
    env.run(s.update_object(c.id, "before", {"x-object-meta-a": "1"}, None, None, now=2000.0))
    env.run(s.delete_object(c.id, "before"))
    expired = env.run(s.get_object(c.id, "é"))
    assert expired is not None and env.run(s.delete_objects_if([expired]))
    changes = env.run(s.sync_changes(c.id, 10))
    assert [ch.name for ch in changes] == ["before", "é", "before", "before", "é"]
    assert changes[2].timestamp == 2000.0
    assert env.run(s.sync_changes(other.id, 10)) == []
    env.run(s.drop_sync_changes(c.id, [ch.id for ch in changes[:3]]))
    assert env.run(s.sync_changes(c.id, 10)) == changes[3:]
    assert env.run(s.sync_changes(c.id, 1)) == changes[3:4]
    env.run(s.set_container_sync(c.id, False, 6.0))
    assert env.run(s.sync_changes(c.id, 10)) == [] and env.run(s.syncing_containers()) == []
    env.run(s.set_container_sync(other.id, True, 7.0))
    env.run(s.delete_object(other.id, "elsewhere"))
    env.run(s.delete_container(other.account, "other"))
    assert env.run(s.sync_changes(other.id, 10)) == [] and env.run(s.syncing_containers()) == []


def test_deletes_in_a_syncing_container_leave_tombstones(env: Env) -> None:
    """Every removal of a row in a syncing container (a delete, one carrying its own time,
    the expirer's) remembers the name with the delete's time, the later of two; the queued
    change carries that same time; other containers keep one only for a pushed delete; old
    ones are purged, and a deleted container's go with it."""
    s = env.store
    c = container(env)
    other = container(env, name="other")
    env.run(s.set_container_sync(c.id, True, 5.0))
    for name in ("a", "b", "c"):
        env.run(s.put_object(obj(c, name)))
    env.run(s.put_object(obj(other, "a")))
    assert env.run(s.tombstone(c.id, "a")) is None
    before = time.time()
    env.run(s.delete_object(c.id, "a"))
    stamp = env.run(s.tombstone(c.id, "a"))
    assert stamp is not None and before <= stamp <= time.time()
    assert env.run(s.delete_object(c.id, "b", 1234.5)) is not None
    assert env.run(s.tombstone(c.id, "b")) == 1234.5
    assert env.run(s.sync_changes(c.id, 10))[-1].timestamp == 1234.5
    env.run(s.put_object(obj(c, "b", timestamp=1300.0)))  # newer than its last delete
    with pytest.raises(Superseded):  # a delete older than the row leaves row and tombstone
        env.run(s.delete_object(c.id, "b", 1000.0))
    assert env.run(s.tombstone(c.id, "b")) == 1234.5
    assert env.run(s.delete_object(c.id, "b", 1400.0)) is not None
    assert env.run(s.tombstone(c.id, "b")) == 1400.0
    row = env.run(s.get_object(c.id, "c"))
    assert row is not None and env.run(s.delete_objects_if([row]))
    assert env.run(s.tombstone(c.id, "c")) is not None
    env.run(s.delete_object(other.id, "a"))
    assert env.run(s.tombstone(other.id, "a")) is None
    env.run(s.put_object(obj(other, "a")))  # a container that only receives: a pushed
    env.run(s.delete_object(other.id, "a", 1500.0))  # delete leaves one, queues nothing
    assert env.run(s.tombstone(other.id, "a")) == 1500.0
    assert env.run(s.sync_changes(other.id, 10)) == []
    assert env.run(s.purge_tombstones(2000.0)) == 2  # b's and other's
    assert env.run(s.tombstone(c.id, "b")) is None
    assert env.run(s.tombstone(c.id, "a")) == stamp
    env.run(s.delete_container(c.account, "c"))
    assert env.run(s.purge_tombstones(time.time() + 10)) == 0


def test_blob_references(env: Env) -> None:
    s = env.store
    c = container(env)
    rec = obj(c, "o")
    assert not env.run(s.blob_referenced(rec.blob_id))
    env.run(s.put_object(rec))
    assert env.run(s.blob_referenced(rec.blob_id))
    env.run(s.put_object(obj(c, "o")))
    assert not env.run(s.blob_referenced(rec.blob_id))


def test_object_by_blob_names_the_object_a_blob_holds(env: Env) -> None:
    """The auditor's look-up from a file on disk to its object (account and container by
    name: the log and the quarantine note say which object was lost)."""
    s = env.store
    c = container(env, name="snapé")
    rec = obj(c, "café/photo", size=7)
    assert env.run(s.object_by_blob(rec.blob_id)) is None
    env.run(s.put_object(rec))
    found = env.run(s.object_by_blob(rec.blob_id))
    assert found is not None
    assert found[:2] == (c.account, "snapé") and found[2].name == "café/photo"
    assert (found[2].container_id, found[2].blob_id, found[2].size) == (c.id, rec.blob_id, 7)
    env.run(s.put_object(obj(c, "café/photo")))
    assert env.run(s.object_by_blob(rec.blob_id)) is None


def test_inline_bytes_live_and_go_with_their_row(env: Env) -> None:
    """An inline blob's bytes commit with its row and leave with it: on overwrite (by a
    file-backed or another inline object), on delete, on a guarded (expirer) delete; a
    row rejected for a vanished container stores no bytes either."""
    s = env.store
    c = container(env)
    first = obj(c, "o", blob=INLINE + "1")
    env.run(s.put_object(first, b"one"))
    assert env.run(s.inline_data(first.blob_id)) == b"one"
    second = obj(c, "o", blob=INLINE + "2")
    assert env.run(s.put_object(second, b"two")) == first
    assert env.run(s.inline_data(first.blob_id)) is None
    env.run(s.put_object(obj(c, "o")))  # now backed by a file
    assert env.run(s.inline_data(second.blob_id)) is None
    third = obj(c, "p", blob=INLINE + "3")
    env.run(s.put_object(third, b""))
    assert env.run(s.inline_data(third.blob_id)) == b""
    assert env.run(s.delete_object(c.id, "p")) == third
    assert env.run(s.inline_data(third.blob_id)) is None
    fourth = obj(c, "q", blob=INLINE + "4")
    env.run(s.put_object(fourth, b"four"))
    assert env.run(s.delete_objects_if([fourth])) == [fourth]
    assert env.run(s.inline_data(fourth.blob_id)) is None
    orphan = ObjectRecord(10**9, "x", INLINE + "5", 1, "e" * 32, "text/plain", 1.0, {})
    with pytest.raises(NotFound):
        env.run(s.put_object(orphan, b"x"))
    assert env.run(s.inline_data(orphan.blob_id)) is None


def test_lookup_reads_account_container_object_and_bytes_together(env: Env) -> None:
    """`lookup` answers what the separate reads answer, each part None where it is missing:
    no account row, no container, no object, bytes not asked for or kept in a file."""
    s, acct = env.store, account()
    assert env.run(s.lookup(acct, "c", "o", data=True)) == Lookup(None, None)
    c = container(env, acct)
    assert env.run(s.lookup(acct, "c", "o", data=True)) == Lookup(None, c)
    assert env.run(s.lookup(acct, "other", "o")) == Lookup(None, None)
    row = env.run(s.update_account_meta(acct, {"x-account-meta-quota-bytes": "9"}, (), 2.0))
    small = obj(c, "o", 5, blob=INLINE + uuid.uuid4().hex, **{"meta-k": "v"})
    env.run(s.put_object(small, b"small"))
    filed = obj(c, "f", 7, delete_at=1)  # expired: the store still hands the row out
    env.run(s.put_object(filed))
    c = env.run(s.get_container(acct, "c"))
    assert c is not None and c.object_count == 2 and c.bytes_used == 12
    assert env.run(s.lookup(acct, "c", "o", data=True)) == Lookup(row, c, small, b"small")
    assert env.run(s.lookup(acct, "c", "o")) == Lookup(row, c, small, None)
    assert env.run(s.lookup(acct, "c")) == Lookup(row, c)
    assert env.run(s.lookup(acct, "c", "f", data=True)) == Lookup(row, c, filed, None)
    assert env.run(s.lookup(acct, "c", "missing", data=True)) == Lookup(row, c)
    light = env.run(s.lookup(acct, "c", "o", data=True, counts=False))
    assert light.object == small and light.data == b"small" and light.container is not None
    assert light.container == (c if light.container.counted else replace(
        c, object_count=0, bytes_used=0, counted=False))
    other = container(env, account())  # the same names elsewhere are not found
    assert env.run(s.lookup(other.account, "c", "o")) == Lookup(None, other)


# ---- expiry -----------------------------------------------------------------------------

def test_expiry_index_and_guarded_delete(env: Env) -> None:
    s = env.store
    c = container(env)
    base = 2_000_000_000
    env.run(s.put_object(obj(c, "late", delete_at=base + 100)))
    env.run(s.put_object(obj(c, "early", delete_at=base + 10)))
    env.run(s.put_object(obj(c, "forever")))
    due = [r for r in env.run(s.expired_objects(base + 50, 1000)) if r.container_id == c.id]
    assert [r.name for r in due] == ["early"]
    due = [r for r in env.run(s.expired_objects(base + 200, 1000)) if r.container_id == c.id]
    assert [r.name for r in due] == ["early", "late"]
    listed = env.run(s.list_objects(c.id, ListingQuery(), base + 50))
    assert [r.name for r in listed] == ["forever", "late"]
    # the expirer must not delete an object overwritten since it read the index
    stale = due[0]
    env.run(s.put_object(obj(c, "early")))
    assert not env.run(s.delete_object_if(stale))
    assert env.run(s.get_object(c.id, "early")) is not None
    # ... nor one whose expiry a POST moved meanwhile (allow_open_expired restores that way)
    moved = env.run(s.update_object(c.id, "late", {}, None, base + 10_000))
    assert not env.run(s.delete_object_if(due[1]))
    assert env.run(s.delete_objects_if([due[1]])) == []
    assert env.run(s.delete_object_if(moved))
    assert env.run(s.get_object(c.id, "late")) is None
    rec = env.run(s.get_container(c.account, c.name))
    assert rec is not None and rec.object_count == 2



def test_the_expirer_spares_an_object_overwritten_with_the_same_expiry(env: Env) -> None:
    """An object PUT again since the expirer read the index, with the same X-Delete-At, is
    another blob: removing its row while the expirer frees the old blob would leak the new
    one, so the guarded delete removes nothing."""
    s = env.store
    c = container(env)
    stale = obj(c, "o", delete_at=2_000_000_000)
    env.run(s.put_object(stale))
    fresh = obj(c, "o", delete_at=2_000_000_000)
    env.run(s.put_object(fresh))
    assert not env.run(s.delete_object_if(stale))
    assert env.run(s.delete_objects_if([stale])) == []
    assert env.run(s.get_object(c.id, "o")) == fresh
    assert env.run(s.delete_objects_if([fresh])) == [fresh]


def test_expired_objects_of_one_account_or_container(env: Env) -> None:
    """The filters the container and account reads reap with: only that part of the index."""
    s = env.store
    acct = account()
    c1, c2 = container(env, acct, "one"), container(env, acct, "two")
    other = container(env)
    base = 2_000_000_000
    for c in (c1, c2, other):
        env.run(s.put_object(obj(c, "gone", delete_at=base)))
        env.run(s.put_object(obj(c, "kept", delete_at=base + 100)))
    due = env.run(s.expired_objects(base + 50, 1000, container_id=c2.id))
    assert [(r.container_id, r.name) for r in due] == [(c2.id, "gone")]
    due = env.run(s.expired_objects(base + 50, 1000, account=acct))
    assert sorted(r.container_id for r in due) == sorted([c1.id, c2.id])
    assert env.run(s.expired_objects(base + 50, 1, account=acct))[0].name == "gone"

# ---- listings ---------------------------------------------------------------------------

def reference(names: list[str], q: ListingQuery) -> list[str]:
    """Swift's listing semantics, written plainly over a sorted list."""
    prefix, delim = q.prefix, q.delimiter
    if q.path is not None:
        prefix = q.path.rstrip("/") + "/" if q.path else ""
        delim = "/"
    out: list[str] = []
    for n in sorted(names, key=lambda x: x.encode(), reverse=q.reverse):
        if not n.startswith(prefix):
            continue
        low, high = (q.marker, q.end_marker) if not q.reverse else (q.end_marker, q.marker)
        if (low and n <= low) or (high and n >= high):
            continue
        if q.path is not None and n == prefix:
            continue
        if delim:
            end = n.find(delim, len(prefix))
            if end >= 0:
                if q.path is not None:
                    if len(n) > end + 1:
                        continue
                else:
                    cut = end + len(delim)
                    sub = "/" + n[:cut]  # subdirs marked with a leading slash
                    lower = q.end_marker if q.reverse else q.marker
                    if (not out or out[-1] != sub) and n[:cut] != lower:
                        out.append(sub)
                    continue
        out.append(n)
    return out[: q.limit]


def flat(rows: list[Any]) -> list[str]:
    return ["/" + r.name if isinstance(r, Subdir) else r.name for r in rows]


@pytest.fixture(scope="module")
def big(shared_env: Env) -> tuple[Env, ContainerRecord, list[str]]:
    """A container with a few thousand names in nested directories and odd characters."""
    env = shared_env
    c = container(env)
    names = [f"d{i % 5}/s{i % 3}/f{i:04d}" for i in range(2400)]
    names += [f"top{i:03d}" for i in range(300)]
    names += [f"d{i}/" for i in range(3)] + ["d1", "é/x", "日本/語", "~", "a-b", "a/b/", "a0"]

    async def load() -> None:
        for start in range(0, len(names), 200):
            await asyncio.gather(*(env.store.put_object(obj(c, n))
                                   for n in names[start:start + 200]))

    env.run(load())
    return env, c, names


QUERIES = [
    ListingQuery(),
    ListingQuery(limit=7),
    ListingQuery(delimiter="/"),
    ListingQuery(delimiter="/", reverse=True),
    ListingQuery(prefix="d1/", delimiter="/"),
    ListingQuery(prefix="d1/", delimiter="/", reverse=True),
    ListingQuery(prefix="d2/s1/", limit=50, marker="d2/s1/f0500"),
    ListingQuery(marker="d3", end_marker="d4/s0", delimiter="/"),
    ListingQuery(marker="d1/", delimiter="/"),
    ListingQuery(marker="top100", reverse=True, limit=20),
    ListingQuery(marker="top100", end_marker="d4", reverse=True, delimiter="/"),
    ListingQuery(marker="top100", end_marker="d2/", reverse=True, delimiter="/"),
    ListingQuery(path="d0"),
    ListingQuery(path="d0/s2", limit=30),
    ListingQuery(path="a/b"),
    ListingQuery(path=""),
    ListingQuery(prefix="é"),
    ListingQuery(prefix="\ud7ff"),
    ListingQuery(delimiter="s"),
    ListingQuery(delimiter="1/"),  # Swift allows multi-character delimiters
    ListingQuery(delimiter="1/", reverse=True),
    ListingQuery(prefix="d", delimiter="/", limit=3),
]


@pytest.mark.parametrize("query", QUERIES, ids=[str(i) for i in range(len(QUERIES))])
def test_listing_matches_reference(big: tuple[Env, ContainerRecord, list[str]],
                                   query: ListingQuery) -> None:
    env, c, names = big
    got = flat(env.run(env.store.list_objects(c.id, query, 0.0)))
    assert got == reference(names, query)


def test_listing_pages_through_everything(big: tuple[Env, ContainerRecord, list[str]]
                                          ) -> None:
    env, c, names = big
    for reverse in (False, True):
        seen: list[str] = []
        marker = ""
        while True:
            page = env.run(env.store.list_objects(
                c.id, ListingQuery(limit=333, marker=marker, reverse=reverse), 0.0))
            if not page:
                break
            seen.extend(r.name for r in page)
            marker = page[-1].name
        assert seen == sorted(names, key=lambda n: n.encode(), reverse=reverse)


def test_container_listing_with_delimiter(env: Env) -> None:
    acct = account()
    for name in ("a", "b-1", "b-2", "c"):
        container(env, acct, name)
    rows = env.run(env.store.list_containers(acct, ListingQuery(delimiter="-")))
    assert flat(rows) == ["a", "/b-", "c"]
    rows = env.run(env.store.list_containers(acct, ListingQuery(prefix="b", reverse=True)))
    assert flat(rows) == ["b-2", "b-1"]
    assert flat(env.run(env.store.list_containers(acct, ListingQuery(limit=1, marker="a")))
                ) == ["b-1"]
    container(env, acct, "d")
    assert flat(env.run(env.store.list_containers(acct, ListingQuery(end_marker="c")))
                ) == ["a", "b-1", "b-2"]
    assert flat(env.run(env.store.list_containers(acct, ListingQuery(
        marker="d", end_marker="a", reverse=True)))) == ["c", "b-2", "b-1"]
    assert flat(env.run(env.store.list_containers(acct, ListingQuery(
        delimiter="-", limit=2)))) == ["a", "/b-"]
    assert flat(env.run(env.store.list_containers(acct, ListingQuery(
        delimiter="-", marker="b-")))) == ["c", "d"]
    assert flat(env.run(env.store.list_containers(acct, ListingQuery(
        delimiter="-", reverse=True)))) == ["d", "c", "/b-", "a"]


def test_listed_containers_are_whole_records(env: Env) -> None:
    """A container listing gives each container as `get_container` reads it, every field
    in its place (values all distinct, so a swapped column shows), the counters of an
    empty container at zero and of a full one at its objects' count and bytes."""
    acct = account()
    s = env.store
    full, _ = env.run(s.create_container(acct, "full", {"x-container-meta-a": "1"}, 2.0,
                                         "gold"))
    env.run(s.update_container_meta(acct, "full", {"x-container-meta-a": "2"}, [], 3.0))
    for name, size in (("o1", 5), ("o2", 7)):
        env.run(s.put_object(obj(full, name, size)))
    empty, _ = env.run(s.create_container(acct, "empty", {}, 4.0, "silver"))
    listed = env.run(s.list_containers(acct, ListingQuery()))
    expected = [env.run(s.get_container(acct, name)) for name in ("empty", "full")]
    assert listed == expected
    assert expected[1] == ContainerRecord(full.id, acct, "full", 2.0, 3.0, 2, 12,
                                          {"x-container-meta-a": "2"}, "gold")
    assert expected[0] == ContainerRecord(empty.id, acct, "empty", 4.0, 4.0, 0, 0, {},
                                          "silver")


# ---- identity ---------------------------------------------------------------------------

def test_update_user_writes_every_field(env: Env) -> None:
    """Each field of an updated user is stored (a default project set, extra changed)."""
    s = env.store
    tag = uuid.uuid4().hex[:8]
    domain = env.run(s.create_domain(DomainRecord(f"dom{tag}", f"Dom{tag}")))
    project = env.run(s.create_project(ProjectRecord(f"p{tag}", "proj", domain.id)))
    user = env.run(s.create_user(UserRecord(f"u{tag}", "alice", domain.id, "hash")))
    changed = UserRecord(user.id, "bob", domain.id, "hash2", False, project.id, {"e": "x"})
    assert env.run(s.update_user(changed)) == changed
    assert env.run(s.get_user(id=user.id)) == changed


def test_a_lookup_without_id_or_name_finds_nothing(env: Env) -> None:
    """`get_user(id=token.user_id)` with an id that is None must not answer with whichever
    user comes first (the filters left out would match every row), even within a domain."""
    s = env.store
    tag = uuid.uuid4().hex[:8]
    domain = env.run(s.create_domain(DomainRecord(f"nk{tag}", f"Nk{tag}")))
    project = env.run(s.create_project(ProjectRecord(f"nkp{tag}", "nkproj", domain.id)))
    user = env.run(s.create_user(UserRecord(f"nku{tag}", "nkuser", domain.id, "hash")))
    env.run(s.create_role(RoleRecord(f"nkr{tag}", f"nkrole{tag}")))
    env.run(s.create_group(GroupRecord(f"nkg{tag}", "nkgroup", domain.id)))
    env.run(s.create_app_credential(AppCredentialRecord(
        f"nkc{tag}", "nkcred", user.id, project.id, "secret", (), 1.0)))
    assert env.run(s.get_domain(id=None)) is None
    assert env.run(s.get_project(id=None, domain_id=domain.id)) is None
    assert env.run(s.get_user(id=None, domain_id=domain.id)) is None
    assert env.run(s.get_role(id=None, name=None)) is None
    assert env.run(s.get_group(id=None, domain_id=domain.id)) is None
    assert env.run(s.get_app_credential(id=None, user_id=user.id)) is None
    # and each is found by its key
    assert env.run(s.get_user(id=user.id)) == user
    assert env.run(s.get_app_credential(name="nkcred", user_id=user.id)) is not None


def test_identity_methods(env: Env) -> None:
    s = env.store
    tag = uuid.uuid4().hex[:8]
    domain = env.run(s.create_domain(DomainRecord(f"dom{tag}", f"Dom{tag}")))
    assert env.run(s.get_domain(name=f"Dom{tag}")) == domain
    assert domain in env.run(s.list_domains())
    project = env.run(s.create_project(ProjectRecord(f"p{tag}", "proj", domain.id)))
    assert env.run(s.get_project(name="proj", domain_id=domain.id)) == project
    with pytest.raises(Conflict):
        env.run(s.create_project(ProjectRecord(f"q{tag}", "proj", domain.id)))
    assert env.run(s.list_projects(domain.id)) == [project]
    user = env.run(s.create_user(UserRecord(f"u{tag}", "alice", domain.id, "hash")))
    assert env.run(s.get_user(id=user.id)) == user
    changed = env.run(s.update_user(UserRecord(user.id, "alice", domain.id, "hash2",
                                               enabled=False)))
    assert env.run(s.get_user(name="alice", domain_id=domain.id)) == changed
    role = env.run(s.get_role(name=f"r{tag}")) or env.run(
        s.create_role(RoleRecord(f"r{tag}", f"r{tag}")))
    assert role in env.run(s.list_roles())
    env.run(s.assign_role(role.id, user.id, project_id=project.id))
    env.run(s.assign_role(role.id, user.id, project_id=project.id))  # idempotent
    assert env.run(s.user_roles(user.id, project_id=project.id)) == [role]
    assert env.run(s.user_projects(user.id)) == [project]
    env.run(s.unassign_role(role.id, user.id, project_id=project.id))
    assert env.run(s.user_roles(user.id, project_id=project.id)) == []
    env.run(s.assign_role(role.id, user.id, domain_id=domain.id))
    assert env.run(s.user_roles(user.id, domain_id=domain.id)) == [role]

    live = TokenRecord(f"h1{tag}", user.id, project.id, None, 1.0, 4_000_000_000.0)
    dead = TokenRecord(f"h2{tag}", user.id, project.id, None, 1.0, 2.0)
    env.run(s.save_token(live))
    env.run(s.save_token(dead))
    assert env.run(s.get_token(live.token_hash)) == live
    assert env.run(s.purge_tokens(100.0)) >= 1
    assert env.run(s.get_token(dead.token_hash)) is None
    assert env.run(s.revoke_token(live.token_hash))
    assert not env.run(s.revoke_token(live.token_hash))
    env.run(s.save_token(live))
    env.run(s.assign_role(role.id, user.id, project_id=project.id))
    env.run(s.delete_user(user.id))
    assert env.run(s.get_user(id=user.id)) is None
    assert env.run(s.get_token(live.token_hash)) is None
    assert env.run(s.user_roles(user.id, project_id=project.id)) == []
    env.run(s.delete_project(project.id))
    assert env.run(s.get_project(id=project.id)) is None


def test_login_failures_count_atomically_lock_at_the_limit_and_restart_after_the_window(
        env: Env) -> None:
    s = env.store
    tag = uuid.uuid4().hex[:8]
    pair, client = f"pair|{tag}", f"client|{tag}"

    async def fail_together(n: int, now: float) -> None:  # concurrent failures all count
        await asyncio.gather(*(s.count_login_failure({pair: 5, client: 3}, now, 60.0)
                               for _ in range(n)))

    env.run(fail_together(2, 1000.0))
    assert env.run(s.get_login_failures(pair)) == LoginFailures(pair, 2, 1000.0, 0.0)
    env.run(fail_together(1, 1010.0))
    assert env.run(s.get_login_failures(client)) == LoginFailures(client, 3, 1000.0, 1070.0)
    assert env.run(s.get_login_failures(pair)).locked_until == 0.0
    env.run(s.count_login_failure({pair: 5}, 1061.0, 60.0))  # the window has passed: anew
    assert env.run(s.get_login_failures(pair)) == LoginFailures(pair, 1, 1061.0, 0.0)
    env.run(s.clear_login_failures(pair))
    assert env.run(s.get_login_failures(pair)) is None


def test_replace_secret_hash_only_over_the_hash_it_read(env: Env) -> None:
    s = env.store
    tag = uuid.uuid4().hex[:8]
    domain = env.run(s.create_domain(DomainRecord(f"rh{tag}", f"Rh{tag}")))
    project = env.run(s.create_project(ProjectRecord(f"rhp{tag}", "rhproj", domain.id)))
    user = env.run(s.create_user(UserRecord(f"rhu{tag}", "rhuser", domain.id, "old")))
    assert env.run(s.replace_secret_hash(old="old", new="rehashed", user_id=user.id))
    assert env.run(s.get_user(id=user.id)).password_hash == "rehashed"
    # a password changed after the login read the row wins over that login's re-hash
    env.run(s.update_user(UserRecord(user.id, user.name, domain.id, "changed")))
    assert not env.run(s.replace_secret_hash(old="rehashed", new="stale", user_id=user.id))
    assert env.run(s.get_user(id=user.id)).password_hash == "changed"
    cred = env.run(s.create_app_credential(AppCredentialRecord(
        f"rhc{tag}", "rhcred", user.id, project.id, "secret-old", (), 1.0)))
    assert not env.run(s.replace_secret_hash(old="other", new="x", app_cred_id=cred.id))
    assert not env.run(s.replace_secret_hash(old="secret-old", new="x"))  # naming nothing
    assert env.run(s.replace_secret_hash(old="secret-old", new="secret-new",
                                         app_cred_id=cred.id))
    assert env.run(s.get_app_credential(id=cred.id)).secret_hash == "secret-new"


def test_token_view_reads_token_user_project_and_scope_roles(env: Env) -> None:
    s = env.store
    tag = uuid.uuid4().hex[:8]
    domain = env.run(s.create_domain(DomainRecord(f"tvd{tag}", f"TvDom{tag}")))
    project = env.run(s.create_project(ProjectRecord(f"tvp{tag}", "tvproj", domain.id,
                                                     enabled=False, description="tv")))
    user = env.run(s.create_user(UserRecord(f"tvu{tag}", "tvuser", domain.id, "hash")))
    direct = env.run(s.create_role(RoleRecord(f"tvr1{tag}", f"zz-direct{tag}")))
    grouped = env.run(s.create_role(RoleRecord(f"tvr2{tag}", f"aa-group{tag}")))
    on_domain = env.run(s.create_role(RoleRecord(f"tvr3{tag}", f"dom{tag}")))
    env.run(s.assign_role(direct.id, user.id, project_id=project.id))
    env.run(s.assign_role(on_domain.id, user.id, domain_id=domain.id))
    group = env.run(s.create_group(GroupRecord(f"tvg{tag}", "tvgroup", domain.id)))
    env.run(s.add_group_member(group.id, user.id))
    env.run(s.assign_group_role(grouped.id, group.id, project_id=project.id))

    scoped = TokenRecord(f"tv1{tag}", user.id, project.id, None, 1.0, 2.0, ("password",),
                         "audit", {"k": "v"})
    env.run(s.save_token(scoped))
    # Sorted by name; the project comes back even disabled: judging it is the caller's job.
    assert env.run(s.token_view(scoped.token_hash)) == TokenView(
        scoped, user, project, (grouped, direct))

    on_dom = TokenRecord(f"tv2{tag}", user.id, None, domain.id, 1.0, 2.0)
    env.run(s.save_token(on_dom))
    assert env.run(s.token_view(on_dom.token_hash)) == TokenView(on_dom, user, None,
                                                                  (on_domain,))
    unscoped = TokenRecord(f"tv3{tag}", user.id, None, None, 1.0, 2.0)
    env.run(s.save_token(unscoped))
    assert env.run(s.token_view(unscoped.token_hash)) == TokenView(unscoped, user, None, ())

    env.run(s.delete_project(project.id))
    assert env.run(s.token_view(scoped.token_hash)) in (
        None, TokenView(scoped, user, None, ()))
    assert env.run(s.token_view("unknown")) is None
    env.run(s.revoke_token(on_dom.token_hash))
    assert env.run(s.token_view(on_dom.token_hash)) is None
    env.run(s.delete_user(user.id))
    assert env.run(s.token_view(unscoped.token_hash)) is None


def test_deleting_a_project_or_user_takes_everything_that_names_it(env: Env) -> None:
    """Assignments name their project only in text (no foreign key), tokens and application
    credentials by id: a deleted project or user must leave none of them behind, or a
    listing shows roles on a project that is gone."""
    s = env.store
    tag = uuid.uuid4().hex[:8]
    domain = env.run(s.create_domain(DomainRecord(f"xd{tag}", f"XDom{tag}")))
    gone, kept = (env.run(s.create_project(ProjectRecord(f"x{n}{tag}", n, domain.id)))
                  for n in ("gone", "kept"))
    user, other = (env.run(s.create_user(UserRecord(f"x{n}{tag}", n, domain.id, "h")))
                   for n in ("user", "other"))
    role = env.run(s.create_role(RoleRecord(f"xr{tag}", f"xr{tag}")))
    group = env.run(s.create_group(GroupRecord(f"xg{tag}", "xg", domain.id)))
    for project in (gone, kept):
        for member in (user, other):
            env.run(s.assign_role(role.id, member.id, project_id=project.id))
        env.run(s.assign_group_role(role.id, group.id, project_id=project.id))
    token = TokenRecord(f"xt{tag}", other.id, gone.id, None, 1.0, 4e9)
    env.run(s.save_token(token))
    cred = env.run(s.create_app_credential(AppCredentialRecord(
        f"xc{tag}", "c", other.id, gone.id, "h", (role.id,), 1.0)))
    env.run(s.delete_project(gone.id))
    assert env.run(s.list_assignments(project_id=gone.id)) == []
    assert env.run(s.get_token(token.token_hash)) is None
    assert env.run(s.get_app_credential(id=cred.id)) is None
    assert len(env.run(s.list_assignments(project_id=kept.id))) == 3
    env.run(s.delete_user(user.id))
    assert env.run(s.list_assignments(user_id=user.id)) == []
    assert sorted(env.run(s.list_assignments(project_id=kept.id)), key=repr) == sorted([
        AssignmentRecord(role.id, None, kept.id, None, group.id),
        AssignmentRecord(role.id, other.id, kept.id, None)], key=repr)


def test_keystone_administration_renames_refuses_duplicates_and_cleans_up(env: Env) -> None:
    """Renames keep names unique; deleting a domain, role or group takes every assignment,
    membership and token that named it, so nothing can be granted through a dead row."""
    s = env.store
    tag = uuid.uuid4().hex[:8]
    home = env.run(s.create_domain(DomainRecord(f"ah{tag}", f"Home{tag}")))
    other = env.run(s.create_domain(DomainRecord(f"ao{tag}", f"Other{tag}")))
    renamed = DomainRecord(other.id, f"Renamed{tag}", enabled=False, description="d")
    assert env.run(s.update_domain(renamed)) == renamed
    assert env.run(s.get_domain(id=other.id)) == renamed
    assert env.run(s.get_domain(name=f"Other{tag}")) is None
    with pytest.raises(Conflict):
        env.run(s.update_domain(DomainRecord(other.id, home.name)))
    assert env.run(s.get_domain(id=other.id)) == renamed

    p1 = env.run(s.create_project(ProjectRecord(f"ap1{tag}", "beta", home.id)))
    p2 = env.run(s.create_project(ProjectRecord(f"ap2{tag}", "alpha", home.id)))
    moved = ProjectRecord(p1.id, "gamma", home.id, enabled=False, description="p")
    assert env.run(s.update_project(moved)) == moved
    assert env.run(s.get_project(id=p1.id)) == moved
    with pytest.raises(Conflict):
        env.run(s.update_project(ProjectRecord(p1.id, "alpha", home.id)))
    assert env.run(s.list_projects(home.id)) == [p2, moved]

    bob = env.run(s.create_user(UserRecord(f"au1{tag}", "bob", home.id, "h")))
    amy = env.run(s.create_user(UserRecord(f"au2{tag}", "amy", home.id, "h")))
    assert env.run(s.list_users(home.id)) == [amy, bob]
    assert env.run(s.list_users(other.id)) == []

    r1 = env.run(s.create_role(RoleRecord(f"ar1{tag}", f"r1{tag}")))
    r2 = env.run(s.create_role(RoleRecord(f"ar2{tag}", f"r2{tag}")))
    assert env.run(s.update_role(RoleRecord(r2.id, f"r2b{tag}"))) == RoleRecord(r2.id,
                                                                                 f"r2b{tag}")
    assert env.run(s.get_role(id=r2.id)) == RoleRecord(r2.id, f"r2b{tag}")
    with pytest.raises(Conflict):
        env.run(s.update_role(RoleRecord(r2.id, r1.name)))
    group = env.run(s.create_group(GroupRecord(f"ag{tag}", "staff", home.id)))

    # A domain holding a project, a user or a group cannot go.
    for holder in ("project", "user", "group"):
        d = env.run(s.create_domain(DomainRecord(f"ad{holder}{tag}", f"D{holder}{tag}")))
        if holder == "project":
            env.run(s.create_project(ProjectRecord(f"adp{tag}", "x", d.id)))
        elif holder == "user":
            env.run(s.create_user(UserRecord(f"adu{tag}", "x", d.id, "h")))
        else:
            env.run(s.create_group(GroupRecord(f"adg{tag}", "x", d.id)))
        with pytest.raises(Conflict):
            env.run(s.delete_domain(d.id))
        assert env.run(s.get_domain(id=d.id)) == d

    # An empty domain goes with the roles given on it and the tokens scoped to it.
    env.run(s.assign_role(r1.id, bob.id, domain_id=other.id))
    env.run(s.assign_role(r1.id, bob.id, domain_id=home.id))
    env.run(s.assign_group_role(r1.id, group.id, domain_id=other.id))
    env.run(s.assign_group_role(r1.id, group.id, domain_id=home.id))
    scoped = TokenRecord(f"at1{tag}", bob.id, None, other.id, 1.0, 4e9)
    kept = TokenRecord(f"at2{tag}", bob.id, None, home.id, 1.0, 4e9)
    env.run(s.save_token(scoped))
    env.run(s.save_token(kept))
    env.run(s.delete_domain(other.id))
    assert env.run(s.get_domain(id=other.id)) is None
    assert env.run(s.get_token(scoped.token_hash)) is None
    assert env.run(s.get_token(kept.token_hash)) == kept
    assert env.run(s.list_assignments(role_id=r1.id)) == [
        AssignmentRecord(r1.id, bob.id, None, home.id),
        AssignmentRecord(r1.id, None, None, home.id, group.id)]

    # Deleting a role takes its user and group assignments.
    env.run(s.assign_role(r2.id, amy.id, project_id=p2.id))
    env.run(s.assign_group_role(r2.id, group.id, project_id=p2.id))
    env.run(s.delete_role(r1.id))
    assert env.run(s.get_role(id=r1.id)) is None
    assert env.run(s.list_assignments(role_id=r1.id)) == []
    assert env.run(s.user_roles(bob.id, domain_id=home.id)) == []
    assert len(env.run(s.list_assignments(role_id=r2.id))) == 2


def test_assignments_filter_by_user_group_target_and_role(env: Env) -> None:
    s = env.store
    tag = uuid.uuid4().hex[:8]
    domain = env.run(s.create_domain(DomainRecord(f"ld{tag}", f"Ld{tag}")))
    pa = env.run(s.create_project(ProjectRecord(f"lpa{tag}", "pa", domain.id)))
    pb = env.run(s.create_project(ProjectRecord(f"lpb{tag}", "pb", domain.id)))
    ua = env.run(s.create_user(UserRecord(f"lua{tag}", "ua", domain.id, "h")))
    ub = env.run(s.create_user(UserRecord(f"lub{tag}", "ub", domain.id, "h")))
    ra = env.run(s.create_role(RoleRecord(f"lra{tag}", f"lra{tag}")))
    rb = env.run(s.create_role(RoleRecord(f"lrb{tag}", f"lrb{tag}")))
    group = env.run(s.create_group(GroupRecord(f"lg{tag}", "lg", domain.id)))
    env.run(s.assign_role(rb.id, ua.id, project_id=pa.id))
    env.run(s.assign_role(ra.id, ua.id, project_id=pa.id))
    env.run(s.assign_role(ra.id, ub.id, project_id=pb.id))
    env.run(s.assign_role(ra.id, ua.id, domain_id=domain.id))
    env.run(s.assign_group_role(rb.id, group.id, project_id=pb.id))

    def user(role: RoleRecord, who: UserRecord, project: ProjectRecord | None = None
             ) -> AssignmentRecord:
        return AssignmentRecord(role.id, who.id, project.id if project else None,
                                None if project else domain.id)

    in_group = AssignmentRecord(rb.id, None, pb.id, None, group.id)
    # users first, then groups; each by who, target, role
    assert env.run(s.list_assignments()) == [
        user(ra, ua), user(ra, ua, pa), user(rb, ua, pa), user(ra, ub, pb), in_group]
    assert env.run(s.list_assignments(user_id=ua.id)) == [user(ra, ua), user(ra, ua, pa),
                                                           user(rb, ua, pa)]
    assert env.run(s.list_assignments(group_id=group.id)) == [in_group]
    assert env.run(s.list_assignments(project_id=pb.id)) == [user(ra, ub, pb), in_group]
    assert env.run(s.list_assignments(domain_id=domain.id)) == [user(ra, ua)]
    assert env.run(s.list_assignments(role_id=rb.id)) == [user(rb, ua, pa), in_group]
    assert env.run(s.list_assignments(user_id=ua.id, project_id=pa.id, role_id=rb.id)) == [
        user(rb, ua, pa)]
    assert env.run(s.list_assignments(user_id=ub.id, domain_id=domain.id)) == []


def test_groups_members_and_their_roles(env: Env) -> None:
    s = env.store
    tag = uuid.uuid4().hex[:8]
    domain = env.run(s.create_domain(DomainRecord(f"gd{tag}", f"Gd{tag}")))
    elsewhere = env.run(s.create_domain(DomainRecord(f"ge{tag}", f"Ge{tag}")))
    project = env.run(s.create_project(ProjectRecord(f"gp{tag}", "gp", domain.id)))
    zed = env.run(s.create_group(GroupRecord(f"gz{tag}", "zed", domain.id, "z")))
    ops = env.run(s.create_group(GroupRecord(f"go{tag}", "ops", domain.id)))
    twin = env.run(s.create_group(GroupRecord(f"gt{tag}", "ops", elsewhere.id)))
    with pytest.raises(Conflict):
        env.run(s.create_group(GroupRecord(f"gx{tag}", "ops", domain.id)))
    assert env.run(s.get_group(id=zed.id)) == zed
    assert env.run(s.get_group(name="ops", domain_id=elsewhere.id)) == twin
    assert env.run(s.get_group(name="nope", domain_id=elsewhere.id)) is None
    assert env.run(s.list_groups(domain.id)) == [ops, zed]
    renamed = GroupRecord(zed.id, "dev", domain.id, "dev team")
    assert env.run(s.update_group(renamed)) == renamed
    assert env.run(s.get_group(id=zed.id)) == renamed
    with pytest.raises(Conflict):
        env.run(s.update_group(GroupRecord(zed.id, "ops", domain.id)))

    bea = env.run(s.create_user(UserRecord(f"gub{tag}", "bea", domain.id, "h")))
    al = env.run(s.create_user(UserRecord(f"gua{tag}", "al", domain.id, "h")))
    for group, user in ((ops, bea), (ops, al), (ops, al), (zed, bea)):
        env.run(s.add_group_member(group.id, user.id))
    assert env.run(s.group_members(ops.id)) == [al, bea]
    assert env.run(s.user_groups(bea.id)) == [renamed, ops]
    assert env.run(s.remove_group_member(ops.id, al.id))
    assert not env.run(s.remove_group_member(ops.id, al.id))
    assert env.run(s.group_members(ops.id)) == [bea]

    reader = env.run(s.create_role(RoleRecord(f"grr{tag}", f"reader{tag}")))
    admin = env.run(s.create_role(RoleRecord(f"gra{tag}", f"admin{tag}")))
    env.run(s.assign_group_role(reader.id, ops.id, project_id=project.id))
    env.run(s.assign_group_role(admin.id, ops.id, project_id=project.id))
    env.run(s.assign_group_role(admin.id, ops.id, domain_id=domain.id))
    assert env.run(s.group_roles(ops.id, project_id=project.id)) == [admin, reader]
    assert env.run(s.group_roles(ops.id, domain_id=domain.id)) == [admin]
    assert env.run(s.user_roles(bea.id, project_id=project.id)) == [admin, reader]
    assert env.run(s.user_projects(bea.id)) == [project]
    env.run(s.unassign_group_role(admin.id, ops.id, project_id=project.id))
    assert env.run(s.group_roles(ops.id, project_id=project.id)) == [reader]
    assert env.run(s.group_roles(ops.id, domain_id=domain.id)) == [admin]
    env.run(s.unassign_group_role(admin.id, ops.id, domain_id=domain.id))
    assert env.run(s.group_roles(ops.id, domain_id=domain.id)) == []

    env.run(s.delete_group(ops.id))
    assert env.run(s.get_group(id=ops.id)) is None
    assert env.run(s.user_groups(bea.id)) == [renamed]
    assert env.run(s.list_assignments(group_id=ops.id)) == []
    assert env.run(s.user_roles(bea.id, project_id=project.id)) == []
    assert env.run(s.get_group(id=twin.id)) == twin


def test_app_credentials_list_by_name_and_go_with_their_tokens(env: Env) -> None:
    s = env.store
    tag = uuid.uuid4().hex[:8]
    domain = env.run(s.create_domain(DomainRecord(f"cd{tag}", f"Cd{tag}")))
    project = env.run(s.create_project(ProjectRecord(f"cp{tag}", "cp", domain.id)))
    user = env.run(s.create_user(UserRecord(f"cu{tag}", "cu", domain.id, "h")))
    other = env.run(s.create_user(UserRecord(f"co{tag}", "co", domain.id, "h")))
    late = env.run(s.create_app_credential(AppCredentialRecord(
        f"cl{tag}", "zeta", user.id, project.id, "s1", ("r1", "r2"), 5.0, 9e9, "late")))
    early = env.run(s.create_app_credential(AppCredentialRecord(
        f"ce{tag}", "alpha", user.id, project.id, "s2", (), 6.0)))
    theirs = env.run(s.create_app_credential(AppCredentialRecord(
        f"ct{tag}", "alpha", other.id, project.id, "s3", (), 7.0)))
    with pytest.raises(Conflict):
        env.run(s.create_app_credential(AppCredentialRecord(
            f"cx{tag}", "zeta", user.id, project.id, "s4", (), 8.0)))
    assert env.run(s.list_app_credentials(user.id)) == [early, late]
    assert env.run(s.get_app_credential(name="alpha", user_id=other.id)) == theirs
    assert env.run(s.get_app_credential(name="zeta", user_id=other.id)) is None
    assert env.run(s.get_app_credential(id=late.id)) == late
    assert env.run(s.get_app_credential()) is None

    through = TokenRecord(f"ctk1{tag}", user.id, project.id, None, 1.0, 4e9,
                          ("application_credential",), "a", {"app_cred_id": late.id})
    direct = TokenRecord(f"ctk2{tag}", user.id, project.id, None, 1.0, 4e9)
    env.run(s.save_token(through))
    env.run(s.save_token(direct))
    assert env.run(s.delete_app_credential(late.id))
    assert not env.run(s.delete_app_credential(late.id))
    assert env.run(s.get_app_credential(id=late.id)) is None
    assert env.run(s.get_token(through.token_hash)) is None
    assert env.run(s.get_token(direct.token_hash)) == direct
    assert env.run(s.list_app_credentials(user.id)) == [early]


def test_access_keys_are_sealed_at_rest_and_resealed_only_over_what_was_read(
        env: Env, tmp_path: Path) -> None:
    """Secrets (access keys, container sync keys) reach the database sealed; a rotation
    re-seals each one only while it still holds what was read."""
    s = env.store
    repo = KeyRepository(tmp_path / "keys")
    repo.setup()
    s.secret_box = SecretBox(repo)
    tag = uuid.uuid4().hex[:8]
    second = env.run(s.create_access_key(AccessKeyRecord(f"k2{tag}", "two", f"u{tag}", "p",
                                                         20.0)))
    first = env.run(s.create_access_key(AccessKeyRecord(f"k1{tag}", "one", f"u{tag}", "p",
                                                        10.0)))
    env.run(s.create_access_key(AccessKeyRecord(f"k3{tag}", "three", f"v{tag}", "p", 5.0)))
    with pytest.raises(Conflict):
        env.run(s.create_access_key(AccessKeyRecord(first.id, "x", f"u{tag}", "p", 1.0)))
    assert env.run(s.get_access_key(first.id)) == first
    assert env.run(s.get_access_key(f"none{tag}")) is None
    assert env.run(s.list_access_keys(f"u{tag}")) == [first, second]
    stored = dict(env.run(s.stored_access_key_secrets()))
    assert stored[first.id].startswith(PREFIX) and "one" not in stored[first.id]
    assert env.run(s.delete_access_key(second.id))
    assert not env.run(s.delete_access_key(second.id))
    assert env.run(s.list_access_keys(f"u{tag}")) == [first]

    acct = account()
    synced = container(env, acct, "synced")
    container(env, acct, "plain")
    env.run(s.update_container_meta(acct, "synced", {SYNC_KEY: "legacy-clear"}, ()))
    assert env.run(s.stored_sync_keys()) == [(synced.id, "legacy-clear")]
    assert not env.run(s.replace_sync_key(synced.id, "not-it", "x"))
    assert not env.run(s.replace_access_key_secret(first.id, "not-it", "x"))
    assert env.run(s.sealed_secrets()) == 2  # the two keys left; the sync key is clear

    repo.add_primary()
    s.secret_box.reload()
    assert env.run(s.reseal_secrets()) == 3
    assert env.run(s.reseal_secrets()) == 0
    assert env.run(s.sealed_secrets()) == 3
    [(cid, sealed_key)] = env.run(s.stored_sync_keys())
    assert cid == synced.id and s.secret_box.is_current(sealed_key)
    assert s.open_secret(sealed_key) == "legacy-clear"
    meta = env.run(s.get_container(acct, "synced")).meta
    assert meta[SYNC_KEY] == sealed_key
    assert env.run(s.get_access_key(first.id)) == first
    assert all(s.secret_box.is_current(v) for _, v in env.run(s.stored_access_key_secrets()))


def test_legacy_containers_take_the_default_policy_once(env: Env) -> None:
    acct = account()
    container(env, acct, "old1", policy="")
    container(env, acct, "old2", policy="")
    kept = container(env, acct, "new", policy="silver")
    other = account()
    container(env, other, "old", policy="")
    assert env.run(env.store.assign_legacy_policy("gold")) == 3
    assert env.run(env.store.assign_legacy_policy("gold")) == 0
    assert env.run(env.store.get_container(acct, "old1")).policy == "gold"
    assert env.run(env.store.container_policy(kept.id)) == "silver"
    # the account lists the policy its containers took (the '' row is this test's doing:
    # containers made before policies never went through create_container)
    stats = env.run(env.store.account_stats(acct))
    assert stats.per_policy["gold"].container_count == 2
    assert stats.per_policy["silver"].container_count == 1
    assert "gold" in env.run(env.store.account_stats(other)).per_policy


def test_lookups_match_every_filter_given(env: Env) -> None:
    """Several rows alike but for one field: each lookup must use every filter it is given
    (a dropped filter would return a neighbour's row) and read every column back."""
    s = env.store
    tag = uuid.uuid4().hex[:8]
    d1 = env.run(s.create_domain(DomainRecord(f"fd1{tag}", f"B{tag}", False, "first")))
    d2 = env.run(s.create_domain(DomainRecord(f"fd2{tag}", f"A{tag}", True, "second")))
    assert env.run(s.get_domain(id=d1.id)) == d1
    assert env.run(s.get_domain(name=d2.name)) == d2
    assert env.run(s.get_domain(id=d1.id, name=d2.name)) is None
    assert [d for d in env.run(s.list_domains()) if d in (d1, d2)] == [d2, d1]

    p1 = env.run(s.create_project(ProjectRecord(f"fp1{tag}", "same", d1.id, False, "one")))
    p2 = env.run(s.create_project(ProjectRecord(f"fp2{tag}", "same", d2.id, True, "two")))
    p3 = env.run(s.create_project(ProjectRecord(f"fp3{tag}", "other", d2.id, True, "three")))
    assert env.run(s.get_project(id=p3.id)) == p3
    assert env.run(s.get_project(name="same", domain_id=d2.id)) == p2
    assert env.run(s.get_project(name="same", domain_id=d1.id)) == p1
    assert env.run(s.get_project(id=p1.id, domain_id=d2.id)) is None
    assert env.run(s.get_project(id=p3.id, name="same")) is None
    assert env.run(s.list_projects(d2.id)) == [p3, p2]
    every = [p for p in env.run(s.list_projects()) if p.id.endswith(tag)]
    assert every[0] == p3 and set(every[1:]) == {p1, p2}  # by name; equal names in any order

    u1 = env.run(s.create_user(UserRecord(f"fu1{tag}", "same", d1.id, "h1", True, p1.id,
                                          {"email": "a@example.org"})))
    u2 = env.run(s.create_user(UserRecord(f"fu2{tag}", "same", d2.id, "h2", False)))
    assert env.run(s.get_user(name="same", domain_id=d1.id)) == u1
    assert env.run(s.get_user(name="same", domain_id=d2.id)) == u2
    assert env.run(s.get_user(id=u1.id, domain_id=d2.id)) is None
    assert env.run(s.get_user(id=u2.id, name="other")) is None

    r1 = env.run(s.create_role(RoleRecord(f"fr1{tag}", f"zz{tag}")))
    r2 = env.run(s.create_role(RoleRecord(f"fr2{tag}", f"aa{tag}")))
    assert env.run(s.get_role(id=r1.id)) == r1
    assert env.run(s.get_role(name=r2.name)) == r2
    assert env.run(s.get_role(id=r1.id, name=r2.name)) is None
    assert env.run(s.get_role(id=f"none{tag}")) is None
    assert [r for r in env.run(s.list_roles()) if r in (r1, r2)] == [r2, r1]

    env.run(s.assign_role(r1.id, u1.id, project_id=p2.id))
    env.run(s.assign_role(r2.id, u1.id, project_id=p2.id))
    env.run(s.assign_role(r1.id, u1.id, project_id=p3.id))
    env.run(s.assign_role(r1.id, u1.id, domain_id=d2.id))
    assert env.run(s.user_roles(u1.id, project_id=p2.id)) == [r2, r1]
    assert env.run(s.user_projects(u1.id)) == [p3, p2]
    env.run(s.unassign_role(r1.id, u1.id, domain_id=d2.id))
    assert env.run(s.user_roles(u1.id, domain_id=d2.id)) == []
    assert env.run(s.user_roles(u1.id, project_id=p2.id)) == [r2, r1]
    assert env.run(s.user_roles(u2.id, project_id=p2.id)) == []


def test_purge_forgets_lapsed_login_counters_and_keeps_the_rest(env: Env) -> None:
    s = env.store
    tag = uuid.uuid4().hex[:8]
    old, recent, locked = f"old|{tag}", f"recent|{tag}", f"locked|{tag}"
    env.run(s.count_login_failure({old: 5}, 1000.0, 60.0))
    env.run(s.count_login_failure({locked: 1}, 1000.0, 10_000.0))  # locked until 11000
    env.run(s.count_login_failure({recent: 5}, 4000.0, 60.0))
    env.run(s.purge_tokens(5000.0))  # an hour on from the old one's first failure
    assert env.run(s.get_login_failures(old)) is None
    assert env.run(s.get_login_failures(recent)) == LoginFailures(recent, 1, 4000.0, 0.0)
    assert env.run(s.get_login_failures(locked)) == LoginFailures(locked, 1, 1000.0, 11000.0)
