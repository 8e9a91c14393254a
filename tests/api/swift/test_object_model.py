"""The object model against a reference model, by Hypothesis: any sequence of PUT, POST,
COPY, DELETE, GET and listings (prefix, delimiter, marker, end_marker, reverse, limit) on a
real server over HTTP gives the answers a plain dict of names gives. Names are UTF-8 at the
limits: up to 1024 bytes (and 1025, refused), multi-byte characters, runs of '/', characters
that must be percent-encoded.

A few examples run in CI (`STRATO_HYPOTHESIS_EXAMPLES`, default 20 state machine runs of up
to 40 steps); a longer run is documented in docs/reliability.md.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from tests.conftest import TESTER, serve_with_tester
from tests.harness import Server

EXAMPLES = int(os.environ.get("STRATO_HYPOTHESIS_EXAMPLES", "20"))
MAX_NAME = 1024
"""Bytes of UTF-8 in an object name (Swift's max_object_name_length)."""
TOO_LONG_ELSEWHERE = (400, 404)
"""A PUT of a longer name is refused (400); Swift checks the length only when an object is
created, so a POST or DELETE of one finds nothing (404)."""

# characters that share prefixes, need percent-encoding, or take 2, 3 and 4 bytes
ALPHABET = ["a", "b", "/", "é", "中", "😀", " ", "%", "?", "#", "+", "&", "~"]
short_names = st.text(alphabet=st.sampled_from(ALPHABET), min_size=1, max_size=8).filter(
    lambda name: not any(seg in (".", "..") for seg in name.split("/")))


@st.composite
def long_names(draw: st.DrawFn) -> str:
    """A name padded with one character to exactly 1023, 1024 or 1025 bytes (or as near as
    the character's width allows), the last one refused."""
    stem = draw(short_names)
    pad = draw(st.sampled_from(["a", "/", "é", "中", "😀"]))
    target = draw(st.sampled_from([MAX_NAME - 1, MAX_NAME, MAX_NAME + 1]))
    room = target - len(stem.encode())
    return stem + pad * max(0, room // len(pad.encode()))


names = st.one_of(short_names, short_names, short_names, long_names())
bodies = st.binary(max_size=64)
meta_values = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E),
                      min_size=1, max_size=12)
delimiters = st.sampled_from(["", "", "/", "/", "é", "a/"])


@dataclass
class Obj:
    etag: str
    size: int
    meta: dict[str, str] = field(default_factory=dict)


def model_listing(objects: dict[str, Obj], prefix: str, delimiter: str, marker: str,
                  end_marker: str, reverse: bool, limit: int) -> list[tuple[str, str]]:
    """Swift's listing, written plainly: [("object"|"subdir", name)] in order."""
    low, high = (end_marker, marker) if reverse else (marker, end_marker)
    candidates = sorted((n for n in objects if n.startswith(prefix)
                         and (not low or n > low) and (not high or n < high)),
                        reverse=reverse)
    skip = end_marker if reverse else marker
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    for name in candidates:  # weak-tests: ok (the reference model builds its answer)
        if len(out) >= limit:
            break
        at = name.find(delimiter, len(prefix)) if delimiter else -1
        if at < 0:
            out.append(("object", name))
            continue
        subdir = name[:at + len(delimiter)]
        if subdir not in seen:
            seen.add(subdir)
            if subdir != skip:
                out.append(("subdir", subdir))
    return out


