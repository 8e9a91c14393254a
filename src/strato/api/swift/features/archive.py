"""Archive download, a Strato extension: many small objects in one response.

`GET /v1/AUTH_acc/container?archive=tar[&prefix=p][&marker=m][&end_marker=e][&limit=n]`
answers a tar stream (`application/x-tar`, PAX format) of the objects that the same
listing would show (at most `max_objects_per_archive`, 10,000), in listing order. Each is
read by an in-process GET as the caller, so ACLs, large objects, symlinks and every other
feature apply exactly as to a GET the client sent; an object that such a GET does not
answer with 200 and a known length is left out (the client fetches it on its own). Each
member carries, as PAX records, the object's ETag (`STRATO.etag`), whether it is a large
object (`STRATO.manifest`), its content type and metadata as the `user.mime_type` /
`user.meta.*` extended attributes that `?extract-archive` reads, and as mtime its
`X-Object-Meta-Mtime` (else its Last-Modified). Listed in `/info` as `bulk_download`.

Why: fetching 5,000 small files costs 5,000 requests in the Swift API, and on a small
machine the per-request work, not the bytes, decides the time. Clients that do not know the
extension never see it; Strato's own client uses it when `/info` offers it.
"""

from __future__ import annotations

import email.utils
import logging
from collections.abc import AsyncIterator
from typing import Any

import orjson

from strato.api.http import Response, is_digits, text_response
from strato.api.swift.context import SwiftRequest
from strato.api.swift.features.subrequest import make_subrequest
from strato.api.swift.pipeline import Feature, Handler
from strato.tarformat import BLOCK, pax_header

log = logging.getLogger(__name__)

MAX_OBJECTS = 10_000
LISTING_PARAMS = ("prefix", "marker", "end_marker")


def _member_header(name: str, size: int, headers: dict[str, str]) -> bytes:
    pax = {"STRATO.etag": headers.get("etag", "").strip('"')}
    if "x-static-large-object" in headers or "x-object-manifest" in headers:
        pax["STRATO.manifest"] = "1"
    if headers.get("content-type"):
        pax["SCHILY.xattr.user.mime_type"] = headers["content-type"]
    for key, value in headers.items():
        if key.startswith("x-object-meta-"):
            pax["SCHILY.xattr.user.meta." + key[len("x-object-meta-"):]] = value
    return pax_header(name, size, _mtime(headers), pax)


def _mtime(headers: dict[str, str]) -> int:
    try:
        return int(float(headers["x-object-meta-mtime"]))
    except (KeyError, ValueError):
        pass
    parsed = email.utils.parsedate_to_datetime(headers["last-modified"]) \
        if headers.get("last-modified") else None
    return int(parsed.timestamp()) if parsed else 0


async def _archive(sr: SwiftRequest, call_next: Handler, names: list[str]
                   ) -> AsyncIterator[bytes]:
    container = sr.container
    assert container is not None
    # small members are read and sent without waiting on anything: the loop turns between
    # them because every streamed body pauses now and then (`api/http.py`, YIELD_EVERY)
    for name in names:
        response = await call_next(make_subrequest(sr, "GET", container, name))
        body = response.body
        headers = {k.lower(): v for k, v in response.headers.items()}
        size = len(body) if isinstance(body, bytes) else response.content_length
        if size is None and is_digits(headers.get("content-length", "")):
            size = int(headers["content-length"])
        if response.status != 200 or size is None:
            if not isinstance(body, bytes) and hasattr(body, "aclose"):
                await body.aclose()
            log.info("archive of %s left out %r (%d) (%s)", container, name, response.status,
                     sr.request.trans_id)
            continue
        header = _member_header(name, size, headers)
        if isinstance(body, bytes):  # one write for the member, header and padding with it
            yield b"".join((header, body, b"\0" * (-size % BLOCK)))
            continue
        yield header
        sent = 0
        async for chunk in body:
            sent += len(chunk)
            yield chunk
        if sent != size:  # the object changed under us: the stream cannot be mended
            raise RuntimeError(f"archive member {name!r} sent {sent} of {size} bytes")
        if size % BLOCK:
            yield b"\0" * (BLOCK - size % BLOCK)
    yield b"\0" * (2 * BLOCK)


class ArchiveDownload(Feature):
    """`GET <container>?archive=tar`; its `/info` section is `bulk_download`."""

    name = "bulk_download"

    def capabilities(self) -> dict[str, Any]:
        return {"formats": ["tar"], "max_objects_per_archive": MAX_OBJECTS}

    async def handle(self, sr: SwiftRequest, call_next: Handler) -> Response:
        query = sr.request.query
        if (sr.request.method != "GET" or "archive" not in query or not sr.container
                or sr.obj):
            return await call_next(sr)
        if query["archive"] != "tar":
            return text_response(400, "Unsupported archive format: only archive=tar\n")
        try:
            limit = min(int(query.get("limit", MAX_OBJECTS)), MAX_OBJECTS)
        except ValueError:
            return text_response(400, "limit must be an integer\n")
        params = {"format": "json", "limit": str(max(limit, 0))}
        params.update({k: query[k] for k in LISTING_PARAMS if k in query})
        listing = await call_next(make_subrequest(sr, "GET", sr.container, query=params))
        if listing.status // 100 != 2:
            return listing
        body = listing.body if isinstance(listing.body, bytes) else b"".join(
            [chunk async for chunk in listing.body])
        rows = orjson.loads(body) if listing.status == 200 and body else []
        names = [row["name"] for row in rows if "name" in row]
        return Response(200, {"Content-Type": "application/x-tar",
                              "X-Archive-Objects": str(len(names))},
                        _archive(sr, call_next, names))
