"""Rendering stored state as Swift headers and dates."""

from __future__ import annotations

import functools
import math
from datetime import UTC, datetime
from email.utils import formatdate, parsedate_to_datetime

VERSION_ID = "x-object-sysmeta-version-id"
"""Where object versioning keeps an object's version id; the core, SLO and DLO answer it as
X-Object-Version-Id (or X-Copied-From-Version-Id on a copy's source)."""


def title_case(name: str) -> str:
    return "-".join(part[:1].upper() + part[1:] for part in name.split("-"))


def x_timestamp(ts: float) -> str:
    return f"{ts:016.05f}"


def last_modified(ts: float) -> str:
    """RFC 1123, rounded up to the second as Swift does; cached per second, as every GET and
    HEAD formats one (twice for a GET) and objects written together share their second."""
    return _http_date(math.ceil(ts))


@functools.lru_cache(maxsize=4096)
def _http_date(seconds: int) -> str:
    return formatdate(seconds, usegmt=True)


def listing_date(ts: float) -> str:
    """Swift's listing format: always six fraction digits, no zone (rclone needs exactly this).

    Called once per listed entry, so the text up to the second is kept per second; the
    microseconds are rounded as datetime.fromtimestamp rounds them (half to even)."""
    seconds = int(ts)
    micros = round((ts - seconds) * 1e6)
    if micros >= 1_000_000:
        seconds, micros = seconds + 1, micros - 1_000_000
    elif micros < 0:
        seconds, micros = seconds - 1, micros + 1_000_000
    head = _listing_seconds.get(seconds)
    if head is None:
        if len(_listing_seconds) >= 4096:
            _listing_seconds.clear()
        head = _listing_seconds[seconds] = datetime.fromtimestamp(seconds, UTC).strftime(
            "%Y-%m-%dT%H:%M:%S.")
    return head + str(micros).zfill(6)


_listing_seconds: dict[int, str] = {}
"""listing_date's text up to the second (a dict: half the cost of an lru_cache call)."""


def parse_http_date(value: str) -> float | None:
    try:
        return parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError):
        return None


def pick(headers: dict[str, str], prefixes: tuple[str, ...], names: tuple[str, ...] = ()
         ) -> dict[str, str]:
    """Request headers to store: those under `prefixes` plus the exact `names`."""
    return {k: v for k, v in headers.items() if k.startswith(prefixes) or k in names}


def removals(headers: dict[str, str], kind: str) -> list[str]:
    """Keys named by `X-Remove-<Kind>-Meta-*` (and `X-Remove-<Kind>-Read`...)."""
    prefix = f"x-remove-{kind}-"
    return [f"x-{kind}-" + k[len(prefix):] for k in headers if k.startswith(prefix)]


def header_text(value: str) -> str:
    """A header value as the UTF-8 text the client meant (values are kept as latin-1)."""
    try:
        return value.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return value
