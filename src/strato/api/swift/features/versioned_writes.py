"""Legacy versioned writes: ``X-Versions-Location`` (stack) and ``X-History-Location``.

Set one of the headers on a container (PUT or POST) to the name of an archive container in
the same account; the archive must exist and the caller needs write access to the
versioned container. Setting both (non-empty) is 400; a name with ``/`` is 412; an empty value,
``X-Remove-Versions-Location`` or ``X-Remove-History-Location`` turns versioning off. HEAD
and GET of the container show the header that is in force.

Every PUT (also a copy) over an existing object first copies the current object into the
archive as ``<length of name, 3 hex digits><name>/<its X-Timestamp>``; if that copy cannot
be written (no archive container) the PUT answers 412.

- Stack mode (``X-Versions-Location``): DELETE removes the current object and restores the
  newest archived version in its place (removing it from the archive); with no archived
  version it is a plain delete.
- History mode (``X-History-Location``): DELETE first archives the current object, then
  writes a zero-byte delete marker (``application/x-deleted;swift_versions_deleted=1``) to
  the archive, then deletes the object. Nothing is ever restored automatically.

The location and mode are container system metadata (``x-container-sysmeta-versions-*``).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import unquote

from strato.api.http import Response
from strato.api.swift.container import CONTAINER_SYSMETA
from strato.api.swift.context import SwiftRequest
from strato.api.swift.errors import SwiftError
from strato.api.swift.headers import header_text, x_timestamp
from strato.api.swift.object import can_write_object, split_target
from strato.api.swift.pipeline import Feature, Handler
from strato.domain.storage import ContainerNotFound, ObjectNotFound
from strato.stores.metadata.records import ContainerRecord, ListingQuery, ObjectRecord

LOCATION = "x-container-sysmeta-versions-location"
MODE = "x-container-sysmeta-versions-mode"
VERSIONS, HISTORY = "x-versions-location", "x-history-location"
DELETE_MARKER = "application/x-deleted;swift_versions_deleted=1"
PAGE = 100


def version_prefix(name: str) -> str:
    """`<len><name>/`: the length counts UTF-8 bytes, as Swift's does."""
    return f"{len(name.encode('utf-8')):03x}{name}/"


def version_name(name: str, timestamp: float) -> str:
    return version_prefix(name) + x_timestamp(timestamp)


def archive_of(container: ContainerRecord | None) -> tuple[str, str] | None:
    """(archive container name, mode) of a versioned container, else None."""
    if container is None or not container.meta.get(LOCATION):
        return None
    return (unquote(header_text(container.meta[LOCATION])).split("/")[0],
            container.meta.get(MODE, "stack"))


