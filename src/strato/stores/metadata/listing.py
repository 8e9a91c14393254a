"""Keyset listing with delimiter roll-up, shared by every backend.

A page costs the same at row one and row ten million: each query is an index range scan
from the last name seen, and a common prefix is skipped in one step by moving the marker
past it (Swift's own container backend does the same).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator
from typing import Protocol, TypeVar

from strato.stores.metadata.records import ListingQuery, Subdir


class Named(Protocol):
    @property
    def name(self) -> str: ...


R = TypeVar("R", bound=Named)

# fetch(after, before, prefix, reverse, limit, after_inclusive) -> rows in order; `before`
# is exclusive, `after` too unless after_inclusive (set when jumping past a common prefix:
# `a/...` rolls up into `a/`, and the next page starts at `a0` itself, which may be a name)
Fetch = Callable[[str | None, str | None, str, bool, int, bool], list[R]]
AsyncFetch = Callable[[str | None, str | None, str, bool, int, bool], Awaitable[list[R]]]
Step = tuple[str | None, str | None, str, bool, int, bool]
"""The arguments of one fetch, in Fetch's order."""


def prefix_end(prefix: str) -> str | None:
    """The smallest string greater than every string starting with `prefix`."""
    if not prefix:
        return None
    last = ord(prefix[-1])
    if last >= 0x10FFFF:
        return None
    following = last + 1
    if 0xD800 <= following <= 0xDFFF:  # surrogates are not valid UTF-8: skip past them
        following = 0xE000
    return prefix[:-1] + chr(following)


def keyset_listing(fetch: Fetch[R], query: ListingQuery) -> list[R | Subdir]:
    """A page, for a backend that reads inline (SQLite)."""
    steps: Generator[Step, list[R], list[R | Subdir]] = keyset_steps(query)
    try:
        step = next(steps)
        while True:
            step = steps.send(fetch(*step))
    except StopIteration as done:
        page: list[R | Subdir] = done.value
        return page


async def keyset_listing_async(fetch: AsyncFetch[R], query: ListingQuery
                               ) -> list[R | Subdir]:
    """A page, for a backend that awaits its reads (PostgreSQL)."""
    steps: Generator[Step, list[R], list[R | Subdir]] = keyset_steps(query)
    try:
        step = next(steps)
        while True:
            step = steps.send(await fetch(*step))
    except StopIteration as done:
        page: list[R | Subdir] = done.value
        return page


def keyset_steps(query: ListingQuery) -> Generator[Step, list[R], list[R | Subdir]]:
    """The listing algorithm without I/O: yields each fetch it needs, is sent the rows,
    returns the page (so the same code serves inline and awaited reads)."""
    prefix, delimiter = query.prefix, query.delimiter
    if query.path is not None:
        prefix = query.path.rstrip("/") + "/" if query.path else ""
        delimiter = "/"
    limit = query.limit
    results: list[R | Subdir] = []
    if query.reverse:
        after, before = query.end_marker or None, query.marker or None
    else:
        after, before = query.marker or None, query.end_marker or None
    # a subdir equal to the lower bound is not repeated (Swift swaps the markers for a
    # reverse listing first, so there the bound is end_marker)
    skip_dir = query.end_marker if query.reverse else query.marker
    inclusive = False
    # With a delimiter, most fetched rows may be skipped by a roll-up jump: read one row
    # first and grow the batch x4 only while no jump happens, so a page of 20 subdirs reads
    # one row per subdir (each read row costs as much as a query: 16 per subdir made a
    # 20-subdir page 5x slower), and a page of plain names still needs few queries.
    batch = 1 if delimiter else limit
    while len(results) < limit:
        want = min(limit - len(results), batch)
        rows = yield (after, before, prefix, query.reverse, want, inclusive)
        inclusive = False
        if not rows:
            break
        jumped = False
        for row in rows:
            name = row.name
            if query.reverse:
                before = name
            else:
                after = name
            if query.path is not None and name == prefix:
                continue  # `path=` lists what is inside the directory, not its marker object
            if delimiter:
                end = name.find(delimiter, len(prefix))
                # with `path=`, a name ending in the delimiter is an object of this level
                if end >= 0 and (query.path is None or len(name) > end + 1):
                    dir_name = name[: end + len(delimiter)]  # delimiters may be multi-char
                    if query.path is None and dir_name != skip_dir:
                        results.append(Subdir(dir_name))
                    if query.reverse:
                        before = dir_name
                    else:
                        after = dir_name[:-1] + chr(ord(dir_name[-1]) + 1)
                        inclusive = True
                    jumped = True
                    break
            results.append(row)
            if len(results) >= limit:
                break
        if not jumped:
            if len(rows) < want:
                break
            batch *= 4
    return results
