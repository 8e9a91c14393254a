"""Fuzz targets: each takes the fuzzer's bytes, feeds them to a parser of client input, and
checks the invariants of issue 14: bad input raises only the exception its caller turns into
the protocol's own 4xx (anything else would become a 500), and nothing names a path outside
the data root. A target returns normally for every input it accepts; an exception escaping it
is a finding (a crash file, then a regression test in tests/test_fuzz.py).

Targets import strato lazily, inside `setup()`, so the runner can instrument strato's code
for coverage before it is imported.
"""

from __future__ import annotations

import asyncio
import bz2
import contextlib
import gzip
import os
import tarfile
import zlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import atheris


def _chunks(data: bytes, size: int) -> AsyncIterator[bytes]:
    """`data` as a request body arrives: in pieces of `size` bytes."""
    async def gen() -> AsyncIterator[bytes]:
        for at in range(0, len(data), size):
            yield data[at:at + size]
    return gen()


def _run(coro: Any) -> Any:
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()


# ---- request line and path decoding ---------------------------------------------------------
def request(data: bytes) -> None:
    """Request.from_scope: raw path, query string and headers straight from the socket. Only
    BadRequest (412/400) may come out; a parsed path is text without NUL."""
    from strato.api.http import BadRequest, Request

    fdp = atheris.FuzzedDataProvider(data)
    raw_path = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 200))
    query = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 200))
    headers = [(fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 20)).lower(),
                fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 60)))
               for _ in range(fdp.ConsumeIntInRange(0, 4))]
    scope = {"type": "http", "method": "GET", "path": "/", "raw_path": b"/" + raw_path,
             "query_string": query, "headers": headers}
    try:
        parsed = Request.from_scope(scope, None)  # type: ignore[arg-type]
    except BadRequest as exc:
        assert exc.status in (400, 412)
        return
    assert "\x00" not in parsed.path
    parsed.path.encode("utf-8")
    with contextlib.suppress(BadRequest):
        _ = parsed.content_length


def blob_path(data: bytes) -> None:
    """A blob id (ours, but checked as if hostile) either names a file under the store's
    objects/ or is refused as not found: never a path outside the data root."""
    from strato.stores.blob.base import BlobNotFound
    from strato.stores.blob.local import LocalBlobStore

    store = _blob_store(LocalBlobStore)
    blob_id = data.decode("utf-8", "replace")
    try:
        path = store.path_for(blob_id)
    except BlobNotFound:
        return
    root = os.path.realpath(store.objects_dir)
    assert os.path.commonpath([root, os.path.realpath(path)]) == root, path


_STORE: Any = None


def _blob_store(kind: Any) -> Any:
    global _STORE
    if _STORE is None:
        import tempfile
        from pathlib import Path
        _STORE = kind(Path(tempfile.mkdtemp(prefix="strato-fuzz-")))
    return _STORE


# ---- Range and conditional headers ------------------------------------------------------------
def range_header(data: bytes) -> None:
    """parse_range: None (ignore the header), Unsatisfiable, or ranges inside the object."""
    from strato.api.swift.ranges import MAX_RANGES, Unsatisfiable, parse_range

    fdp = atheris.FuzzedDataProvider(data)
    length = fdp.ConsumeIntInRange(0, 1 << 40)
    header = fdp.ConsumeUnicodeNoSurrogates(fdp.remaining_bytes())
    try:
        ranges = parse_range(header, length)
    except Unsatisfiable:
        return
    if ranges is None:
        return
    assert 0 < len(ranges) <= MAX_RANGES
    for start, end in ranges:
        assert 0 <= start < end <= length, (header, length, ranges)


def conditional(data: bytes) -> None:
    """If-Match, If-None-Match, If-(Un)Modified-Since: an answer of None, 304 or 412 only."""
    from strato.api.swift.conditional import evaluate

    fdp = atheris.FuzzedDataProvider(data)
    names = ("if-match", "if-none-match", "if-modified-since", "if-unmodified-since")
    headers = {name: fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 80))
               for name in names if fdp.ConsumeBool()}
    timestamp = fdp.ConsumeFloatInRange(0, 2e10)
    assert evaluate(headers, "d41d8cd98f00b204e9800998ecf8427e", timestamp) in (
        None, 304, 412)


