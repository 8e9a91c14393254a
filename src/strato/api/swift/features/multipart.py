"""A streaming `multipart/form-data` reader: parts one after another, bodies chunk by chunk.

Only the current chunk plus one delimiter's worth of bytes is ever held in memory, so a
browser upload of any size streams straight into the blob store (form POST).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

MAX_HEADER_BYTES = 8192
_PARAM = re.compile(r';\s*([^\s=;]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)')


class MultipartError(Exception):
    """The body is not valid multipart (bad boundary, truncated, oversized headers)."""


def parse_disposition(value: str) -> tuple[str, dict[str, str]]:
    """`form-data; name="f"; filename="a.txt"` -> ("form-data", {"name": "f", ...})."""
    kind, _, rest = value.partition(";")
    params: dict[str, str] = {}
    for name, raw in _PARAM.findall(";" + rest):
        text = raw.strip()
        if text.startswith('"') and text.endswith('"') and len(text) >= 2:
            text = re.sub(r"\\(.)", r"\1", text[1:-1])
        params[name.lower()] = text
    return kind.strip().lower(), params


class MultipartReader:
    def __init__(self, body: AsyncIterator[bytes], boundary: str) -> None:
        self._body = body
        self._delim = b"\r\n--" + boundary.encode("latin-1")
        self._buf = b"\r\n"  # so the first delimiter matches like the others
        self._started = False
        self._in_part = False
        self._done = False

    async def _fill(self) -> None:
        try:
            chunk = await anext(self._body)
        except StopAsyncIteration:
            raise MultipartError("truncated multipart body") from None
        self._buf += chunk

    async def next_part(self) -> dict[str, str] | None:
        """Headers (lower-case names) of the next part, or None after the closing delimiter."""
        while self._in_part:
            await self.read()
        if self._done:
            return None
        delim = self._delim
        if not self._started:
            while (index := self._buf.find(delim)) < 0:
                if len(self._buf) > MAX_HEADER_BYTES:
                    raise MultipartError("invalid starting boundary")
                await self._fill()
            self._buf = self._buf[index:]
            self._started = True
        while len(self._buf) < len(delim) + 2:
            await self._fill()
        if self._buf[len(delim):len(delim) + 2] == b"--":
            self._done = True
            return None
        while (eol := self._buf.find(b"\r\n", len(delim))) < 0:
            if len(self._buf) > len(delim) + 1024:
                raise MultipartError("invalid boundary line")
            await self._fill()
        self._buf = self._buf[eol + 2:]
        while True:
            if self._buf.startswith(b"\r\n"):
                raw, self._buf = b"", self._buf[2:]
                break
            end = self._buf.find(b"\r\n\r\n")
            if end >= 0:
                raw, self._buf = self._buf[:end], self._buf[end + 4:]
                break
            if len(self._buf) > MAX_HEADER_BYTES:
                raise MultipartError("part headers too long")
            await self._fill()
        headers: dict[str, str] = {}
        for line in raw.decode("utf-8", "replace").split("\r\n"):
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        self._in_part = True
        return headers

    async def read(self) -> bytes | None:
        """The next chunk of the current part's body; None at its end."""
        if not self._in_part:
            return None
        delim = self._delim
        while True:
            index = self._buf.find(delim)
            if index >= 0:
                data, self._buf = self._buf[:index], self._buf[index:]
                if not data:
                    self._in_part = False
                    return None
                return data
            keep = len(delim) - 1
            if len(self._buf) > keep:
                data, self._buf = self._buf[:-keep], self._buf[-keep:]
                return data
            await self._fill()

    async def iter_part(self) -> AsyncIterator[bytes]:
        while (chunk := await self.read()) is not None:
            yield chunk
