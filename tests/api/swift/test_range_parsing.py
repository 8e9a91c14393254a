"""Range header parsing as Swift reads it, case by case, without a server. The server-level
tests (test_ranges.py) check the bytes sent; these pin which headers are ignored (serve it
all), which ranges are served and when the answer is 416."""

from __future__ import annotations

import pytest

from strato.api.swift.ranges import MAX_RANGES, Unsatisfiable, multipart_body, parse_range
from tests.stores.blob.test_local import run

LENGTH = 100


@pytest.mark.parametrize(("header", "ranges"), [
    ("bytes=0-0", [(0, 1)]),
    ("bytes=0-99", [(0, 100)]),
    ("bytes=10-19", [(10, 20)]),
    ("bytes=90-", [(90, 100)]),
    ("bytes=90-500", [(90, 100)]),
    ("bytes=99-99", [(99, 100)]),
    ("bytes=-1", [(99, 100)]),
    ("bytes=-10", [(90, 100)]),
    ("bytes=-100", [(0, 100)]),
    ("bytes=-500", [(0, 100)]),
    ("bytes=0-1,5-6", [(0, 2), (5, 7)]),
    (" Bytes = 1-2 , 4-5 ", [(1, 3), (4, 6)]),
    ("bytes=5-9,100-200", [(5, 10)]),  # a range past the end is dropped when another fits
    ("bytes=100-200,5-9", [(5, 10)]),  # ... wherever it comes
    ("bytes=-10,0-1", [(90, 100), (0, 2)]),
    ("bytes=-0,1-1", [(1, 2)]),  # an empty suffix is dropped likewise
    ("bytes=" + ",".join(["0-0"] * MAX_RANGES), [(0, 1)] * MAX_RANGES),
])
def test_served_ranges(header: str, ranges: list[tuple[int, int]]) -> None:
    assert parse_range(header, LENGTH) == ranges


@pytest.mark.parametrize("header", [
    None, "", "bytes=", "bytes= ", "items=0-1", "bytes=1", "bytes=-", "bytes=a-b",
    "bytes=5-4", "bytes=-5-6", "bytes=1-2,x", "bytes=0-1,5",
    "bytes=--1", "bytes=--0", "bytes=1--2", "bytes=0-+5",  # found by this test: --1 was (101, 100)
    "bytes=" + ",".join(["0-0"] * (MAX_RANGES + 1)),
])
def test_ignored_headers_serve_everything(header: str | None) -> None:
    assert parse_range(header, LENGTH) is None


@pytest.mark.parametrize("header", ["bytes=100-", "bytes=100-200", "bytes=-0",
                                    "bytes=100-101,200-"])
def test_unsatisfiable(header: str) -> None:
    with pytest.raises(Unsatisfiable):
        parse_range(header, LENGTH)


def test_empty_object_has_no_satisfiable_range() -> None:
    with pytest.raises(Unsatisfiable):
        parse_range("bytes=0-0", 0)
    assert parse_range("bytes=0-0", 1) == [(0, 1)]


def test_multipart_body_length_matches_the_bytes() -> None:
    data = bytes(range(LENGTH))

    async def read(start: int, end: int):  # type: ignore[no-untyped-def]
        yield data[start:end]

    async def whole() -> tuple[str, int, bytes]:
        boundary, total, body = multipart_body([(0, 2), (98, 100)], LENGTH, "text/x", read)
        return boundary, total, b"".join([chunk async for chunk in body])

    boundary, total, body = run(whole())
    assert len(body) == total
    assert body == (f"--{boundary}\r\nContent-Type: text/x\r\nContent-Range: bytes 0-1/100"
                    "\r\n\r\n").encode() + data[:2] + (
        f"\r\n--{boundary}\r\nContent-Type: text/x\r\nContent-Range: bytes 98-99/100\r\n\r\n"
    ).encode() + data[98:] + f"\r\n--{boundary}--".encode()


def test_multipart_boundaries_are_fresh() -> None:
    """A fixed boundary could occur in the object's bytes and cut the body for the client."""
    async def read(start: int, end: int):  # type: ignore[no-untyped-def]
        yield b""

    boundaries = {multipart_body([(0, 1), (2, 3)], 5, "x/y", read)[0] for _ in range(3)}
    assert len(boundaries) == 3
    assert all(len(b) >= 32 and b.isalnum() for b in boundaries)
