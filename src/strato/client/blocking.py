"""The same API without `await`, for scripts and notebooks: every coroutine method runs to
completion on the facade's own event loop, every async listing becomes a plain iterator.

    with strato.client.blocking.connect("strato") as cloud:
        for entry in cloud.objects.objects("photos"):
            print(entry.name)
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import AsyncIterator, Iterator
from types import TracebackType
from typing import Any

from strato.client import cloud as _cloud


class _Blocking:
    """Wraps an object of the async API; attributes that are objects of it are wrapped too."""

    def __init__(self, target: Any, runner: asyncio.Runner) -> None:
        self._target, self._runner = target, runner

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        if callable(value) and not isinstance(value, type):
            @functools.wraps(value)
            def call(*args: Any, **kwargs: Any) -> Any:
                result = value(*args, **kwargs)
                if inspect.iscoroutine(result):
                    return self._runner.run(result)
                if isinstance(result, AsyncIterator):
                    return self._iterate(result)
                return result
            return call
        if type(value).__module__.startswith("strato.client") and hasattr(value, "__dict__"):
            return _Blocking(value, self._runner)
        return value

    def _iterate(self, agen: AsyncIterator[Any]) -> Iterator[Any]:
        while True:
            try:
                yield self._runner.run(_next(agen))
            except StopAsyncIteration:
                return


class Cloud(_Blocking):
    def __enter__(self) -> Cloud:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        try:
            self._runner.run(self._target.close())
        finally:
            self._runner.close()


def connect(cloud: str | None = None, **arguments: Any) -> Cloud:
    """As `strato.client.connect`, without `await`."""
    runner = asyncio.Runner()
    try:
        target = runner.run(_make(cloud, arguments))
    except BaseException:
        runner.close()
        raise
    return Cloud(target, runner)


async def _make(cloud: str | None, arguments: dict[str, Any]) -> _cloud.Cloud:
    return _cloud.connect(cloud, **arguments)


async def _next(agen: AsyncIterator[Any]) -> Any:
    return await anext(agen)
