"""uvicorn's httptools protocol with two request shapes Swift's own server handles.

Swift (eventlet) and llhttp disagree on two things clients do send:

- **Raw non-ASCII bytes in the request target** (`PUT /v1/AUTH_x/caf\xc3\xa9`). llhttp
  refuses them ("Invalid char in url path", a bare 400); Swift takes the bytes as they are
  and answers 412 only when they are not valid UTF-8. On that parser error, and only then,
  the request line is re-fed with those bytes percent-encoded, which the app decodes to the
  same name (or refuses with Swift's 412).
- **A PUT with neither Content-Length nor Transfer-Encoding.** Its body has no framing, so
  llhttp reads the bytes that follow as the next request and answers 400 for them (before
  or after the app's 411, depending on how the bytes arrive). Such a connection is closed
  after the response and its remaining input ignored, so the app's 411 is what the client
  gets, with `Connection: close`.

Both checks sit off the hot path: the first runs only after a parser error, the second only
for PUT requests. Besides, response header names go out as the app wrote them
(`X-Object-Meta-Color`, as Swift sends them) where uvicorn would lower-case every one.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httptools
from uvicorn.protocols.http.httptools_impl import (
    HEADER_RE,
    HEADER_VALUE_RE,
    STATUS_LINE,
    HttpToolsProtocol,
    RequestResponseCycle,
)

_ASCII_VISIBLE = "".join(chr(c) for c in range(0x21, 0x7F))
"""Kept as they are when re-encoding a target: only bytes >= 0x80 are percent-encoded."""


def encode_target(data: bytes) -> bytes | None:
    """`data` with its first line's request target percent-encoded, if that is what failed.

    None unless the first line is `METHOD target HTTP/x` with a byte >= 0x80 in the target
    (anything else is left to the parser's own 400).
    """
    end = data.find(b"\r\n")
    if end < 0:
        return None
    parts = data[:end].split(b" ")
    if len(parts) != 3 or not parts[2].startswith(b"HTTP/") or parts[1].isascii():
        return None
    target = quote(parts[1], safe=_ASCII_VISIBLE).encode("ascii")
    return b" ".join((parts[0], target, parts[2])) + data[end:]


_SERVER_NAMES = {b"date": b"Date", b"server": b"Server"}


class CaseKeepingCycle(RequestResponseCycle):
    """uvicorn's request/response cycle, writing header names in the app's own case."""

    async def send(self, message: Any) -> None:
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


class SwiftHttpProtocol(HttpToolsProtocol):
    """Selected with `uvicorn.run(..., http="strato.server.protocol:SwiftHttpProtocol")`."""

    discard_input = False
    """Set once a PUT without framing was read: nothing after it can be parsed reliably."""

    def data_received(self, data: bytes) -> None:
        if self.discard_input:
            return
        try:
            self._feed(data)
        except httptools.HttpParserInvalidURLError:
            retry = encode_target(data) if self._between_requests() else None
            if retry is None:
                self._refuse()
                return
            self.parser = httptools.HttpRequestParser(self)
            self.parser.set_dangerous_leniencies(lenient_data_after_close=True)
            self.data_received(retry)
        except httptools.HttpParserError:
            if not self.discard_input:  # the unframed body of a PUT is not a request
                self._refuse()

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

    def _refuse(self) -> None:
        msg = "Invalid HTTP request received."
        self.logger.warning(msg)
        self.send_400_response(msg)

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        if self.cycle is not None:  # None only for a websocket upgrade
            self.cycle.__class__ = CaseKeepingCycle
        if self.scope["method"] == "PUT" and self.cycle.scope is self.scope and not any(
                name in (b"content-length", b"transfer-encoding") for name, _ in self.headers):
            self.cycle.keep_alive = False
            self.discard_input = True
