"""Container and account quotas, as Swift's `container_quotas` and `account_quotas`.

Container owners limit a container with `X-Container-Meta-Quota-Bytes` (total bytes) and
`X-Container-Meta-Quota-Count` (objects); both must be whole numbers (else 400
`Invalid bytes quota.` / `Invalid count quota.`). A reseller admin limits a whole account
with `X-Account-Meta-Quota-Bytes`; anyone else setting or removing it gets 403, and a
non-number from a reseller gets 400.

An upload that would pass a quota gets `413 Upload exceeds quota.` — checked before the
body is read when the request declares its length (and for copies, from the source's size),
and while it streams for chunked uploads, so a refused body is never stored. As in Swift,
an upload is counted in full even if it overwrites an object, and the check is not atomic
across concurrent uploads.

Other features that write objects (SLO segments, bulk extraction) call `check_quota` with
the size they are about to write, and `limit_stream` to enforce it on a stream of unknown
length.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from strato.api.http import BadRequest, Message, Response
from strato.api.swift.context import SwiftRequest, SwiftServices
from strato.api.swift.errors import SwiftError
from strato.api.swift.object import split_target
from strato.api.swift.pipeline import Feature, Handler
from strato.stores.metadata.records import ContainerRecord

EXCEEDED = "Upload exceeds quota."
ACCOUNT_QUOTA = "x-account-meta-quota-bytes"


def _int(value: str | None) -> int | None:
    return int(value) if value is not None and value.isdigit() else None


async def quota_room(services: SwiftServices, account: str, container: ContainerRecord,
                     objects: int = 1) -> int | None:
    """Bytes that may still be written to `container` (None: no byte quota applies).

    Raises 413 at once when adding `objects` objects would pass a count quota.
    """
    count_quota = _int(container.meta.get("x-container-meta-quota-count"))
    if count_quota is not None and container.object_count + objects > count_quota:
        raise SwiftError(413, EXCEEDED)
    rooms: list[int] = []
    bytes_quota = _int(container.meta.get("x-container-meta-quota-bytes"))
    if bytes_quota is not None:
        rooms.append(bytes_quota - container.bytes_used)
    record = await services.storage.get_account(account)
    account_quota = _int(record.meta.get(ACCOUNT_QUOTA)) if record else None
    if account_quota is not None:
        stats = await services.storage.account_stats(account)
        rooms.append(account_quota - stats.bytes_used)
    return min(rooms) if rooms else None


async def check_quota(services: SwiftServices, account: str, container: ContainerRecord,
                      size: int, objects: int = 1) -> int | None:
    """Raise `SwiftError(413, 'Upload exceeds quota.')` if writing `size` bytes in `objects`
    new objects would pass the container's or the account's quota; else return the bytes
    left after it (None: unlimited). Reusable by any feature that writes objects."""
    room = await quota_room(services, account, container, objects)
    if room is not None and size > room:
        raise SwiftError(413, EXCEEDED)
    return None if room is None else room - size


async def limit_stream(body: AsyncIterator[bytes], room: int) -> AsyncIterator[bytes]:
    """Pass `body` through, raising 413 as soon as more than `room` bytes arrived."""
    seen = 0
    async for chunk in body:
        seen += len(chunk)
        if seen > room:
            raise SwiftError(413, EXCEEDED)
        yield chunk


def _cap_receive(sr: SwiftRequest, room: int) -> None:
    """Wrap the ASGI receive so the core's body stream fails with 413 past `room` bytes."""
    request = sr.request
    receive = request.receive
    seen = 0

    async def capped() -> Message:
        nonlocal seen
        message = await receive()
        seen += len(message.get("body", b""))
        if seen > room:
            raise BadRequest(EXCEEDED, 413)
        return message

    request.receive = capped


class Quotas(Feature):
    name = "container_quotas"

    def capabilities(self) -> dict[str, Any]:
        return {}

    async def handle(self, sr: SwiftRequest, call_next: Handler) -> Response:
        method = sr.request.method
        if sr.container is None:
            if method in ("POST", "PUT"):
                self._check_account_quota_headers(sr)
            return await call_next(sr)
        if sr.obj is None:
            if method in ("PUT", "POST"):
                for header, message in (("x-container-meta-quota-bytes", "Invalid bytes quota."),
                                        ("x-container-meta-quota-count", "Invalid count quota.")):
                    value = sr.headers.get(header)
                    if value and not value.isdigit():
                        raise SwiftError(400, message)
            return await call_next(sr)
        if method == "PUT" or method == "COPY":
            await self._check_upload(sr)
        return await call_next(sr)

    def _check_account_quota_headers(self, sr: SwiftRequest) -> None:
        new = sr.headers.get(ACCOUNT_QUOTA)
        if "x-remove-account-meta-quota-bytes" in sr.headers:
            new = "0"
        if new is None or sr.auth is None:
            return  # the core answers an anonymous request with 401
        if not sr.is_reseller:
            raise SwiftError(403)
        if new and not new.isdigit():
            raise SwiftError(400)

    async def _check_upload(self, sr: SwiftRequest) -> None:
        assert sr.container is not None and sr.obj is not None
        storage = sr.services.storage
        account, container_name = sr.account, sr.container
        source: tuple[str, str, str] | None = None
        if sr.request.method == "COPY":
            destination = sr.headers.get("destination")
            if not destination:
                return
            container_name, _ = split_target(destination, "Destination")
            account = sr.headers.get("destination-account", sr.account)
            source = (sr.account, sr.container, sr.obj)
        elif "x-copy-from" in sr.headers:
            src_container, src_obj = split_target(sr.headers["x-copy-from"], "X-Copy-From")
            source = (sr.headers.get("x-copy-from-account", sr.account), src_container, src_obj)
        container = await storage.get_container(account, container_name)
        if container is None:
            return  # the core answers 404
        if not self._may_write(sr, account, container):
            return  # the core answers 401/403 without revealing the quota
        if source is not None:
            src_container = await storage.get_container(source[0], source[1])
            if src_container is None or not self._may_read(sr, source[0], src_container):
                return  # the core answers 404/401/403 without revealing the source's size
            src = await storage.get_object(src_container, source[2])
            await check_quota(sr.services, account, container, src.size if src else 0)
            return
        try:
            length = sr.request.content_length
        except BadRequest:
            return  # the core answers 400
        room = await check_quota(sr.services, account, container, length or 0)
        if room is not None and length is None:
            _cap_receive(sr, room)

    @staticmethod
    def _may_read(sr: SwiftRequest, account: str, container: ContainerRecord) -> bool:
        authorizer = sr.services.authorizer
        return bool(sr.state.get("authorize_override")) or authorizer.is_owner(
            sr.auth, account) or authorizer.can_read(
            sr.auth, container.meta.get("x-container-read"), sr.headers.get("referer"))

    @staticmethod
    def _may_write(sr: SwiftRequest, account: str, container: ContainerRecord) -> bool:
        if sr.state.get("authorize_override"):
            return True
        authorizer = sr.services.authorizer
        return authorizer.is_owner(sr.auth, account) or authorizer.can_write(
            sr.auth, container.meta.get("x-container-write"))


class AccountQuotas(Feature):
    """Advertises `account_quotas`; the checks live in `Quotas` (one container lookup)."""

    name = "account_quotas"

    def capabilities(self) -> dict[str, Any]:
        return {}

    async def handle(self, sr: SwiftRequest, call_next: Handler) -> Response:
        return await call_next(sr)
