"""Container requests: PUT, HEAD, GET (object listing), POST, DELETE."""

from __future__ import annotations

from strato.api.http import Response
from strato.api.swift.acl import OWNER_HEADERS, clean_acl
from strato.api.swift.constraints import (
    CONTAINER_LISTING_LIMIT,
    check_container_name,
    check_metadata,
    check_stored_metadata,
)
from strato.api.swift.context import SwiftRequest
from strato.api.swift.errors import SwiftError
from strato.api.swift.headers import last_modified, pick, removals, title_case, x_timestamp
from strato.api.swift.listing import (
    listing_content_type,
    listing_format,
    listing_query,
    object_entry,
    render,
)
from strato.domain.policies import StoragePolicy
from strato.domain.storage import ContainerNotEmpty, ContainerNotFound, PolicyConflict
from strato.stores.metadata.base import SYNC_KEY
from strato.stores.metadata.records import ContainerRecord, Subdir

META_PREFIXES = ("x-container-meta-",)
CONTAINER_SYSMETA = "container_sysmeta"
"""`sr.state` key: dict of `x-container-sysmeta-*` a feature wants stored with a PUT/POST."""
LISTING_HOOKS = "listing_entry_hooks"
"""`sr.state` key: list of `hook(fmt, record, entry)` that add fields to object listing entries."""
SETTABLE = ("x-container-read", "x-container-write", "x-versions-location",
            "x-history-location", "x-container-sync-to", "x-container-sync-key")


def container_headers(sr: SwiftRequest, record: ContainerRecord) -> dict[str, str]:
    headers = {
        "X-Container-Object-Count": str(record.object_count),
        "X-Container-Bytes-Used": str(record.bytes_used),
        "X-Timestamp": x_timestamp(record.created_at),
        "X-Put-Timestamp": x_timestamp(record.put_timestamp),
        "Last-Modified": last_modified(record.put_timestamp),
        "X-Storage-Policy": sr.services.storage.policy_of(record).name,
        "Accept-Ranges": "bytes",
    }
    for key, value in record.meta.items():
        if key.startswith("x-container-sysmeta-"):
            continue
        if key in OWNER_HEADERS and not sr.is_owner:
            continue
        if key == SYNC_KEY:  # stored sealed; the owner sees it, as on Swift
            value = sr.services.storage.sync_key(record)
        headers[title_case(key)] = value
    return headers


def requested_policy(sr: SwiftRequest) -> StoragePolicy | None:
    """The storage policy a container PUT names with `X-Storage-Policy` (a name or alias in
    any case), or None; 400 with Swift's text for an unknown or deprecated one."""
    value = sr.headers.get("x-storage-policy")
    if not value:
        return None
    policy = sr.services.storage.policies.find(value)
    if policy is None:
        raise SwiftError(400, f"Invalid X-Storage-Policy '{value}'")
    if policy.deprecated:
        raise SwiftError(400, f"Storage Policy {policy.name!r} is deprecated")
    return policy


def _meta_from_request(sr: SwiftRequest) -> tuple[dict[str, str], list[str]]:
    check_metadata(sr.headers, "container")
    set_meta = pick(sr.headers, META_PREFIXES, SETTABLE)
    for name in ("x-container-read", "x-container-write"):
        if name in set_meta:
            set_meta[name] = clean_acl(name, set_meta[name])
    remove = removals(sr.headers, "container")
    if not sr.is_owner:
        # as Swift's proxy: owner-only headers (ACLs, sync and temp URL keys) from anyone
        # else are dropped, and the rest of the request goes ahead
        set_meta = {k: v for k, v in set_meta.items() if k not in OWNER_HEADERS}
        remove = [k for k in remove if k not in OWNER_HEADERS]
    set_meta.update(sr.state.get(CONTAINER_SYSMETA, {}))
    return set_meta, remove


async def handle_container(sr: SwiftRequest) -> Response:
    method = sr.request.method
    storage = sr.services.storage
    authorizer = sr.services.authorizer
    assert sr.container is not None
    if method == "PUT":
        if not sr.is_owner and not sr.account_writer:
            raise authorizer.deny(sr.auth)
        check_container_name(sr.container)
        set_meta, remove = _meta_from_request(sr)
        policy = requested_policy(sr)
        for key in remove:
            set_meta.setdefault(key, "")
        try:
            made, created = await storage.create_container(sr.account, sr.container,
                                                             set_meta, policy)
            sr.note_policy(sr.account, sr.container, made)
        except PolicyConflict:  # a container's policy is fixed at creation, as in Swift
            raise SwiftError(409) from None
        return Response(201 if created else 202, {"Content-Type": "text/html; charset=UTF-8"})

    record = await storage.get_container(sr.account, sr.container)
    sr.note_policy(sr.account, sr.container, record)
    if method in ("GET", "HEAD"):
        read_acl = record.meta.get("x-container-read") if record else None
        if not sr.is_owner and not sr.account_reader and not sr.state.get(
                "authorize_override") and not authorizer.can_read(
                sr.auth, read_acl, sr.headers.get("referer"), listing=True,
                **sr.acl_scope(sr.account)):
            raise authorizer.deny(sr.auth)
        if record is None:
            raise SwiftError(404)
        # expired objects are gone from reads and listings, so they must not count either
        if await storage.reap_expired(sr.account, record.id):
            reread = await storage.get_container(sr.account, sr.container)
            if reread is None:
                raise SwiftError(404)
            record = reread
        headers = container_headers(sr, record)
        if method == "HEAD":
            headers["Content-Type"] = listing_content_type(listing_format(sr.request))
            headers["Content-Length"] = "0"
            return Response(204, headers)
        fmt = listing_format(sr.request)
        query = listing_query(sr.request, CONTAINER_LISTING_LIMIT)
        entries = await storage.list_objects(record, query)
        rows = [object_entry(e) for e in entries]
        for hook in sr.state.get(LISTING_HOOKS, ()):
            for entry, row in zip(entries, rows, strict=True):
                if not isinstance(entry, Subdir):
                    hook(fmt, entry, row)
        return render(fmt, "container", sr.container, rows, headers)

    if not sr.is_owner and not sr.account_writer:
        raise authorizer.deny(sr.auth)
    if record is None:
        raise SwiftError(404)
    if method == "POST":
        set_meta, remove = _meta_from_request(sr)
        merged = {**record.meta, **set_meta}
        check_stored_metadata({k: v for k, v in merged.items() if v and k not in remove},
                              "container")
        try:
            await storage.update_container(sr.account, sr.container, set_meta, remove)
        except ContainerNotFound:
            raise SwiftError(404) from None
        return Response(204, {"Content-Type": "text/html; charset=UTF-8"})
    if method == "DELETE":
        try:
            await storage.delete_container(sr.account, sr.container)
        except ContainerNotFound:
            raise SwiftError(404) from None
        except ContainerNotEmpty:
            raise SwiftError(409) from None
        return Response(204, {"Content-Type": "text/html; charset=UTF-8"})
    raise SwiftError(405, headers={"Allow": "HEAD, GET, PUT, POST, DELETE"})