# ---- ACL strings ------------------------------------------------------------------------------
def acl(data: bytes) -> None:
    """Container ACLs (X-Container-Read/Write) and account ACLs (JSON): SwiftError (400)
    or a normalised value that parses again to the same thing."""
    from strato.api.swift.acl import (
        clean_account_acl,
        clean_acl,
        parse_acl,
        referrer_allowed,
    )
    from strato.api.swift.errors import SwiftError

    fdp = atheris.FuzzedDataProvider(data)
    which = fdp.ConsumeIntInRange(0, 2)
    value = fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 300))
    referrer = fdp.ConsumeUnicodeNoSurrogates(fdp.remaining_bytes())
    try:
        if which == 2:
            clean = clean_account_acl(value)
            assert clean_account_acl(clean) == clean
            return
        clean = clean_acl("x-container-write" if which else "x-container-read", value)
    except SwiftError as exc:
        assert exc.status == 400
        return
    parsed = parse_acl(clean)
    assert parse_acl(clean_acl("x-container-read", clean)) == parsed
    referrer_allowed(referrer, parsed.referrers)


# ---- SLO manifests ---------------------------------------------------------------------------
def slo_manifest(data: bytes) -> None:
    """A manifest PUT body: SwiftError 400 or a list of well-formed segments (maybe none:
    Swift stores `[]` as an empty large object)."""
    from strato.api.swift.errors import SwiftError
    from strato.api.swift.features.slo import parse_manifest_put

    try:
        segments = parse_manifest_put(data, "/c/manifest")
    except SwiftError as exc:
        assert exc.status == 400
        return
    assert isinstance(segments, list)
    for seg in segments:
        assert isinstance(seg, dict)
        if "path" in seg:
            assert isinstance(seg["path"], str) and "/" in seg["path"].strip("/")
            assert seg.get("size_bytes") is None or isinstance(seg["size_bytes"], int)


# ---- tar archives for extract-archive --------------------------------------------------------
TAR_ERRORS = (tarfile.TarError, zlib.error, EOFError, OSError)
"""What bulk.py's extract-archive answers with `400 Invalid Tar File`."""
MAX_MEMBERS = 64


def tar_archive(data: bytes) -> None:
    """TarStream over a body (plain, gzip, bzip2): members or a TAR_ERRORS; and every name
    extract-archive keeps is relative and never climbs out (`..`)."""
    from strato.api.swift.features.bulk import _clean_name
    from strato.api.swift.features.tarstream import TarStream

    if not data:
        return
    kind = data[0] % 3
    body = data[1:]
    compression = ("", "gz", "bz2")[kind]
    if kind == 1 and body[:1] == b"G":   # half the time, a valid stream around fuzzed bytes
        body = gzip.compress(body[1:], compresslevel=1)
    elif kind == 2 and body[:1] == b"B":
        body = bz2.compress(body[1:], compresslevel=1)

    async def read() -> None:
        tar = TarStream(_chunks(body, 97), compression)
        for _ in range(MAX_MEMBERS):
            member = await tar.next()
            if member is None:
                return
            clean = _clean_name(member.name)
            if clean is not None:
                assert not clean.startswith("/") and ".." not in clean.split("/"), clean
            if member.isfile() and member.size < 1 << 20:
                got = 0
                async for chunk in tar.body(member):
                    got += len(chunk)
                assert got == member.size

    with contextlib.suppress(*TAR_ERRORS):
        _run(read())


# ---- form POST bodies ------------------------------------------------------------------------
def form_post(data: bytes) -> None:
    """multipart/form-data as form POST reads it: parts or MultipartError."""
    from strato.api.swift.features.multipart import (
        MultipartError,
        MultipartReader,
        parse_disposition,
    )

    fdp = atheris.FuzzedDataProvider(data)
    boundary = fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(1, 40))
    chunk = fdp.ConsumeIntInRange(1, 64)
    body = fdp.ConsumeBytes(fdp.remaining_bytes())
    try:
        boundary.encode("latin-1")
    except UnicodeEncodeError:
        return  # the boundary comes from a header, which is latin-1 text

    async def read() -> None:
        reader = MultipartReader(_chunks(body, chunk), boundary)
        for _ in range(64):
            headers = await reader.next_part()
            if headers is None:
                return
            parse_disposition(headers.get("content-disposition", ""))
            while await reader.read() is not None:
                pass

    with contextlib.suppress(MultipartError):
        _run(read())


