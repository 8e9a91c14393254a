"""uvicorn's httptools protocol with the request shapes Swift's own server handles.

Swift (eventlet) and llhttp disagree on things clients do send:

- **Raw non-ASCII bytes in the request target** (`PUT /v1/AUTH_x/caf\xc3\xa9`) and
  **methods llhttp does not know** (`LICK`): llhttp refuses both with a bare 400; Swift takes
  the bytes as they are (412 only if they are not UTF-8) and answers 405 for the method. On
  those parser errors, and only then, the request line is fed again with the target
  percent-encoded (the app decodes it to the same name) or with a stand-in method, the real
  one being restored in the ASGI scope.
- **A PUT whose body has no framing we read**: neither Content-Length nor Transfer-Encoding,
  or a Transfer-Encoding other than plain `chunked`. llhttp reads the bytes that follow as
  the next request (or as broken chunks) and answers 400 for them, before or after the app's
  411/501. Such a connection is closed after the response and its remaining input ignored,
  so the client gets the app's answer, with `Connection: close`.

The rewrites run only after a parser error and the framing check only for PUT requests, so
the hot path is untouched. Besides, response header names go out as the app wrote them
(`X-Object-Meta-Color`, as Swift sends them) where uvicorn would lower-case every one.

It also enforces what uvicorn does not (`server/connections.py`): a request head must
arrive within `header_timeout`, a body may not stall longer than `body_timeout` (both 408 and
a closed connection; one watchdog timer per connection, so no timer is set or cancelled per
request), and a request target or head too long to be valid is refused before it is all
buffered (414, 431).

And a body that is a range of a file goes out with the kernel's sendfile (the ASGI
`http.response.zerocopysend` extension, which uvicorn does not offer): a large GET then
costs the server almost no CPU and keeps the socket's buffer full, as nginx does.
"""

from __future__ import annotations

import asyncio
import collections
import os
import re
from typing import Any, cast
from urllib.parse import quote

import httptools
from uvicorn.protocols.http.flow_control import HIGH_WATER_LIMIT
from uvicorn.protocols.http.httptools_impl import (
    HEADER_RE,
    HEADER_VALUE_RE,
    STATUS_LINE,
    HttpToolsProtocol,
    RequestResponseCycle,
)

from strato.api.http import ZERO_COPY
from strato.server.accept import connection_closed
from strato.server.connections import LIMITS, MAX_HEAD, MAX_TARGET

_ASCII_VISIBLE = "".join(chr(c) for c in range(0x21, 0x7F))
"""Kept as they are when re-encoding a target: only bytes >= 0x80 are percent-encoded."""
_TOKEN = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_STAND_IN = b"GET"
"""Parsed in place of a method llhttp does not know (any body is still framed by its headers)."""


def split_request_line(data: bytes) -> tuple[bytes, bytes, bytes, bytes] | None:
    """(method, target, version, rest) when `data` starts with a whole `METHOD target HTTP/x`
    line, else None."""
    end = data.find(b"\r\n")
    if end < 0:
        return None
    parts = data[:end].split(b" ")
    if len(parts) != 3 or not parts[2].startswith(b"HTTP/") or not _TOKEN.fullmatch(parts[0]):
        return None
    return parts[0], parts[1], parts[2], data[end:]


def encode_target(target: bytes) -> bytes:
    return quote(target, safe=_ASCII_VISIBLE).encode("ascii")


_SERVER_NAMES = {b"date": b"Date", b"server": b"Server"}
SENDFILE_CHUNK = 1 << 20
"""At most this much per sendfile call: a call whose pages are not cached reads them from
disk while the event loop waits, so each call stays short."""
READ_AHEAD = 8 << 20
"""How far ahead of what is being sent the disk is asked to read (POSIX_FADV_WILLNEED), so
a cold file's sendfile calls find their pages read instead of reading them."""


