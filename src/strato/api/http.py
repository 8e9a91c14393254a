"""A lean request/response layer over raw ASGI, shared by every protocol front-end.

No framework: per-request framework overhead was the largest cost measured on this kind of
machine. Header values are kept as latin-1 strings, which round-trips any byte a client
sends (Swift metadata values are opaque bytes on the wire).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, MutableMapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote, unquote_to_bytes

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

REASONS = {
    100: "Continue", 200: "OK", 201: "Created", 202: "Accepted", 204: "No Content",
    206: "Partial Content", 300: "Multiple Choices", 301: "Moved Permanently", 302: "Found",
    304: "Not Modified", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
    404: "Not Found", 405: "Method Not Allowed", 406: "Not Acceptable",
    408: "Request Timeout", 409: "Conflict", 410: "Gone", 411: "Length Required",
    412: "Precondition Failed", 413: "Request Entity Too Large", 415: "Unsupported Media Type",
    416: "Requested Range Not Satisfiable", 422: "Unprocessable Entity",
    429: "Too Many Requests", 431: "Request Header Fields Too Large",
    499: "Client Disconnect", 500: "Internal Error", 501: "Not Implemented",
    502: "Bad Gateway", 503: "Service Unavailable", 507: "Insufficient Storage",
}



def is_digits(text: str) -> bool:
    """Only ASCII digits (a header's number): `str.isdigit` also takes '¹', which `int`
    refuses, and '٣', which `int` reads as 3."""
    return text.isascii() and text.isdigit()

class ClientDisconnect(Exception):
    """The client went away (or sent fewer bytes than it announced) mid-request."""


class BadRequest(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def new_trans_id() -> str:
    """Swift's shape, `tx` + 21 random hex digits + `-` + the time in hex (random bytes
    straight from the OS: a uuid4 object cost four times as much per request)."""
    return f"tx{os.urandom(11).hex()[:21]}-{int(time.time()):010x}"


POLICY = "policy"
"""`Request.state` key: the storage policy of the container a request addresses, for the
metrics (set by the Swift front-end once it has read the container)."""


@dataclass(slots=True)
class Request:
    scope: Scope
    receive: Receive
    method: str
    path: str
    """Percent-decoded path (UTF-8); `+` stays a literal plus."""
    query: dict[str, str]
    headers: dict[str, str]
    trans_id: str
    query_string: str = ""
    consumed: int = 0
    _more: bool = True
    state: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_scope(cls, scope: Scope, receive: Receive) -> Request:
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode("utf-8")
        try:
            path = (unquote_to_bytes(raw_path) if b"%" in raw_path else raw_path
                    ).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BadRequest("Invalid UTF8 or contains NULL", 412) from exc
        if "\x00" in path:
            raise BadRequest("Invalid UTF8 or contains NULL", 412)
        query_string = scope.get("query_string", b"").decode("latin-1")
        query: dict[str, str] = {}
        if query_string:
            try:
                query = dict(parse_qsl(query_string, keep_blank_values=True,
                                       encoding="utf-8", errors="strict"))
            except UnicodeDecodeError as exc:
                raise BadRequest("Invalid UTF8 or contains NULL", 412) from exc
        headers: dict[str, str] = {}
        for name, value in scope["headers"]:
            key = name.decode("latin-1").lower()
            text = value.decode("latin-1")
            headers[key] = f"{headers[key]},{text}" if key in headers else text
        trans_id = new_trans_id()
        extra = headers.get("x-trans-id-extra")
        if extra:
            trans_id += "-" + quote(extra[:32], safe="")
        return cls(scope, receive, scope["method"], path, query, headers, trans_id,
                   query_string)

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name, default)

    @property
    def content_length(self) -> int | None:
        """The declared length; None for chunked bodies. Raises BadRequest if malformed."""
        value = self.headers.get("content-length")
        if value is None:
            return None
        if not is_digits(value.strip()):
            raise BadRequest("Invalid Content-Length")
        return int(value)

    @property
    def chunked(self) -> bool:
        return "chunked" in self.headers.get("transfer-encoding", "").lower()

    async def stream(self) -> AsyncIterator[bytes]:
        """The body, chunk by chunk; raises ClientDisconnect on a short or cut body."""
        expected = None if self.chunked else (self.content_length or 0)
        while self._more:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                raise ClientDisconnect()
            chunk = message.get("body", b"")
            self._more = message.get("more_body", False)
            if chunk:
                self.consumed += len(chunk)
                if expected is not None and self.consumed > expected:
                    raise BadRequest("Request body longer than Content-Length")
                yield chunk
        if expected is not None and self.consumed != expected:
            raise ClientDisconnect()

    async def body(self, limit: int) -> bytes:
        """The whole body, for small documents only; 413 past `limit` bytes."""
        parts: list[bytes] = []
        size = 0
        async for chunk in self.stream():
            size += len(chunk)
            if size > limit:
                raise BadRequest("Request body too large", 413)
            parts.append(chunk)
        return b"".join(parts)


class FileBody:
    """A body that is `count` bytes of an open file from `offset`. A server that offers
    zero-copy sending (`http.response.zerocopysend`, as Strato's own protocol does with the
    kernel's sendfile) gets the file itself and the bytes never pass through Python; anything
    else iterates the same bytes as chunks. `release` frees the file either way."""

    __slots__ = ("_chunks", "_release", "count", "fd", "offset", "on_error")

    def __init__(self, fd: int, offset: int, count: int, chunks: AsyncIterator[bytes],
                 release: Callable[[], None],
                 on_error: Callable[[BaseException], Awaitable[object]] | None = None) -> None:
        self.fd, self.offset, self.count = fd, offset, count
        self._chunks = chunks
        self._release = release
        self.on_error = on_error
        """Told of an error reading the file while it is sent (sendfile's EIO)."""

    def __aiter__(self) -> FileBody:
        return self

    async def __anext__(self) -> bytes:
        return await self._chunks.__anext__()

    async def aclose(self) -> None:
        try:
            await _close(self._chunks)
        finally:
            self._release()


Body = bytes | AsyncIterator[bytes]
ZERO_COPY = "http.response.zerocopysend"
YIELD_EVERY = 8
"""A streamed body lets the worker's other tasks run at least this often (chunks; 2 MiB of a
large object's segments). After a client has gone `send` returns at once (as it does for a
client that reads as fast as the server sends): without a pause the chunks ran back to back,
the disconnect watcher never ran, and a dropped 2 GiB GET read all 2 GiB for nobody while
the worker's other requests waited."""


@dataclass(slots=True)
class Response:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: Body = b""
    content_length: int | None = None
    """For streamed bodies of known length; bytes bodies measure themselves."""


def text_response(status: int, text: str, headers: dict[str, str] | None = None,
                  content_type: str = "text/plain; charset=utf-8") -> Response:
    hdrs = {"Content-Type": content_type}
    if headers:
        hdrs.update(headers)
    return Response(status, hdrs, text.encode("utf-8"))


def json_response(status: int, document: Any, headers: dict[str, str] | None = None) -> Response:
    import orjson

    hdrs = {"Content-Type": "application/json"}
    if headers:
        hdrs.update(headers)
    return Response(status, hdrs, orjson.dumps(document))


def _encode_headers(headers: Iterable[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    return [(k.encode("latin-1"), v.encode("latin-1", "replace")) for k, v in headers]


async def _wait_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def send_response(send: Send, response: Response, *, head: bool = False,
                        receive: Receive | None = None, zero_copy: bool = False) -> int:
    """Send status, headers and body; returns the body bytes sent.

    With `receive`, a streamed body stops as soon as the client goes away instead of reading
    the rest of a large object into a closed socket. With `zero_copy` (the server offers
    ZERO_COPY), a FileBody goes out as its file.
    """
    headers = dict(response.headers)
    body = response.body
    if isinstance(body, bytes):
        if "Content-Length" not in headers and response.status not in (204, 304):
            headers["Content-Length"] = str(len(body))
    elif response.content_length is not None and "Content-Length" not in headers:
        headers["Content-Length"] = str(response.content_length)
    await send({"type": "http.response.start", "status": response.status,
                "headers": _encode_headers(headers.items())})
    sent = 0
    if head or response.status in (204, 304):
        if not isinstance(body, bytes):
            await _close(body)
        await send({"type": "http.response.body", "body": b""})
        return 0
    if isinstance(body, bytes):
        await send({"type": "http.response.body", "body": body})
        return len(body)
    if zero_copy and isinstance(body, FileBody):
        try:
            await send({"type": ZERO_COPY, "file": body.fd, "offset": body.offset,
                        "count": body.count})
        except OSError as exc:
            if body.on_error is not None:
                await body.on_error(exc)
            raise
        finally:
            await body.aclose()
        return body.count
    watcher = asyncio.ensure_future(_wait_disconnect(receive)) if receive else None
    try:
        chunks = 0
        async for chunk in body:
            if watcher is not None and watcher.done():
                raise ClientDisconnect()
            sent += len(chunk)
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
            chunks += 1
            if chunks % YIELD_EVERY == 0:
                await asyncio.sleep(0)
    finally:
        if watcher is not None:
            watcher.cancel()
        await _close(body)
    await send({"type": "http.response.body", "body": b""})
    return sent


async def _close(body: AsyncIterator[bytes]) -> None:
    aclose = getattr(body, "aclose", None)
    if aclose is not None:
        await aclose()
