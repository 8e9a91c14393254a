"""Bulk operations: delete many objects, or unpack an archive, with one request.

**Bulk delete** — `POST /v1/AUTH_acc?bulk-delete` (or `DELETE ...?bulk-delete=1`) with a
`text/plain` body of newline-separated, URL-quoted `/container/object` or `/container`
lines. Objects are deleted first, then containers (which must be empty by then). At most
`max_deletes_per_request` (10000) lines; processing stops after `max_failed_deletes` (1000)
failures. The answer is always `200 OK`; its body reports the outcome in the `Accept`
format (plain text, JSON or XML)::

    {"Number Deleted": 6, "Number Not Found": 1, "Response Status": "400 Bad Request",
     "Response Body": "", "Errors": [["/cont", "409 Conflict"]]}

**Extract archive** — `PUT /v1/AUTH_acc[/container[/prefix]]?extract-archive=tar|tar.gz|
tar.bz2` with the archive as body. Each regular file becomes an object under the upload
path (creating containers as needed; with no container in the URL the first path element
names the container and top-level files are ignored). The archive is read as a stream,
never held whole. Absolute names are made relative; names containing `..`, and links,
devices and other non-files are refused with an error entry; a file larger than the
maximum object size gets `413`; an archive stops being read after `max_files_per_
extraction` entries or `max_bytes_per_extraction` bytes of content (archive bombs). Object
metadata (`X-Object-Meta-*`), `X-Delete-At`/`-After` of the request and the `user.meta.*`
/ `user.mime_type` extended attributes of each file are applied. Report::

    {"Number Files Created": 10, "Response Status": "201 Created", "Response Body": "",
     "Errors": []}

Every item is done as an in-process request by the same caller, so authorisation, quotas
and the other features apply to each one exactly as if the client had sent it.
"""

from __future__ import annotations

import asyncio
import logging
import tarfile
import zlib
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote, unquote_to_bytes

from strato.api.http import BadRequest, ClientDisconnect, Response
from strato.api.swift.constraints import MAX_CONTAINER_NAME_LENGTH, MAX_OBJECT_NAME_LENGTH
from strato.api.swift.context import SwiftRequest
from strato.api.swift.features import report
from strato.api.swift.features.subrequest import make_subrequest, run, status_line
from strato.api.swift.features.tarstream import Member, TarStream
from strato.api.swift.pipeline import Feature, Handler

log = logging.getLogger("strato.api.swift.features.bulk")

MAX_DELETES_PER_REQUEST = 10000
MAX_FAILED_DELETES = 1000
MAX_CONTAINERS_PER_EXTRACTION = 10000
MAX_FAILED_EXTRACTIONS = 1000
MAX_FILES_PER_EXTRACTION = 100000
MAX_BYTES_PER_EXTRACTION = 100 * 1024**3
MAX_PATH_LENGTH = MAX_OBJECT_NAME_LENGTH + MAX_CONTAINER_NAME_LENGTH + 2
ARCHIVE_TYPES = {"tar": "", "tar.gz": "gz", "tar.bz2": "bz2"}
READ_CHUNK = 256 * 1024
PIPELINE_BYTES = 256 * 1024
"""Members up to this size are read whole and stored while the archive is read on, up to
PIPELINE_DEPTH at once (at most 8 MiB held); a larger one streams, alone."""
PIPELINE_DEPTH = 32


class _Abort(Exception):
    def __init__(self, status: int, body: str = "") -> None:
        super().__init__(body)
        self.status = status
        self.body = body


# ---- bulk delete ----------------------------------------------------------------------


