"""The store under test, opened once per module for each backend (see BACKENDS)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from strato.stores.metadata.base import MetadataStore

T = TypeVar("T")


def _sqlite(tmp: Path) -> MetadataStore:
    from strato.stores.metadata.sqlite import SqliteMetadataStore

    return SqliteMetadataStore(tmp / "metadata.db")


BACKENDS: dict[str, Callable[[Path], MetadataStore]] = {"sqlite": _sqlite}


class Env:
    """A store opened on its own event loop; `run` drives one coroutine to completion."""

    def __init__(self, store: MetadataStore) -> None:
        self.store = store
        self.loop = asyncio.new_event_loop()

    def run(self, coro: Awaitable[T]) -> T:
        return self.loop.run_until_complete(coro)  # type: ignore[arg-type]


@pytest.fixture(scope="module", params=sorted(BACKENDS))
def env(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
        ) -> Iterator[Env]:
    store = BACKENDS[request.param](tmp_path_factory.mktemp(request.param))
    env = Env(store)
    env.run(store.open())
    yield env
    env.run(store.close())
    env.loop.close()


