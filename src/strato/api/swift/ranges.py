"""HTTP Range requests: parsing as Swift does and multipart/byteranges bodies."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable

MAX_RANGES = 50


class Unsatisfiable(Exception):
    pass


def parse_range(header: str | None, length: int) -> list[tuple[int, int]] | None:
    """[(start, end_exclusive), ...]; None = ignore the header (serve everything).

    Raises Unsatisfiable when the syntax is valid but no range overlaps the object.
    """
    if not header:
        return None
    unit, _, spec = header.strip().partition("=")
    if unit.strip().lower() != "bytes" or not spec.strip():
        return None
    ranges: list[tuple[int, int]] = []
    raw_items = [item.strip() for item in spec.split(",")]
    if len(raw_items) > MAX_RANGES:
        return None
    for item in raw_items:
        first, dash, last = item.partition("-")
        if not dash:
            return None
        first, last = first.strip(), last.strip()
        if last and not (last.isascii() and last.isdigit()):
            return None  # as Swift: int() alone would read `bytes=--1` as a suffix of -1
        try:
            if first == "":
                if not last:
                    return None
                suffix = int(last)
                if length == 0:
                    return None  # as Swift: a suffix of an empty object is the object (200)
                if suffix == 0:
                    continue
                ranges.append((max(0, length - suffix), length))
                continue
            start = int(first)
            end = int(last) + 1 if last else None
        except ValueError:
            return None
        if start < 0 or (end is not None and end <= start):
            return None  # syntactically invalid: Swift ignores the whole header
        if start >= length:
            continue  # valid but past the end: only unsatisfiable if no range fits
        ranges.append((start, length if end is None else min(end, length)))
    if not ranges:
        raise Unsatisfiable()
    return ranges


def multipart_body(
    ranges: list[tuple[int, int]], length: int, content_type: str,
    read: Callable[[int, int], AsyncIterator[bytes]],
) -> tuple[str, int, AsyncIterator[bytes]]:
    """(boundary, total length, body) for a multipart/byteranges response."""
    boundary = secrets.token_hex(16)
    heads = [(f"--{boundary}\r\nContent-Type: {content_type}\r\n"
              f"Content-Range: bytes {s}-{e - 1}/{length}\r\n\r\n").encode("latin-1")
             for s, e in ranges]
    tail = f"--{boundary}--".encode()
    total = sum(len(h) + (e - s) + 2 for h, (s, e) in zip(heads, ranges, strict=True))
    total += len(tail)

    async def body() -> AsyncIterator[bytes]:
        for head, (start, end) in zip(heads, ranges, strict=True):
            yield head
            async for chunk in read(start, end):
                yield chunk
            yield b"\r\n"
        yield tail

    return boundary, total, body()
