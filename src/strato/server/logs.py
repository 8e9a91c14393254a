"""One log format for the whole server: Strato's lines, uvicorn's and the access log alike.

`strato serve` hands uvicorn `logging_config(...)` as its `log_config`, so the parent process
and every spawned worker (uvicorn applies it again in each) log through one handler on the
root logger, to stderr: uvicorn's own loggers get no handler of their own and propagate, so
its `Started server process` line reads like every other line instead of `INFO:     ...`.

`text` is `LOG_FORMAT` (the access log's fast path writes that very text itself); `json` is
one object per line: `time` (UTC, ISO 8601), `level`, `logger`, `pid`, `message`, plus
`exc` for an exception and, on access lines, the fields `AccessLog` passes as `extra`
(`ACCESS_FIELDS`).
"""

from __future__ import annotations

import logging
import logging.config
import time
from typing import Any

import orjson

from strato.server.access_log import ACCESS_FIELDS, LOG_FORMAT

__all__ = ["JsonFormatter", "configure_logging", "logging_config"]


class JsonFormatter(logging.Formatter):
    """A record as one JSON object on one line."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "pid": record.process,
            "message": record.getMessage(),
        }
        for name in ACCESS_FIELDS:
            if name in record.__dict__:
                doc[name] = record.__dict__[name]
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            doc["exc"] = record.exc_text
        return orjson.dumps(doc, default=str).decode()


def logging_config(level: str, fmt: str = "text") -> dict[str, Any]:
    """A `logging.config.dictConfig` document: one stderr handler on the root logger."""
    formatter: dict[str, Any] = (
        {"()": f"{__name__}.JsonFormatter"} if fmt == "json" else {"format": LOG_FORMAT})
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"strato": formatter},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "strato",
                                "stream": "ext://sys.stderr"}},
        "root": {"level": level.upper(), "handlers": ["stderr"]},
        "loggers": {name: {"handlers": [], "propagate": True}
                    for name in ("uvicorn", "uvicorn.error", "uvicorn.access")},
    }


def configure_logging(level: str, fmt: str = "text") -> None:
    logging.config.dictConfig(logging_config(level, fmt))
