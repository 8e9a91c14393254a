"""The metadata layer's own rules outside any SQL: the record helpers (`records.py`) and the
behaviour `base.py` gives every backend (the sealing of secrets at rest, the defaults a new
backend inherits), checked over a real SQLite store in a temporary directory. Fast (about
a second), so mutation testing can run them for each mutant (`scripts/mutation records`)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from strato.stores.metadata.base import (
    SYNC_KEY,
    AccessKeyStore,
    IdentityStore,
    MetadataError,
    MetadataStore,
    ObjectStore,
    Superseded,
)
from strato.stores.metadata.records import (
    INLINE,
    UNCOUNTED,
    AccessKeyRecord,
    ObjectRecord,
    counted_size,
    is_inline,
)
from strato.stores.metadata.secretbox import PREFIX, CredentialKeyError, KeyRepository, SecretBox
from strato.stores.metadata.sqlite import SqliteMetadataStore
from tests.stores.metadata.conftest import Env


@pytest.fixture
def sqlite_env(tmp_path: Path) -> Iterator[Env]:
    env = Env(SqliteMetadataStore(tmp_path / "metadata.db"))
    env.run(env.store.open())
    yield env
    env.run(env.store.close())
    env.loop.close()


def record(name: str = "o", size: int = 7, blob: str = "b" * 32, **meta: str) -> ObjectRecord:
    return ObjectRecord(1, name, blob, size, "e" * 32, "text/plain", 1000.0, dict(meta))


# ---- records.py ---------------------------------------------------------------------------


def test_inline_blob_ids_are_told_by_their_prefix_only() -> None:
    """Only an id starting with `inline:` is kept in the metadata store: a blob id that
    merely contains it, or the prefix in another case, names a blob store's file."""
    assert INLINE == "inline:"
    assert is_inline("inline:")
    assert is_inline(f"{INLINE}{'a' * 32}")
    assert not is_inline("a" * 32)
    assert not is_inline(f"x{INLINE}abc")
    assert not is_inline("INLINE:abc")
    assert not is_inline("inline")
    assert not is_inline("")


def test_counted_size_leaves_out_uncounted_objects_whatever_the_marker_value() -> None:
    """A container's bytes used count an object's size unless the object carries the
    uncounted marker (any value, even empty); other metadata changes nothing."""
    assert UNCOUNTED == "x-object-sysmeta-uncounted"
    assert counted_size(record(size=7)) == 7
    assert counted_size(record(size=0)) == 0
    assert counted_size(record(size=7, **{"meta-color": "red"})) == 7
    assert counted_size(record(size=7, **{UNCOUNTED: "1"})) == 0
    assert counted_size(record(size=7, **{UNCOUNTED: ""})) == 0
    assert counted_size(record(size=7, **{"x-object-sysmeta-uncounted-not": "1"})) == 7


# ---- base.py ------------------------------------------------------------------------------


def test_superseded_names_the_object_and_carries_the_winning_timestamp() -> None:
    lost = Superseded("photos/cat.jpg", 1234.5)
    assert isinstance(lost, MetadataError)
    assert lost.stored == 1234.5
    assert lost.args == ("photos/cat.jpg",)
    assert str(lost) == "photos/cat.jpg"


def test_a_store_without_a_key_repository_refuses_to_seal_but_reads_clear_values(
        sqlite_env: Env) -> None:
    """Without a key repository nothing can be sealed or opened (the error says why, for
    the operator); a value kept in clear (from before encryption) still reads as it is, and
    counting the sealed values needs no key."""
    s = sqlite_env.store
    assert s.secret_box is None
    with pytest.raises(CredentialKeyError, match=r"^this metadata store has no credential key "
                       r"repository to seal access-key secrets with$"):
        s.seal_secret("secret")
    with pytest.raises(CredentialKeyError):
        s.open_secret(PREFIX + "token")
    with pytest.raises(CredentialKeyError):
        sqlite_env.run(s.reseal_secrets())
    with pytest.raises(CredentialKeyError):
        sqlite_env.run(s.create_access_key(AccessKeyRecord("k", "v", "u", "p", 1.0)))
    assert s.open_secret("clear") == "clear"
    assert s.open_secret("") == ""
    assert sqlite_env.run(s.sealed_secrets()) == 0


