"""The console's session cookie: the user's Keystone token, sealed so the browser holds it
without being able to read or alter it.

The cookie is AES-GCM over `{"t": token}` with a key kept in the data
directory (`console.key`, made on first use and shared by every worker), so any worker can
open any session and nothing is stored per session. No password is ever kept: signing in
trades it for a token, and the token's own lifetime, revocation and the user's state are
checked on every request (a revoked token or a deleted user signs the browser out).

The CSRF token is derived from the sealed token (HMAC with the same key): it is stable for a
session, differs between sessions, and is sent by the page in `X-CSRF-Token` on every
state-changing request (a synchroniser token that needs no server-side storage).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import os
from dataclasses import dataclass
from pathlib import Path

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

COOKIE = "strato_console"
CSRF_HEADER = "x-csrf-token"
KEY_FILE = "console.key"
_AAD = b"strato-console-session-v1"


def load_key(data_dir: Path) -> bytes:
    """The data directory's console key; the first worker to ask creates it (link() is
    atomic and refuses to replace, so racing workers all end up reading the same key)."""
    path = data_dir / KEY_FILE
    with contextlib.suppress(FileNotFoundError):
        return _read_key(path)
    temp = data_dir / f".{KEY_FILE}.{os.getpid()}"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, base64.b64encode(os.urandom(32)))
        os.fsync(fd)
    finally:
        os.close(fd)
    with contextlib.suppress(FileExistsError):
        os.link(temp, path)
    temp.unlink()
    return _read_key(path)


def _read_key(path: Path) -> bytes:
    key = base64.b64decode(path.read_bytes().strip())
    if len(key) != 32:
        raise ValueError(f"{path} does not hold a 256-bit key")
    return key


@dataclass(frozen=True, slots=True)
class Session:
    token: str
    csrf: str


class Sealer:
    """Seals and opens session cookies and derives their CSRF tokens."""

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)
        self._mac_key = hashlib.sha256(b"csrf" + key).digest()

    def seal(self, token: str) -> str:
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, orjson.dumps({"t": token}), _AAD)
        return base64.urlsafe_b64encode(nonce + sealed).decode("ascii").rstrip("=")

    def open(self, cookie: str) -> Session | None:
        """The session in a cookie, or None if it was not sealed by this server."""
        try:
            raw = base64.urlsafe_b64decode(cookie + "=" * (-len(cookie) % 4))
            document = orjson.loads(self._aead.decrypt(raw[:12], raw[12:], _AAD))
            token = str(document["t"])
        except (ValueError, InvalidTag, KeyError, TypeError, orjson.JSONDecodeError):
            return None
        return Session(token, self.csrf_for(token))

    def csrf_for(self, token: str) -> str:
        digest = hmac.new(self._mac_key, token.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def cookie_value(header: str | None) -> str | None:
    """The console cookie from a `Cookie` header."""
    for part in (header or "").split(";"):
        name, _, value = part.strip().partition("=")
        if name == COOKIE and value:
            return value
    return None


def set_cookie(value: str, *, secure: bool, max_age: int) -> str:
    """`Path=/console` keeps the cookie off every other API; `SameSite=Strict` keeps it off
    cross-site requests; `HttpOnly` keeps it from page scripts."""
    flags = f"{COOKIE}={value}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={max_age}"
    return flags + ("; Secure" if secure else "")


def clear_cookie(*, secure: bool) -> str:
    return set_cookie("", secure=secure, max_age=0)
