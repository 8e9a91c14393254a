"""The access log: one line per response, cheap enough to leave on.

Through `logging`, a line cost about a tenth of a 4 KiB GET's server CPU: the caller's frame
lookup, a LogRecord, the formatter, a lock and a write plus flush per line. When the
`strato.access` logger ends, unchanged, in the one stream handler with `LOG_FORMAT` that the
server's own logging setup makes (`server/logs.py`, the default text format), the line is
formatted here to the very same text, and the lines of one event-loop turn are written
together at the end of that turn, before the loop waits for I/O again. Any other logging
configuration (an operator's handlers, filters or format, `--log-format json`) gets every line
through `logging` as before, with the fields of the line as `extra` (`ACCESS_FIELDS`). Lines
still pending at shutdown are written by `close()`, so a clean stop loses none.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import TextIO

LOG_FORMAT = "%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"
"""The server's log line (the CLI and each spawned worker configure logging with it)."""

ACCESS_FIELDS = ("client", "method", "path", "query", "status", "bytes", "seconds", "trans_id")
"""The fields of an access line, given to `logging` as `extra` (JSON logs show them)."""

REDACTED_PARAMS = ("temp_url_sig", "signature")
"""Query parameters that are credentials: logged as `name=***`."""

logger = logging.getLogger("strato.access")


def redacted_query(query_string: str) -> str:
    """`?a=1&temp_url_sig=***`: the query as sent, less the values that are secrets."""
    if not query_string:
        return ""
    if "sig" not in query_string:  # neither redacted name can occur: nothing to rewrite
        return "?" + query_string
    parts = []
    for part in query_string.split("&"):
        key = part.split("=", 1)[0]
        parts.append(f"{key}=***" if key in REDACTED_PARAMS else part)
    return "?" + "&".join(parts)


def _plain_stream(log: logging.Logger) -> logging.StreamHandler[TextIO] | None:
    """The handler every `log` line ends in, if it is exactly what
    `logging.basicConfig(format=LOG_FORMAT)` makes and nothing filters or diverts on the
    way; else None."""
    node: logging.Logger | None = log
    while node is not None and node is not logging.root:
        if node.handlers or node.filters or not node.propagate:
            return None
        node = node.parent
    root = logging.root
    if root.filters or len(root.handlers) != 1:
        return None
    handler = root.handlers[0]
    formatter = handler.formatter
    if (type(handler) is not logging.StreamHandler or handler.filters
            or handler.level > logging.INFO or formatter is None
            or type(formatter) is not logging.Formatter or formatter._fmt != LOG_FORMAT
            or formatter.datefmt is not None
            or formatter.converter is not time.localtime):
        return None
    return handler


class AccessLog:
    """Writes the access lines of one worker process."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        """The server's `access_log` setting; the logger's level still applies per line."""
        self._handler = _plain_stream(logger) if enabled else None
        self._prefix = f" {os.getpid()} INFO {logger.name}: "
        self._pending: list[str] = []
        self._flush_scheduled = False
        self._second = -1
        self._second_text = ""

    def line(self, client: str, method: str, target: str, query_string: str, status: int,
             sent: int, elapsed: float, trans_id: str) -> None:
        """Log one response: client, request line (query redacted), status, bytes sent,
        seconds taken, transaction id."""
        if not self.enabled or not logger.isEnabledFor(logging.INFO):  # a cached check
            return
        query = redacted_query(query_string)
        if self._handler is None:
            logger.info('%s "%s %s%s" %d %d %.4f %s', client, method, target, query, status,
                        sent, elapsed, trans_id, extra={
                            "client": client, "method": method, "path": target,
                            "query": query, "status": status, "bytes": sent,
                            "seconds": round(elapsed, 4), "trans_id": trans_id})
            return
        now = time.time()
        second = int(now)
        if second != self._second:
            self._second = second
            self._second_text = time.strftime(logging.Formatter.default_time_format,
                                              time.localtime(second))
        self._pending.append(
            f'{self._second_text},{int((now - second) * 1000):03d}{self._prefix}{client} '
            f'"{method} {target}{query}" {status} {sent} {elapsed:.4f} {trans_id}\n')
        if not self._flush_scheduled:
            self._flush_scheduled = True
            try:
                asyncio.get_running_loop().call_soon(self.flush)
            except RuntimeError:  # no loop running: write at once
                self.flush()

    def flush(self) -> None:
        """Write the pending lines in one go (under the handler's lock, so a line logged by
        another thread is never cut into)."""
        self._flush_scheduled = False
        handler = self._handler
        if not self._pending or handler is None:
            return
        text = "".join(self._pending)
        self._pending.clear()
        handler.acquire()
        try:
            handler.stream.write(text)
            handler.flush()
        except Exception:  # as logging does: a broken log stream must not fail requests
            handler.handleError(logging.makeLogRecord({"msg": "access log write failed"}))
        finally:
            handler.release()

    def close(self) -> None:
        self.flush()
