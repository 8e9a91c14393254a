"""Object requests: PUT (and X-Copy-From), GET/HEAD (ranges, conditionals), POST, DELETE, COPY."""

from __future__ import annotations

import mimetypes
from functools import partial
from urllib.parse import quote, unquote

from strato.api.bodies import blob_body, closing
from strato.api.http import BadRequest, ClientDisconnect, Response
from strato.api.swift.conditional import evaluate
from strato.api.swift.constraints import (
    check_metadata,
    check_object_name,
    check_transfer_encoding,
    delete_at_from,
    if_delete_at,
)
from strato.api.swift.context import SwiftRequest
from strato.api.swift.errors import SwiftError
from strato.api.swift.headers import (
    VERSION_ID,
    header_text,
    last_modified,
    pick,
    title_case,
    x_timestamp,
)
from strato.api.swift.ranges import Unsatisfiable, multipart_body, parse_range
from strato.domain.storage import (
    ContainerNotFound,
    EtagMismatch,
    ObjectNotFound,
    ObjectTooLarge,
    ObjectUnreadable,
    OlderThanStored,
)
from strato.stores.metadata.records import ContainerRecord, ObjectRecord

META_PREFIXES = ("x-object-meta-",)
OBJECT_SYSMETA = "object_sysmeta"
"""`sr.state` key: dict of `x-object-sysmeta-*` a feature wants stored with a PUT/POST/COPY."""
AUTHORIZE_OVERRIDE = "authorize_override"
"""`sr.state` key: set by a feature (tempurl, formpost) that has already authorised the request."""
OVERRIDE_SCOPE = "authorize_scope"
"""`sr.state` key: (account, container or None) the override is limited to (a temp URL key's
reach: its account, or its container), so a copy or a large object cannot read past it."""


def override_allows(sr: SwiftRequest, account: str, container: ContainerRecord | None) -> bool:
    """Whether a feature's authorisation covers `account`/`container`."""
    if not sr.state.get(AUTHORIZE_OVERRIDE):
        return False
    scope = sr.state.get(OVERRIDE_SCOPE)
    if scope is None:
        return True
    return account == scope[0] and (scope[1] is None or (
        container is not None and container.name == scope[1]))


SYNC_TIMESTAMP = "sync_timestamp"
"""`sr.state` key: the X-Timestamp of a signed container sync push, kept as the object's
timestamp (a PUT not newer than the stored object gets 202 and changes nothing, as Swift's
proxy answers its object servers' 409; a DELETE gets the 409)."""
SLO_OVERRIDE = "slo_override"
"""`sr.state` key: a container sync push may PUT a Static Large Object manifest in its
stored form (`X-Static-Large-Object: True`), unchecked, as its segments sync separately."""
SYMLINK_OVERRIDE = "symlink_override"
"""`sr.state` key: a container sync push may PUT a static symlink as its source holds it
(`X-Symlink-Target-Etag` and `-Bytes`), unchecked, as its target may arrive later."""
STORED_HEADERS = ("content-disposition", "content-encoding")
POST_PRESERVED = ("x-static-large-object",)
ACCEPTED_BODY = b"<html><h1>Accepted</h1><p>The request is accepted for processing.</p></html>"


def guess_type(name: str) -> str:
    return mimetypes.guess_type(name, strict=False)[0] or "application/octet-stream"


def object_headers(record: ObjectRecord) -> dict[str, str]:
    headers = {
        "Content-Type": record.content_type,
        "Etag": record.etag,
        "Last-Modified": last_modified(record.timestamp),
        "X-Timestamp": x_timestamp(record.timestamp),
        "Accept-Ranges": "bytes",
    }
    for key, value in record.meta.items():
        if "-sysmeta-" not in key:
            headers[title_case(key)] = value
    if record.delete_at is not None:
        headers["X-Delete-At"] = str(record.delete_at)
    return headers