class CaseKeepingCycle(RequestResponseCycle):
    """uvicorn's request/response cycle, writing header names in the app's own case, handing
    the body to the app in the pieces it was read in and sending file bodies with sendfile."""

    pending: collections.deque[bytes]
    """Body pieces read and not yet received by the app. uvicorn appends each piece to a
    bytearray and copies that into a new bytes object: two copies of every byte of an upload,
    a fifth of a large PUT's CPU."""
    pending_size: int

    async def receive(self) -> Any:
        if self.waiting_for_100_continue and not self.transport.is_closing():
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            self.waiting_for_100_continue = False
        if not self.pending and not self.disconnected and not self.response_complete:
            self.flow.resume_reading()
            await self.message_event.wait()
            self.message_event.clear()
        if self.disconnected or self.response_complete:
            return {"type": "http.disconnect"}
        body = b""
        if self.pending:
            body = self.pending.popleft()
            self.pending_size -= len(body)
            if self.pending_size <= HIGH_WATER_LIMIT:
                self.flow.resume_reading()
        return {"type": "http.request", "body": body,
                "more_body": self.more_body or bool(self.pending)}

    async def send(self, message: Any) -> None:
        if message["type"] == ZERO_COPY:
            await self.send_file(message)
            return
        if (message["type"] != "http.response.start" or self.response_started
                or self.disconnected or self.flow.write_paused or self.access_log):
            await super().send(message)
            return
        # uvicorn's head writer, less the lower-casing of names (and the access log)
        self.response_started = True
        self.waiting_for_100_continue = False
        content = [STATUS_LINE[message["status"]]]
        close = False
        for name, value in self.default_headers:
            content.extend([_SERVER_NAMES.get(name, name), b": ", value, b"\r\n"])
        for name, value in message.get("headers", ()):
            if HEADER_RE.search(name) or HEADER_VALUE_RE.search(value):
                raise RuntimeError("Invalid HTTP header.")
            lower = name.lower()
            if lower == b"content-length" and self.chunked_encoding is None:
                self.expected_content_length = int(value.decode())
                self.chunked_encoding = False
            elif lower == b"transfer-encoding" and value.lower() == b"chunked":
                self.expected_content_length = 0
                self.chunked_encoding = True
            elif lower == b"connection" and b"close" in value.lower():
                self.keep_alive = False
                close = True
            content.extend([name, b": ", value, b"\r\n"])
        if not self.keep_alive and not close:
            content.append(b"Connection: close\r\n")
        if (self.chunked_encoding is None and self.scope["method"] != "HEAD"
                and message["status"] not in (204, 304)):
            self.chunked_encoding = True
            content.append(b"Transfer-Encoding: chunked\r\n")
        content.append(b"\r\n")
        self.transport.write(b"".join(content))

    async def send_file(self, message: Any) -> None:
        """`count` bytes of the file `file` (a descriptor) from `offset`, as body bytes."""
        if self.flow.write_paused and not self.disconnected:
            await self.flow.drain()
        if self.disconnected:
            return
        if not self.response_started or self.response_complete:
            raise RuntimeError(f"Unexpected ASGI message {ZERO_COPY!r}.")
        count = message["count"]
        if self.chunked_encoding or count > self.expected_content_length:
            raise RuntimeError("A file body needs a Content-Length that covers it.")
        await self.flush()  # the head goes out before the file's bytes
        try:
            await sendfile(self.transport, message["file"], message["offset"], count)
        except OSError:
            # the connection cannot carry a complete response now: nothing more is written,
            # and it closes once the app is done with the error, so a client that sees the
            # cut sees what the app did about it (a quarantined blob's object gone already)
            self.disconnected = True
            task = asyncio.current_task()
            if task is None:
                self.transport.close()
            else:
                task.add_done_callback(lambda _: self.transport.close())
            raise
        self.expected_content_length -= count
        await super().send({"type": "http.response.body", "body": b"",
                            "more_body": message.get("more_body", False)})

    async def flush(self) -> None:
        """Wait until the transport has handed everything written so far to the kernel."""
        if self.transport.get_write_buffer_size():
            # with a high-water mark of 0 the transport pauses the protocol while anything is
            # buffered and resumes it once the buffer is empty; then back to the defaults
            self.transport.set_write_buffer_limits(high=0)
            try:
                await self.flow.drain()
            finally:
                self.transport.set_write_buffer_limits()


async def sendfile(transport: asyncio.BaseTransport, fd: int, offset: int, count: int) -> None:
    """Send with the kernel's sendfile on a duplicate of the transport's socket: the event loop
    may watch the duplicate for writability (not the transport's own descriptor), and it
    stays valid even if the transport closes meanwhile. Yields to other tasks between calls."""
    loop = asyncio.get_running_loop()
    out = os.dup(transport.get_extra_info("socket").fileno())
    advised = offset
    try:
        while count > 0:
            ahead = offset + min(count, READ_AHEAD)
            if advised < ahead:  # the disk reads the next bytes while these are sent
                os.posix_fadvise(fd, advised, ahead - advised, os.POSIX_FADV_WILLNEED)
                advised = ahead
            want = min(count, SENDFILE_CHUNK)
            try:
                sent = os.sendfile(out, fd, offset, want)
            except BlockingIOError:
                sent = -1
            if sent == 0:
                raise OSError(f"file ended {count} bytes early")
            if sent > 0:
                offset += sent
                count -= sent
            if sent < want and count > 0:  # the socket's buffer is full
                await _writable(loop, out)
            else:
                await asyncio.sleep(0)
    finally:
        os.close(out)


