"""What SLO and DLO share: who may read a segment, and streaming pieces of segments.

A large object is a list of pieces — byte ranges of segment blobs, or inline data — laid
end to end. Pieces are produced lazily, so a GET of a terabyte object made of a thousand
segments never holds more than one segment's read buffer, and a range request opens only
the segments it touches.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from strato.api.http import Response
from strato.api.swift.context import SwiftRequest
from strato.api.swift.errors import SwiftError
from strato.api.swift.object import AUTHORIZE_OVERRIDE
from strato.api.swift.ranges import Unsatisfiable, multipart_body, parse_range
from strato.stores.blob.base import BlobNotFound
from strato.stores.metadata.records import ContainerRecord

log = logging.getLogger("strato.features.segments")


class SegmentError(Exception):
    """A segment is missing, unreadable or no longer what the manifest promised."""


@dataclass(frozen=True, slots=True)
class Piece:
    blob_id: str | None
    start: int
    end: int
    """Bytes [start, end) of the blob, or of `data` for an inline piece."""
    data: bytes = b""


def can_read(sr: SwiftRequest, account: str, container: ContainerRecord | None) -> bool:
    """The core's read rule: owner, a matching read ACL, or an authorising feature."""
    if sr.state.get(AUTHORIZE_OVERRIDE):
        return True
    authorizer = sr.services.authorizer
    if authorizer.is_owner(sr.auth, account):
        return True
    read_acl = container.meta.get("x-container-read") if container else None
    return authorizer.can_read(sr.auth, read_acl, sr.headers.get("referer"))


def can_write(sr: SwiftRequest, account: str, container: ContainerRecord | None) -> bool:
    if sr.state.get(AUTHORIZE_OVERRIDE):
        return True
    authorizer = sr.services.authorizer
    if authorizer.is_owner(sr.auth, account):
        return True
    write_acl = container.meta.get("x-container-write") if container else None
    return authorizer.can_write(sr.auth, write_acl)


class ContainerCache:
    """Segment containers looked up once per request, with the caller's read right checked."""

    def __init__(self, sr: SwiftRequest) -> None:
        self.sr = sr
        self._seen: dict[str, ContainerRecord | None] = {}

    async def readable(self, name: str) -> ContainerRecord:
        """The container, or SegmentError carrying the status a GET of it would give."""
        if name not in self._seen:
            record = await self.sr.services.storage.get_container(self.sr.account, name)
            self._seen[name] = record
        record = self._seen[name]
        if not can_read(self.sr, self.sr.account, record):
            raise SegmentError("401 Unauthorized" if self.sr.auth is None else "403 Forbidden")
        if record is None:
            raise SegmentError("404 Not Found")
        return record


async def stream_pieces(sr: SwiftRequest, pieces: AsyncIterator[Piece],
                        first: Piece | None = None) -> AsyncIterator[bytes]:
    """The bytes of every piece in order; a vanished blob ends the stream early."""
    blobs = sr.services.storage.blobs

    async def all_pieces() -> AsyncIterator[Piece]:
        if first is not None:
            yield first
        async for piece in pieces:
            yield piece

    async for piece in all_pieces():
        if piece.blob_id is None:
            yield piece.data[piece.start:piece.end]
            continue
        try:
            reader = blobs.open(piece.blob_id)
        except BlobNotFound:
            log.warning("segment blob %s vanished during %s (%s)", piece.blob_id,
                        sr.request.path, sr.request.trans_id)
            raise SegmentError("segment vanished") from None
        try:
            async for chunk in reader.iter_range(piece.start, piece.end):
                yield chunk
        finally:
            reader.close()


PieceSource = Callable[[int, int], AsyncIterator[Piece]]
"""Pieces covering bytes [start, end) of the large object."""


async def large_object_response(sr: SwiftRequest, headers: dict[str, str], length: int,
                                content_type: str, source: PieceSource) -> Response:
    """200/206/416 for a GET or HEAD of a large object of `length` bytes.

    The first piece is resolved before answering, so a broken manifest gives 409 instead of
    a truncated body.
    """
    headers["Accept-Ranges"] = "bytes"
    if sr.request.method == "HEAD":
        headers["Content-Length"] = str(length)
        return Response(200, headers)
    try:
        ranges = parse_range(sr.headers.get("range"), length)
    except Unsatisfiable:
        headers["Content-Range"] = f"bytes */{length}"
        headers["Content-Type"] = "text/html; charset=UTF-8"
        raise SwiftError(416, headers=headers) from None
    if ranges is None:
        return Response(200, headers, await _checked(sr, source, 0, length),
                        content_length=length)
    if len(ranges) == 1:
        start, end = ranges[0]
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{length}"
        return Response(206, headers, await _checked(sr, source, start, end),
                        content_length=end - start)

    def read(start: int, end: int) -> AsyncIterator[bytes]:
        return stream_pieces(sr, source(start, end))

    await _checked(sr, source, *ranges[0])
    boundary, total, body = multipart_body(ranges, length, content_type, read)
    headers["Content-Type"] = f"multipart/byteranges;boundary={boundary}"
    return Response(206, headers, body, content_length=total)


async def _checked(sr: SwiftRequest, source: PieceSource, start: int, end: int
                   ) -> AsyncIterator[bytes]:
    pieces = source(start, end)
    try:
        first = await anext(pieces, None)
    except SegmentError as exc:
        log.info("large object %s unreadable: %s (%s)", sr.request.path, exc,
                 sr.request.trans_id)
        raise SwiftError(409) from None
    return stream_pieces(sr, pieces, first)
