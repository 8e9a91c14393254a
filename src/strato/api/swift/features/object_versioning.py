"""Object versioning: ``X-Versions-Enabled``, as OpenStack Swift's object_versioning.

Enable with ``X-Versions-Enabled: true`` on a container PUT or POST, disable with ``false``
(old versions stay). A container using ``X-Versions-Location``/``X-History-Location`` cannot
enable it (400), nor the reverse. HEAD/GET of the container shows ``X-Versions-Enabled``.

- Every PUT to an enabled container creates a version; the response carries
  ``X-Object-Version-Id`` (a timestamp such as ``1700000000.12345``), as do GET and HEAD
  of a versioned object. Objects written while versioning was off have the ``null`` version.
- DELETE writes a delete marker version (``application/x-deleted;swift_versions_deleted=1``)
  and removes the object; its versions stay readable.
- ``?version-id=<id>`` on GET, HEAD, COPY and DELETE reaches one version: reading a delete
  marker is 404; deleting a version removes only that version (and the current object if it
  was the current version). Only the account owner reaches specific versions (container
  ACLs do not), as in Swift. PUT/POST with ``version-id`` is 400 (404 for an unknown id).
- ``GET <container>?versions`` lists every version with ``version_id`` and ``is_latest``
  (per name: the null version, then the others newest first); ``marker`` with
  ``version_marker`` pages through it; ``prefix``, ``delimiter``, ``limit`` and ``reverse``
  work as in plain listings.
- A COPY into an enabled container is a PUT from the source, so it makes a version too.
- POST changes the current version's metadata without creating a new version.
- A versioned container can be deleted only when no versions remain (409 otherwise).

Versions live in a hidden container ``\\x00versions\\x00<container>`` of the same account
(clients cannot name it: request paths never contain NUL), each as
``<name>\\x00<inverted version id>`` so that the newest sorts first; the current object stays
in the container itself (sharing the version's data, a hard link) where Swift keeps a static
link to the version. That copy is marked ``x-object-sysmeta-uncounted`` so only the version
counts its bytes; container HEAD/GET and account listings add the hidden container's bytes
and plain listings show ``version_symlink``/``symlink_path``, so the numbers and listings
are Swift's. State is system metadata (``x-container-sysmeta-versions-enabled``,
``x-object-sysmeta-version-id``).
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from functools import partial
from typing import Any
from urllib.parse import quote, unquote

from strato.api.http import Response, is_digits
from strato.api.swift.account import LISTING_HOOKS as ACCOUNT_LISTING_HOOKS
from strato.api.swift.container import CONTAINER_SYSMETA, LISTING_HOOKS, requested_policy
from strato.api.swift.context import SwiftRequest
from strato.api.swift.errors import SwiftError
from strato.api.swift.features.subrequest import subrequest
from strato.api.swift.features.versioned_writes import LOCATION as LEGACY_LOCATION
from strato.api.swift.headers import VERSION_ID, header_text, listing_date
from strato.api.swift.listing import listing_format, listing_query, render
from strato.api.swift.object import OBJECT_SYSMETA, can_write_object, split_target
from strato.api.swift.pipeline import PIPELINE, Feature, Handler
from strato.domain.storage import (
    ContainerNotEmpty,
    ContainerNotFound,
    ObjectNotFound,
    PolicyConflict,
)
from strato.stores.metadata.records import (
    UNCOUNTED,
    ContainerRecord,
    ListingQuery,
    ObjectRecord,
    Subdir,
)

ENABLED = "x-container-sysmeta-versions-enabled"
HIDDEN_PREFIX = "\x00versions\x00"
DELETE_MARKER = "application/x-deleted;swift_versions_deleted=1"
EMPTY_MD5 = "d41d8cd98f00b204e9800998ecf8427e"
MAX_TICKS = 10**15 - 1
ID_FORMAT = re.compile(r"^\d{10}\.\d{5}$")
TRUE = ("true", "1", "yes", "on", "t", "y")
FALSE = ("false", "0", "no", "off", "f", "n")


def hidden_name(container: str) -> str:
    return HIDDEN_PREFIX + container


def _ticks_text(ticks: int) -> str:
    return f"{ticks // 100000:010d}.{ticks % 100000:05d}"


def new_version_id(ts: float | None = None) -> str:
    return _ticks_text(round((time.time() if ts is None else ts) * 100000))


def version_key(name: str, version_id: str) -> str:
    """The version's name in the hidden container: newest sorts first."""
    ticks = int(version_id.replace(".", ""))
    return f"{name}\x00{_ticks_text(MAX_TICKS - ticks)}"