def test_sealed_secrets_open_back_and_clear_ones_are_left_alone(
        sqlite_env: Env, tmp_path: Path) -> None:
    s = sqlite_env.store
    repo = KeyRepository(tmp_path / "keys")
    repo.setup()
    s.secret_box = SecretBox(repo)
    sealed = s.seal_secret("hunter2")
    assert sealed.startswith(PREFIX) and "hunter2" not in sealed
    assert s.open_secret(sealed) == "hunter2"
    assert s.seal_secret("hunter2") != sealed  # Fernet: a fresh IV each time
    assert s.open_secret("hunter2") == "hunter2"  # clear legacy value, not decrypted
    assert s.open_secret("fernetish") == "fernetish"


def _wal(store: MetadataStore) -> Path:
    assert isinstance(store, SqliteMetadataStore)
    return store.db.path.with_name(store.db.path.name + "-wal")


def test_reseal_counts_each_secret_it_rewrote_and_only_those(
        sqlite_env: Env, tmp_path: Path) -> None:
    """A rotation re-seals clear values and values sealed with an older key, in both
    tables (access keys, container sync keys), counts them, and leaves current ones; then
    the old row versions go (SQLite: the log is checkpointed and truncated)."""
    s = sqlite_env.store
    run = sqlite_env.run
    repo = KeyRepository(tmp_path / "keys")
    repo.setup()
    s.secret_box = SecretBox(repo)
    run(s.create_access_key(AccessKeyRecord("k1", "one", "u", "p", 1.0)))
    run(s.create_access_key(AccessKeyRecord("k2", "two", "u", "p", 2.0)))
    for name in ("s1", "s2"):
        run(s.create_container("AUTH_a", name, {SYNC_KEY: f"clear-{name}"}, 1.0, "gold"))
    run(s.create_container("AUTH_a", "plain", {}, 1.0, "gold"))
    assert run(s.sealed_secrets()) == 2  # the two keys; the sync keys are in clear

    assert run(s.reseal_secrets()) == 2  # the two clear sync keys; the keys are current
    assert run(s.sealed_secrets()) == 4
    assert _wal(s).stat().st_size == 0
    assert run(s.reseal_secrets()) == 0
    keys = dict(run(s.stored_access_key_secrets()))
    syncs = dict(run(s.stored_sync_keys()))
    assert all(s.secret_box.is_current(v) for v in [*keys.values(), *syncs.values()])
    assert sorted(s.open_secret(v) for v in syncs.values()) == ["clear-s1", "clear-s2"]

    repo.add_primary()
    s.secret_box.reload()
    assert not any(s.secret_box.is_current(v) for v in keys.values())
    assert run(s.reseal_secrets()) == 4
    assert _wal(s).stat().st_size == 0
    assert run(s.reseal_secrets()) == 0
    assert run(s.sealed_secrets()) == 4
    assert [k.secret for k in run(s.list_access_keys("u"))] == ["one", "two"]
    assert all(s.secret_box.is_current(v) for _, v in run(s.stored_access_key_secrets()))
    assert all(s.secret_box.is_current(v) for _, v in run(s.stored_sync_keys()))
    assert {s.open_secret(v) for _, v in run(s.stored_sync_keys())} == {"clear-s1",
                                                                         "clear-s2"}


def test_reseal_with_only_access_keys_to_rewrite(sqlite_env: Env, tmp_path: Path) -> None:
    """Each table's rewrites count on their own (no sync key at all here)."""
    s = sqlite_env.store
    run = sqlite_env.run
    repo = KeyRepository(tmp_path / "keys")
    repo.setup()
    s.secret_box = SecretBox(repo)
    for n in range(3):
        run(s.create_access_key(AccessKeyRecord(f"k{n}", f"secret{n}", "u", "p", float(n))))
    repo.add_primary()
    s.secret_box.reload()
    assert run(s.reseal_secrets()) == 3
    assert run(s.reseal_secrets()) == 0
    assert [k.secret for k in run(s.list_access_keys("u"))] == ["secret0", "secret1",
                                                                 "secret2"]


