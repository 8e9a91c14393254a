"""What SLO and DLO share: who may read a segment, and streaming pieces of segments.

A large object is a list of pieces — byte ranges of segment blobs, or inline data — laid
end to end. Pieces are produced lazily, so a GET of a terabyte object made of a thousand
segments never holds more than one segment's read buffer, and a range request opens only
the segments it touches.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import unquote

from strato.api.bodies import blob_body
from strato.api.http import BadRequest, Body, Response
from strato.api.swift.context import SwiftRequest
from strato.api.swift.errors import SwiftError
from strato.api.swift.features.subrequest import make_subrequest, plain_headers, subrequest
from strato.api.swift.object import (
    STORED_HEADERS,
    can_read_object,
    copied_from_headers,
    split_target,
)
from strato.api.swift.ranges import Unsatisfiable, multipart_body, parse_range
from strato.stores.blob.base import BlobNotFound
from strato.stores.metadata.records import ContainerRecord, ObjectRecord

log = logging.getLogger("strato.api.swift.features.segments")
SYMLINK_TARGET = "x-object-sysmeta-symlink-target"


class SegmentError(Exception):
    """A segment is missing, unreadable or no longer what the manifest promised."""


@dataclass(frozen=True, slots=True)
class Piece:
    segment: ObjectRecord | None
    """The segment object whose blob holds the bytes; None for an inline piece."""
    start: int
    end: int
    """Bytes [start, end) of the segment's blob, or of `data` for an inline piece."""
    data: bytes = b""


_PROBE = "large_object_probe"


async def follow_link(sr: SwiftRequest, call_next: Callable[[SwiftRequest],
                                                             Awaitable[Response]],
                      record: ObjectRecord | None, marker: str) -> SwiftRequest | None:
    """The request re-aimed at a symlink's final target when that target is a large object
    (response header `marker`), else None.

    Swift's symlink middleware sits after SLO and DLO, so they see the followed target;
    here the link is followed by a HEAD through the rest of the pipeline (which checks
    loops, static-link ETags and read access) and the large object is then served.
    """
    if record is None or SYMLINK_TARGET not in record.meta or sr.state.get(_PROBE) or \
            sr.request.query.get("symlink") == "get":
        return None
    probe = subrequest(sr, method="HEAD", headers=plain_headers(sr.headers), query={},
                       keep_override=True)
    probe.state[_PROBE] = True
    try:
        response = await call_next(probe)
    except SwiftError:
        return None
    where = response.headers.get("Content-Location")
    if response.status != 200 or not where or marker not in response.headers:
        return None
    parts = unquote(where).split("/", 4)
    if len(parts) != 5 or parts[1] != "v1":
        return None
    target = subrequest(sr, account=parts[2], container=parts[3], obj=parts[4],
                        keep_override=True)
    target.state[_PROBE] = True
    target.state[LOCATION] = where
    return target


LOCATION = "large_object_location"


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
        if not can_read_object(self.sr, self.sr.account, record):
            raise SegmentError("401 Unauthorized" if self.sr.auth is None else "403 Forbidden")
        if record is None:
            raise SegmentError("404 Not Found")
        return record


async def stream_pieces(sr: SwiftRequest, pieces: AsyncIterator[Piece],
                        first: Piece | None = None) -> AsyncIterator[bytes]:
    """The bytes of every piece in order; a vanished blob ends the stream early."""
    storage = sr.services.storage

    async def all_pieces() -> AsyncIterator[Piece]:
        if first is not None:
            yield first
        async for piece in pieces:
            yield piece

    async for piece in all_pieces():
        if piece.segment is None:
            yield piece.data[piece.start:piece.end]
            continue
        try:
            reader = await storage.open_blob(piece.segment)
        except BlobNotFound:
            log.warning("segment blob %s vanished during %s (%s)", piece.segment.blob_id,
                        sr.request.path, sr.request.trans_id)
            raise SegmentError("segment vanished") from None
        try:
            async for chunk in reader.iter_range(piece.start, piece.end):
                yield chunk
        finally:
            reader.close()


PieceSource = Callable[[int, int], AsyncGenerator[Piece, None]]
"""Pieces covering bytes [start, end) of the large object."""


async def large_object_response(sr: SwiftRequest, headers: dict[str, str], length: int,
                                content_type: str, source: PieceSource, *,
                                multiple_ranges: bool = True) -> Response:
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
    if ranges is None or (len(ranges) > 1 and not multiple_ranges):
        return Response(200, headers, await checked_stream(sr, source, 0, length),
                        content_length=length)
    if len(ranges) == 1:
        start, end = ranges[0]
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{length}"
        return Response(206, headers, await checked_stream(sr, source, start, end),
                        content_length=end - start)

    def read(start: int, end: int) -> AsyncIterator[bytes]:
        return stream_pieces(sr, source(start, end))

    probe = source(*ranges[0])
    try:
        await anext(probe, None)
    except SegmentError as exc:
        log.info("large object %s unreadable: %s (%s)", sr.request.path, exc,
                 sr.request.trans_id)
        raise SwiftError(409) from None
    finally:
        await probe.aclose()
    boundary, total, body = multipart_body(ranges, length, content_type, read)
    headers["Content-Type"] = f"multipart/byteranges;boundary={boundary}"
    return Response(206, headers, body, content_length=total)


