"""Static Large Objects: one object assembled from a manifest of other objects.

Upload the segments as ordinary objects, then the manifest::

    PUT /v1/AUTH_acc/cont/big?multipart-manifest=put
    [{"path": "/segs/big/000", "etag": "<md5>", "size_bytes": 1048576},
     {"path": "/segs/big/001", "etag": null, "size_bytes": null, "range": "0-99"},
     {"data": "<base64 inline bytes>"}]

`etag` (quotes ignored) and `size_bytes` are optional checks; `range` uses only part of a
segment. Every object-backed segment must exist and be readable by the caller, hold at
least one byte (the last may be empty) and match the given checks; otherwise the answer is
400 with one line per bad segment (`Errors:` then `/segs/big/001, Etag Mismatch`, in the
format `Accept` asks for). At most `max_manifest_segments` (1000) object segments and
`max_manifest_size` (8 MiB) of manifest. A segment may itself be an SLO (up to 10 levels).

The stored manifest lists `name, hash, bytes, content_type, last_modified` (plus `range`,
`sub_slo`) for every segment; `GET ?multipart-manifest=get` returns it, and
`&format=raw` returns it in the upload format. `GET`/`HEAD` of the object stream the
segments in order (single and multiple ranges may cross segment boundaries) with
`X-Static-Large-Object: True`, `Content-Length` = the sum of the segments, and
`Etag: "<md5 of the segments' etags concatenated>"` (`<etag>:<range>;` for ranged
segments); the manifest PUT answers with the same ETag. A segment that went missing or
changed gives 409 if it is the first one served, else a cut connection. Container listings
show the total size and a `slo_etag`. The total size is bounded only by segments times
the maximum object size.

`DELETE ?multipart-manifest=delete` removes every segment (nested manifests included) and
then the manifest, answering 200 with a bulk-delete report. A plain `DELETE` removes only
the manifest. Clients cannot send `X-Static-Large-Object` themselves (400).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any
from urllib.parse import quote

import orjson

from strato.api.http import BadRequest, Response, is_digits
from strato.api.swift.conditional import evaluate
from strato.api.swift.context import SwiftRequest
from strato.api.swift.errors import SwiftError
from strato.api.swift.features import report
from strato.api.swift.features.bulk import delete_report
from strato.api.swift.features.segments import (
    LOCATION,
    ContainerCache,
    Piece,
    SegmentError,
    Target,
    checked_stream,
    copied_from,
    copy_assembled,
    copy_endpoints,
    copy_headers,
    follow_link,
    large_object_response,
    readable_source,
)
from strato.api.swift.features.subrequest import (
    make_subrequest,
    plain_headers,
    status_line,
    subrequest,
)
from strato.api.swift.features.symlink import ETAG as SYMLINK_ETAG
from strato.api.swift.features.symlink import SYMLOOP_MAX, is_symlink, link_target
from strato.api.swift.headers import VERSION_ID, listing_date
from strato.api.swift.object import (
    OBJECT_SYSMETA,
    SLO_OVERRIDE,
    can_read_object,
    can_write_object,
    guess_type,
    object_headers,
)
from strato.api.swift.pipeline import Feature, Handler
from strato.api.swift.ranges import Unsatisfiable, parse_range
from strato.stores.blob.base import BlobNotFound
from strato.stores.metadata.records import ObjectRecord

MAX_MANIFEST_SEGMENTS = 1000
MAX_MANIFEST_SIZE = 8 * 1024 * 1024
MIN_SEGMENT_SIZE = 1
MAX_RECURSION_DEPTH = 10
SYSMETA_SLO_ETAG = "x-object-sysmeta-slo-etag"
SYSMETA_SLO_SIZE = "x-object-sysmeta-slo-size"
MARKER = "x-static-large-object"
RESERVED_HEADER_MESSAGE = ("X-Static-Large-Object is a reserved header. To create a static "
                           "large object add query param multipart-manifest=put.")
_HEARTBEAT_REASONS = {
    400: "The server could not comply with the request since it is either malformed or "
         "otherwise incorrect.",
    422: "Unable to process the contained instructions"}
_PUT_KEYS = {"path": {"path", "etag", "size_bytes", "range"}, "data": {"data"}}


def is_slo(record: ObjectRecord) -> bool:
    return record.meta.get(MARKER, "").lower() in ("true", "1", "yes", "on")


def _split(path: str) -> tuple[str, str]:
    container, _, obj = path.lstrip("/").partition("/")
    return container, obj


def _single_range(spec: str, length: int) -> tuple[int, int] | None:
    """[start, end) of one `M-N`/`M-`/`-N` range; None if invalid or several."""
    try:
        ranges = parse_range(f"bytes={spec}", length)
    except Unsatisfiable:
        return (0, 0)
    if ranges is None or len(ranges) != 1:
        return None
    return ranges[0]


def _part_number(sr: SwiftRequest) -> int | None:
    value = sr.request.query.get("part-number")
    if value is None:
        return None
    try:
        part = int(value)
    except ValueError:
        part = 0
    if part < 1:
        raise SwiftError(400, "Part number must be an integer greater than 0")
    return part


def segment_length(seg: dict[str, Any]) -> int:
    if "data" in seg:
        return len(_inline(seg))
    if seg.get("range"):
        first, _, last = str(seg["range"]).partition("-")
        return int(last) - int(first) + 1
    return int(seg["bytes"])


def _inline(seg: dict[str, Any]) -> bytes:
    raw = seg.get("_raw")
    if raw is None:
        raw = seg["_raw"] = base64.b64decode(seg["data"])
    return raw


def raw_manifest(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A stored manifest in the upload format (`path`, `etag`, `size_bytes`, `range`)."""
    converted = []
    for seg in entries:
        if "data" in seg:
            converted.append({"data": seg["data"]})
            continue
        item = {"path": seg.get("name"), "etag": seg.get("hash"),
                "size_bytes": seg.get("bytes")}
        if seg.get("range"):
            item["range"] = seg["range"]
        converted.append(item)
    return converted