def request_meta(sr: SwiftRequest) -> dict[str, str]:
    """Client metadata to store, plus any system metadata a feature set for this request.

    Clients can never set `x-object-sysmeta-*` themselves: only listed prefixes are picked.
    """
    check_metadata(sr.headers, "object")
    meta = pick(sr.headers, META_PREFIXES, STORED_HEADERS)
    meta.update(sr.state.get(OBJECT_SYSMETA, {}))
    return meta


def split_target(value: str, header: str) -> tuple[str, str]:
    """`/container/object` or `container/object` (URL-quoted) from Destination/X-Copy-From."""
    path = unquote(header_text(value))
    path = path[1:] if path.startswith("/") else path
    container, _, obj = path.partition("/")
    if not container or not obj:
        raise SwiftError(412, f"{header} header must be of the form "
                         "<container name>/<object name>")
    return container, obj


async def _container(sr: SwiftRequest, account: str, name: str) -> ContainerRecord | None:
    return await sr.get_container(account, name)


def can_read_object(sr: SwiftRequest, account: str, container: ContainerRecord | None) -> bool:
    """The caller may read objects in `account`/`container` (None: a missing container)."""
    if override_allows(sr, account, container):
        return True
    authorizer = sr.services.authorizer
    if authorizer.is_owner(sr.auth, account) or (account == sr.account and sr.account_reader):
        return True
    read_acl = container.meta.get("x-container-read") if container else None
    return authorizer.can_read(sr.auth, read_acl, sr.headers.get("referer"),
                               **sr.acl_scope(account))


def can_write_object(sr: SwiftRequest, account: str, container: ContainerRecord | None
                     ) -> bool:
    """The caller may write objects in `account`/`container` (None: a missing container)."""
    if override_allows(sr, account, container):
        return True
    authorizer = sr.services.authorizer
    if authorizer.is_owner(sr.auth, account) or (account == sr.account and sr.account_writer):
        return True
    write_acl = container.meta.get("x-container-write") if container else None
    return authorizer.can_write(sr.auth, write_acl, **sr.acl_scope(account))


async def handle_object(sr: SwiftRequest) -> Response:
    assert sr.container is not None and sr.obj is not None
    method = sr.request.method
    if method in ("GET", "HEAD"):
        return await get_object(sr)
    if method == "PUT":
        return await put_object(sr)
    if method == "POST":
        return await post_object(sr)
    if method == "DELETE":
        return await delete_object(sr)
    if method == "COPY":
        return await copy_request(sr)
    raise SwiftError(405, headers={"Allow": "HEAD, GET, PUT, POST, DELETE, COPY"})


async def get_object(sr: SwiftRequest) -> Response:
    assert sr.container is not None and sr.obj is not None
    storage = sr.services.storage
    container, record = await sr.get_object(sr.account, sr.container, sr.obj)
    if not can_read_object(sr, sr.account, container):
        raise sr.services.authorizer.deny(sr.auth)
    if record is None:
        if sr.headers.get("if-match") is not None:
            raise SwiftError(412)
        raise SwiftError(404)
    headers = object_headers(record)
    status = evaluate(sr.headers, record.etag, record.timestamp)
    if status is not None:
        headers.pop("Content-Type", None)
        if status == 412:
            headers["Content-Type"] = "text/html; charset=UTF-8"
            return Response(412, headers, b"")
        return Response(304, headers, b"")
    assert container is not None
    if sr.request.method == "HEAD":  # the row answers a HEAD: never touch the blob
        headers["Content-Length"] = str(record.size)
        return Response(200, headers)
    try:
        record, reader = await storage.open_object(container, record, sr.inline_data(record))
    except ObjectNotFound:
        raise SwiftError(404) from None
    headers = object_headers(record)
    length = reader.size
    try:
        ranges = parse_range(sr.headers.get("range"), length)
    except Unsatisfiable:
        reader.close()
        headers["Content-Range"] = f"bytes */{length}"
        headers["Content-Type"] = "text/html; charset=UTF-8"
        raise SwiftError(416, headers=headers) from None
    try:  # a blob the disk cannot read: 503 (and quarantined), not a 200 cut short
        await storage.probe(container, record, reader, ranges[0][0] if ranges else 0)
    except ObjectUnreadable:
        raise SwiftError(503) from None
    failed = partial(storage.read_failed, container, record)
    if ranges is None or length == 0:  # a suffix range of an empty object: all of it
        return Response(200, headers, blob_body(reader, 0, length, failed),
                        content_length=length)
    if len(ranges) == 1:
        start, end = ranges[0]
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{length}"
        return Response(206, headers, blob_body(reader, start, end, failed),
                        content_length=end - start)
    boundary, total, body = multipart_body(ranges, length, record.content_type,
                                           reader.iter_range)
    headers["Content-Type"] = f"multipart/byteranges;boundary={boundary}"
    return Response(206, headers, closing(reader, body), content_length=total)