async def _writable(loop: asyncio.AbstractEventLoop, fd: int) -> None:
    waiter = loop.create_future()
    def wake() -> None:
        if not waiter.done():
            waiter.set_result(None)

    loop.add_writer(fd, wake)
    try:
        await waiter
    finally:
        loop.remove_writer(fd)


LINGER_SECONDS = 2.0
"""How long a connection whose input is discarded stays open for reading after the answer."""


class LingeringTransport:
    """The transport as a response cycle sees it, with a lingering close.

    Closing a socket while the client still sends (the body of a refused PUT) makes the
    kernel answer with a reset, which can destroy the response before the client reads it.
    So close() only ends the sending side; the rest of the input is read and dropped until
    the client closes or LINGER_SECONDS pass.
    """

    def __init__(self, transport: asyncio.Transport) -> None:
        self.transport = transport

    def write(self, data: bytes) -> None:
        self.transport.write(data)

    def is_closing(self) -> bool:
        return self.transport.is_closing()

    def close(self) -> None:
        if self.transport.is_closing():
            return
        if self.transport.can_write_eof():
            self.transport.write_eof()
        asyncio.get_running_loop().call_later(LINGER_SECONDS, self.transport.close)


REQUEST_TIMEOUT = (b"HTTP/1.1 408 Request Timeout\r\nContent-Type: text/html; charset=UTF-8\r\n"
                   b"Content-Length: 112\r\nConnection: close\r\n\r\n"
                   b"<html><h1>Request Timeout</h1><p>The server has waited too long for the "
                   b"request to be sent by the client.</p></html>")
"""Swift's 408 (`HTTPRequestTimeout`), written by the protocol: the app may not be running."""


