"""Conditional GET/HEAD and PUT (If-Match, If-None-Match, If-(Un)Modified-Since)."""

from __future__ import annotations

import hashlib
from email.utils import formatdate

import pytest

from tests.api.swift.helpers import new_container, raw

ETAG = hashlib.md5(b"cond").hexdigest()


@pytest.fixture(scope="module")
def obj(tester: tuple[str, str]) -> tuple[str, float]:
    name = new_container(tester)
    with raw(tester) as http:
        http.put(f"{name}/o", content=b"cond")
        ts = float(http.head(f"{name}/o").headers["X-Timestamp"])
    return f"{name}/o", ts


@pytest.mark.parametrize(("headers", "status"), [
    ({"If-Match": ETAG}, 200),
    ({"If-Match": f'"{ETAG}"'}, 200),
    ({"If-Match": "*"}, 200),
    ({"If-Match": f'"nope", "{ETAG}"'}, 200),
    ({"If-Match": "nope"}, 412),
    ({"If-None-Match": ETAG}, 304),
    ({"If-None-Match": "*"}, 304),
    ({"If-None-Match": "other"}, 200),
    ({"If-Modified-Since": "future"}, 200),
])
def test_etag_conditions(tester: tuple[str, str], obj: tuple[str, float],
                         headers: dict[str, str], status: int) -> None:
    with raw(tester) as http:
        for method in ("GET", "HEAD"):
            resp = http.request(method, obj[0], headers=headers)
            assert resp.status_code == status, (method, headers)
            assert resp.headers["Etag"] == ETAG
            if status == 200 and method == "GET":
                assert resp.content == b"cond"
            if status in (304, 412):
                assert resp.content == b""


def test_date_conditions(tester: tuple[str, str], obj: tuple[str, float]) -> None:
    path, ts = obj
    before, after = formatdate(ts - 3600, usegmt=True), formatdate(ts + 3600, usegmt=True)
    with raw(tester) as http:
        assert http.get(path, headers={"If-Modified-Since": before}).status_code == 200
        assert http.get(path, headers={"If-Modified-Since": after}).status_code == 304
        assert http.get(path, headers={"If-Unmodified-Since": after}).status_code == 200
        assert http.get(path, headers={"If-Unmodified-Since": before}).status_code == 412
        lm = http.head(path).headers["Last-Modified"]
        assert http.get(path, headers={"If-Modified-Since": lm}).status_code == 304
        # If-None-Match wins over If-Modified-Since
        assert http.get(path, headers={"If-None-Match": "other",
                                       "If-Modified-Since": after}).status_code == 200


def test_if_match_on_missing_object(tester: tuple[str, str], obj: tuple[str, float]) -> None:
    container = obj[0].split("/")[0]
    with raw(tester) as http:
        assert http.get(f"{container}/missing", headers={"If-Match": "*"}).status_code == 412
        assert http.get(f"{container}/missing").status_code == 404


def test_put_if_none_match_star(tester: tuple[str, str], obj: tuple[str, float]) -> None:
    container = obj[0].split("/")[0]
    with raw(tester) as http:
        assert http.put(f"{container}/once", content=b"1",
                        headers={"If-None-Match": "*"}).status_code == 201
        assert http.put(f"{container}/once", content=b"2",
                        headers={"If-None-Match": "*"}).status_code == 412
        assert http.get(f"{container}/once").content == b"1"
        assert http.put(f"{container}/once", content=b"2",
                        headers={"If-None-Match": "abc"}).status_code == 400