def slo_etag(entries: list[dict[str, Any]]) -> str:
    md5 = hashlib.md5(usedforsecurity=False)
    for seg in entries:
        if "data" in seg:
            part = hashlib.md5(_inline(seg), usedforsecurity=False).hexdigest()
        elif seg.get("range"):
            part = f"{seg['hash']}:{seg['range']};"
        else:
            part = seg["hash"]
        md5.update(part.encode("ascii"))
    return md5.hexdigest()


def parse_manifest_put(body: bytes, own_path: str) -> list[dict[str, Any]]:
    """The client's manifest, checked for shape; 400 listing every bad index."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise SwiftError(400, "Manifest must be valid JSON.\n") from None
    if not isinstance(data, list):
        raise SwiftError(400, "Manifest must be a list.\n")
    errors: list[str] = []
    for index, seg in enumerate(data):
        if not isinstance(seg, dict):
            errors.append(f"Index {index}: not a JSON object")
            continue
        kind = "path" if "path" in seg else "data" if "data" in seg else None
        if kind is None:
            errors.append(f"Index {index}: expected keys to include one of 'path' or 'data'")
            continue
        extra = sorted(k for k in seg if k not in _PUT_KEYS[kind])
        if extra:
            errors.append(f"Index {index}: extraneous keys "
                          + ", ".join(orjson.dumps(k).decode() for k in extra))
            continue
        if kind == "data":
            try:
                raw = base64.b64decode(seg["data"], validate=True)
            except (binascii.Error, TypeError, ValueError):
                errors.append(f"Index {index}: data must be valid base64")
                continue
            if not raw:
                errors.append(f"Index {index}: too small; each segment must be at least 1 byte.")
                continue
            seg["data"] = base64.b64encode(raw).decode("ascii")
            continue
        path = seg["path"]
        if not isinstance(path, str):
            errors.append(f'Index {index}: "path" must be a string')
            continue
        if not (seg.get("etag") is None or isinstance(seg["etag"], str)):
            errors.append(f'Index {index}: "etag" must be a string or null (if provided)')
            continue
        if "/" not in path.strip("/"):
            errors.append(f"Index {index}: path does not refer to an object. Path must be of "
                          "the form /container/object.")
            continue
        size = seg.get("size_bytes")
        if size is not None:
            try:
                size = seg["size_bytes"] = int(size)
            except (TypeError, ValueError):
                errors.append(f"Index {index}: invalid size_bytes")
                continue
            if size < MIN_SEGMENT_SIZE and index != len(data) - 1:
                errors.append(f"Index {index}: too small; each segment must be at least "
                              "1 byte.")
                continue
        if "/" + path.lstrip("/") == own_path:
            errors.append(f"Index {index}: manifest must not include itself as a segment")
            continue
        if seg.get("range"):
            spec = str(seg["range"])
            if "," in spec:
                errors.append(f"Index {index}: multiple ranges (only one allowed)")
                continue
            if _single_range(spec, 2**63) is None:
                errors.append(f"Index {index}: invalid range")
                continue
            if size is not None and _single_range(spec, size) in (None, (0, 0)):
                errors.append(f"Index {index}: unsatisfiable range")
                continue
        if isinstance(seg.get("etag"), str):
            seg["etag"] = seg["etag"].strip('"')
    if data and all("data" in seg for seg in data if isinstance(seg, dict)):
        errors.append("Inline data segments require at least one object-backed segment.")
    if errors:
        raise SwiftError(400, "".join(e + "\n" for e in errors))
    return data


class _Reader:
    """Resolves manifest entries to pieces for one request, checking access and integrity."""

    def __init__(self, sr: SwiftRequest) -> None:
        self.sr = sr
        self.containers = ContainerCache(sr)
        self._subs: dict[str, list[dict[str, Any]]] = {}

    async def lookup(self, path: str) -> ObjectRecord:
        """The segment's record; a segment that is a symlink stands for its target."""
        container_name, obj = _split(path)
        expected_etag = None
        for _ in range(SYMLOOP_MAX + 1):
            container = await self.containers.readable(container_name)
            record = await self.sr.services.storage.get_object(
                container, obj, open_expired=self.sr.open_expired)
            if record is None:
                raise SegmentError("404 Not Found")
            if expected_etag is not None and record.etag != expected_etag:
                raise SegmentError("409 Conflict")
            if not is_symlink(record):
                return record
            expected_etag = record.meta.get(SYMLINK_ETAG)
            account, container_name, obj = link_target(self.sr.account, record)
            if account != self.sr.account:
                raise SegmentError("400 Bad Request")
        raise SegmentError("409 Conflict")

    async def manifest(self, record: ObjectRecord) -> list[dict[str, Any]]:
        try:
            reader = await self.sr.services.storage.open_blob(record)
        except BlobNotFound as exc:
            raise SegmentError("manifest vanished") from exc
        parts = []
        try:
            async for chunk in reader.iter_range(0, reader.size):
                parts.append(chunk)
        finally:
            reader.close()
        try:
            entries = orjson.loads(b"".join(parts))
        except orjson.JSONDecodeError as exc:
            raise SegmentError("Unable to load SLO manifest") from exc
        if not isinstance(entries, list):
            raise SegmentError("Unable to load SLO manifest")
        return entries

    async def sub_manifest(self, path: str) -> list[dict[str, Any]]:
        if path not in self._subs:
            record = await self.lookup(path)
            if not is_slo(record):
                raise SegmentError(f"{path} is no longer a large object")
            if len(self._subs) >= 20:
                self._subs.pop(next(iter(self._subs)))
            self._subs[path] = await self.manifest(record)
        return self._subs[path]

    async def pieces(self, entries: list[dict[str, Any]], first: int, last: int,
                     depth: int = 1) -> AsyncGenerator[Piece, None]:
        """Pieces for bytes first..last (inclusive) of the object the entries describe."""
        for seg in entries:
            length = segment_length(seg)
            if first >= length:
                first -= length
                last -= length
                continue
            if last < 0:
                return
            if "data" in seg:
                yield Piece(None, max(0, first), min(length - 1, last) + 1, _inline(seg))
            else:
                if seg.get("range"):
                    lo, _, hi = str(seg["range"]).partition("-")
                    r_start, r_end = int(lo), int(hi)
                else:
                    r_start, r_end = 0, length - 1
                start, end = r_start + max(0, first), min(r_end, r_start + last)
                if seg.get("sub_slo"):
                    if depth >= MAX_RECURSION_DEPTH:
                        raise SegmentError("max recursion depth exceeded")
                    sub = await self.sub_manifest(seg["name"])
                    async for piece in self.pieces(sub, start, end, depth + 1):
                        yield piece
                else:
                    record = await self.lookup(seg["name"])
                    if record.etag != seg.get("hash") or record.size != seg.get("bytes"):
                        raise SegmentError(f"{seg['name']} changed since the manifest PUT")
                    yield Piece(record, start, end + 1)
            first -= length
            last -= length