async def delete_report(sr: SwiftRequest, call_next: Handler, items: list[dict[str, Any]],
                        fmt: str | None) -> bytes:
    """Delete `items` (`{"name": "/c/o", "error": ...}`) and render Swift's report."""
    result: dict[str, Any] = {"Response Status": status_line(200), "Response Body": "",
                              "Number Deleted": 0, "Number Not Found": 0}
    failed: list[list[str]] = []
    failure_status = 400
    try:
        if fmt is None:
            raise _Abort(406)
        objects = [i for i in items if "/" in i["name"].strip("/")]
        containers = [i for i in items if i["name"].strip("/") and
                      "/" not in i["name"].strip("/")]
        for item in objects + containers:
            name = item["name"]
            error = item.get("error")
            if error:
                if error["code"] == 404:
                    result["Number Not Found"] += 1
                else:
                    failed.append([quote(name), error["message"]])
                continue
            container, _, obj = name.lstrip("/").partition("/")
            version = {"version-id": item["version_id"]} if "version_id" in item else None
            sub = make_subrequest(sr, "DELETE", container, obj or None, query=version)
            status = (await run(call_next, sub)).status
            if status // 100 == 2:
                result["Number Deleted"] += 1
            elif status == 404:
                result["Number Not Found"] += 1
            else:
                if status // 100 == 5:
                    failure_status = 502
                failed.append([quote(name), status_line(status)])
            if len(failed) >= MAX_FAILED_DELETES:
                raise _Abort(400, "Max delete failures exceeded")
        if failed:
            result["Response Status"] = status_line(failure_status)
        elif not (result["Number Deleted"] or result["Number Not Found"]):
            result["Response Status"] = status_line(400)
            result["Response Body"] = "Invalid bulk delete."
    except _Abort as exc:
        result["Response Status"] = status_line(exc.status)
        result["Response Body"] = exc.body
    return report.render(fmt, result, failed, "delete")


def _names_from_body(body: bytes) -> list[dict[str, Any]]:
    items = []
    for line in body.split(b"\n"):
        raw = line.strip()
        if not raw:
            continue
        if len(raw) > MAX_PATH_LENGTH * 2:
            raise _Abort(400, "Invalid File Name")
        try:
            name = unquote_to_bytes(raw).decode("utf-8")
        except UnicodeDecodeError:
            items.append({"name": raw.decode("latin-1"),
                          "error": {"code": 412, "message": status_line(412)}})
            continue
        if "\x00" in name:
            items.append({"name": name, "error": {"code": 412, "message": status_line(412)}})
            continue
        items.append({"name": name})
        if len(items) > MAX_DELETES_PER_REQUEST:
            raise _Abort(413, f"Maximum Bulk Deletes: {MAX_DELETES_PER_REQUEST} per request")
    return items


async def _bulk_delete(sr: SwiftRequest, call_next: Handler) -> Response:
    fmt = report.best_format(sr.headers.get("accept"))
    request = sr.request
    try:
        if fmt is None:
            raise _Abort(406)
        incoming = sr.headers.get("content-type")
        if incoming and not incoming.startswith("text/plain"):
            raise _Abort(406)
        if request.content_length is None and not request.chunked:
            raise _Abort(411)
        body = await request.body(MAX_DELETES_PER_REQUEST * (MAX_PATH_LENGTH + 1) * 3)
        items = _names_from_body(body)
    except _Abort as exc:
        result = {"Response Status": status_line(exc.status), "Response Body": exc.body,
                  "Number Deleted": 0, "Number Not Found": 0}
        return _report_response(fmt, report.render(fmt, result, [], "delete"))
    except BadRequest as exc:
        result = {"Response Status": status_line(exc.status), "Response Body": str(exc),
                  "Number Deleted": 0, "Number Not Found": 0}
        return _report_response(fmt, report.render(fmt, result, [], "delete"))
    return _report_response(fmt, await delete_report(sr, call_next, items, fmt))


def _report_response(fmt: str | None, body: bytes) -> Response:
    return Response(200, {"Content-Type": fmt or "text/plain; charset=utf-8"}, body)


# ---- extract archive ------------------------------------------------------------------


