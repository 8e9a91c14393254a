"""Response bodies made of blobs, shared by the front-ends that serve stored bytes (Swift
objects, image data)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

from strato.api.http import Body, FileBody
from strato.stores.blob.base import BlobReader

OnError = Callable[[BaseException], Awaitable[object]]
"""Told of an error reading the blob mid-answer (the domain quarantines an unreadable one)."""


def blob_body(reader: BlobReader, start: int, end: int, on_error: OnError | None = None
              ) -> Body:
    """Bytes [start, end) of the blob as a response body, sent straight from its file where
    the blob store has one; the blob is released once sent."""
    data = reader.contents()
    if data is not None:
        reader.close()
        return data[start:end]
    chunks = closing(reader, reader.iter_range(start, end), on_error)
    fd = reader.fileno()
    if fd is None:
        return chunks
    return FileBody(fd, start, end - start, chunks, reader.close, on_error)


async def closing(reader: BlobReader, body: AsyncIterator[bytes],
                  on_error: OnError | None = None) -> AsyncIterator[bytes]:
    """Stream `body`, then release the blob whether the client read it all or not."""
    try:
        async for chunk in body:
            yield chunk
    except OSError as exc:
        if on_error is not None:
            await on_error(exc)
        raise
    finally:
        reader.close()
