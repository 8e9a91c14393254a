"""The Swift v1 API: accounts, containers, objects, listings as async iterators, copy, bulk
delete and capabilities. Works against any Swift-API cloud (Strato, OpenStack Swift, Ceph
RGW); large transfers are in transfers.py."""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import aiohttp

from strato.client.errors import ChecksumMismatch, HTTPError, NotFound, error_for
from strato.client.session import Session
from strato.client.transport import Body

PAGE = 10_000


@dataclass(frozen=True)
class Entry:
    """One row of a listing: a container, an object, or (with a delimiter) a pseudo-folder."""

    name: str
    bytes: int = 0
    hash: str | None = None
    last_modified: str | None = None
    content_type: str | None = None
    count: int | None = None
    is_prefix: bool = False
    version_id: str | None = None
    is_latest: bool | None = None
    #: The ETag of a static large object's content (its listed `hash` is the manifest's).
    slo_etag: str | None = None

    @classmethod
    def from_json(cls, row: Mapping[str, Any]) -> Entry:
        if "subdir" in row:
            return cls(name=row["subdir"], is_prefix=True)
        return cls(name=row["name"], bytes=int(row.get("bytes", 0)), hash=row.get("hash"),
                   last_modified=row.get("last_modified"),
                   content_type=row.get("content_type"), count=row.get("count"),
                   version_id=row.get("version_id"), is_latest=row.get("is_latest"),
                   slo_etag=unquote_etag(row.get("slo_etag")))


@dataclass(frozen=True)
class BulkResult:
    deleted: int
    not_found: int
    errors: list[tuple[str, str]]


def object_path(container: str, name: str | None = None) -> str:
    path = "/" + quote(container, safe="")
    return path + "/" + quote(name, safe="/") if name is not None else path


def metadata(headers: Mapping[str, str], kind: str = "object") -> dict[str, str]:
    """The user metadata in headers, keys without their `X-<Kind>-Meta-` prefix."""
    prefix = f"x-{kind}-meta-"
    return {k[len(prefix):]: v for k, v in headers.items() if k.lower().startswith(prefix)}


def unquote_etag(value: str | None) -> str | None:
    return value.strip('"') if value else value