async def checked_stream(sr: SwiftRequest, source: PieceSource, start: int, end: int
                         ) -> Body:
    """The bytes [start, end), after resolving the first piece (409 if it is broken). A
    range within one segment (what parallel downloads ask for, a segment a range) is that
    segment's blob body, which goes out with sendfile: streamed through Python, serving the
    bytes cost the server about as much CPU as the client spent checking them."""
    pieces = source(start, end)
    try:
        first = await anext(pieces, None)
    except SegmentError as exc:
        log.info("large object %s unreadable: %s (%s)", sr.request.path, exc,
                 sr.request.trans_id)
        raise SwiftError(409) from None
    if first is not None and first.segment is not None and first.end - first.start == end - start:
        try:
            reader = await sr.services.storage.open_blob(first.segment)
        except BlobNotFound:
            pass  # streamed below, which tells of the vanished segment as it always has
        else:
            await pieces.aclose()
            return blob_body(reader, first.start, first.end)
    return stream_pieces(sr, pieces, first)


# ---- server-side copy of a large object -------------------------------------------------

Target = tuple[str, str, str]


def copy_endpoints(sr: SwiftRequest) -> tuple[Target, Target] | None:
    """(source, destination) of a COPY or `PUT` with `X-Copy-From`; None for other requests."""
    assert sr.container is not None and sr.obj is not None
    method = sr.request.method
    if method == "PUT" and "x-copy-from" in sr.headers:
        container, obj = split_target(sr.headers["x-copy-from"], "X-Copy-From")
        source = (sr.headers.get("x-copy-from-account", sr.account), container, obj)
        return source, (sr.account, sr.container, sr.obj)
    if method == "COPY" and sr.headers.get("destination"):
        container, obj = split_target(sr.headers["destination"], "Destination")
        dest = (sr.headers.get("destination-account", sr.account), container, obj)
        return (sr.account, sr.container, sr.obj), dest
    return None


async def readable_source(sr: SwiftRequest, source: Target
                          ) -> tuple[ContainerRecord, ObjectRecord | None] | None:
    """A copy source this feature assembles: same account and readable by the caller.

    None means "not ours": the caller passes the request on unchanged.
    """
    account, container_name, obj = source
    container = await sr.services.storage.get_container(account, container_name)
    if account != sr.account or container is None or not can_read_object(sr, account, container):
        return None
    return container, await sr.services.storage.get_object(container, obj)


def copy_headers(sr: SwiftRequest, record: ObjectRecord) -> dict[str, str]:
    """The source's metadata and expiry (unless `X-Fresh-Metadata`) updated by the
    request's, as Swift's copy builds the PUT behind it."""
    fresh = sr.headers.get("x-fresh-metadata", "").lower() in ("true", "1", "yes", "on")
    headers = {} if fresh else {k: v for k, v in record.meta.items()
                                if k.startswith("x-object-meta-") or k in STORED_HEADERS}
    if not fresh and record.delete_at is not None:
        headers["x-delete-at"] = str(record.delete_at)
    if "x-delete-after" in sr.headers:
        headers.pop("x-delete-at", None)
    headers.update({k: v for k, v in sr.headers.items()
                    if k.startswith("x-object-meta-") or k in STORED_HEADERS
                    or k in ("x-delete-at", "x-delete-after")})
    headers["content-type"] = sr.headers.get("content-type") or record.content_type
    return headers


def copied_from(response: Response, source: Target, record: ObjectRecord,
                headers: dict[str, str]) -> Response:
    """Swift's copy headers on a successful copy made by a PUT with `headers`."""
    if response.status == 201:
        delete_at = headers.get("x-delete-at")
        response.headers.update(copied_from_headers(
            source, record, headers, int(delete_at) if delete_at is not None else None))
    return response


async def copy_assembled(sr: SwiftRequest, call_next: Callable[[SwiftRequest],
                                                                Awaitable[Response]],
                         source: Target, dest: Target, record: ObjectRecord, length: int,
                         pieces: PieceSource, *, multiple_ranges: bool = True) -> Response:
    """Copy a large object as Swift's copy middleware does: what a GET with the request's
    `Range` would answer becomes a new, ordinary object (a PUT by the same caller, so write
    rights and quotas apply): one range, several as a multipart/byteranges document (when
    `multiple_ranges`, else all of it, as a DLO's GET), or the whole content."""
    headers = copy_headers(sr, record)
    try:
        ranges = parse_range(sr.headers.get("range"), length)
    except Unsatisfiable:
        raise SwiftError(416, headers={"Content-Range": f"bytes */{length}"}) from None
    if ranges is not None and len(ranges) > 1 and not multiple_ranges:
        ranges = None

    def read(start: int, end: int) -> AsyncIterator[bytes]:
        return stream_pieces(sr, pieces(start, end))

    if ranges is None or len(ranges) == 1:
        start, end = ranges[0] if ranges else (0, length)
        content, size = read(start, end), end - start
    else:
        boundary, size, content = multipart_body(ranges, length, record.content_type, read)
        if "content-type" not in sr.headers:
            headers["content-type"] = f"multipart/byteranges;boundary={boundary}"
    headers["content-length"] = str(size)

    async def body() -> AsyncIterator[bytes]:
        try:
            async for chunk in content:
                yield chunk
        except SegmentError as exc:
            raise BadRequest(f"Large object segment unreadable: {exc}", 409) from None

    sub = make_subrequest(sr, "PUT", dest[1], dest[2], headers=headers, body=body(),
                          account=dest[0])
    return copied_from(await call_next(sub), source, record, headers)