def split_key(key: str) -> tuple[str, str]:
    name, _, inverted = key.rpartition("\x00")
    return name, _ticks_text(MAX_TICKS - int(inverted.replace(".", "")))


def state(container: ContainerRecord | None) -> str | None:
    """'true', 'false' (once enabled, now off) or None (never enabled)."""
    return container.meta.get(ENABLED) if container else None


async def _empty() -> AsyncIterator[bytes]:
    return
    yield b""


class ObjectVersioning(Feature):
    name = "object_versioning"

    def capabilities(self) -> dict[str, Any]:
        return {}

    async def handle(self, sr: SwiftRequest, call_next: Handler) -> Response:
        if sr.container is None:
            if sr.request.method == "GET":
                sr.state.setdefault(ACCOUNT_LISTING_HOOKS, []).append(
                    partial(_add_listed_version_bytes, sr))
            return await call_next(sr)
        if sr.obj is None:
            return await self._container(sr, call_next)
        return await self._object(sr, call_next)

    # ---- containers ----------------------------------------------------------------------
    async def _container(self, sr: SwiftRequest, call_next: Handler) -> Response:
        assert sr.container is not None
        method = sr.request.method
        storage = sr.services.storage
        record = await storage.get_container(sr.account, sr.container)
        if method in ("PUT", "POST"):
            await self._set_flag(sr, record)
        elif method == "DELETE" and record is not None and state(record) is not None \
                and sr.is_owner:
            hidden = await storage.get_container(sr.account, hidden_name(sr.container))
            if hidden is not None:
                if hidden.object_count:
                    raise SwiftError(409, "Delete all versions before deleting container.")
                response = await call_next(sr)
                with contextlib.suppress(ContainerNotFound, ContainerNotEmpty):
                    await storage.delete_container(sr.account, hidden.name)
                return response
        elif method == "GET" and "versions" in sr.request.query:
            return await self._list_versions(sr, call_next, record)
        elif method == "GET" and state(record) is not None:
            sr.state.setdefault(LISTING_HOOKS, []).append(partial(
                _current_version_fields, sr.account, sr.container))
        response = await call_next(sr)
        if method in ("GET", "HEAD") and response.status < 300:
            fresh = await storage.get_container(sr.account, sr.container)
            if state(fresh) is not None:
                assert fresh is not None
                response.headers["X-Versions-Enabled"] = \
                    "True" if state(fresh) == "true" else "False"
                await _add_version_bytes(sr, response.headers)
        return response

    async def _set_flag(self, sr: SwiftRequest, record: ContainerRecord | None) -> None:
        assert sr.container is not None
        value = sr.headers.pop("x-versions-enabled", None)
        legacy = bool(sr.state.get(CONTAINER_SYSMETA, {}).get(LEGACY_LOCATION))
        if legacy and state(record) == "true":
            raise SwiftError(400, "Cannot use legacy versioned writes on a container with "
                             "object versioning enabled")
        if value is None:
            return
        if value.strip().lower() in TRUE:
            enabled = True
        elif value.strip().lower() in FALSE:
            enabled = False
        else:
            raise SwiftError(400, "Invalid X-Versions-Enabled value")
        if enabled and (legacy or (record is not None and record.meta.get(LEGACY_LOCATION))):
            raise SwiftError(400, "Cannot enable object versioning on a container that is "
                             "already using the legacy versioned writes feature.")
        if record is not None and record.meta.get("x-container-sync-to"):
            # container sync pushes current objects only, never their versions (as Swift)
            raise SwiftError(400, "Cannot enable object versioning on a container "
                             "configured as source of container syncing.")
        if not sr.is_owner:
            raise sr.services.authorizer.deny(sr.auth)
        if enabled:
            await self._create_hidden(sr, record)
        if enabled or state(record) is not None:
            sr.state.setdefault(CONTAINER_SYSMETA, {})[ENABLED] = \
                "true" if enabled else "false"

    @staticmethod
    async def _create_hidden(sr: SwiftRequest, record: ContainerRecord | None) -> None:
        """The versions container takes the primary's storage policy (or the one this PUT
        names for a new primary), as in Swift."""
        assert sr.container is not None
        storage = sr.services.storage
        if record is None:
            policy = requested_policy(sr) if sr.request.method == "PUT" else None
        else:
            policy = storage.policy_of(record)
            if policy.deprecated:
                raise SwiftError(400, "Cannot enable object versioning on a container that "
                                 "uses a deprecated storage policy.")
        with contextlib.suppress(PolicyConflict):  # an older one stays, as Swift's 409 does
            await storage.create_container(sr.account, hidden_name(sr.container), {}, policy)

    # ---- objects -------------------------------------------------------------------------
    async def _object(self, sr: SwiftRequest, call_next: Handler) -> Response:
        assert sr.container is not None and sr.obj is not None
        storage = sr.services.storage
        method = sr.request.method
        version_id = sr.request.query.get("version-id")
        primary = await sr.get_container(sr.account, sr.container)
        if version_id is not None:
            return await self._one_version(sr, call_next, primary, version_id)
        if method == "COPY" and await self._versioned_destination(sr):
            return await self._copy_as_put(sr, quote(f"{sr.container}/{sr.obj}"), call_next)
        flag = state(primary)
        if flag is None or primary is None:
            return await call_next(sr)
        hidden = await sr.get_container(sr.account, hidden_name(sr.container))
        if method == "PUT" and flag == "true" and hidden is not None:
            if not can_write_object(sr, primary.account, primary):
                raise sr.services.authorizer.deny(sr.auth)
            _check_quota(sr, primary, hidden)
            await self._keep_null_version(sr, primary, hidden)
            vid = new_version_id()
            # the version in the hidden container counts the bytes (Swift keeps a link here)
            sr.state.setdefault(OBJECT_SYSMETA, {}).update({VERSION_ID: vid, UNCOUNTED: "1"})
            response = await call_next(sr)
            if response.status < 300:
                # what this PUT wrote, even if already past its delete-at time (X-Delete-After
                # 1 truncates to the next whole second, which the write may outlast): the link
                # expires, the version never does
                current = await storage.get_object(primary, sr.obj, open_expired=True)
                if current is not None and current.meta.get(VERSION_ID) == vid:
                    await self._store_version(sr, hidden, current, vid)
                response.headers["X-Object-Version-Id"] = vid
            return response
        if method == "DELETE" and flag == "true" and hidden is not None:
            if not can_write_object(sr, primary.account, primary):
                raise sr.services.authorizer.deny(sr.auth)
            await self._keep_null_version(sr, primary, hidden)
            vid = new_version_id()
            await storage.put_object(hidden, version_key(sr.obj, vid), _empty(),
                                     content_type=DELETE_MARKER, meta={})
            try:
                await storage.delete_object(primary, sr.obj)
            except ObjectNotFound:  # the marker is written all the same
                return Response(404, {"Content-Type": "text/html; charset=UTF-8",
                                      "X-Object-Version-Id": vid})
            return Response(204, {"Content-Type": "text/html; charset=UTF-8",
                                  "X-Object-Version-Id": vid})
        if method == "POST":
            response = await call_next(sr)
            current = await storage.get_object(primary, sr.obj, open_expired=True) \
                if response.status < 300 else None  # what this POST changed, as for PUT
            if hidden is not None and current is not None and current.meta.get(VERSION_ID):
                vid = current.meta[VERSION_ID]
                version = await storage.get_object(hidden, version_key(sr.obj, vid))
                if version is not None:
                    await storage.update_object(hidden, version, _version_meta(current.meta),
                                                current.content_type, None)
            return response
        response = await call_next(sr)
        if method in ("GET", "HEAD") and response.status < 300:
            current = await storage.get_object(primary, sr.obj)
            if current is not None and current.meta.get(VERSION_ID):
                vid = current.meta[VERSION_ID]
                response.headers["X-Object-Version-Id"] = vid
                response.headers.setdefault(
                    "Content-Location",
                    quote(f"/v1/{sr.account}/{sr.container}/{sr.obj}") + f"?version-id={vid}")
        return response

    async def _store_version(self, sr: SwiftRequest, hidden: ContainerRecord,
                             record: ObjectRecord, vid: str) -> None:
        meta = _version_meta(record.meta)
        meta[VERSION_ID] = vid
        await sr.services.storage.copy_object(hidden, record, version_key(record.name, vid),
                                              content_type=record.content_type, meta=meta,
                                              delete_at=None)

    async def _keep_null_version(self, sr: SwiftRequest, primary: ContainerRecord,
                                 hidden: ContainerRecord) -> None:
        """An unversioned current object gets a version id (its timestamp) before it goes."""
        assert sr.obj is not None
        current = await sr.services.storage.get_object(primary, sr.obj)
        if current is not None and not current.meta.get(VERSION_ID):
            await self._store_version(sr, hidden, current, new_version_id(current.timestamp))

    async def _one_version(self, sr: SwiftRequest, call_next: Handler,
                           primary: ContainerRecord | None, vid: str) -> Response:
        assert sr.container is not None and sr.obj is not None
        storage = sr.services.storage
        method = sr.request.method
        if vid != "null" and not ID_FORMAT.match(vid):
            raise SwiftError(400, "Invalid version-id")
        if method in ("PUT", "POST") and vid == "null":
            raise SwiftError(400, f"{method} to a specific version is not allowed")
        if primary is None:
            raise SwiftError(404)
        hidden = await storage.get_container(sr.account, hidden_name(sr.container))
        current = await storage.get_object(primary, sr.obj)
        if vid == "null":
            version = current if current is not None and not current.meta.get(VERSION_ID) \
                else None
        else:
            version = await storage.get_object(hidden, version_key(sr.obj, vid)) \
                if hidden is not None else None
        if method in ("PUT", "POST"):
            if version is None:
                raise SwiftError(404)
            if method == "POST" or version.content_type == DELETE_MARKER:
                raise SwiftError(400, f"{method} to a specific version is not allowed")
            return await self._make_latest(sr, primary, version, vid)
        if method == "DELETE":
            if not _may_read(sr, primary):
                raise sr.services.authorizer.deny(sr.auth)
            if vid == "null":  # the current object goes; its versions stay
                if current is not None:
                    with contextlib.suppress(ObjectNotFound):
                        await storage.delete_object(primary, sr.obj)
            else:
                if version is not None and hidden is not None:
                    with contextlib.suppress(ObjectNotFound):
                        await storage.delete_object(hidden, version.name)
                if current is not None and current.meta.get(VERSION_ID) == vid:
                    with contextlib.suppress(ObjectNotFound):
                        await storage.delete_object(primary, sr.obj)
            return Response(204, {"Content-Type": "text/html; charset=UTF-8",
                                  "X-Object-Version-Id": vid})
        if method not in ("GET", "HEAD", "COPY"):
            raise SwiftError(405)
        if version is None or version.content_type == DELETE_MARKER:
            if not _may_read(sr, primary):  # "not found" is only for those who may read
                raise sr.services.authorizer.deny(sr.auth)
            if version is None:
                raise SwiftError(404)
            return Response(404, {"Content-Type": DELETE_MARKER, "X-Object-Version-Id": vid,
                                  "Content-Length": "0"})
        if vid == "null":
            response = await call_next(subrequest(sr, query=_beside_version_id(sr)))
        else:
            assert hidden is not None
            if not _may_read(sr, primary):
                raise sr.services.authorizer.deny(sr.auth)
            if method == "COPY":
                return await self._copy_as_put(sr, quote(f"{hidden.name}/{version.name}"),
                                               call_next)
            sub = subrequest(sr, container=hidden.name, obj=version.name,
                             query=_beside_version_id(sr))
            sub.state["authorize_override"] = True
            sub.state.pop("authorize_scope", None)  # the hidden container is part of primary
            response = await call_next(sub)
        if method != "COPY":
            response.headers["X-Object-Version-Id"] = vid
        return response

    async def _versioned_destination(self, sr: SwiftRequest) -> bool:
        """Whether a COPY writes into a container with versioning enabled."""
        destination = sr.headers.get("destination")
        if not destination:
            return False
        container, _ = split_target(destination, "Destination")
        account = unquote(header_text(sr.headers.get("destination-account", sr.account)))
        return state(await sr.services.storage.get_container(account, container)) == "true"

    async def _copy_as_put(self, sr: SwiftRequest, source: str, call_next: Handler
                           ) -> Response:
        """A COPY as a PUT of the destination from `source` (quoted `container/object` of
        this account), through the whole pipeline, as Swift's copy does: a versioned
        destination gets a new version of its own."""
        destination = sr.headers.get("destination")
        if not destination:
            raise SwiftError(412, "You must specify a Destination header")
        container, obj = split_target(destination, "Destination")
        account = unquote(header_text(sr.headers.get("destination-account", sr.account)))
        headers = {k: v for k, v in sr.headers.items()
                   if k not in ("destination", "destination-account", "content-length")}
        headers.update({"x-copy-from": source, "x-copy-from-account": sr.account,
                        "content-length": "0"})
        put = subrequest(sr, account=account, container=container, obj=obj, method="PUT",
                         headers=headers, query=_beside_version_id(sr))
        top: Handler = put.state.get(PIPELINE, call_next)
        return await top(put)

    async def _make_latest(self, sr: SwiftRequest, primary: ContainerRecord,
                           version: ObjectRecord, vid: str) -> Response:
        """PUT ?version-id=<id> with no body: that version becomes the current object."""
        assert sr.obj is not None
        if sr.request.content_length or sr.request.chunked:
            raise SwiftError(400, "PUT to a specific version requires an empty body")
        if not can_write_object(sr, primary.account, primary):
            raise sr.services.authorizer.deny(sr.auth)
        record, _ = await sr.services.storage.copy_object(
            primary, version, sr.obj, content_type=version.content_type,
            meta={**version.meta, UNCOUNTED: "1"}, delete_at=None)
        return Response(201, {"Etag": record.etag, "X-Object-Version-Id": vid,
                              "Content-Type": "text/html; charset=UTF-8"})

    # ---- listings ------------------------------------------------------------------------
    async def _list_versions(self, sr: SwiftRequest, call_next: Handler,
                             primary: ContainerRecord | None) -> Response:
        # authorise and build the container headers as a plain HEAD would
        head = await call_next(subrequest(sr, method="HEAD", query={}))
        assert primary is not None and sr.container is not None
        # version listings exist only as JSON (406 for anything else, as Swift answers)
        fmt = "json"
        if "format" in sr.request.query or "accept" in sr.headers:
            try:
                fmt = listing_format(sr.request)
            except SwiftError:
                fmt = ""
            accept = sr.headers.get("accept", "")
            if fmt != "json" or ("format" not in sr.request.query and not any(
                    t in accept for t in ("application/json", "application/*", "*/*"))):
                raise SwiftError(406)
        query = listing_query(sr.request)
        version_marker = sr.request.query.get("version_marker", "")
        if version_marker and not query.marker:
            raise SwiftError(400, "version_marker param requires marker")
        if version_marker and version_marker != "null" and not ID_FORMAT.match(
                version_marker):
            raise SwiftError(400, "invalid version_marker param")
        storage = sr.services.storage
        hidden = await storage.get_container(sr.account, hidden_name(sr.container))
        rows = await self._merged(sr, primary, hidden, query, version_marker)
        headers = {k: v for k, v in head.headers.items()
                   if k not in ("Content-Length", "Content-Type")}
        if state(primary) is not None:
            headers["X-Versions-Enabled"] = "True" if state(primary) == "true" else "False"
            await _add_version_bytes(sr, headers)
        return render(fmt, "container", sr.container, rows, headers)

    async def _merged(self, sr: SwiftRequest, primary: ContainerRecord,
                      hidden: ContainerRecord | None, query: ListingQuery,
                      version_marker: str) -> list[dict[str, object]]:
        """Swift's merge: a page of current objects and a page of versions, each cut at the
        limit, sorted by name alone and stably, so an object's null version comes before its
        other versions, which keep the hidden listing's order (newest first; oldest first
        in reverse)."""
        storage = sr.services.storage
        nulls: list[dict[str, object]] = []
        subdirs: set[str] = set()
        current: dict[str, str] = {}  # name -> version id of a current object on this page
        latest: set[str] = set()
        page = ListingQuery(prefix=query.prefix, marker=query.marker,
                            end_marker=query.end_marker, delimiter=query.delimiter,
                            limit=query.limit, reverse=query.reverse)
        for entry in await storage.list_objects(primary, page):
            if isinstance(entry, Subdir):
                subdirs.add(entry.name)
            elif entry.meta.get(VERSION_ID):
                current[entry.name] = entry.meta[VERSION_ID]
            else:
                nulls.append(_entry(entry, entry.name, "null", True))
                latest.add(entry.name)
        versions: list[dict[str, object]] = []
        if hidden is not None:
            marker = ""
            if query.marker and not version_marker:
                marker = query.marker + "\x01"  # just past all its versions
            elif query.marker and version_marker == "null":
                marker = query.marker + "\x00"  # just before all its versions
            elif query.marker:
                marker = version_key(query.marker, version_marker)
            for entry in await storage.list_objects(hidden, replace(page, marker=marker)):
                if isinstance(entry, Subdir):
                    subdirs.add(entry.name)
                    continue
                name, vid = split_key(entry.name)
                # as in Swift, a version is the latest only when its current object is on
                # this page (or it is the first delete marker of an object with none)
                is_latest = current.get(name) == vid or (
                    entry.content_type == DELETE_MARKER and name not in latest)
                if is_latest:
                    latest.add(name)
                versions.append(_entry(entry, name, vid, is_latest))
        rows = nulls + versions + [{"subdir": name} for name in sorted(subdirs)]
        rows.sort(key=lambda row: str(row.get("subdir", row.get("name"))),
                  reverse=query.reverse)
        return rows[:query.limit]