async def put_object(sr: SwiftRequest) -> Response:
    assert sr.container is not None and sr.obj is not None
    request = sr.request
    if "x-copy-from" in sr.headers:
        check_object_name(sr.obj)
        src_container, src_obj = split_target(sr.headers["x-copy-from"], "X-Copy-From")
        if request.content_length not in (None, 0) or request.chunked:
            raise SwiftError(400, "Copy requests require a zero byte body")
        src_account = unquote(header_text(sr.headers.get("x-copy-from-account", sr.account)))
        return await copy_object(sr, (src_account, src_container, src_obj),
                                 (sr.account, sr.container, sr.obj))
    storage = sr.services.storage
    container = await _container(sr, sr.account, sr.container)
    # Swift's order: authorise, then 404 for a missing container, then the constraints
    if not can_write_object(sr, sr.account, container):
        raise sr.services.authorizer.deny(sr.auth)
    if container is None:
        raise SwiftError(404)
    check_transfer_encoding(sr.headers)
    try:  # check_object_creation's order: 413, 411, name, metadata
        length = request.content_length
    except BadRequest as exc:
        raise SwiftError(400, str(exc)) from None
    if length is not None and length > sr.services.max_file_size:
        raise SwiftError(413, "Your request is too large.")
    if length is None and not request.chunked:
        raise SwiftError(411, "Missing Content-Length header.")
    check_object_name(sr.obj)
    meta = request_meta(sr)
    delete_at = delete_at_from(sr.headers)
    if_none_match = sr.headers.get("if-none-match")
    if if_none_match is not None:
        if if_none_match.strip() != "*":
            raise SwiftError(400, "If-None-Match only supports *")
        if await storage.get_object(container, sr.obj) is not None:
            raise SwiftError(412)
    content_type = sr.headers.get("content-type") or guess_type(sr.obj)
    if sr.headers.get("x-detect-content-type", "").lower() in ("true", "1", "yes"):
        content_type = guess_type(sr.obj)
    if length is not None:
        storage.check_room(container, length)  # 507 before a byte is read (no 100 Continue)
    try:
        record, _ = await storage.put_object(
            container, sr.obj, request.stream(), content_type=content_type, meta=meta,
            expected_etag=sr.headers.get("etag"), delete_at=delete_at,
            timestamp=sr.state.get(SYNC_TIMESTAMP))
    except OlderThanStored:  # a newer write of the name won (a sync push's older
        raise SwiftError(202) from None  # X-Timestamp, a skewed clock): Swift's 202
    except ClientDisconnect:
        raise SwiftError(499) from None
    except BadRequest as exc:
        raise SwiftError(exc.status, str(exc)) from None
    except EtagMismatch:
        raise SwiftError(422) from None
    except ObjectTooLarge:
        raise SwiftError(413, "Your request is too large.") from None
    except ContainerNotFound:
        raise SwiftError(404) from None
    return Response(201, {"Etag": record.etag, "Last-Modified": last_modified(record.timestamp),
                          "Content-Type": "text/html; charset=UTF-8"})


