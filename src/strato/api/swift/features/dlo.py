"""Dynamic Large Objects: one object assembled from every object under a name prefix.

Upload the segments as ordinary objects whose names sort in the order they belong, then a
manifest — usually empty — naming their container and common prefix::

    PUT /v1/AUTH_acc/cont/big              X-Object-Manifest: segs/big/

A `GET`/`HEAD` of the manifest lists `segs` for objects starting with `big/` (URL-decoded
header value) in byte order of name and streams their raw contents, one after another;
`X-Object-Manifest` is echoed, `Content-Length` is the current total and the ETag is
`"<md5 of the segments' etags concatenated>"`. A single range works across segment
boundaries; a request for several ranges gets the whole object (200), as from Swift.
Segments are read raw: a manifest whose own name falls
under its prefix contributes its own (usually empty) body and is never expanded again, so
a prefix without a trailing slash is safe. Beyond 10000 segments the object is still
served whole, without `Content-Length` or ETag, as Swift does. `GET
?multipart-manifest=get` returns the manifest object itself. The caller needs read access
to the segment container. A `POST` must repeat `X-Object-Manifest` or the object stops
being a manifest; a plain `DELETE` removes only the manifest.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any
from urllib.parse import unquote_to_bytes

from strato.api.http import Response
from strato.api.swift.conditional import evaluate
from strato.api.swift.constraints import CONTAINER_LISTING_LIMIT
from strato.api.swift.context import SwiftRequest
from strato.api.swift.errors import SwiftError
from strato.api.swift.features.segments import (
    LOCATION,
    ContainerCache,
    Piece,
    SegmentError,
    Target,
    copy_assembled,
    copy_endpoints,
    follow_link,
    large_object_response,
    readable_source,
    stream_pieces,
)
from strato.api.swift.features.subrequest import plain_headers, subrequest
from strato.api.swift.headers import VERSION_ID, title_case
from strato.api.swift.object import OBJECT_SYSMETA, can_read_object, object_headers
from strato.api.swift.pipeline import Feature, Handler
from strato.stores.metadata.records import ContainerRecord, ListingQuery, ObjectRecord

MANIFEST = "x-object-manifest"
FORMAT_ERROR = "X-Object-Manifest must be in the format container/prefix"


def manifest_target(value: str) -> tuple[str, str, str]:
    """(container, "/", prefix) of a header value: URL-quoted, or raw UTF-8 on the wire."""
    raw = unquote_to_bytes(value.encode("latin-1", "replace"))
    return raw.decode("utf-8", "replace").partition("/")


def _check_header(value: str) -> None:
    container, sep, prefix = value.partition("/")
    if not sep or not container or not prefix or "?" in value or "&" in value or \
            prefix.startswith("/"):
        raise SwiftError(400, FORMAT_ERROR)


class _Segments:
    """The segment listing, first page kept for length and ETag, later pages on demand."""

    def __init__(self, sr: SwiftRequest, container: ContainerRecord, prefix: str,
                 first_page: list[ObjectRecord]) -> None:
        self.sr = sr
        self.container = container
        self.prefix = prefix
        self.first_page = first_page
        self.complete = len(first_page) < CONTAINER_LISTING_LIMIT

    async def records(self) -> AsyncIterator[ObjectRecord]:
        page = self.first_page
        while True:
            for record in page:
                yield record
            if len(page) < CONTAINER_LISTING_LIMIT:
                return
            page = await _page(self.sr, self.container, self.prefix, page[-1].name)

    async def pieces(self, start: int, end: int) -> AsyncGenerator[Piece, None]:
        offset = 0
        async for record in self.records():
            seg_start, seg_end = offset, offset + record.size
            offset = seg_end
            if seg_end <= start or record.size == 0:
                continue
            if seg_start >= end:
                return
            yield Piece(record, max(start, seg_start) - seg_start,
                        min(end, seg_end) - seg_start)


async def _page(sr: SwiftRequest, container: ContainerRecord, prefix: str,
                marker: str = "") -> list[ObjectRecord]:
    query = ListingQuery(prefix=prefix, marker=marker, limit=CONTAINER_LISTING_LIMIT)
    entries = await sr.services.storage.list_objects(container, query)
    return [e for e in entries if isinstance(e, ObjectRecord)]


class DynamicLargeObject(Feature):
    name = "dlo"

    def capabilities(self) -> dict[str, Any]:
        return {"max_segments": CONTAINER_LISTING_LIMIT}

    async def handle(self, sr: SwiftRequest, call_next: Handler) -> Response:
        if sr.obj is None:
            return await call_next(sr)
        method = sr.request.method
        if method in ("PUT", "POST") and MANIFEST in sr.headers:
            value = sr.headers[MANIFEST]
            _check_header(value)
            sr.state[OBJECT_SYSMETA] = {**sr.state.get(OBJECT_SYSMETA, {}), MANIFEST: value}
            return await call_next(sr)
        if method in ("GET", "HEAD") and \
                sr.request.query.get("multipart-manifest") != "get":
            return await self._get(sr, call_next)
        endpoints = copy_endpoints(sr)
        if endpoints is not None and sr.request.query.get("multipart-manifest") != "get":
            return await self._copy(sr, call_next, *endpoints)
        return await call_next(sr)

    async def _copy(self, sr: SwiftRequest, call_next: Handler, source: Target,
                    dest: Target) -> Response:
        """Copying a DLO copies its assembled content, as Swift's copy middleware does."""
        found = await readable_source(sr, source)
        if found is None:
            return await call_next(sr)
        _, record = found
        if record is None or MANIFEST not in record.meta:
            return await call_next(sr)
        segments = await self._segments(sr, record.meta[MANIFEST])
        total = 0
        async for seg in segments.records():
            total += seg.size
        return await copy_assembled(sr, call_next, source, dest, record, total,
                                    segments.pieces, multiple_ranges=False)

    @staticmethod
    async def _segments(sr: SwiftRequest, value: str) -> _Segments:
        seg_container_name, _, prefix = manifest_target(value)
        try:
            seg_container = await ContainerCache(sr).readable(seg_container_name)
        except SegmentError as exc:
            raise SwiftError(int(str(exc).split()[0])) from None
        return _Segments(sr, seg_container, prefix, await _page(sr, seg_container, prefix))

    async def _get(self, sr: SwiftRequest, call_next: Handler) -> Response:
        if "version-id" in sr.request.query:
            return await self._get_version(sr, call_next)
        assert sr.container is not None and sr.obj is not None  # an object request
        container, record = await sr.get_object(sr.account, sr.container, sr.obj)
        if container is None or not can_read_object(sr, sr.account, container):
            return await call_next(sr)
        if record is None or MANIFEST not in record.meta:
            target = await follow_link(sr, call_next, record, "X-Object-Manifest")
            if target is None:
                return await call_next(sr)
            response = await self._get(target, call_next)
            response.headers["Content-Location"] = target.state[LOCATION]
            return response
        headers = object_headers(record)
        headers[title_case(MANIFEST)] = record.meta[MANIFEST]
        if VERSION_ID in record.meta:
            headers["X-Object-Version-Id"] = record.meta[VERSION_ID]
        return await self._serve(sr, await self._segments(sr, record.meta[MANIFEST]), headers,
                                 record.timestamp, record.content_type)

    async def _get_version(self, sr: SwiftRequest, call_next: Handler) -> Response:
        """`?version-id=`: the versioning feature finds the version; if it is a manifest, it
        is served as the large object."""
        probe = subrequest(sr, method="HEAD", headers=plain_headers(sr.headers),
                           keep_override=True)
        try:
            found = await call_next(probe)
        except SwiftError:
            return await call_next(sr)
        value = found.headers.get(title_case(MANIFEST))
        if found.status != 200 or not value:
            return await call_next(sr)
        headers = {k: v for k, v in found.headers.items()
                   if k.lower() not in ("content-length", "etag")}
        try:
            timestamp = float(found.headers.get("X-Timestamp", "0"))
        except ValueError:
            timestamp = 0.0
        return await self._serve(sr, await self._segments(sr, value), headers, timestamp,
                                 found.headers.get("Content-Type", "application/octet-stream"))

    @staticmethod
    async def _serve(sr: SwiftRequest, segments: _Segments, headers: dict[str, str],
                     timestamp: float, content_type: str) -> Response:
        if not segments.complete:
            headers.pop("Etag", None)
            if sr.request.method == "HEAD":
                return Response(200, headers)
            body = stream_pieces(sr, segments.pieces(0, 2**63))
            return Response(200, headers, body)
        total = sum(r.size for r in segments.first_page)
        md5 = hashlib.md5(usedforsecurity=False)
        for seg in segments.first_page:
            md5.update(seg.etag.encode("ascii"))
        etag = md5.hexdigest()
        headers["Etag"] = f'"{etag}"'
        status = evaluate(sr.headers, etag, timestamp)
        if status is not None:
            headers.pop("Content-Type", None)
            if status == 412:
                headers["Content-Type"] = "text/html; charset=UTF-8"
            return Response(status, headers, b"")
        return await large_object_response(sr, headers, total, content_type,
                                           segments.pieces, multiple_ranges=False)