class SwiftHttpProtocol(HttpToolsProtocol):
    """Selected with `uvicorn.run(..., http="strato.server.protocol:SwiftHttpProtocol")`."""

    discard_input = False
    """Set once a PUT without framing was read: nothing after it can be parsed reliably."""

    method_override: str | None = None
    """The real method of a request parsed with the stand-in, restored in its scope."""

    head_since: float | None = None
    """When the request head being read began (the connection's start, or the request's first
    byte); None while no head is being read."""
    head_bytes = 0
    """Bytes read while the head stayed incomplete."""
    body_open = False
    """A request body is announced and not yet all read."""
    reads = 0
    """Reads so far: the watchdog tells a silent body from a slow one by this count."""
    reads_seen = 0
    body_idle = 0.0
    watchdog: asyncio.TimerHandle | None = None
    target_too_long = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.head_since = self.loop.time()
        self.watchdog = self.loop.call_later(LIMITS.tick, self._watch)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.watchdog is not None:
            self.watchdog.cancel()
            self.watchdog = None
        connection_closed()
        super().connection_lost(exc)

    def _watch(self) -> None:
        """Every LIMITS.tick: close a connection whose head is late or whose body is silent."""
        self.watchdog = None
        if self.transport.is_closing():
            return
        if self.head_since is not None:
            if self.loop.time() - self.head_since >= LIMITS.header_timeout:
                self._time_out("request headers", answer=self.reads > 0)
                return
        elif (self.body_open and self.reads == self.reads_seen and not self.flow.read_paused
              and not (self.cycle is not None and self.cycle.waiting_for_100_continue)):
            self.body_idle += LIMITS.tick
            if self.body_idle >= LIMITS.body_timeout:
                self._time_out("request body", answer=self.cycle is None
                               or not self.cycle.response_started)
                return
        else:
            self.body_idle = 0.0
        self.reads_seen = self.reads
        self.watchdog = self.loop.call_later(LIMITS.tick, self._watch)

    def _time_out(self, what: str, *, answer: bool) -> None:
        self.logger.info("%s:%s - %s not received in time, closing", *(self.client or ("-", 0)),
                         what)
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            cycle.disconnected = True  # the app's next receive() is a disconnect
            cycle.message_event.set()
        if answer:
            self.transport.write(REQUEST_TIMEOUT)
        self.discard_input = True
        self.transport.close()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self.head_since is None:
            self.head_since = self.loop.time()

    def on_url(self, url: bytes) -> None:
        self.url += url
        if len(self.url) > MAX_TARGET:
            self.target_too_long = True
            raise ValueError("request target too long")

    def on_message_complete(self) -> None:
        self.body_open = False
        super().on_message_complete()

    def data_received(self, data: bytes) -> None:
        if self.discard_input:
            return
        self.reads += 1
        try:
            self._feed(data)
        except (httptools.HttpParserInvalidURLError,
                httptools.HttpParserInvalidMethodError) as exc:
            line = split_request_line(data) if self._between_requests() else None
            if line is None:
                self._refuse()
                return
            method, target, version, rest = line
            if isinstance(exc, httptools.HttpParserInvalidURLError) and not target.isascii():
                target = encode_target(target)
            elif isinstance(exc, httptools.HttpParserInvalidMethodError) and method != _STAND_IN:
                self.method_override = method.decode("ascii")
                method = _STAND_IN
            else:
                self._refuse()
                return
            self.parser = httptools.HttpRequestParser(self)
            self.parser.set_dangerous_leniencies(lenient_data_after_close=True)
            self.data_received(b" ".join((method, target, version)) + rest)
        except httptools.HttpParserError:
            if self.target_too_long:
                self._refuse(414, "Request URI too long")
            elif not self.discard_input:  # the unframed body of a PUT is not a request
                self._refuse()
            return
        if self.head_since is not None:  # the head is still incomplete after this read
            self.head_bytes += len(data)
            if self.head_bytes > MAX_HEAD:
                self._refuse(431, "Request header fields too large")

    def _feed(self, data: bytes) -> None:
        """uvicorn's data_received without its parser-error handling (done above)."""
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()

    def _between_requests(self) -> bool:
        """No request is half-read, so the failed bytes start a new request line."""
        return self.cycle is None or not self.cycle.more_body

    def _refuse(self, status: int = 400, msg: str = "Invalid HTTP request received.") -> None:
        self.logger.warning(msg)
        self.discard_input = True
        if status == 400:
            self.send_400_response(msg)
            return
        self.transport.write(b"".join((
            STATUS_LINE[status], b"Content-Type: text/plain; charset=utf-8\r\n",
            b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(msg), msg.encode())))
        self.transport.close()

    def on_body(self, body: bytes) -> None:
        cycle = self.cycle
        if not isinstance(cycle, CaseKeepingCycle):  # a websocket upgrade's
            super().on_body(body)
            return
        if (self.parser.should_upgrade() and self._should_upgrade()) or cycle.response_complete:
            return
        cycle.pending.append(body)
        cycle.pending_size += len(body)
        if cycle.pending_size > HIGH_WATER_LIMIT:
            self.flow.pause_reading()
        cycle.message_event.set()

    def on_headers_complete(self) -> None:
        self.head_since, self.head_bytes = None, 0
        self.body_open, self.body_idle = True, 0.0
        super().on_headers_complete()
        if self.method_override is not None:
            self.scope["method"] = self.method_override
            self.method_override = None
        if self.cycle is None or self.cycle.scope is not self.scope:
            return  # a websocket upgrade: no cycle for this request
        self.cycle.__class__ = CaseKeepingCycle
        cycle = cast(CaseKeepingCycle, self.cycle)
        cycle.pending, cycle.pending_size = collections.deque(), 0
        if self.transport.get_extra_info("sslcontext") is None:  # sendfile cannot encrypt
            self.scope["extensions"] = {ZERO_COPY: {}}
        if self.scope["method"] == "PUT" and not plainly_framed(self.headers):
            self.cycle.keep_alive = False
            self.cycle.transport = LingeringTransport(self.transport)  # type: ignore[assignment]
            self.discard_input = True


def plainly_framed(headers: list[tuple[bytes, bytes]]) -> bool:
    """A Content-Length, or a Transfer-Encoding of exactly `chunked`: a body llhttp delimits
    the way the app reads it."""
    encodings = [value for name, value in headers if name == b"transfer-encoding"]
    if encodings:
        return len(encodings) == 1 and encodings[0].strip().lower() == b"chunked"
    return any(name == b"content-length" for name, _ in headers)
