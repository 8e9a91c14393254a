"""The blob store interface: immutable byte streams named by random ids.

Blobs never change after commit, so a reader that opened one keeps a consistent view even if
the object is overwritten meanwhile, and a server-side copy can share data safely.
"""

from __future__ import annotations

import abc
import errno
from collections.abc import AsyncIterator, Iterator

NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT})
"""The errors of a write that found no room: the filesystem is full, or the writer's quota is
(Swift's object server answers both with 507)."""


class BlobNotFound(Exception):
    pass


def out_of_space(exc: BaseException) -> bool:
    """Whether a blob store's error means its filesystem (or quota) has no room left."""
    return isinstance(exc, OSError) and exc.errno in NO_SPACE


class BlobWriter(abc.ABC):
    blob_id: str
    size: int

    @abc.abstractmethod
    async def write(self, chunk: bytes) -> None: ...

    @abc.abstractmethod
    async def finish(self) -> str:
        """The end of the stream: everything written reaches the file; returns its MD5 hex."""

    @abc.abstractmethod
    async def commit(self) -> None:
        """Make the blob durable and visible under its id. Nothing refers to it yet."""

    @abc.abstractmethod
    async def abort(self) -> None:
        """Drop everything written; safe to call more than once."""


class BlobReader(abc.ABC):
    size: int

    @abc.abstractmethod
    def iter_range(self, start: int, end: int) -> AsyncIterator[bytes]:
        """Bytes [start, end) in chunks; may be called several times before `close()`."""

    def fileno(self) -> int | None:
        """A descriptor of a regular file holding exactly the blob's bytes, which the server
        may send from without copying them through Python (sendfile); None if there is none."""
        return None

    def contents(self) -> bytes | None:
        """All the blob's bytes, when they are already in memory; else None."""
        return None

    def probe(self, offset: int) -> None:
        """Read the byte at `offset` (if any), so that a disk that cannot read the blob
        raises its OSError before an answer has started rather than in the middle of it.
        Bytes in memory need no check."""
        return

    @abc.abstractmethod
    def close(self) -> None: ...


class MemoryReader(BlobReader):
    """A blob held in memory: a small object's bytes, read with its metadata row."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self.size = len(data)

    async def iter_range(self, start: int, end: int) -> AsyncIterator[bytes]:
        yield self._data[start:end]

    def contents(self) -> bytes | None:
        return self._data

    def close(self) -> None:
        pass


class BlobStore(abc.ABC):
    @abc.abstractmethod
    def writer(self) -> BlobWriter: ...

    @abc.abstractmethod
    def open(self, blob_id: str) -> BlobReader:
        """Raises BlobNotFound."""

    @abc.abstractmethod
    async def copy(self, blob_id: str, source: BlobStore | None = None) -> str:
        """A durable new blob here with the content of `blob_id` in `source` (default: this
        store); returns its id. Raises BlobNotFound."""

    @abc.abstractmethod
    async def delete(self, blob_id: str) -> None:
        """Missing blobs are not an error (deletes are retried by the sweeper)."""

    @abc.abstractmethod
    def iter_blobs(self, older_than: float) -> Iterator[str]:
        """Ids of committed blobs last modified before `older_than` (for the orphan sweep)."""

    @abc.abstractmethod
    def sweep_temp(self, older_than: float) -> int:
        """Remove abandoned temp files; returns how many."""

    @abc.abstractmethod
    def check_writable(self) -> str | None:
        """Why a new blob could not be written now (for an operator), or None: the
        readiness check. Leaves nothing behind."""

    @abc.abstractmethod
    def quarantine(self, blob_id: str, details: dict[str, object] | None = None) -> str | None:
        """Move a blob found corrupt (or unreadable) out of reach of every reader, keeping
        its bytes for an operator (Swift's quarantine, not a delete); `details` (what object
        it was, why) are kept beside it. Returns where it went, or None if it was gone."""

    @abc.abstractmethod
    def quarantined(self) -> Iterator[tuple[str, dict[str, object]]]:
        """(blob id, details) of every quarantined blob."""

    @abc.abstractmethod
    def disk_usage(self) -> tuple[int, int]:
        """(bytes free for unprivileged writers, bytes in all) of the storage under it."""
