"""Symlinks: objects that point at another object, as OpenStack Swift's symlink middleware.

Create a link with a zero-byte PUT carrying ``X-Symlink-Target: <container>/<object>``
(URL-quoted; add ``X-Symlink-Target-Account: <account>`` for another account). A body makes
the PUT fail with 400, a target starting with ``/`` or without an object part with 412, a
link to itself with 400. The target need not exist. Without a ``Content-Type`` the link is
stored as ``application/symlink``.

- GET/HEAD of a link answers with the target (followed on the server) and adds
  ``Content-Location: /v1/<account>/<container>/<object>`` of the final target; a missing
  target answers 404 with that header. Links may chain up to ``symloop_max`` (2) hops;
  longer chains answer ``409 Too many levels of symbolic links, maximum allowed is 2``.
- ``?symlink=get`` reads the link itself, with ``X-Symlink-Target`` (and
  ``X-Symlink-Target-Account``, ``-Etag``, ``-Bytes`` where stored).
- Static links: add ``X-Symlink-Target-Etag: <etag>`` to the PUT. The target must then exist
  with that ETag (409 otherwise); the link records the target's size and, without a
  ``Content-Type``, its content type. A later GET/HEAD answers 409 if the target changed.
- POST to a link applies the metadata to the link and answers ``307`` with ``Location`` of
  the target; POST with ``X-Symlink-Target`` is 400. DELETE removes the link only. COPY (or
  ``X-Copy-From``) of a link copies the target; with ``?symlink=get`` it copies the link.
- JSON container listings show ``symlink_path`` (and ``symlink_etag``/``symlink_bytes`` for
  static links).

Link state lives in object system metadata (``x-object-sysmeta-symlink-*``).
"""

from __future__ import annotations

import contextlib
from functools import partial
from typing import Any
from urllib.parse import quote, unquote

from strato.api.http import Response
from strato.api.swift.container import LISTING_HOOKS
from strato.api.swift.context import SwiftRequest
from strato.api.swift.errors import SwiftError
from strato.api.swift.features.subrequest import plain_headers, subrequest
from strato.api.swift.headers import header_text
from strato.api.swift.object import (
    OBJECT_SYSMETA,
    OVERRIDE_SCOPE,
    SYMLINK_OVERRIDE,
    split_target,
)
from strato.api.swift.pipeline import PIPELINE, Feature, Handler
from strato.stores.metadata.records import ObjectRecord

SYMLOOP_MAX = 2
SLO_SIZE, SLO_ETAG = "x-object-sysmeta-slo-size", "x-object-sysmeta-slo-etag"
SYS = "x-object-sysmeta-symlink-"
TARGET, ACCOUNT, ETAG, BYTES = (SYS + "target", SYS + "target-account", SYS + "target-etag",
                                SYS + "target-bytes")
USER_HEADERS = {TARGET: "X-Symlink-Target", ACCOUNT: "X-Symlink-Target-Account",
                ETAG: "X-Symlink-Target-Etag", BYTES: "X-Symlink-Target-Bytes"}
FORM_ERROR = "X-Symlink-Target header must be of the form <container name>/<object name>"
SLO_SIZE = "x-object-sysmeta-slo-size"
LOOP_ERROR = f"Too many levels of symbolic links, maximum allowed is {SYMLOOP_MAX}"


def is_symlink(record: ObjectRecord | None) -> bool:
    return record is not None and TARGET in record.meta


def link_target(account: str, record: ObjectRecord) -> tuple[str, str, str]:
    """(account, container, object) a link points at, unquoted."""
    target_account = unquote(record.meta.get(ACCOUNT, "")) or account
    container, _, obj = unquote(record.meta[TARGET]).partition("/")
    return target_account, container, obj


def location(account: str, container: str, obj: str) -> str:
    return quote(f"/v1/{account}/{container}/{obj}")


async def lookup(sr: SwiftRequest, account: str, container: str, obj: str
                 ) -> ObjectRecord | None:
    """The live record (no authorisation: callers authorise through the pipeline)."""
    return (await sr.get_object(account, container, obj))[1]