# ---- temp URL parameters ----------------------------------------------------------------------
def temp_url(data: bytes) -> None:
    """temp_url_sig, temp_url_expires, temp_url_ip_range and filename: parsed or refused
    (None / False), never an exception; an accepted expiry fits an HTTP date."""
    from email.utils import formatdate

    from strato.api.swift.features.tempurl import (
        client_in,
        disposition,
        parse_expires,
        parse_signature,
    )

    fdp = atheris.FuzzedDataProvider(data)
    sig = fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 140))
    expires = fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 40))
    ip_range = fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 50))
    filename = fdp.ConsumeUnicodeNoSurrogates(fdp.remaining_bytes())
    parsed = parse_signature(sig)
    if parsed is not None:
        assert parsed[0] in ("sha1", "sha256", "sha512")
        bytes.fromhex(parsed[1])
    when = parse_expires(expires)
    if when is not None:
        formatdate(when, usegmt=True)
    client_in(("127.0.0.1", 1), ip_range)
    client_in(("::1", 1), ip_range)
    disposition("attachment", filename).encode("latin-1")


# ---- the whole application: identity JSON, Glance JSON-patch and image headers, any route ---
APP_PATHS = (
    "/identity/v3/auth/tokens", "/identity/v2.0/tokens", "/identity/v3/users",
    "/identity/v3/projects", "/identity/v3/domains", "/identity/v3/groups",
    "/identity/v3/roles", "/identity/v3/users/{user}/password",
    "/identity/v3/users/{user}/application_credentials", "/identity/v3/credentials",
    "/image/v2/images", "/image/v2/images/{image}", "/image/v2/images/{image}/file",
    "/image/v2/images/{image}/members", "/image/v2/images/{image}/import",
    "/image/v2/images/{image}/stage",
    "/v1/{account}", "/v1/{account}/fz", "/v1/{account}/fz/obj", "/v1/{account}/fz/",
    "/auth/v1.0", "/info", "/",
)
APP_METHODS = ("GET", "HEAD", "PUT", "POST", "PATCH", "DELETE", "COPY", "OPTIONS")
APP_HEADERS = (
    "content-type", "x-auth-token", "x-subject-token", "range", "if-match",
    "if-none-match", "if-modified-since", "x-container-read", "x-container-write",
    "x-account-access-control", "x-object-manifest", "x-copy-from", "destination",
    "x-delete-at", "x-delete-after", "x-object-meta-a", "x-image-meta-name",
    "openstack-api-version", "x-openstack-request-id", "x-versions-location",
    "x-symlink-target", "x-static-large-object", "transfer-encoding", "x-auth-user",
    "x-auth-key", "origin", "x-container-meta-quota-bytes", "content-length",
)
JSON_MEDIA = ("application/json", "application/openstack-images-v2.1-json-patch",
              "application/openstack-images-v2.0-json-patch", "application/octet-stream",
              "multipart/form-data; boundary=xx", "application/x-tar")


