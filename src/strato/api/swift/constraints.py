"""Swift's limits and the checks that enforce them, with Swift's own error texts."""

from __future__ import annotations

import time

from strato.api.swift.errors import SwiftError

MAX_META_NAME_LENGTH = 128
MAX_META_VALUE_LENGTH = 256
MAX_META_COUNT = 90
MAX_META_OVERALL_SIZE = 4096
MAX_HEADER_SIZE = 8192
MAX_HEADER_COUNT = 90 + 10
MAX_OBJECT_NAME_LENGTH = 1024
MAX_CONTAINER_NAME_LENGTH = 256
MAX_ACCOUNT_NAME_LENGTH = 256
CONTAINER_LISTING_LIMIT = 10000
ACCOUNT_LISTING_LIMIT = 10000
MAX_MANIFEST_BYTES = 8 * 1024 * 1024


def check_metadata(headers: dict[str, str], kind: str) -> None:
    """Validate `X-<kind>-Meta-*` headers of one request (kind: account/container/object)."""
    prefix = f"x-{kind}-meta-"
    count = 0
    size = 0
    for name, value in headers.items():
        if not name.startswith(prefix):
            continue
        key = name[len(prefix):]
        if not key:
            raise SwiftError(400, "Metadata name cannot be empty")
        count += 1
        size += len(key) + len(value)
        if len(key) > MAX_META_NAME_LENGTH:
            raise SwiftError(400, f"Metadata name too long: {name}")
        if len(value) > MAX_META_VALUE_LENGTH:
            raise SwiftError(400, f"Metadata value longer than {MAX_META_VALUE_LENGTH}: "
                             f"{name}")
    if count > MAX_META_COUNT:
        raise SwiftError(400, f"Too many metadata items; max {MAX_META_COUNT}")
    if size > MAX_META_OVERALL_SIZE:
        raise SwiftError(400, f"Total metadata too large; max {MAX_META_OVERALL_SIZE}")


def check_stored_metadata(meta: dict[str, str], kind: str) -> None:
    """The combined metadata after a POST must fit the same limits as one request."""
    prefix = f"x-{kind}-meta-"
    items = [(k[len(prefix):], v) for k, v in meta.items() if k.startswith(prefix)]
    if len(items) > MAX_META_COUNT:
        raise SwiftError(400, f"Too many metadata items; max {MAX_META_COUNT}")
    if sum(len(k) + len(v) for k, v in items) > MAX_META_OVERALL_SIZE:
        raise SwiftError(400, f"Total metadata too large; max {MAX_META_OVERALL_SIZE}")


def check_container_name(name: str) -> None:
    if len(name.encode("utf-8")) > MAX_CONTAINER_NAME_LENGTH:
        # Swift's container controller sets only the body: the type stays HTML
        raise SwiftError(400, f"Container name length of {len(name.encode('utf-8'))} longer "
                         f"than {MAX_CONTAINER_NAME_LENGTH}",
                         headers={"Content-Type": "text/html; charset=UTF-8"})


def check_object_name(name: str) -> None:
    length = len(name.encode("utf-8"))
    if length > MAX_OBJECT_NAME_LENGTH:
        raise SwiftError(400, f"Object name length of {length} longer than "
                         f"{MAX_OBJECT_NAME_LENGTH}")


def check_transfer_encoding(headers: dict[str, str]) -> None:
    """Only a plain `chunked` coding is read (Swift's is_chunked): 501 for a list of codings,
    400 for any other single one."""
    value = headers.get("transfer-encoding")
    if value is None:
        return
    codings = value.split(",")
    if len(codings) > 1:
        raise SwiftError(501, "Unsupported Transfer-Coding header value specified in "
                         "Transfer-Encoding header")
    if codings[0].strip().lower() != "chunked":
        raise SwiftError(400, "Invalid Transfer-Encoding header value")


MAX_DELETE_AT = 9999999999
"""Swift caps expiry times at ten digits (November 2286) rather than refusing them."""


def delete_at_from(headers: dict[str, str], *, now: float | None = None) -> int | None:
    """The absolute expiry from `X-Delete-At` or `X-Delete-After`; None if neither is set.

    Both must be integers, as for Swift; a time past 2286 is capped to `MAX_DELETE_AT`.
    """
    now = time.time() if now is None else now
    after = headers.get("x-delete-after")
    if after is not None:
        try:
            seconds = int(after)
        except ValueError:
            raise SwiftError(400, "Non-integer X-Delete-After") from None
        if seconds < 0:
            raise SwiftError(400, "X-Delete-After in past")
        return min(int(now + min(seconds, MAX_DELETE_AT)), MAX_DELETE_AT)
    at = headers.get("x-delete-at")
    if at is not None:
        try:
            value = min(int(at), MAX_DELETE_AT)
        except ValueError:
            raise SwiftError(400, "Non-integer X-Delete-At") from None
        if value <= now:
            raise SwiftError(400, "X-Delete-At in past")
        return value
    return None


def if_delete_at(headers: dict[str, str]) -> float | None:
    """`X-If-Delete-At` (a DELETE only if the object expires at that time); 400 if not a
    timestamp, as Swift's object server."""
    value = headers.get("x-if-delete-at")
    if value is None:
        return None
    try:
        when = float(value)
    except ValueError:
        when = -1.0
    if not 0 <= when < 10_000_000_000:  # also NaN
        raise SwiftError(400, "Bad X-If-Delete-At header value")
    return round(when, 5)