def test_the_inherited_defaults_a_new_backend_starts_from(sqlite_env: Env) -> None:
    """Both backends override these; a backend that does not gets: an expirer batch
    deleted one row at a time (each only if unchanged), no change mark (no token reuse),
    no error read as a full database or an unreachable one."""
    s = sqlite_env.store
    run = sqlite_env.run
    c, _ = run(s.create_container("AUTH_a", "c", {}, 1.0, "gold"))
    kept = ObjectRecord(c.id, "kept", "b1", 1, "e" * 32, "text/plain", 1000.0, {})
    gone = ObjectRecord(c.id, "gone", "b2", 1, "e" * 32, "text/plain", 1000.0, {})
    run(s.put_object(kept))
    run(s.put_object(gone))
    changed = kept._replace(blob_id="other")
    assert run(ObjectStore.delete_objects_if(s, [changed, gone])) == [gone]
    assert run(ObjectStore.delete_objects_if(s, [])) == []
    assert run(s.get_object(c.id, "gone")) is None
    assert run(s.get_object(c.id, "kept")) == kept

    assert IdentityStore.change_mark(s) is None
    full = sqlite3.OperationalError("database or disk is full")
    full.sqlite_errorcode = sqlite3.SQLITE_FULL
    assert not MetadataStore.out_of_space(s, full)
    assert not s.unavailable(full)  # SQLite's own: an embedded database is never away
    assert not s.unavailable(ConnectionRefusedError())
    assert isinstance(s, AccessKeyStore)


def test_records_are_immutable() -> None:
    """Records are shared between layers (caches, listings): none may be changed in place."""
    obj = record()
    with pytest.raises(AttributeError):
        obj.size = 1  # type: ignore[misc]
    key = AccessKeyRecord("k", "v", "u", "p", 1.0)
    with pytest.raises(AttributeError):
        key.secret = "x"  # type: ignore[misc]


def _row_versions_gone(env: Env) -> dict[str, object]:
    """What shows that each secret table's old row versions were dropped: on PostgreSQL the
    table's file (VACUUM FULL writes a new one), on SQLite the log (truncated)."""
    from strato.stores.metadata.postgresql import PostgresMetadataStore

    s = env.store
    if isinstance(s, PostgresMetadataStore):
        return {t: env.run(s.db.fetchval(f"SELECT pg_relation_filenode('{t}')"))
                for t in ("access_keys", "containers")}
    return {"log": _wal(s).stat().st_size}


def test_a_reseal_drops_the_old_row_versions_of_the_tables_it_rewrote(
        env: Env, tmp_path: Path) -> None:
    """The clear or old-key copies of rewritten secrets must not stay in the database's
    files: after a reseal the tables it changed (and only those, on PostgreSQL, where that
    rewrites a whole table) lose their old row versions; a reseal with nothing to do
    touches nothing."""
    s = env.store
    run = env.run
    repo = KeyRepository(tmp_path / "keys")
    repo.setup()
    s.secret_box = SecretBox(repo)
    acct = "AUTH_a"
    run(s.create_access_key(AccessKeyRecord("k", "one", "u", "p", 1.0)))
    run(s.create_container(acct, "s", {SYNC_KEY: "clear"}, 1.0, "gold"))
    postgres = "log" not in _row_versions_gone(env)

    before = _row_versions_gone(env)
    assert run(s.reseal_secrets()) == 1  # the clear sync key only
    after = _row_versions_gone(env)
    if postgres:
        assert after["containers"] != before["containers"]
        assert after["access_keys"] == before["access_keys"]
    else:
        assert after == {"log": 0}

    repo.add_primary()
    s.secret_box.reload()
    container = run(s.get_container(acct, "s"))
    assert container is not None
    run(s.update_container_meta(acct, "s", {SYNC_KEY: s.seal_secret("new")}, ()))
    before = _row_versions_gone(env)
    assert run(s.reseal_secrets()) == 1  # the access key; the sync key is current
    after = _row_versions_gone(env)
    if postgres:
        assert after["access_keys"] != before["access_keys"]
        assert after["containers"] == before["containers"]
    else:
        assert after == {"log": 0}
    before = _row_versions_gone(env)
    assert run(s.reseal_secrets()) == 0
    assert _row_versions_gone(env) == before
    assert [k.secret for k in run(s.list_access_keys("u"))] == ["one"]
    assert s.open_secret(dict(run(s.stored_sync_keys()))[container.id]) == "new"