class _App:
    """StratoApp on a throw-away SQLite data directory, driven in this process over ASGI; a
    token for an admin of its own account, so authenticated routes are reached too."""

    def __init__(self) -> None:
        import subprocess
        import sys
        import tempfile
        from pathlib import Path

        from strato.server.app import StratoApp, prepare_storage
        from strato.server.settings import Settings

        self.data_dir = Path(tempfile.mkdtemp(prefix="strato-fuzz-")) / "data"
        env = {**os.environ, "STRATO_METADATA": ""}
        for command in (["init"], ["user", "add", "--project", "fuzz", "--user", "fuzzer",
                                   "--password", "fuzzing", "--role", "admin"]):
            subprocess.run([sys.executable, "-m", "strato", *command, "--data-dir",
                            str(self.data_dir)], check=True, env=env, capture_output=True,
                           timeout=300)
        settings = Settings(data_dir=self.data_dir, expirer_interval=3600.0, metadata="")
        self.loop = asyncio.new_event_loop()
        self.loop.run_until_complete(prepare_storage(settings))
        self.app = StratoApp(settings)
        self.loop.run_until_complete(self.app.startup())
        status, headers, _ = self.call("GET", b"/auth/v1.0", [
            (b"x-auth-user", b"fuzz:fuzzer"), (b"x-auth-key", b"fuzzing")], b"")
        assert status == 200, status
        self.token = headers[b"x-auth-token"]
        self.account = headers[b"x-storage-url"].rsplit(b"/", 1)[1].decode()
        _, _, body = self.call("POST", b"/image/v2/images", [
            (b"x-auth-token", self.token), (b"content-type", b"application/json")],
            b'{"name": "fuzz", "disk_format": "raw", "container_format": "bare"}')
        import json
        self.image = json.loads(body)["id"]
        self.user = "fuzzer"

    def call(self, method: str, target: bytes, headers: list[tuple[bytes, bytes]],
             body: bytes) -> tuple[int, dict[bytes, bytes], bytes]:
        if not any(name == b"content-length" for name, _ in headers):
            headers = [*headers, (b"content-length", str(len(body)).encode())]
        path, _, query = target.partition(b"?")
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
                 "method": method, "scheme": "http", "path": path.decode("latin-1"),
                 "raw_path": path, "query_string": query, "root_path": "",
                 "headers": [(b"host", b"127.0.0.1"), *headers],
                 "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 8080)}
        messages = [{"type": "http.request", "body": body, "more_body": False}]
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            if messages:
                return messages.pop(0)
            await asyncio.sleep(3600)
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        self.loop.run_until_complete(asyncio.wait_for(self.app(scope, receive, send), 30))
        start = sent[0]
        out = b"".join(m.get("body", b"") for m in sent[1:])
        return start["status"], {k.lower(): v for k, v in start.get("headers", [])}, out


_APP: _App | None = None


def app(data: bytes) -> None:
    """Any request the fuzzer makes, to any front-end (identity JSON bodies, Glance JSON-patch
    and image headers, Swift paths and headers): never a 500."""
    global _APP
    if _APP is None:
        _APP = _App()
    fdp = atheris.FuzzedDataProvider(data)
    method = APP_METHODS[fdp.ConsumeIntInRange(0, len(APP_METHODS) - 1)]
    template = APP_PATHS[fdp.ConsumeIntInRange(0, len(APP_PATHS) - 1)]
    path = template.format(account=_APP.account, user=_APP.user, image=_APP.image)
    shape = fdp.ConsumeIntInRange(0, 3)   # no tail, raw bytes, UTF-8 text, a query
    tail = b""
    if shape == 1:
        tail = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 40))
    elif shape >= 2:
        text = fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 40))
        tail = (("/" if shape == 2 else "?") + text).encode("utf-8")
    headers: list[tuple[bytes, bytes]] = []
    if fdp.ConsumeIntInRange(0, 4):
        headers.append((b"x-auth-token", _APP.token))
    if fdp.ConsumeBool():
        headers.append((b"content-type",
                        JSON_MEDIA[fdp.ConsumeIntInRange(0, len(JSON_MEDIA) - 1)].encode()))
    for _ in range(fdp.ConsumeIntInRange(0, 3)):
        name = APP_HEADERS[fdp.ConsumeIntInRange(0, len(APP_HEADERS) - 1)].encode()
        headers.append((name, fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 80))))
    if method in ("DELETE",) and not tail:
        return  # keep the fixtures (the image, the account) for the inputs that follow
    body = fdp.ConsumeBytes(fdp.remaining_bytes())
    status, _, text = _APP.call(method, path.encode() + tail, headers, body)
    assert status != 500, (method, path.encode() + tail, headers, body[:200], text[:300])


TARGETS: dict[str, Callable[[bytes], None]] = {
    "request": request, "blob_path": blob_path, "range": range_header,
    "conditional": conditional, "acl": acl, "slo": slo_manifest, "tar": tar_archive,
    "formpost": form_post, "tempurl": temp_url, "app": app,
}
