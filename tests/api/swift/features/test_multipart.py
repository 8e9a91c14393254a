"""The streaming multipart reader, fed in awkward chunk sizes (no server needed)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from strato.api.swift.features.multipart import MultipartError, MultipartReader, parse_disposition

BOUNDARY = "----formboundary7MA4YWxk"
BODY = (
    b"preamble\r\n"
    b"------formboundary7MA4YWxk\r\n"
    b'Content-Disposition: form-data; name="redirect"\r\n\r\n'
    b"https://e.com/\r\n"
    b"------formboundary7MA4YWxk\r\n"
    b'Content-Disposition: form-data; name="file"; filename="a \\"q\\".bin"\r\n'
    b"Content-Type: application/octet-stream\r\n\r\n"
    + b"\r\n------formboundary7MA4YWx" * 50 + b"\r\n"
    b"------formboundary7MA4YWxk--\r\n"
)


async def _chunks(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start:start + size]


async def _parts(data: bytes, size: int) -> list[tuple[dict[str, str], bytes]]:
    reader = MultipartReader(_chunks(data, size), BOUNDARY)
    parts = []
    while (headers := await reader.next_part()) is not None:
        body = b"".join([chunk async for chunk in reader.iter_part()])
        parts.append((headers, body))
    return parts


@pytest.mark.parametrize("size", [1, 7, 40, 100_000])
def test_parts_survive_any_chunking(size: int) -> None:
    parts = asyncio.run(_parts(BODY, size))
    assert [p[1] for p in parts] == [b"https://e.com/",
                                     b"\r\n------formboundary7MA4YWx" * 50]
    kind, params = parse_disposition(parts[1][0]["content-disposition"])
    assert kind == "form-data" and params == {"name": "file", "filename": 'a "q".bin'}
    assert parts[1][0]["content-type"] == "application/octet-stream"


def test_truncated_body_is_an_error() -> None:
    with pytest.raises(MultipartError):
        asyncio.run(_parts(BODY[:-40], 16))