def _pax_headers(info: Member) -> dict[str, str]:
    headers = {}
    for key, value in info.pax_headers.items():
        for prefix in ("SCHILY.xattr.user.", "LIBARCHIVE.xattr.user."):
            if key.startswith(prefix):
                attr = key[len(prefix):]
                if attr == "mime_type":
                    headers["content-type"] = value
                elif attr.startswith("meta."):
                    headers["x-object-meta-" + attr[5:].lower()] = value
    return headers


def _clean_name(name: str) -> str | None:
    """The member name as a relative path; None if it climbs (`..`)."""
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        return None
    return "/".join(parts)


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def _extract(sr: SwiftRequest, call_next: Handler, compression: str,
                   fmt: str | None) -> bytes:
    result: dict[str, Any] = {"Response Status": status_line(201), "Response Body": "",
                              "Number Files Created": 0}
    failed: list[list[str]] = []
    failure_status = 400
    request = sr.request
    base = "/".join(p for p in (sr.container, sr.obj) if p).rstrip("/")
    passed = {k: v for k, v in sr.headers.items()
              if k.startswith("x-object-meta-") or k in ("x-delete-at", "x-delete-after")}
    files = 0
    total = 0
    containers_seen: set[str] = set()
    created = 0
    pending: dict[asyncio.Task[int], tuple[str, list[str] | None]] = {}
    """Small members being stored while the next ones are read: their writes commit
    together (the metadata store's group commit), not one flush after another."""
    latest: dict[str, asyncio.Task[int]] = {}

    def settle(path: str, container_failure: list[str] | None, status: int) -> None:
        nonlocal failure_status
        if status // 100 == 2:
            result["Number Files Created"] += 1
            return
        if container_failure:
            failed.append(container_failure)
        if status == 401:
            failed.append([quote(path[:MAX_PATH_LENGTH]), status_line(401)])
            raise _Abort(401)
        if status // 100 == 5:
            failure_status = 502
        failed.append([quote(path[:MAX_PATH_LENGTH]), status_line(status)])

    async def drain(keep: int) -> None:
        while len(pending) > keep:
            done, _ = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                path, container_failure = pending.pop(task)
                settle(path, container_failure, task.result())

    async def put(container: str, obj: str, headers: dict[str, str],
                  body: AsyncIterator[bytes]) -> int:
        return (await run(call_next, make_subrequest(sr, "PUT", container, obj,
                                                     headers=headers, body=body))).status

    try:
        if fmt is None:
            raise _Abort(406)
        if request.content_length is None and not request.chunked:
            raise _Abort(411)
        tar = TarStream(request.stream(), compression)
        while len(failed) < MAX_FAILED_EXTRACTIONS:
            info = await tar.next()
            if info is None:
                break
            files += 1
            if files > MAX_FILES_PER_EXTRACTION:
                raise _Abort(400, f"More than {MAX_FILES_PER_EXTRACTION} entries in archive.")
            if info.isdir():
                continue
            clean = _clean_name(info.name)
            shown = quote((clean or info.name)[:MAX_PATH_LENGTH])
            if not info.isfile() or clean is None:
                log.info("extract-archive refused member %r (type %r) (%s)", info.name,
                         info.type, request.trans_id)
                failed.append([shown, status_line(400)])
                continue
            path = f"{base}/{clean}" if base else clean
            if "/" not in path:
                continue  # a file at the account level has no container
            try:
                path.encode("utf-8")
            except UnicodeEncodeError:
                failed.append([quote(path.encode("utf-8", "surrogateescape")[:MAX_PATH_LENGTH]),
                               status_line(412)])
                continue
            total += info.size
            if total > MAX_BYTES_PER_EXTRACTION:
                raise _Abort(413, f"Archive content over {MAX_BYTES_PER_EXTRACTION} bytes.")
            if info.size > sr.services.max_file_size:
                failed.append([quote(path[:MAX_PATH_LENGTH]), status_line(413)])
                continue
            container, _, obj = path.partition("/")
            container_failure = None
            if container not in containers_seen:
                containers_seen.add(container)
                if await sr.services.storage.get_container(sr.account, container) is None:
                    status = (await run(call_next, make_subrequest(sr, "PUT", container))).status
                    if status // 100 == 2:
                        created += 1
                        if created > MAX_CONTAINERS_PER_EXTRACTION:
                            raise _Abort(400, f"More than {MAX_CONTAINERS_PER_EXTRACTION} "
                                         "containers to create from tar.")
                    else:
                        container_failure = [quote(f"/{container}"), status_line(status)]
                        if status == 401:
                            raise _Abort(401)
            headers = {**passed, **_pax_headers(info), "content-length": str(info.size)}
            earlier = latest.get(path)
            if earlier is not None and not earlier.done():
                await asyncio.wait({earlier})  # a name twice: the later member wins
            if info.size > PIPELINE_BYTES:
                settle(path, container_failure,
                       await put(container, obj, headers, tar.body(info)))
                continue
            data = b"".join([piece async for piece in tar.body(info)])
            task = asyncio.ensure_future(put(container, obj, headers, _once(data)))
            pending[task] = (path, container_failure)
            latest[path] = task
            await drain(PIPELINE_DEPTH - 1)
        await drain(0)
        if failed:
            result["Response Status"] = status_line(failure_status)
        elif not result["Number Files Created"]:
            result["Response Status"] = status_line(400)
            result["Response Body"] = "Invalid Tar File: No Valid Files"
    except _Abort as exc:
        result["Response Status"] = status_line(exc.status)
        result["Response Body"] = exc.body
    except (tarfile.TarError, zlib.error, EOFError, OSError) as exc:
        result["Response Status"] = status_line(400)
        result["Response Body"] = f"Invalid Tar File: {exc}"
    except (ClientDisconnect, BadRequest):
        result["Response Status"] = status_line(499)
    finally:
        # what is being stored when the archive stops (a bad member, a 401, a disconnect)
        # completes, and counts: an acknowledged object is reported as created
        for outcome in await asyncio.gather(*pending, return_exceptions=True):
            if isinstance(outcome, int) and outcome // 100 == 2:
                result["Number Files Created"] += 1
    return report.render(fmt, result, failed, "extract")