class VersionedWrites(Feature):
    name = "versioned_writes"

    def capabilities(self) -> dict[str, Any]:
        return {"allowed_flags": ["X-Versions-Location", "X-History-Location"]}

    async def handle(self, sr: SwiftRequest, call_next: Handler) -> Response:
        method = sr.request.method
        if sr.container is None:
            return await call_next(sr)
        if sr.obj is None:
            if method in ("PUT", "POST"):
                self._container_write(sr)
            response = await call_next(sr)
            if method in ("GET", "HEAD") and response.status < 300:
                await self._show_location(sr, response)
            return response
        if method == "PUT":
            await self._archive_current(sr, sr.account, sr.container, sr.obj)
        elif method == "COPY" and sr.headers.get("destination"):
            container, obj = split_target(sr.headers["destination"], "Destination")
            account = unquote(header_text(sr.headers.get("destination-account", sr.account)))
            await self._archive_current(sr, account, container, obj)
        elif method == "DELETE":
            primary = await sr.get_container(sr.account, sr.container)
            archive = archive_of(primary)
            if archive is not None and primary is not None:
                if archive[1] == "history":
                    await self._archive_current(sr, sr.account, sr.container, sr.obj)
                    await self._write_marker(sr, archive[0])
                else:
                    restored = await self._pop(sr, primary, archive[0])
                    if restored is not None:
                        return restored
        return await call_next(sr)

    # ---- containers ----------------------------------------------------------------------
    def _container_write(self, sr: SwiftRequest) -> None:
        headers = sr.headers
        if VERSIONS in headers and HISTORY in headers:
            if not headers[HISTORY]:
                del headers[HISTORY]
            elif headers[VERSIONS]:
                raise SwiftError(400, "Only one of X-Versions-Location or "
                                 "X-History-Location may be specified")
            else:
                del headers[VERSIONS]
        sysmeta = sr.state.setdefault(CONTAINER_SYSMETA, {})
        if VERSIONS in headers or HISTORY in headers:
            mode = "stack" if VERSIONS in headers else "history"
            value = headers.pop(VERSIONS, None) or headers.pop(HISTORY, None) or ""
            headers.pop(HISTORY, None)
            if not value:
                headers["x-remove-versions-location"] = "x"
            else:
                if "/" in value:
                    raise SwiftError(412, "Container name cannot contain slashes")
                sysmeta[LOCATION] = value
                sysmeta[MODE] = mode
                headers.pop("x-remove-versions-location", None)
                headers.pop("x-remove-history-location", None)
        if any(headers.get(h) for h in ("x-remove-versions-location",
                                        "x-remove-history-location")):
            sysmeta[LOCATION] = ""
            sysmeta[MODE] = ""
            headers.pop("x-remove-versions-location", None)
            headers.pop("x-remove-history-location", None)
        # never let the core store the client-facing headers as plain metadata
        headers[VERSIONS] = ""

    async def _show_location(self, sr: SwiftRequest, response: Response) -> None:
        assert sr.container is not None
        record = await sr.services.storage.get_container(sr.account, sr.container)
        if record is not None and record.meta.get(LOCATION):
            header = "X-History-Location" if record.meta.get(MODE) == "history" else \
                "X-Versions-Location"
            response.headers[header] = record.meta[LOCATION]

    # ---- objects -------------------------------------------------------------------------
    async def _archive_current(self, sr: SwiftRequest, account: str, container: str,
                               obj: str) -> None:
        """Copy the current object (if any) into the archive before it is replaced."""
        storage = sr.services.storage
        primary = await sr.get_container(account, container)
        archive = archive_of(primary)
        if archive is None or primary is None:
            return
        if not can_write_object(sr, primary.account, primary):
            raise sr.services.authorizer.deny(sr.auth)
        current = await storage.get_object(primary, obj)
        if current is None:
            return
        await self._copy(sr, account, archive[0], current,
                         version_name(obj, current.timestamp))

    async def _copy(self, sr: SwiftRequest, account: str, container: str,
                    source: ObjectRecord, name: str) -> ObjectRecord:
        storage = sr.services.storage
        target = await storage.get_container(account, container)
        if target is None:
            raise SwiftError(412)
        try:
            record, _ = await storage.copy_object(
                target, source, name, content_type=source.content_type,
                meta=dict(source.meta), delete_at=source.delete_at)
        except (ObjectNotFound, ContainerNotFound):
            raise SwiftError(412) from None
        return record

    async def _write_marker(self, sr: SwiftRequest, archive_name: str) -> None:
        assert sr.obj is not None
        storage = sr.services.storage
        archive = await storage.get_container(sr.account, archive_name)
        if archive is None:
            raise SwiftError(412)

        async def empty() -> AsyncIterator[bytes]:
            return
            yield b""

        try:
            await storage.put_object(archive, version_name(sr.obj, time.time()), empty(),
                                     content_type=DELETE_MARKER, meta={})
        except ContainerNotFound:
            raise SwiftError(412) from None

    async def _versions(self, sr: SwiftRequest, archive: ContainerRecord
                        ) -> AsyncIterator[ObjectRecord]:
        """Archived versions of the object, newest first."""
        assert sr.obj is not None
        prefix = version_prefix(sr.obj)
        marker = ""
        while True:
            page = await sr.services.storage.list_objects(
                archive, ListingQuery(prefix=prefix, marker=marker, limit=PAGE, reverse=True))
            for entry in page:
                if isinstance(entry, ObjectRecord):
                    yield entry
            if len(page) < PAGE:
                return
            marker = page[-1].name

    async def _pop(self, sr: SwiftRequest, primary: ContainerRecord, archive_name: str
                   ) -> Response | None:
        """Stack-mode DELETE: restore the newest version; None for a plain delete."""
        assert sr.obj is not None
        storage = sr.services.storage
        archive = await storage.get_container(sr.account, archive_name)
        if archive is None:
            return None
        versions = self._versions(sr, archive)
        async for version in versions:
            if not can_write_object(sr, primary.account, primary):
                raise sr.services.authorizer.deny(sr.auth)
            if version.content_type == DELETE_MARKER:
                # left by history mode: only restore if the object is gone already
                if await storage.get_object(primary, sr.obj) is not None:
                    return None
                async for older in versions:
                    if older.content_type == DELETE_MARKER:
                        break
                    if await self._restore(sr, primary, archive, older):
                        break
                await self._drop(archive, version.name, sr)
                return _deleted()
            if await self._restore(sr, primary, archive, version):
                return _deleted()
        return None

    async def _restore(self, sr: SwiftRequest, primary: ContainerRecord,
                       archive: ContainerRecord, version: ObjectRecord) -> bool:
        assert sr.obj is not None
        storage = sr.services.storage
        if await storage.get_object(archive, version.name) is None:
            return False
        try:
            await storage.copy_object(primary, version, sr.obj,
                                      content_type=version.content_type,
                                      meta=dict(version.meta), delete_at=version.delete_at)
        except ObjectNotFound:
            return False
        except ContainerNotFound:
            raise SwiftError(412) from None
        await self._drop(archive, version.name, sr)
        return True

    @staticmethod
    async def _drop(archive: ContainerRecord, name: str, sr: SwiftRequest) -> None:
        with contextlib.suppress(ObjectNotFound):
            await sr.services.storage.delete_object(archive, name)


def _deleted() -> Response:
    return Response(204, {"Content-Type": "text/html; charset=UTF-8"})