class ObjectStore:
    """The object-store service of one account (the one the token's catalog names, or the
    storage URL given)."""

    def __init__(self, session: Session, *, page_size: int = PAGE) -> None:
        self.session = session
        self.page_size = page_size

    async def storage_url(self) -> str:
        return await self.session.endpoint("object-store")

    async def _url(self, path: str = "") -> str:
        return await self.session.url("object-store", path)

    async def _call(self, method: str, path: str = "", *, headers: Mapping[str, str] | None = None,
                    params: Mapping[str, str] | None = None, body: Body = None,
                    ) -> tuple[int, dict[str, str], bytes]:
        response = await self.session.request(method, await self._url(path), headers=headers,
                                               params=params, body=body)
        return response.status, dict(response.headers), response.body

    # -- account ----------------------------------------------------------------------------

    async def account(self) -> dict[str, str]:
        """The account's headers (object and byte counts, metadata, quotas)."""
        return (await self._call("HEAD"))[1]

    async def post_account(self, headers: Mapping[str, str]) -> None:
        await self._call("POST", headers=headers)

    def containers(self, *, prefix: str | None = None, marker: str | None = None,
                   end_marker: str | None = None, limit: int | None = None,
                   ) -> AsyncIterator[Entry]:
        return self._listing("", prefix=prefix, marker=marker, end_marker=end_marker,
                             limit=limit)

    # -- containers -------------------------------------------------------------------------

    async def create_container(self, container: str,
                               headers: Mapping[str, str] | None = None) -> bool:
        """True if it was made, False if it existed (its headers are then updated)."""
        status, _, _ = await self._call("PUT", object_path(container), headers=headers)
        return status == 201

    async def container(self, container: str) -> dict[str, str]:
        return (await self._call("HEAD", object_path(container)))[1]

    async def post_container(self, container: str, headers: Mapping[str, str]) -> None:
        await self._call("POST", object_path(container), headers=headers)

    async def delete_container(self, container: str) -> None:
        await self._call("DELETE", object_path(container))

    def objects(self, container: str, *, prefix: str | None = None,
                delimiter: str | None = None, marker: str | None = None,
                end_marker: str | None = None, limit: int | None = None,
                versions: bool = False) -> AsyncIterator[Entry]:
        """Every object (or pseudo-folder) in name order, fetched a page at a time."""
        extra = {"versions": ""} if versions else {}
        return self._listing(object_path(container), prefix=prefix, delimiter=delimiter,
                             marker=marker, end_marker=end_marker, limit=limit, extra=extra)

    async def _listing(self, path: str, *, prefix: str | None = None,
                       delimiter: str | None = None, marker: str | None = None,
                       end_marker: str | None = None, limit: int | None = None,
                       extra: Mapping[str, str] | None = None) -> AsyncIterator[Entry]:
        url = await self._url(path)
        yielded = 0
        version_marker: str | None = None
        while True:
            page = min(self.page_size, limit - yielded) if limit else self.page_size
            params = {"format": "json", "limit": str(page), **(extra or {})}
            for key, value in (("prefix", prefix), ("delimiter", delimiter),
                               ("marker", marker), ("end_marker", end_marker),
                               ("version_marker", version_marker)):
                if value is not None:
                    params[key] = value
            response = await self.session.request("GET", url, params=params)
            rows = response.json() if response.status == 200 else []
            for row in rows:
                yield Entry.from_json(row)
                yielded += 1
            if not rows or len(rows) < int(params["limit"]) or (limit and yielded >= limit):
                return
            last = rows[-1]
            marker = last.get("name", last.get("subdir"))
            version_marker = last.get("version_id") if extra and "versions" in extra else None

    # -- objects ----------------------------------------------------------------------------

    async def head(self, container: str, name: str,
                   headers: Mapping[str, str] | None = None) -> dict[str, str]:
        return (await self._call("HEAD", object_path(container, name), headers=headers))[1]

    async def get(self, container: str, name: str, *, headers: Mapping[str, str] | None = None,
                  params: Mapping[str, str] | None = None) -> tuple[dict[str, str], bytes]:
        """Headers and body of a (small) object; see `open` to stream a large one."""
        _, got, body = await self._call("GET", object_path(container, name), headers=headers,
                                        params=params)
        return got, body

    @contextlib.asynccontextmanager
    async def open(self, container: str, name: str, *, headers: Mapping[str, str] | None = None,
                   params: Mapping[str, str] | None = None,
                   ) -> AsyncIterator[aiohttp.ClientResponse]:
        """The response, body unread: `async for chunk in r.content.iter_chunked(n)`."""
        url = await self._url(object_path(container, name))
        async with self.session.stream("GET", url, headers=headers, params=params) as response:
            yield response

    async def put(self, container: str, name: str, data: bytes | Body, *,
                  headers: Mapping[str, str] | None = None, etag: str | None = None,
                  params: Mapping[str, str] | None = None) -> str:
        """Store an object; returns its ETag. Bytes are checked against the ETag the server
        computed; for a streamed body pass the `etag` you expect (sent as `ETag`, so the
        server refuses a body that does not match)."""
        sent = dict(headers or {})
        expected = etag
        manifest = bool(params and "multipart-manifest" in params)
        if isinstance(data, bytes | bytearray):
            if not manifest and expected is None:
                expected = hashlib.md5(data, usedforsecurity=False).hexdigest()
            sent.setdefault("Content-Length", str(len(data)))
        if expected:
            sent["ETag"] = expected
        _, got, _ = await self._call("PUT", object_path(container, name), headers=sent,
                                     body=data, params=params)
        stored = unquote_etag(got.get("Etag")) or ""
        if expected and stored != expected:
            raise ChecksumMismatch(f"{container}/{name}: sent MD5 {expected}, "
                                   f"stored {stored}")
        return stored

    async def post(self, container: str, name: str, headers: Mapping[str, str]) -> None:
        await self._call("POST", object_path(container, name), headers=headers)

    async def copy(self, container: str, name: str, to_container: str, to_name: str, *,
                   headers: Mapping[str, str] | None = None,
                   fresh_metadata: bool = False) -> dict[str, str]:
        """Server-side copy (`PUT` with `X-Copy-From`); returns the new object's headers."""
        sent = {**(headers or {}), "X-Copy-From": object_path(container, name)[1:],
                "Content-Length": "0"}
        if fresh_metadata:
            sent["X-Fresh-Metadata"] = "true"
        return (await self._call("PUT", object_path(to_container, to_name), headers=sent,
                                 body=b""))[1]

    async def delete(self, container: str, name: str, *,
                     params: Mapping[str, str] | None = None) -> bool:
        """True if it was deleted, False if there was nothing to delete."""
        try:
            await self._call("DELETE", object_path(container, name), params=params)
        except NotFound:
            return False
        return True

    async def bulk_delete(self, paths: Iterable[tuple[str, str | None]], *,
                          max_per_request: int | None = None) -> BulkResult:
        """Delete many (container, object) or (container, None) at once: bulk delete when
        the cloud has it (`/info` `bulk_delete`), else one DELETE each."""
        items = list(paths)
        caps = await self.capabilities()
        bulk = caps.get("bulk_delete")
        if not bulk:
            return await self._delete_each(items)
        per = min(int(bulk.get("max_deletes_per_request", 10_000)), max_per_request or 10_000)
        deleted = missing = 0
        errors: list[tuple[str, str]] = []
        for start in range(0, len(items), per):
            chunk = items[start:start + per]
            lines = "\n".join(object_path(c, n) for c, n in chunk).encode()
            _, _, body = await self._call(
                "POST", "", params={"bulk-delete": ""}, body=lines,
                headers={"Content-Type": "text/plain", "Accept": "application/json"})
            doc = json.loads(body)
            deleted += int(doc.get("Number Deleted", 0))
            missing += int(doc.get("Number Not Found", 0))
            errors += [(str(path), str(status)) for path, status in doc.get("Errors", [])]
        return BulkResult(deleted, missing, errors)

    async def _delete_each(self, items: list[tuple[str, str | None]]) -> BulkResult:
        deleted = missing = 0
        errors: list[tuple[str, str]] = []
        for container, name in items:
            try:
                if name is None:
                    await self.delete_container(container)
                    deleted += 1
                elif await self.delete(container, name):
                    deleted += 1
                else:
                    missing += 1
            except NotFound:
                missing += 1
            except HTTPError as exc:
                errors.append((object_path(container, name), f"{exc.status}"))
        return BulkResult(deleted, missing, errors)

    async def capabilities(self) -> dict[str, Any]:
        """`/info`, found beside the storage URL as Swift's clients find it."""
        parts = urlsplit(await self.storage_url())
        path = parts.path.split("/v1/", 1)[0] if "/v1/" in parts.path else ""
        url = urlunsplit((parts.scheme, parts.netloc, path + "/info", "", ""))
        response = await self.session.transport.request("GET", url)
        if response.status != 200:
            raise error_for(response.status, "GET", url)
        return dict(response.json())