class BulkDelete(Feature):
    """`?bulk-delete`; its `/info` section is `bulk_delete`."""

    name = "bulk_delete"

    def capabilities(self) -> dict[str, Any]:
        return {"max_deletes_per_request": MAX_DELETES_PER_REQUEST,
                "max_failed_deletes": MAX_FAILED_DELETES}

    async def handle(self, sr: SwiftRequest, call_next: Handler) -> Response:
        if "bulk-delete" in sr.request.query and sr.request.method in ("POST", "DELETE"):
            return await _bulk_delete(sr, call_next)
        return await call_next(sr)


class BulkUpload(Feature):
    """`?extract-archive=`; its `/info` section is `bulk_upload`."""

    name = "bulk_upload"

    def capabilities(self) -> dict[str, Any]:
        return {"max_containers_per_extraction": MAX_CONTAINERS_PER_EXTRACTION,
                "max_failed_extractions": MAX_FAILED_EXTRACTIONS,
                "max_files_per_extraction": MAX_FILES_PER_EXTRACTION,
                "max_bytes_per_extraction": MAX_BYTES_PER_EXTRACTION}

    async def handle(self, sr: SwiftRequest, call_next: Handler) -> Response:
        query = sr.request.query
        if sr.request.method != "PUT" or "extract-archive" not in query:
            return await call_next(sr)
        kind = ARCHIVE_TYPES.get(query["extract-archive"].lower().strip("."))
        if kind is None:
            return Response(400, {"Content-Type": "text/plain; charset=UTF-8"},
                            b"Unsupported archive format")
        fmt = report.best_format(sr.headers.get("accept"))
        return _report_response(fmt, await _extract(sr, call_next, kind, fmt))