class StaticLargeObject(Feature):
    name = "slo"

    def capabilities(self) -> dict[str, Any]:
        return {"max_manifest_segments": MAX_MANIFEST_SEGMENTS,
                "max_manifest_size": MAX_MANIFEST_SIZE,
                "min_segment_size": MIN_SEGMENT_SIZE,
                "yield_frequency": 10, "allow_async_delete": False}

    async def handle(self, sr: SwiftRequest, call_next: Handler) -> Response:
        if sr.obj is None:
            return await call_next(sr)
        method = sr.request.method
        mode = sr.request.query.get("multipart-manifest")
        if method == "PUT" and mode == "put":
            return await self._put(sr, call_next)
        if method == "DELETE" and mode == "delete":
            return await self._delete(sr, call_next)
        if method in ("GET", "HEAD"):
            if mode == "get":
                return await self._manifest_get(sr, call_next)
            return await self._get(sr, call_next)
        if MARKER in sr.headers:
            if method == "PUT" and sr.state.get(SLO_OVERRIDE):
                return await self._put_stored(sr, call_next)
            raise SwiftError(400, RESERVED_HEADER_MESSAGE)
        if method == "COPY" and "version-id" in sr.request.query:
            # the versioning feature turns it into a PUT from the version, which comes back
            return await call_next(sr)
        endpoints = copy_endpoints(sr)
        if endpoints is not None:
            return await self._copy(sr, call_next, *endpoints)
        return await call_next(sr)

    async def _copy(self, sr: SwiftRequest, call_next: Handler, source: Target,
                    dest: Target) -> Response:
        """Copying an SLO copies its content; with `?multipart-manifest=get`, the manifest."""
        found = await readable_source(sr, source)
        if found is None:
            return await call_next(sr)
        _, record = found
        if record is None or not is_slo(record):
            return await self._via_link(sr, call_next, record)
        reader = _Reader(sr)
        entries = await self._entries(reader, record)
        if sr.request.query.get("multipart-manifest") == "get":
            return await self._copy_manifest(sr, call_next, source, dest, record, entries)
        offset, size = 0, sum(segment_length(s) for s in entries)
        part = _part_number(sr)
        if part is not None:  # applies to the source, as Swift's copy does
            if part > len(entries):
                raise SwiftError(416, "The requested part number is not satisfiable")
            offset = sum(segment_length(s) for s in entries[:part - 1])
            size = segment_length(entries[part - 1])

        def source_pieces(start: int, end: int) -> AsyncGenerator[Piece, None]:
            return reader.pieces(entries, offset + start, offset + end - 1)

        return await copy_assembled(sr, call_next, source, dest, record, size, source_pieces)

    async def _via_link(self, sr: SwiftRequest, call_next: Handler,
                        record: ObjectRecord | None) -> Response:
        """Not an SLO here: serve the SLO a symlink points at, or pass the request on."""
        target = await follow_link(sr, call_next, record, "X-Static-Large-Object")
        if target is None:
            return await call_next(sr)
        response = await self._get(target, call_next)
        response.headers["Content-Location"] = target.state[LOCATION]
        return response

    # ---- GET / HEAD -----------------------------------------------------------------
    async def _get(self, sr: SwiftRequest, call_next: Handler) -> Response:
        if "version-id" in sr.request.query:
            return await self._get_version(sr, call_next)
        assert sr.container is not None and sr.obj is not None  # an object request
        container, record = await sr.get_object(sr.account, sr.container, sr.obj)
        if container is None or not can_read_object(sr, sr.account, container):
            return await call_next(sr)
        if record is None or not is_slo(record):
            return await self._via_link(sr, call_next, record)
        reader = _Reader(sr)
        entries: list[dict[str, Any]] | None = None
        try:
            etag, size = record.meta[SYSMETA_SLO_ETAG], int(record.meta[SYSMETA_SLO_SIZE])
        except (KeyError, ValueError):
            entries = await self._entries(reader, record)
            etag, size = slo_etag(entries), sum(segment_length(s) for s in entries)
        part = _part_number(sr)
        headers = object_headers(record)
        headers["Etag"] = f'"{etag}"'
        headers["X-Manifest-Etag"] = record.etag
        if VERSION_ID in record.meta:
            headers["X-Object-Version-Id"] = record.meta[VERSION_ID]
        if part is not None:
            if entries is None:
                entries = await self._entries(reader, record)
            return await self._part(sr, reader, headers, entries, part, size)
        status = evaluate(sr.headers, etag, record.timestamp)
        if status is not None:
            headers.pop("Content-Type", None)
            if status == 412:
                headers["Content-Type"] = "text/html; charset=UTF-8"
            return Response(status, headers, b"")
        if sr.request.method == "GET" and entries is None:
            entries = await self._entries(reader, record)
        final = entries or []

        def source(start: int, end: int) -> AsyncGenerator[Piece, None]:
            return reader.pieces(final, start, end - 1)

        return await large_object_response(sr, headers, size, record.content_type, source)

    async def _copy_manifest(self, sr: SwiftRequest, call_next: Handler, source: Target,
                             dest: Target, record: ObjectRecord,
                             entries: list[dict[str, Any]]) -> Response:
        """A manifest copy is a manifest PUT at the destination, as in Swift: its segments
        are checked again there (another account must hold them, readable by the caller)."""
        body = orjson.dumps(raw_manifest(entries))
        headers = copy_headers(sr, record)
        headers["content-length"] = str(len(body))
        for name in ("accept", "etag"):
            if name in sr.headers:
                headers[name] = sr.headers[name]

        async def chunks() -> AsyncIterator[bytes]:
            yield body

        sub = make_subrequest(sr, "PUT", dest[1], dest[2], headers=headers, body=chunks(),
                              query={"multipart-manifest": "put"}, account=dest[0])
        return copied_from(await self._put(sub, call_next), source, record, headers)

    async def _version_manifest(self, sr: SwiftRequest, call_next: Handler
                                ) -> tuple[Response, list[dict[str, Any]]] | None:
        """The manifest of the version `?version-id=` names, read through the pipeline (the
        versioning feature finds it), with its response; None when it is no SLO."""
        probe = subrequest(sr, method="GET", headers=plain_headers(sr.headers),
                           query={**sr.request.query, "multipart-manifest": "get"},
                           keep_override=True)
        found = await call_next(probe)
        body = found.body
        if found.status != 200 or found.headers.get("X-Static-Large-Object") != "True":
            if not isinstance(body, bytes):
                await body.aclose()  # type: ignore[attr-defined]
            return None
        raw = body if isinstance(body, bytes) else b"".join([c async for c in body])
        try:
            entries = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise SwiftError(500, "Unable to load SLO manifest") from None
        return found, entries

    async def _get_version(self, sr: SwiftRequest, call_next: Handler) -> Response:
        """`?version-id=`: if the version is an SLO, its manifest is served as the large
        object."""
        try:
            version = await self._version_manifest(sr, call_next)
        except SwiftError:
            return await call_next(sr)
        if version is None:
            return await call_next(sr)
        found, entries = version
        etag, size = slo_etag(entries), sum(segment_length(s) for s in entries)
        headers = {k: v for k, v in found.headers.items()
                   if k.lower() not in ("content-length", "etag")}
        headers.setdefault("Content-Type", "application/octet-stream")
        headers["Etag"] = f'"{etag}"'
        headers["X-Manifest-Etag"] = found.headers.get("Etag", "").strip('"')
        reader = _Reader(sr)
        part = _part_number(sr)
        if part is not None:
            return await self._part(sr, reader, headers, entries, part, size)
        try:
            timestamp = float(found.headers.get("X-Timestamp", "0"))
        except ValueError:
            timestamp = 0.0
        status = evaluate(sr.headers, etag, timestamp)
        if status is not None:
            headers.pop("Content-Type", None)
            return Response(status, headers, b"")

        def source(start: int, end: int) -> AsyncGenerator[Piece, None]:
            return reader.pieces(entries, start, end - 1)

        return await large_object_response(sr, headers, size, headers["Content-Type"], source)

    @staticmethod
    async def _part(sr: SwiftRequest, reader: _Reader, headers: dict[str, str],
                    entries: list[dict[str, Any]], part: int, size: int) -> Response:
        """`?part-number=N`: the Nth segment of the manifest, as a 206."""
        headers["X-Parts-Count"] = str(len(entries))
        head = sr.request.method == "HEAD"
        if part > len(entries):
            headers["Content-Range"] = f"bytes */{size}"
            body = b"" if head else b"The requested part number is not satisfiable"
            headers["Content-Length"] = str(len(body))
            return Response(416, headers, body)
        start = sum(segment_length(s) for s in entries[:part - 1])
        end = start + segment_length(entries[part - 1])
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
        headers["Content-Length"] = str(end - start)
        if head:
            return Response(206, headers)

        def source(lo: int, hi: int) -> AsyncGenerator[Piece, None]:
            return reader.pieces(entries, lo, hi - 1)

        return Response(206, headers, await checked_stream(sr, source, start, end),
                        content_length=end - start)

    @staticmethod
    async def _entries(reader: _Reader, record: ObjectRecord) -> list[dict[str, Any]]:
        try:
            return await reader.manifest(record)
        except SegmentError:
            raise SwiftError(500, "Unable to load SLO manifest") from None

    async def _manifest_get(self, sr: SwiftRequest, call_next: Handler) -> Response:
        response = await call_next(sr)
        if response.headers.get("X-Static-Large-Object", "").lower() != "true" or \
                response.status != 200:
            return response
        if sr.request.query.get("format") != "raw":
            response.headers["Content-Type"] = "application/json; charset=utf-8"
            return response
        body = response.body
        if isinstance(body, bytes):
            raw = body
        else:
            parts = [chunk async for chunk in body]
            raw = b"".join(parts)
        try:
            entries = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise SwiftError(500, "Unable to load SLO manifest") from None
        data = orjson.dumps(raw_manifest(entries), option=orjson.OPT_SORT_KEYS)
        response.body = data
        response.content_length = None
        response.headers["Etag"] = hashlib.md5(data, usedforsecurity=False).hexdigest()
        response.headers.pop("Content-Length", None)
        return response

    # ---- PUT ------------------------------------------------------------------------
    async def _put(self, sr: SwiftRequest, call_next: Handler) -> Response:
        assert sr.container is not None and sr.obj is not None
        request = sr.request
        if "x-copy-from" in sr.headers:
            raise SwiftError(405, "Multipart Manifest PUTs cannot be COPY requests")
        storage = sr.services.storage
        container = await storage.get_container(sr.account, sr.container)
        if not can_write_object(sr, sr.account, container):
            raise sr.services.authorizer.deny(sr.auth)
        try:
            length = request.content_length
        except BadRequest as exc:
            raise SwiftError(400, str(exc)) from None
        if length is None and not request.chunked:
            raise SwiftError(411)
        too_big = f"Manifest File > {MAX_MANIFEST_SIZE} bytes"
        if length is not None and length > MAX_MANIFEST_SIZE:
            raise SwiftError(413, too_big)
        try:
            body = await request.body(MAX_MANIFEST_SIZE)
        except BadRequest as exc:
            raise SwiftError(413 if exc.status == 413 else exc.status,
                             too_big if exc.status == 413 else str(exc)) from None
        parsed = parse_manifest_put(body, f"/{sr.container}/{sr.obj}")
        if sum(1 for seg in parsed if "path" in seg) > MAX_MANIFEST_SEGMENTS:
            raise SwiftError(413, "Number of object-backed segments must be <= "
                             f"{MAX_MANIFEST_SEGMENTS}")
        fmt = report.best_format(sr.headers.get("accept")) or "text/plain"
        if sr.request.query.get("heartbeat", "").lower() in ("on", "true", "1", "yes"):
            return Response(202, {"Content-Type": fmt},
                            self._heartbeat(sr, call_next, parsed, fmt))
        entries, total, problems = await self._validate(sr, parsed)
        if problems:
            return Response(400, {"Content-Type": fmt},
                            report.render(fmt, {}, problems, "upload"))
        return await self._store(sr, call_next, entries, total)

    async def _put_stored(self, sr: SwiftRequest, call_next: Handler) -> Response:
        """A container sync push of a manifest in its stored form: kept as sent, since its
        segments sync on their own and may arrive later (Swift's slo_override)."""
        try:
            body = await sr.request.body(MAX_MANIFEST_SIZE)
            entries = orjson.loads(body)
            if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
                raise ValueError("not a list of segments")
            total = sum(segment_length(seg) for seg in entries)
            slo_etag(entries)
        except (BadRequest, ValueError, KeyError, TypeError, binascii.Error) as exc:
            raise SwiftError(400, f"Invalid stored manifest: {exc}") from None
        sr.headers.pop(MARKER, None)
        sr.headers.pop("etag", None)
        return await self._store(sr, call_next, entries, total)

    async def _heartbeat(self, sr: SwiftRequest, call_next: Handler,
                         parsed: list[dict[str, Any]], fmt: str) -> AsyncIterator[bytes]:
        """`heartbeat=on`: answer 202 at once, the outcome follows in the body."""
        yield b" "
        problems: list[list[str]] = []
        result: dict[str, Any]
        try:
            entries, total, problems = await self._validate(sr, parsed)
            if problems:
                raise SwiftError(400)
            response = await self._store(sr, call_next, entries, total)
            body = response.body if isinstance(response.body, bytes) else b""
            result = {"Response Status": status_line(response.status),
                      "Response Body": body.decode("utf-8", "replace")}
            if 200 <= response.status < 300:
                result["Etag"] = response.headers.get("Etag", "")
                result["Last Modified"] = response.headers.get("Last-Modified", "")
        except SwiftError as exc:
            reason = _HEARTBEAT_REASONS.get(exc.status, "")
            result = {"Response Status": status_line(exc.status),
                      "Response Body": exc.message or f"{status_line(exc.status)[4:]}"
                                                      f"{chr(10) + reason if reason else ''}"}
        yield b"\r\n\r\n" + report.render(fmt, result, problems, "upload")

    async def _store(self, sr: SwiftRequest, call_next: Handler,
                     entries: list[dict[str, Any]], total: int) -> Response:
        """Write the validated manifest through the rest of the pipeline."""
        assert sr.obj is not None
        request = sr.request
        etag = slo_etag(entries)
        client_etag = sr.headers.get("etag", "").strip().strip('"')
        if client_etag and client_etag != etag:
            raise SwiftError(422)
        stored = [{k: v for k, v in seg.items() if k != "_raw"} for seg in entries]
        data = orjson.dumps(stored)
        headers = {k: v for k, v in sr.headers.items()
                   if k not in ("content-length", "transfer-encoding", "etag")}
        headers["content-length"] = str(len(data))
        headers["etag"] = hashlib.md5(data, usedforsecurity=False).hexdigest()
        if not headers.get("content-type"):
            headers["content-type"] = guess_type(sr.obj)
        sysmeta = dict(sr.state.get(OBJECT_SYSMETA, {}))
        sysmeta.update({SYSMETA_SLO_ETAG: etag, SYSMETA_SLO_SIZE: str(total), MARKER: "True"})
        sr.state[OBJECT_SYSMETA] = sysmeta
        sent = False

        async def receive() -> dict[str, Any]:
            nonlocal sent
            chunk, sent = (b"" if sent else data), True
            return {"type": "http.request", "body": chunk, "more_body": False}

        new_request = dataclasses.replace(request, receive=receive, headers=headers,
                                          consumed=0, _more=True)
        response = await call_next(dataclasses.replace(sr, request=new_request))
        if 200 <= response.status < 300:
            response.headers["Etag"] = f'"{etag}"'
        return response

    async def _validate(self, sr: SwiftRequest, parsed: list[dict[str, Any]]
                        ) -> tuple[list[dict[str, Any]], int, list[list[str]]]:
        reader = _Reader(sr)
        heads: dict[str, ObjectRecord | str] = {}
        entries: list[dict[str, Any]] = []
        problems: list[list[str]] = []
        total = 0
        for index, seg in enumerate(parsed):
            if "data" in seg:
                entries.append(seg)
                total += len(_inline(seg))
                continue
            path = seg["path"]
            if path not in heads:
                try:
                    heads[path] = await reader.lookup(path)
                except SegmentError as exc:
                    heads[path] = str(exc)
            head = heads[path]
            name = quote(path)
            if isinstance(head, str):
                problems.append([name, head])
                continue
            sub = is_slo(head)
            size = int(head.meta.get(SYSMETA_SLO_SIZE, head.size)) if sub else head.size
            etag = head.meta.get(SYSMETA_SLO_ETAG, head.etag) if sub else head.etag
            length = size
            entry: dict[str, Any] = {"name": "/" + path.lstrip("/"), "bytes": size,
                                     "hash": etag, "content_type": head.content_type,
                                     "last_modified": listing_date(head.timestamp)}
            if seg.get("range"):
                rng = _single_range(str(seg["range"]), size)
                if rng is None or rng == (0, 0):
                    problems.append([name, "Unsatisfiable Range"])
                elif rng != (0, size):
                    entry["range"] = f"{rng[0]}-{rng[1] - 1}"
                    length = rng[1] - rng[0]
            if length < MIN_SEGMENT_SIZE and index != len(parsed) - 1:
                problems.append([name, "Too small; each segment must be at least 1 byte."])
            if seg.get("size_bytes") is not None and seg["size_bytes"] != size:
                problems.append([name, "Size Mismatch"])
            if seg.get("etag") is not None and seg["etag"] != etag:
                problems.append([name, "Etag Mismatch"])
            if sub:
                entry["sub_slo"] = True
            entries.append(entry)
            total += length
        return entries, total, problems

    # ---- DELETE ---------------------------------------------------------------------
    async def _version_entries(self, sr: SwiftRequest, call_next: Handler
                               ) -> list[dict[str, Any]]:
        try:
            version = await self._version_manifest(sr, call_next)
        except SwiftError as exc:
            raise SegmentError(f"{exc.status} {exc.message}") from None
        if version is None:
            raise SegmentError("400 Not an SLO manifest")
        return version[1]

    async def _delete(self, sr: SwiftRequest, call_next: Handler) -> Response:
        assert sr.container is not None and sr.obj is not None
        fmt = report.best_format(sr.headers.get("accept"))
        top: dict[str, Any] = {"sub_slo": True, "name": f"/{sr.container}/{sr.obj}"}
        if "version-id" in sr.request.query:  # one version's manifest and its segments
            top["version_id"] = sr.request.query["version-id"]
        items = await self._segments_to_delete(sr, call_next, top)
        body = await delete_report(sr, call_next, items, fmt)
        headers = {"Content-Type": fmt or "text/plain"}
        return Response(200, headers, body)

    async def _segments_to_delete(self, sr: SwiftRequest, call_next: Handler,
                                  top: dict[str, Any]) -> list[dict[str, Any]]:
        """Every segment depth-first, each manifest after its own segments."""
        reader = _Reader(sr)
        pending: list[dict[str, Any]] = [top]
        out: list[dict[str, Any]] = []
        while pending:
            if len(pending) > MAX_MANIFEST_SEGMENTS * 10:
                raise SwiftError(400, "Too many buffered slo segments to delete.")
            seg = pending.pop(0)
            if "data" in seg:
                continue
            if not seg.get("sub_slo"):
                out.append(seg)
                continue
            try:
                if "version_id" in seg:
                    pending.extend(await self._version_entries(sr, call_next))
                else:
                    record = await reader.lookup(seg["name"])
                    if not is_slo(record):
                        raise SegmentError("400 Not an SLO manifest")
                    pending.extend(await reader.manifest(record))
            except SegmentError as exc:
                code = int(str(exc).split()[0]) if is_digits(str(exc)[:1]) else 500
                message = {404: "SLO manifest not found", 400: "Not an SLO manifest"}.get(
                    code, str(exc))
                seg["error"] = {"code": code, "message": message}
            pending.append({k: v for k, v in seg.items() if k != "sub_slo"})
        return out