@pytest.fixture(scope="module")
def model_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server of this module's own (module-scoped, as each test module's)."""
    yield from serve_with_tester(tmp_path_factory.mktemp("model") / "data")


class ObjectModel(RuleBasedStateMachine):
    """One container per run; the reference is a dict of name -> (etag, size, metadata)."""

    storage_url: str
    http: httpx.Client
    """Shared by every run (one login: shrinking replays hundreds of runs)."""

    def __init__(self) -> None:
        super().__init__()
        self.container = f"model-{uuid.uuid4().hex[:12]}"
        self.base = f"{self.storage_url}/{self.container}"
        self.objects: dict[str, Obj] = {}

    def url(self, name: str) -> str:
        return f"{self.base}/{quote(name, safe='/')}"

    @initialize()
    def make_container(self) -> None:
        assert self.http.put(self.base).status_code == 201

    # ---- writes ----------------------------------------------------------------------------
    @rule(name=names, body=bodies, value=meta_values)
    def put(self, name: str, body: bytes, value: str) -> None:
        resp = self.http.put(self.url(name), content=body,
                             headers={"X-Object-Meta-Tag": value} if value else {})
        if len(name.encode()) > MAX_NAME:
            assert resp.status_code == 400, resp.text
            return
        assert resp.status_code == 201, resp.text
        etag = hashlib.md5(body, usedforsecurity=False).hexdigest()
        assert resp.headers["etag"].strip('"') == etag
        self.objects[name] = Obj(etag, len(body), {"tag": value} if value else {})

    @precondition(lambda self: bool(self.objects))
    @rule(data=st.data(), value=meta_values)
    def post(self, data: st.DataObject, value: str) -> None:
        name = data.draw(st.sampled_from(sorted(self.objects)))
        resp = self.http.post(self.url(name), headers={"X-Object-Meta-Other": value})
        assert resp.status_code == 202, resp.text
        self.objects[name].meta = {"other": value} if value else {}  # POST replaces all

    @rule(name=names, value=meta_values)
    def post_missing_or_any(self, name: str, value: str) -> None:
        resp = self.http.post(self.url(name), headers={"X-Object-Meta-Other": value})
        if len(name.encode()) > MAX_NAME:
            assert resp.status_code in TOO_LONG_ELSEWHERE, resp.text
        elif name in self.objects:
            assert resp.status_code == 202
            self.objects[name].meta = {"other": value} if value else {}
        else:
            assert resp.status_code == 404, resp.text

    @precondition(lambda self: bool(self.objects))
    @rule(data=st.data(), dest=names)
    def copy(self, data: st.DataObject, dest: str) -> None:
        source = data.draw(st.sampled_from(sorted(self.objects)))
        resp = self.http.request(
            "COPY", self.url(source),
            headers={"Destination": quote(f"{self.container}/{dest}", safe="/")})
        if len(dest.encode()) > MAX_NAME:
            assert resp.status_code in (400, 412), resp.text
            return
        assert resp.status_code == 201, resp.text
        src = self.objects[source]
        self.objects[dest] = Obj(src.etag, src.size, dict(src.meta))

    @rule(data=st.data())
    def delete(self, data: st.DataObject) -> None:
        choices = [*sorted(self.objects)[:20], "missing"]
        name = data.draw(st.one_of(st.sampled_from(choices), names))
        resp = self.http.delete(self.url(name))
        if len(name.encode()) > MAX_NAME:
            assert resp.status_code in TOO_LONG_ELSEWHERE, resp.text
        elif name in self.objects:
            assert resp.status_code == 204, resp.text
            del self.objects[name]
        else:
            assert resp.status_code == 404, resp.text

    # ---- reads -----------------------------------------------------------------------------
    @precondition(lambda self: bool(self.objects))
    @rule(data=st.data())
    def get(self, data: st.DataObject) -> None:
        name = data.draw(st.sampled_from(sorted(self.objects)))
        resp = self.http.get(self.url(name))
        assert resp.status_code == 200, resp.text
        expected = self.objects[name]
        assert hashlib.md5(resp.content, usedforsecurity=False).hexdigest() == expected.etag
        assert resp.headers["etag"].strip('"') == expected.etag
        got = {k[len("x-object-meta-"):].lower(): v for k, v in resp.headers.items()
               if k.lower().startswith("x-object-meta-")}
        assert got == expected.meta

    @rule(prefix=st.one_of(st.just(""), short_names), delimiter=delimiters,
          marker=st.one_of(st.just(""), short_names), end_marker=st.one_of(
              st.just(""), short_names), reverse=st.booleans(),
          limit=st.one_of(st.none(), st.integers(1, 12)))
    def listing(self, prefix: str, delimiter: str, marker: str, end_marker: str,
                reverse: bool, limit: int | None) -> None:
        params = {"format": "json", "prefix": prefix, "delimiter": delimiter,
                  "marker": marker, "end_marker": end_marker}
        params = {k: v for k, v in params.items() if v}
        if reverse:
            params["reverse"] = "true"
        if limit is not None:
            params["limit"] = str(limit)
        resp = self.http.get(self.base, params=params)
        assert resp.status_code in (200, 204), resp.text
        entries = resp.json() if resp.status_code == 200 else []
        got = [("subdir", e["subdir"]) if "subdir" in e else ("object", e["name"])
               for e in entries]
        want = model_listing(self.objects, prefix, delimiter, marker, end_marker, reverse,
                             limit or 10_000)
        assert got == want, params
        for entry in entries:
            if "name" in entry:
                obj = self.objects[entry["name"]]
                assert (entry["hash"], entry["bytes"]) == (obj.etag, obj.size)

    @invariant()
    def counters_match(self) -> None:
        resp = self.http.head(self.base)
        assert resp.status_code == 204
        assert int(resp.headers["x-container-object-count"]) == len(self.objects)
        assert int(resp.headers["x-container-bytes-used"]) == sum(
            o.size for o in self.objects.values())


def test_object_model_matches_reference(model_server: Server) -> None:
    project, user, password = TESTER
    ObjectModel.storage_url, token = model_server.auth_v1(f"{project}:{user}", password)
    ObjectModel.http = httpx.Client(headers={"X-Auth-Token": token}, timeout=60)
    run = ObjectModel.TestCase
    run.settings = settings(max_examples=EXAMPLES, stateful_step_count=40, deadline=None,
                            suppress_health_check=[HealthCheck.too_slow], database=None)
    try:
        run().runTest()
    finally:
        ObjectModel.http.close()


def test_model_listing_is_swifts_on_a_known_case() -> None:
    """The reference itself, on a case worked out by hand from Swift's documentation."""
    objects = {n: Obj("", 0) for n in ("a", "a/b", "a/c/d", "b/x", "b", "c")}
    assert model_listing(objects, "", "/", "", "", False, 100) == [
        ("object", "a"), ("subdir", "a/"), ("object", "b"), ("subdir", "b/"),
        ("object", "c")]
    assert model_listing(objects, "a/", "/", "", "", False, 100) == [
        ("object", "a/b"), ("subdir", "a/c/")]
    assert model_listing(objects, "", "/", "c", "a", True, 100) == [
        ("subdir", "b/"), ("object", "b"), ("subdir", "a/")]
    assert model_listing(objects, "", "", "a/b", "", False, 2) == [
        ("object", "a/c/d"), ("object", "b")]

