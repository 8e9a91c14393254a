"""Conditional requests (If-Match, If-None-Match, If-Modified-Since, If-Unmodified-Since)."""

from __future__ import annotations

import math

from strato.api.swift.headers import parse_http_date


def _etags(value: str) -> list[str]:
    return [v.strip().removeprefix("W/").strip('"') for v in value.split(",") if v.strip()]


def evaluate(headers: dict[str, str], etag: str, timestamp: float) -> int | None:
    """The status a GET/HEAD must answer instead of 200 (304 or 412), or None."""
    modified = math.ceil(timestamp)
    if_match = headers.get("if-match")
    if if_match is not None:
        tags = _etags(if_match)
        if "*" not in tags and etag not in tags:
            return 412
    if_none_match = headers.get("if-none-match")
    if if_none_match is not None:
        tags = _etags(if_none_match)
        if "*" in tags or etag in tags:
            return 304
    elif (ims := headers.get("if-modified-since")) is not None:
        since = parse_http_date(ims)
        if since is not None and modified <= since:
            return 304
    if (ius := headers.get("if-unmodified-since")) is not None:
        since = parse_http_date(ius)
        if since is not None and modified > since:
            return 412
    return None