def _with_location(exc: SwiftError, path: str | None) -> SwiftError:
    if path is not None:
        exc.headers = {**exc.headers, "Content-Location": path}
    return exc


class Symlink(Feature):
    name = "symlink"

    def capabilities(self) -> dict[str, Any]:
        return {"symloop_max": SYMLOOP_MAX, "static_links": True}

    async def handle(self, sr: SwiftRequest, call_next: Handler) -> Response:
        method = sr.request.method
        if sr.obj is None:
            if sr.container is not None and method == "GET":
                sr.state.setdefault(LISTING_HOOKS, []).append(partial(_listing_fields,
                                                                      sr.account))
            return await call_next(sr)
        if method in ("GET", "HEAD"):
            if sr.request.query.get("symlink") == "get":
                return await self._get_link(sr, call_next)
            return await self._follow(sr, call_next)
        if method == "PUT" and "x-symlink-target" in sr.headers:
            return await self._put_link(sr, call_next)
        if method == "POST":
            return await self._post(sr, call_next)
        if method == "PUT" and "x-copy-from" in sr.headers:
            return await self._copy_from(sr, call_next)
        if method == "COPY":
            return await self._copy(sr, call_next)
        return await call_next(sr)

    # ---- reads ---------------------------------------------------------------------------
    async def _get_link(self, sr: SwiftRequest, call_next: Handler) -> Response:
        response = await call_next(sr)
        assert sr.container is not None and sr.obj is not None
        record = await lookup(sr, sr.account, sr.container, sr.obj)
        if record is not None and response.status < 300:
            for key, header in USER_HEADERS.items():
                if key in record.meta:
                    response.headers[header] = record.meta[key]
        return response

    async def _resolve(self, sr: SwiftRequest, call_next: Handler, *, follow_soft: bool = True,
                       target_etag: str | None = None, hops: int = 0,
                       last: str | None = None) -> tuple[SwiftRequest, ObjectRecord | None,
                                                         str | None, str | None]:
        """Walk the chain of links from `sr`: (final request, its record, etag the last
        static link demands, Content-Location of the final target or None)."""
        current = sr
        while True:
            assert current.container is not None and current.obj is not None
            record = await lookup(current, current.account, current.container, current.obj)
            if not is_symlink(record):
                return current, record, target_etag, last
            assert record is not None
            static_etag = record.meta.get(ETAG)
            if not (static_etag or follow_soft):
                return current, record, target_etag, last
            if target_etag and target_etag != (static_etag or record.etag):
                raise SwiftError(409, "X-Symlink-Target-Etag headers do not match",
                                 {"Content-Location": last or ""})
            if hops >= SYMLOOP_MAX:
                raise SwiftError(409, LOOP_ERROR)
            # reading the link itself must be allowed, as for any object
            await call_next(subrequest(current, method="HEAD",
                                       headers=plain_headers(current.headers),
                                       keep_override=True))
            account, container, obj = link_target(current.account, record)
            # a temp URL's authorisation follows the link within its key's reach (its
            # account or its container), as Swift re-checks its scope on the target path;
            # any other feature's authorisation covers the link's own container only
            keep = OVERRIDE_SCOPE in current.state or (
                current is sr and (account, container) == (sr.account, sr.container))
            # the target gets no temp URL parameters: their signature names the link's path
            query = {k: v for k, v in current.request.query.items()
                     if not k.startswith("temp_url_")}
            current = subrequest(current, account=account, container=container, obj=obj,
                                 query=query, keep_override=keep)
            last = location(account, container, obj)
            target_etag = static_etag
            hops += 1

    async def _follow(self, sr: SwiftRequest, call_next: Handler) -> Response:
        final, record, target_etag, last = await self._resolve(sr, call_next)
        if last is None:
            return await call_next(sr)
        if record is not None and target_etag and target_etag != record.etag:
            # as Swift, which reads the target before comparing: no read access, no 409
            try:
                await call_next(subrequest(final, method="HEAD", keep_override=True,
                                           headers=plain_headers(final.headers)))
            except SwiftError as exc:
                raise _with_location(exc, last) from None
            raise SwiftError(409, f"Object Etag {record.etag!r} does not match "
                             f"X-Symlink-Target-Etag header {target_etag!r}",
                             {"Content-Location": last})
        # the target runs the whole pipeline, so a large-object target is assembled
        top: Handler = final.state.get(PIPELINE, call_next)
        try:
            response = await top(final)
        except SwiftError as exc:
            raise _with_location(exc, last) from None
        response.headers["Content-Location"] = last
        return response

    # ---- writes --------------------------------------------------------------------------
    async def _put_link(self, sr: SwiftRequest, call_next: Handler) -> Response:
        request = sr.request
        if request.chunked:
            async for chunk in request.stream():
                if chunk:
                    raise SwiftError(400, "Symlink requests require a zero byte body")
        elif request.content_length:
            raise SwiftError(400, "Symlink requests require a zero byte body")
        raw = header_text(sr.headers["x-symlink-target"])
        if unquote(raw).startswith("/"):
            raise SwiftError(412, FORM_ERROR)
        container, _, obj = unquote(raw).partition("/")
        if not container or not obj:
            raise SwiftError(412, FORM_ERROR)
        sysmeta = {TARGET: quote(f"{container}/{obj}")}
        account = sr.account
        given = _target_account(sr)
        if given is not None:
            account = given
            sysmeta[ACCOUNT] = quote(given)
        if (account, container, obj) == (sr.account, sr.container, sr.obj):
            raise SwiftError(400, "Symlink cannot target itself")
        etag = sr.headers.get("x-symlink-target-etag", "").strip()
        if etag.startswith('"') and etag.endswith('"') and len(etag) > 1:
            etag = etag[1:-1]
        if etag and any(c in etag for c in ';"\\'):
            raise SwiftError(400, "Bad X-Symlink-Target-Etag format")
        if etag and sr.state.get(SYMLINK_OVERRIDE):
            # a container sync push: the target may not have arrived yet
            sysmeta.update({ETAG: etag, BYTES: sr.headers.get("x-symlink-target-bytes", "0")})
            if not sr.headers.get("content-type"):
                sr.headers["content-type"] = "application/symlink"
        elif etag:
            sysmeta.update(await self._static_target(sr, call_next, account, container, obj,
                                                     etag))
        elif not sr.headers.get("content-type"):
            sr.headers["content-type"] = "application/symlink"
        sr.state.setdefault(OBJECT_SYSMETA, {}).update(sysmeta)
        return await call_next(sr)

    async def _static_target(self, sr: SwiftRequest, call_next: Handler, account: str,
                             container: str, obj: str, etag: str) -> dict[str, str]:
        """Check the target of a static link; the sysmeta recording its etag and size."""
        last = location(account, container, obj)
        probe = subrequest(sr, account=account, container=container, obj=obj, method="HEAD",
                           headers=plain_headers(sr.headers), query={})
        final, record, demanded, final_last = await self._resolve(
            probe, call_next, follow_soft=False, target_etag=etag, hops=0, last=last)
        try:
            await call_next(final)
        except SwiftError as exc:
            if exc.status == 404:
                raise SwiftError(409, "X-Symlink-Target does not exist",
                                 {"Content-Location": final_last or last}) from None
            raise
        if record is None:
            raise SwiftError(409, "X-Symlink-Target does not exist",
                             {"Content-Location": final_last or last})
        # a static link to a large object names the manifest's own etag, as in Swift
        found = record.meta.get(ETAG, record.etag) if is_symlink(record) else record.etag
        if demanded and demanded != found:
            raise SwiftError(409, f"Object Etag {found!r} does not match "
                             f"X-Symlink-Target-Etag header {demanded!r}",
                             {"Content-Location": final_last or last})
        if not sr.headers.get("content-type"):
            sr.headers["content-type"] = record.content_type
        size = record.meta.get(BYTES, str(record.size)) if is_symlink(record) else str(
            record.size)
        extra = {}
        if SLO_SIZE in record.meta:  # a static large object: its size, and its etag listed
            size = record.meta[SLO_SIZE]
            extra[SLO_ETAG] = record.meta.get(SLO_ETAG, "")
        return {ETAG: etag, BYTES: size, **extra}

    async def _post(self, sr: SwiftRequest, call_next: Handler) -> Response:
        if "x-symlink-target" in sr.headers:
            raise SwiftError(400, "A PUT request is required to set a symlink target")
        response = await call_next(sr)
        if response.status >= 300:
            return response
        assert sr.container is not None and sr.obj is not None
        record = await lookup(sr, sr.account, sr.container, sr.obj)
        if not is_symlink(record):
            return response
        assert record is not None
        account, container, obj = link_target(sr.account, record)
        headers = {"Location": location(account, container, obj),
                   "Content-Type": "text/plain; charset=UTF-8"}
        if ETAG in record.meta:
            headers["X-Symlink-Target-Etag"] = record.meta[ETAG]
        raise SwiftError(307, "The requested POST was applied to a symlink. POST directly "
                         "to the target to apply requested metadata.", headers)

    async def _copy_from(self, sr: SwiftRequest, call_next: Handler) -> Response:
        """PUT with X-Copy-From a link copies the target (the link itself with symlink=get)."""
        container, obj = split_target(sr.headers["x-copy-from"], "X-Copy-From")
        account = unquote(header_text(sr.headers.get("x-copy-from-account", sr.account)))
        if sr.request.query.get("symlink") == "get":
            return await self._copy_link(sr, call_next, (account, container, obj))
        source = subrequest(sr, account=account, container=container, obj=obj, method="HEAD",
                            headers=plain_headers(sr.headers), query={})
        final, _, _, last = await self._resolve(source, call_next)
        if last is None:
            return await call_next(sr)
        sr.headers["x-copy-from"] = quote(f"{final.container}/{final.obj}")
        sr.headers["x-copy-from-account"] = final.account
        return await call_next(sr)

    async def _copy(self, sr: SwiftRequest, call_next: Handler) -> Response:
        """COPY of a link copies the target (the link itself with symlink=get)."""
        assert sr.container is not None and sr.obj is not None
        if sr.request.query.get("symlink") == "get":
            return await self._copy_link(sr, call_next, (sr.account, sr.container, sr.obj))
        probe = subrequest(sr, method="HEAD", headers=plain_headers(sr.headers), query={})
        final, _, _, last = await self._resolve(probe, call_next)
        if last is None:
            return await call_next(sr)
        assert final.container is not None and final.obj is not None
        redirected = subrequest(sr, account=final.account, container=final.container,
                                obj=final.obj, keep_override=False)
        redirected.headers.setdefault("destination-account", sr.account)
        return await call_next(redirected)

    async def _copy_link(self, sr: SwiftRequest, call_next: Handler,
                         source: tuple[str, str, str]) -> Response:
        """Copying a link itself carries its sysmeta to the new object. As in Swift, a link
        without a target account points into whichever account holds it, so a copy to
        another account targets that account unless the request names one."""
        record = await lookup(sr, *source)
        if is_symlink(record):
            assert record is not None
            meta = {k: v for k, v in record.meta.items() if k.startswith(SYS)}
            given = _target_account(sr)
            if given is not None:
                meta[ACCOUNT] = quote(given)
            sr.state.setdefault(OBJECT_SYSMETA, {}).update(meta)
        return await call_next(sr)


def _target_account(sr: SwiftRequest) -> str | None:
    """`X-Symlink-Target-Account` of the request, checked (412 when empty or with `/`)."""
    if "x-symlink-target-account" not in sr.headers:
        return None
    given = unquote(header_text(sr.headers["x-symlink-target-account"]))
    if not given:
        raise SwiftError(412, "Account name cannot be empty")
    if "/" in given:
        raise SwiftError(412, "Account name cannot contain slashes")
    return given


def _listing_fields(account: str, fmt: str, record: ObjectRecord, entry: dict[str, object]
                    ) -> None:
    if fmt != "json" or TARGET not in record.meta:
        return
    entry["symlink_path"] = f"/v1/{record.meta.get(ACCOUNT) or account}/{record.meta[TARGET]}"
    if ETAG in record.meta:
        entry["symlink_etag"] = record.meta[ETAG]
        with contextlib.suppress(ValueError):
            entry["symlink_bytes"] = int(record.meta.get(BYTES, "0"))