async def copy_request(sr: SwiftRequest) -> Response:
    assert sr.container is not None and sr.obj is not None
    destination = sr.headers.get("destination")
    if not destination:
        raise SwiftError(412, "You must specify a Destination header")
    container, obj = split_target(destination, "Destination")
    check_object_name(obj)
    dest_account = unquote(header_text(sr.headers.get("destination-account", sr.account)))
    return await copy_object(sr, (sr.account, sr.container, sr.obj),
                             (dest_account, container, obj))


async def copy_object(sr: SwiftRequest, source: tuple[str, str, str],
                      dest: tuple[str, str, str]) -> Response:
    storage = sr.services.storage
    src_account, src_container_name, src_name = source
    dst_account, dst_container_name, dst_name = dest
    # Swift's order: the copy middleware reads the source first (its 403 or 404 is the
    # answer), then the PUT of the destination authorises, 404s, and checks constraints
    src_container = await _container(sr, src_account, src_container_name)
    if not can_read_object(sr, src_account, src_container):
        raise sr.services.authorizer.deny(sr.auth)
    src = await storage.get_object(src_container, src_name) if src_container else None
    if src is None or src_container is None:
        raise SwiftError(404)
    dst_container = await _container(sr, dst_account, dst_container_name)
    if not can_write_object(sr, dst_account, dst_container):
        raise sr.services.authorizer.deny(sr.auth)
    if dst_container is None:
        raise SwiftError(404)
    meta = request_meta(sr)
    fresh = sr.headers.get("x-fresh-metadata", "").lower() in ("true", "1", "yes", "on")
    delete_at = copied_delete_at(sr, None if fresh else src.delete_at)
    merged = {} if fresh else {k: v for k, v in src.meta.items() if "-sysmeta-" not in k}
    merged.update(meta)  # an empty value is kept, as Swift's PUT behind the copy keeps it
    content_type = sr.headers.get("content-type") or src.content_type
    try:
        if "range" in sr.headers:
            record = await _copy_ranges(sr, src_container, src, dst_container, dst_name,
                                        content_type, merged, delete_at)
        else:
            record, _ = await storage.copy_object(dst_container, src, dst_name,
                                                  content_type=content_type, meta=merged,
                                                  delete_at=delete_at)
    except ObjectNotFound:
        raise SwiftError(404) from None
    except ContainerNotFound:
        raise SwiftError(404) from None
    headers = {
        "Etag": record.etag,
        "Last-Modified": last_modified(record.timestamp),
        "Content-Type": "text/html; charset=UTF-8",
        **copied_from_headers(source, src, record.meta, record.delete_at),
    }
    return Response(201, headers)


def copied_delete_at(sr: SwiftRequest, source_delete_at: int | None) -> int | None:
    """A copy's expiry: the request's `X-Delete-At`/`-After`, else the source's (Swift's copy
    carries the source's `X-Delete-At` over, unless `X-Fresh-Metadata`)."""
    if "x-delete-at" in sr.headers or "x-delete-after" in sr.headers:
        return delete_at_from(sr.headers)
    return source_delete_at


def copied_from_headers(source: tuple[str, str, str], src: ObjectRecord, meta: dict[str, str],
                        delete_at: int | None) -> dict[str, str]:
    """What Swift's copy adds to the 201: where the data came from (the account always) and
    the new object's user metadata (empty values included) and expiry."""
    account, container, name = source
    headers = {
        "X-Copied-From-Account": quote(account),
        "X-Copied-From": quote(f"{container}/{name}"),
        "X-Copied-From-Last-Modified": last_modified(src.timestamp),
    }
    version_id = src.meta.get(VERSION_ID)
    if version_id:  # the source's X-Object-Version-Id, when it has one
        headers["X-Copied-From-Version-Id"] = version_id
    for key, value in meta.items():
        if key.startswith(META_PREFIXES):
            headers[title_case(key)] = value
    if delete_at is not None:
        headers["X-Delete-At"] = str(delete_at)
    return headers


