"""The store under test, for each backend (see BACKENDS): a fresh database per test, so
tests are isolated, also from other pytest workers."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from strato.stores.metadata.base import MetadataStore
from tests import pg

T = TypeVar("T")


def _sqlite(tmp: Path) -> MetadataStore:
    from strato.stores.metadata.sqlite import SqliteMetadataStore

    return SqliteMetadataStore(tmp / "metadata.db")


def _postgresql(tmp: Path) -> MetadataStore:
    from strato.stores.metadata.postgresql import PostgresMetadataStore

    return PostgresMetadataStore(pg.create_database())


BACKENDS: dict[str, Callable[[Path], MetadataStore]] = {"sqlite": _sqlite,
                                                        "postgresql": _postgresql}


class Env:
    """A store opened on its own event loop; `run` drives one coroutine to completion."""

    def __init__(self, store: MetadataStore) -> None:
        self.store = store
        self.loop = asyncio.new_event_loop()

    def run(self, coro: Awaitable[T]) -> T:
        return self.loop.run_until_complete(coro)  # type: ignore[arg-type]


@pytest.fixture(scope="module", params=sorted(BACKENDS))
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_env(backend: str, tmp_path: Path) -> Iterator[Callable[[], Env]]:
    """Opens stores of the backend on one database (several processes or nodes sharing it)."""
    from strato.stores.metadata.postgresql import PostgresMetadataStore

    opened: list[Env] = []
    first: MetadataStore | None = None

    def make() -> Env:
        nonlocal first
        if first is None:
            store = first = BACKENDS[backend](tmp_path)
        elif isinstance(first, PostgresMetadataStore):
            store = PostgresMetadataStore(first.db.url)
        else:
            store = BACKENDS[backend](tmp_path)
        env = Env(store)
        env.run(store.open())
        opened.append(env)
        return env

    yield make
    for env in opened:
        env.run(env.store.close())
        env.loop.close()
    if isinstance(first, PostgresMetadataStore):
        pg.drop_database(first.db.url)


@pytest.fixture
def env(make_env: Callable[[], Env]) -> Env:
    return make_env()


@pytest.fixture(scope="module")
def shared_env(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    """One store for a module's read-only tests over data too big to load for each test."""
    store = BACKENDS[backend](tmp_path_factory.mktemp(backend))
    env = Env(store)
    env.run(store.open())
    yield env
    env.run(store.close())
    env.loop.close()
    from strato.stores.metadata.postgresql import PostgresMetadataStore

    if isinstance(store, PostgresMetadataStore):
        pg.drop_database(store.db.url)
