"""Response bodies made of blobs, shared by the front-ends that serve stored bytes (Swift
objects, image data)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from strato.api.http import Body, FileBody
from strato.stores.blob.base import BlobReader


def blob_body(reader: BlobReader, start: int, end: int) -> Body:
    """Bytes [start, end) of the blob as a response body, sent straight from its file where
    the blob store has one; the blob is released once sent."""
    data = reader.contents()
    if data is not None:
        reader.close()
        return data[start:end]
    chunks = closing(reader, reader.iter_range(start, end))
    fd = reader.fileno()
    if fd is None:
        return chunks
    return FileBody(fd, start, end - start, chunks, reader.close)


async def closing(reader: BlobReader, body: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """Stream `body`, then release the blob whether the client read it all or not."""
    try:
        async for chunk in body:
            yield chunk
    finally:
        reader.close()
