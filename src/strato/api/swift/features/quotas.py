"""Container and account quotas, as Swift's `container_quotas` and `account_quotas`.

Container owners limit a container with `X-Container-Meta-Quota-Bytes` (total bytes) and
`X-Container-Meta-Quota-Count` (objects); both must be whole numbers (else 400
`Invalid bytes quota.` / `Invalid count quota.`).

A reseller admin limits a whole account with `X-Account-Quota-Bytes` and
`X-Account-Quota-Count`, and per storage policy with `X-Account-Quota-Bytes-Policy-<name>` /
`X-Account-Quota-Count-Policy-<name>` (`X-Remove-...` or an empty value removes one; the
older `X-Account-Meta-Quota-Bytes` still sets the bytes quota). They are kept in account
system metadata, so only this feature writes them: anyone else setting or removing one gets
403 and nothing changes, a non-number from a reseller gets 400. Everyone who may read the
account sees them on HEAD/GET. Resellers' own uploads are not limited by account quotas.

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

from strato.api.http import BadRequest, Message, Response, is_digits
from strato.api.swift.account import ACCOUNT_SYSMETA
from strato.api.swift.context import SwiftRequest
from strato.api.swift.errors import SwiftError
from strato.api.swift.object import can_read_object, can_write_object, split_target
from strato.api.swift.pipeline import Feature, Handler
from strato.stores.metadata.records import AccountStats, ContainerRecord

EXCEEDED = "Upload exceeds quota."
POLICY_EXCEEDED = "Upload exceeds policy quota."
LEGACY_QUOTA = "x-account-meta-quota-bytes"
QUOTA_SYSMETA = "x-account-sysmeta-quota-"
"""+ `bytes`, `count`, `bytes-policy-<name>`, `count-policy-<name>` (Swift keys the policy by
its index; Strato's policies have no index, so by the lower-cased name)."""


def _int(value: str | None) -> int | None:
    return int(value) if value is not None and is_digits(value) else None


async def _rooms(sr: SwiftRequest, account: str, container: ContainerRecord,
                 objects: int, reseller: bool) -> list[tuple[int, str]]:
    """(bytes left, message when passed) for each byte quota on `container`; raises 413 at
    once when adding `objects` objects would pass a count quota."""
    assert container.counted, "quotas need the container's counters"
    count_quota = _int(container.meta.get("x-container-meta-quota-count"))
    if count_quota is not None and container.object_count + objects > count_quota:
        raise SwiftError(413, EXCEEDED)
    rooms: list[tuple[int, str]] = []
    bytes_quota = _int(container.meta.get("x-container-meta-quota-bytes"))
    if bytes_quota is not None:
        rooms.append((bytes_quota - container.bytes_used, EXCEEDED))
    if reseller:
        return rooms
    record = await sr.get_account(account)
    meta = record.meta if record else {}
    storage = sr.services.storage
    policy_name = storage.policy_of(container).name
    policy = f"-policy-{policy_name.lower()}"
    limits = [(_int(meta.get(QUOTA_SYSMETA + "bytes", meta.get(LEGACY_QUOTA))),
               _int(meta.get(QUOTA_SYSMETA + "count")), EXCEEDED),
              (_int(meta.get(QUOTA_SYSMETA + "bytes" + policy)),
               _int(meta.get(QUOTA_SYSMETA + "count" + policy)), POLICY_EXCEEDED)]
    if all(b is None and c is None for b, c, _ in limits):
        return rooms
    stats = await storage.account_stats(account)
    in_policy = stats.per_policy.get(policy_name, AccountStats(0, 0, 0))
    for (account_bytes, account_count, message), used in zip(limits, (stats, in_policy),
                                                              strict=True):
        if account_count is not None and used.object_count + objects > account_count:
            raise SwiftError(413, message)
        if account_bytes is not None:
            rooms.append((account_bytes - used.bytes_used, message))
    return rooms


async def quota_room(sr: SwiftRequest, account: str, container: ContainerRecord,
                     objects: int = 1, *, reseller: bool = False) -> int | None:
    """Bytes that may still be written to `container` (None: no byte quota applies).

    Raises 413 at once when adding `objects` objects would pass a count quota. A reseller
    (`reseller=True`) is held to the container's quotas only, as in Swift.
    """
    rooms = await _rooms(sr, account, container, objects, reseller)
    return min(room for room, _ in rooms) if rooms else None


async def check_quota(sr: SwiftRequest, account: str, container: ContainerRecord,
                      size: int, objects: int = 1, *, reseller: bool = False) -> int | None:
    """Raise `SwiftError(413, 'Upload exceeds quota.')` if writing `size` bytes in `objects`
    new objects would pass the container's or the account's quota; else return the bytes
    left after it (None: unlimited). Reusable by any feature that writes objects."""
    rooms = await _rooms(sr, account, container, objects, reseller)
    for room, message in rooms:
        if size > room:
            raise SwiftError(413, message)
    return min(room for room, _ in rooms) - size if rooms else None


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
            return await call_next(sr)
        if sr.obj is None:
            if method in ("PUT", "POST"):
                for header, message in (("x-container-meta-quota-bytes", "Invalid bytes quota."),
                                        ("x-container-meta-quota-count", "Invalid count quota.")):
                    value = sr.headers.get(header)
                    if value and not is_digits(value):
                        raise SwiftError(400, message)
            return await call_next(sr)
        if method == "PUT" or method == "COPY":
            await self._check_upload(sr)
        return await call_next(sr)

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
            src_name, src_obj = split_target(sr.headers["x-copy-from"], "X-Copy-From")
            source = (sr.headers.get("x-copy-from-account", sr.account), src_name, src_obj)
        container = await sr.get_container(account, container_name)
        if container is None:
            return  # the core answers 404
        if not can_write_object(sr, account, container):
            return  # the core answers 401/403 without revealing the quota
        if source is not None:
            src_container = await storage.get_container(source[0], source[1])
            if src_container is None or not can_read_object(sr, source[0], src_container):
                return  # the core answers 404/401/403 without revealing the source's size
            src = await storage.get_object(src_container, source[2])
            await check_quota(sr, account, container, src.size if src else 0,
                              reseller=sr.is_reseller)
            return
        try:
            length = sr.request.content_length
        except BadRequest:
            return  # the core answers 400
        room = await check_quota(sr, account, container, length or 0,
                                 reseller=sr.is_reseller)
        if room is not None and length is None:
            _cap_receive(sr, room)


class AccountQuotas(Feature):
    """Account quota headers: only a reseller sets them; everyone who reads sees them. The
    upload checks live in `Quotas` (one container lookup)."""

    name = "account_quotas"

    def capabilities(self) -> dict[str, Any]:
        return {}

    async def handle(self, sr: SwiftRequest, call_next: Handler) -> Response:
        if sr.container is not None:
            return await call_next(sr)
        if sr.request.method in ("POST", "PUT"):
            self._translate(sr)
        response = await call_next(sr)
        shown = {f"x-account-sysmeta-quota-{kind}": f"X-Account-Quota-{kind.title()}"
                 for kind in ("bytes", "count")}
        for policy in sr.services.storage.policies:
            for kind in ("bytes", "count"):
                shown[f"x-account-sysmeta-quota-{kind}-policy-{policy.name.lower()}"] = (
                    f"X-Account-Quota-{kind.title()}-Policy-{policy.name}")
        for key, value in list(response.headers.items()):
            public = shown.get(key.lower())
            if public is not None and value:
                response.headers[public] = value
        return response

    @staticmethod
    def _translate(sr: SwiftRequest) -> None:
        """Quota headers -> account sysmeta for a reseller; 403 for anyone else."""
        headers = sr.headers
        for legacy in (LEGACY_QUOTA, "x-remove-account-meta-quota-bytes"):
            modern = legacy.replace("-meta-", "-")
            if legacy in headers and not headers.get(modern):
                headers[modern] = headers[legacy]
        wanted: dict[str, str | None] = {}
        for kind in ("bytes", "count"):
            tail = f"account-quota-{kind}"
            wanted[QUOTA_SYSMETA + kind] = "" if headers.get(f"x-remove-{tail}") else (
                headers.get(f"x-{tail}"))
            for policy in sr.services.storage.policies:
                name = policy.name.lower()  # a client may name the policy by an alias too
                for alias in (a.lower() for a in policy.names):
                    policy_tail = f"{tail}-policy-{alias}"
                    value = "" if headers.get(f"x-remove-{policy_tail}") else headers.get(
                        f"x-{policy_tail}")
                    if value is not None:
                        wanted[f"{QUOTA_SYSMETA}{kind}-policy-{name}"] = value
        given = {key: value for key, value in wanted.items() if value is not None}
        if not given or sr.auth is None:
            return  # the core answers an anonymous request with 401
        if not sr.is_reseller:
            raise SwiftError(403)
        if any(value and not is_digits(value) for value in given.values()):
            raise SwiftError(400)
        sr.state.setdefault(ACCOUNT_SYSMETA, {}).update(given)