def _entry(record: ObjectRecord, name: str, vid: str, is_latest: bool) -> dict[str, object]:
    return {"name": name, "hash": record.etag if record.content_type != DELETE_MARKER
            else EMPTY_MD5, "bytes": record.size, "content_type": record.content_type,
            "last_modified": listing_date(record.timestamp), "version_id": vid,
            "is_latest": is_latest}


async def _add_version_bytes(sr: SwiftRequest, headers: dict[str, str]) -> None:
    """The container's bytes used include its versions' (held in the hidden container), as
    Swift reports them."""
    assert sr.container is not None
    hidden = await sr.services.storage.get_container(sr.account, hidden_name(sr.container))
    used = headers.get("X-Container-Bytes-Used")
    if hidden is not None and used is not None and is_digits(used):
        headers["X-Container-Bytes-Used"] = str(int(used) + hidden.bytes_used)


async def _add_listed_version_bytes(sr: SwiftRequest,
                                    records: list[ContainerRecord | Subdir],
                                    entries: list[dict[str, object]]) -> None:
    """An account listing counts each versioned container's versions in its bytes."""
    for record, entry in zip(records, entries, strict=True):
        if isinstance(record, ContainerRecord) and state(record) is not None:
            hidden = await sr.services.storage.get_container(sr.account,
                                                             hidden_name(record.name))
            if hidden is not None:
                entry["bytes"] = record.bytes_used + hidden.bytes_used


