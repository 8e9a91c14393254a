"""Temp URL and form POST signatures: the HMACs Swift clouds check, in one place.

Both the Swift front-end (its `tempurl` and `formpost` features check them) and the console
(which signs links and upload forms for its users) need the same arithmetic, so it lives
here, below both front-ends, with no HTTP in it.

- A temp URL signs `METHOD\\nEXPIRES\\nPATH` (`PATH` is `prefix:/v1/a/c/<prefix>` for a
  prefix URL; `ip=<range>\\n` goes first when the URL is bound to client addresses).
- A form POST signs `PATH\\nREDIRECT\\nMAX_FILE_SIZE\\nMAX_FILE_COUNT\\nEXPIRES`.
- Signatures are hex HMAC-SHA1/SHA256/SHA512 (the digest follows from the length), or
  `sha1:`/`sha256:`/`sha512:` followed by the URL-safe base64 digest; expiries are Unix
  seconds or ISO 8601 UTC, and no later than the last second an HTTP date can carry.
"""

from __future__ import annotations

import base64
import binascii
import calendar
import hashlib
import hmac
import time
from collections.abc import Callable
from typing import Any

DIGESTS: dict[str, Callable[..., Any]] = {
    "sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha512": hashlib.sha512}
HEX_LENGTHS = {40: "sha1", 64: "sha256", 128: "sha512"}
ISO8601 = "%Y-%m-%dT%H:%M:%SZ"
MAX_EXPIRES = 253402300799
"""9999-12-31T23:59:59Z: the last time an HTTP date (the `Expires` header, with its
four-digit year) can carry. A later expiry is one the server cannot represent, so it is
refused as invalid (401), as Swift refuses an expiry it cannot parse; the same bound holds
for form POST."""


def key_bytes(key: str) -> bytes:
    """A key as the client sent it: header values are kept as latin-1 strings of raw bytes."""
    try:
        return key.encode("latin-1")
    except UnicodeEncodeError:
        return key.encode("utf-8")


def sign(key: str, digest: str, method: str, expires: int, path: str,
         ip_range: str | None = None) -> str:
    """Swift's temp URL HMAC, hex. `path` is `prefix:/v1/a/c/p` for a prefix URL."""
    body = f"{method}\n{expires}\n{path}"
    if ip_range:
        body = f"ip={ip_range}\n{body}"
    return hmac.new(key_bytes(key), body.encode(), DIGESTS[digest]).hexdigest()


def form_signature(key: str, digest: str, path: str, redirect: str, max_file_size: str,
                   max_file_count: str, expires: str) -> str:
    """Swift's form POST HMAC, hex, over the form's fields as they are sent (text)."""
    body = f"{path}\n{redirect}\n{max_file_size}\n{max_file_count}\n{expires}"
    return hmac.new(key_bytes(key), body.encode(), DIGESTS[digest]).hexdigest()


def parse_signature(value: str) -> tuple[str, str] | None:
    """(digest name, lower-case hex) from hex or `<digest>:<base64url>`; None if malformed."""
    if ":" in value:
        name, _, encoded = value.partition(":")
        if name not in DIGESTS:
            return None
        try:
            raw = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        except (binascii.Error, ValueError):
            return None
        return name, raw.hex()
    digest = HEX_LENGTHS.get(len(value))
    if digest is None:
        return None
    try:
        bytes.fromhex(value)
    except ValueError:
        return None
    return digest, value.lower()


def parse_expires(value: str) -> int | None:
    """Unix seconds from an integer or ISO 8601 UTC; None if neither, or before the epoch
    (long expired, as Swift reads it, and no HTTP date), or past MAX_EXPIRES."""
    try:
        expires = int(value)
    except ValueError:
        try:
            expires = calendar.timegm(time.strptime(value, ISO8601))
        except ValueError:
            return None
    return expires if 0 <= expires <= MAX_EXPIRES else None
