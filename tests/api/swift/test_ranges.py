"""GET with Range: single, suffix, open-ended, multiple (multipart/byteranges), 416."""

from __future__ import annotations

import email.parser
import email.policy

import pytest

from tests.api.swift.helpers import new_container, raw

DATA = bytes(range(256)) * 40  # 10240 bytes


@pytest.fixture(scope="module")
def obj(tester: tuple[str, str]) -> str:
    name = new_container(tester)
    with raw(tester) as http:
        http.put(f"{name}/r", content=DATA, headers={"Content-Type": "application/x-r"})
    return f"{name}/r"


@pytest.mark.parametrize(("spec", "start", "end"), [
    ("bytes=0-0", 0, 1), ("bytes=10-19", 10, 20), ("bytes=10000-", 10000, 10240),
    ("bytes=-100", 10140, 10240), ("bytes=10000-99999", 10000, 10240),
    ("bytes=-99999", 0, 10240),
])
def test_single_range(tester: tuple[str, str], obj: str, spec: str, start: int,
                      end: int) -> None:
    with raw(tester) as http:
        resp = http.get(obj, headers={"Range": spec})
    assert resp.status_code == 206
    assert resp.content == DATA[start:end]
    assert resp.headers["Content-Range"] == f"bytes {start}-{end - 1}/{len(DATA)}"
    assert resp.headers["Content-Length"] == str(end - start)
    assert resp.headers["Content-Type"] == "application/x-r"


def test_multiple_ranges(tester: tuple[str, str], obj: str) -> None:
    with raw(tester) as http:
        resp = http.get(obj, headers={"Range": "bytes=0-9,100-199,-5"})
    assert resp.status_code == 206
    ctype = resp.headers["Content-Type"]
    assert ctype.startswith("multipart/byteranges")
    assert int(resp.headers["Content-Length"]) == len(resp.content)
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + resp.content)
    parts = list(message.iter_parts())
    assert len(parts) == 3
    expected = [(0, 10), (100, 200), (10235, 10240)]
    for part, (start, end) in zip(parts, expected, strict=True):
        assert part["Content-Type"] == "application/x-r"
        assert part["Content-Range"] == f"bytes {start}-{end - 1}/{len(DATA)}"
        assert part.get_payload(decode=True) == DATA[start:end]


@pytest.mark.parametrize("spec", ["bytes=10240-", "bytes=20000-30000", "bytes=-0"])
def test_unsatisfiable_is_416(tester: tuple[str, str], obj: str, spec: str) -> None:
    with raw(tester) as http:
        resp = http.get(obj, headers={"Range": spec})
    assert resp.status_code == 416
    assert resp.headers["Content-Range"] == f"bytes */{len(DATA)}"


@pytest.mark.parametrize("spec", ["bytes=5-2", "chars=0-1", "bytes=a-b", "bytes=", "garbage",
                                  "bytes=1-2-3", "bytes=--1"])
def test_malformed_range_serves_everything(tester: tuple[str, str], obj: str,
                                           spec: str) -> None:
    with raw(tester) as http:
        resp = http.get(obj, headers={"Range": spec})
    assert resp.status_code == 200 and resp.content == DATA


def test_range_on_empty_object(tester: tuple[str, str]) -> None:
    name = new_container(tester)
    with raw(tester) as http:
        http.put(f"{name}/empty", content=b"")
        assert http.get(f"{name}/empty", headers={"Range": "bytes=0-"}).status_code == 416
        assert http.get(f"{name}/empty").content == b""
        suffix = http.get(f"{name}/empty", headers={"Range": "bytes=-5"})
        assert suffix.status_code == 200 and suffix.content == b""