def _current_version_fields(account: str, container: str, fmt: str, record: ObjectRecord,
                            entry: dict[str, object]) -> None:
    """A versioned object's listing entry names its version, as Swift's link to it does."""
    vid = record.meta.get(VERSION_ID)
    if fmt == "json" and vid:
        entry["symlink_path"] = quote(f"/v1/{account}/{container}/{record.name}") + \
            f"?version-id={vid}"
        entry["version_symlink"] = True


def _beside_version_id(sr: SwiftRequest) -> dict[str, str]:
    """The request's other parameters (`symlink=get`, `multipart-manifest=get`) still apply
    to the version."""
    return {k: v for k, v in sr.request.query.items() if k != "version-id"}


def _version_meta(meta: dict[str, str]) -> dict[str, str]:
    """A current object's metadata as its version keeps it (the version counts its bytes)."""
    return {k: v for k, v in meta.items() if k != UNCOUNTED}


def _may_read(sr: SwiftRequest, container: ContainerRecord) -> bool:
    """Version-specific access needs the account owner (container ACLs do not reach it)."""
    return bool(sr.state.get("authorize_override")) or sr.is_owner


def _check_quota(sr: SwiftRequest, primary: ContainerRecord, hidden: ContainerRecord) -> None:
    """Versions count toward the container's quota, as in Swift (the quota feature sees the
    container's current objects only)."""
    try:
        length = sr.request.content_length or 0
    except Exception:
        return
    quota_bytes = primary.meta.get("x-container-meta-quota-bytes", "")
    quota_count = primary.meta.get("x-container-meta-quota-count", "")
    if is_digits(quota_bytes) and hidden.bytes_used + length > int(quota_bytes):
        raise SwiftError(413, "Upload exceeds quota.")
    if is_digits(quota_count) and hidden.object_count + 1 > int(quota_count):
        raise SwiftError(413, "Upload exceeds quota.")