async def _copy_ranges(sr: SwiftRequest, src_container: ContainerRecord, src: ObjectRecord,
                       dst_container: ContainerRecord, dst_name: str, content_type: str,
                       meta: dict[str, str], delete_at: int | None) -> ObjectRecord:
    """A copy with a Range header: Swift's copy reads the source with the caller's Range,
    so the new object holds what that GET returns (one range, or a multipart/byteranges
    document for several). An ignored or whole-object range copies everything."""
    storage = sr.services.storage
    src, reader = await storage.open_object(src_container, src)
    try:
        ranges = parse_range(sr.headers["range"], reader.size)
    except Unsatisfiable:
        reader.close()
        raise SwiftError(416, headers={"Content-Range": f"bytes */{reader.size}"}) from None
    if ranges is None or ranges == [(0, reader.size)]:
        reader.close()
        record, _ = await storage.copy_object(dst_container, src, dst_name,
                                              content_type=content_type, meta=meta,
                                              delete_at=delete_at)
        return record
    if len(ranges) == 1:
        body = reader.iter_range(*ranges[0])
    else:
        boundary, _, body = multipart_body(ranges, reader.size, src.content_type,
                                           reader.iter_range)
        if "content-type" not in sr.headers:
            content_type = f"multipart/byteranges;boundary={boundary}"
    record, _ = await storage.put_object(dst_container, dst_name, closing(reader, body),
                                         content_type=content_type, meta=meta,
                                         delete_at=delete_at)
    return record


async def post_object(sr: SwiftRequest) -> Response:
    assert sr.container is not None and sr.obj is not None
    storage = sr.services.storage
    container = await _container(sr, sr.account, sr.container)
    if not can_write_object(sr, sr.account, container):
        raise sr.services.authorizer.deny(sr.auth)
    meta = request_meta(sr)
    delete_at = delete_at_from(sr.headers)
    record = await storage.get_object(container, sr.obj, open_expired=sr.open_expired
                                      ) if container else None
    if record is None or container is None:
        raise SwiftError(404)
    # an empty value is stored and shown, as Swift's object server does
    # system metadata (and the SLO marker) describe the data, which a POST leaves alone
    meta = {**{k: v for k, v in record.meta.items() if _kept_on_post(k)}, **meta}
    try:
        await storage.update_object(container, record, meta, sr.headers.get("content-type"),
                                    delete_at, touch=True)
    except ObjectNotFound:
        raise SwiftError(404) from None
    except OlderThanStored:  # the stored object is newer than this node's clock says now
        raise SwiftError(409) from None
    return Response(202, {"Content-Type": "text/html; charset=UTF-8"}, ACCEPTED_BODY)


def _kept_on_post(key: str) -> bool:
    if key.startswith("x-object-transient-sysmeta-"):
        return False
    return key in POST_PRESERVED or key.startswith("x-object-sysmeta-")


async def delete_object(sr: SwiftRequest) -> Response:
    assert sr.container is not None and sr.obj is not None
    container = await _container(sr, sr.account, sr.container)
    if not can_write_object(sr, sr.account, container):
        raise sr.services.authorizer.deny(sr.auth)
    if container is None:
        raise SwiftError(404)
    expected_expiry = if_delete_at(sr.headers)
    if expected_expiry is not None:  # only delete the version that expires then
        record = await sr.services.storage.get_object(container, sr.obj)
        if record is None:
            raise SwiftError(404)
        if (record.delete_at or 0) != expected_expiry:
            raise SwiftError(412, "X-If-Delete-At and X-Delete-At do not match")
    try:
        await sr.services.storage.delete_object(container, sr.obj,
                                                timestamp=sr.state.get(SYNC_TIMESTAMP))
    except OlderThanStored:
        raise SwiftError(409) from None
    except ObjectNotFound:
        raise SwiftError(404) from None
    return Response(204, {"Content-Type": "text/html; charset=UTF-8"})
