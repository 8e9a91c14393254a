"""Password hashing for every secret a user logs in with (passwords, application credential
secrets), and the per-process memory of credentials verified recently.

Hashes are Argon2id at parameters that are settings, never below OWASP's minimum (the
Password Storage Cheat Sheet: 19 MiB, 2 passes, 1 lane, or one of its equivalent points,
`OWASP_MINIMUMS`). A hash made with other parameters still verifies (Argon2 stores them in the
hash) and `needs_rehash` says so, so callers re-hash it at the next successful login.

The KDF runs on this module's own small thread pool, never on the event loop's default
executor: the blob store's writes (fdatasync, MD5) use that one, and a login flood must not
queue them behind 20 ms hashes. The pool is bounded in threads (memory: one Argon2 matrix
each) and in queued jobs (past the queue `HasherBusy` is raised at once), and its threads
run at a lower CPU priority than the event loop, so hashing never delays other requests.

`VerifiedCredentials` remembers, for `ttl` seconds, that a secret matched a stored hash, so a
script that logs in before every command pays the KDF once. Its keys are HMAC-SHA256 under a
random key that lives only in this process, over the subject, the stored hash and the secret:
the secret itself is never kept, a wrong secret can never match, and an entry cannot outlive
the hash it was checked against. Callers read the subject's row fresh on every login and look
up with the hash they read, so a password change (a new salt: a new hash), a disabled or
deleted user takes effect at the next login on every worker, with no message between them.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import os
import secrets
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from argon2 import PasswordHasher as Argon2Hasher
from argon2.exceptions import InvalidHashError, VerificationError

T = TypeVar("T")
log = logging.getLogger("strato.identity")

OWASP_MINIMUMS = ((47104, 1), (19456, 2), (12288, 3), (9216, 4), (7168, 5))
"""(memory KiB, passes) pairs OWASP lists as equal minimums for Argon2id with one lane."""

VERIFIED_CREDENTIALS = 10_000
"""Verified credentials a process remembers; the oldest is forgotten first when full."""


KDF_NICE = 10
"""Niceness of the hash threads (Linux): when the cores are busy, the event loops serving
every other request run first, and a login that needs a hash waits for a free moment."""


def _lower_priority() -> None:
    if sys.platform == "linux":  # there a thread has its own nice value
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), KDF_NICE)


class HasherBusy(Exception):
    """Too many hashes queued in this process; the caller should refuse the request."""


@dataclass(frozen=True, slots=True)
class HashParams:
    """Argon2id cost parameters (the hash and salt lengths stay argon2-cffi's: 32, 16)."""

    memory_kib: int = 19456
    time_cost: int = 2
    parallelism: int = 1

    def check(self) -> None:
        """ValueError unless at or above one of OWASP's minimum points."""
        if self.parallelism < 1 or self.memory_kib < 8 * self.parallelism:
            raise ValueError("Argon2 needs parallelism >= 1 and memory >= 8 KiB per lane")
        if not any(self.memory_kib >= m and self.time_cost >= t for m, t in OWASP_MINIMUMS):
            points = ", ".join(f"{m} KiB x {t}" for m, t in OWASP_MINIMUMS)
            raise ValueError(f"Argon2id below OWASP's minimum ({points}): "
                             f"{self.memory_kib} KiB x {self.time_cost}")


class PasswordHasher:
    """Argon2id on a bounded pool of its own threads (created on first use, per process)."""

    def __init__(self, params: HashParams | None = None, *, threads: int = 1,
                 queue: int = 32) -> None:
        self.params = params or HashParams()
        self.params.check()
        self._argon2 = Argon2Hasher(time_cost=self.params.time_cost,
                                    memory_cost=self.params.memory_kib,
                                    parallelism=self.params.parallelism)
        self.threads = max(1, threads)
        self.limit = self.threads + max(0, queue)
        self._pending = 0
        self._pool: ThreadPoolExecutor | None = None
        self._dummy: str | None = None

    async def _run(self, fn: Callable[..., T], *args: str, bounded: bool = False) -> T:
        if bounded and self._pending >= self.limit:
            raise HasherBusy
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="strato-kdf",
                                            initializer=_lower_priority)
        self._pending += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)
        finally:
            self._pending -= 1

    async def hash(self, secret: str) -> str:
        return await self._run(self._argon2.hash, secret)

    async def verify(self, stored_hash: str | None, secret: str, *, bounded: bool = False
                     ) -> bool:
        """Whether `secret` matches; with no hash (an unknown user) a dummy of the same
        cost is checked, so a wrong name takes as long as a wrong password. `bounded`: raise
        HasherBusy rather than queue past the limit (logins; not an admin's calls)."""
        if stored_hash is None:
            if self._dummy is None:
                self._dummy = await self._run(self._argon2.hash, secrets.token_hex(16),
                                              bounded=bounded)
            stored_hash = self._dummy
        return await self._run(self._check, stored_hash, secret, bounded=bounded)

    def _check(self, stored_hash: str, secret: str) -> bool:
        try:
            return self._argon2.verify(stored_hash, secret)
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored_hash: str) -> bool:
        """Whether a hash that just verified was made with other parameters."""
        try:
            return self._argon2.check_needs_rehash(stored_hash)
        except (InvalidHashError, ValueError):
            return False

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None


class VerifiedCredentials:
    """Which (kind, subject, stored hash, secret) verified in the last `ttl` seconds."""

    def __init__(self, ttl: float, size: int = VERIFIED_CREDENTIALS) -> None:
        self.ttl = ttl
        self.size = size
        self._key = secrets.token_bytes(32)
        self._seen: dict[bytes, float] = {}
        """Keyed digest -> monotonic time it stops counting."""

    def digest(self, kind: str, subject: str, stored_hash: str, secret: str) -> bytes:
        mac = hmac.new(self._key, digestmod=hashlib.sha256)
        for part in (kind, subject, stored_hash, secret):  # length-prefixed: no ambiguity
            data = part.encode("utf-8", "surrogatepass")
            mac.update(len(data).to_bytes(8, "big"))
            mac.update(data)
        return mac.digest()

    def seen(self, digest: bytes) -> bool:
        until = self._seen.get(digest)
        if until is None:
            return False
        if until <= time.monotonic():
            del self._seen[digest]
            return False
        return True

    def remember(self, digest: bytes) -> None:
        if self.ttl <= 0:
            return
        self._seen.pop(digest, None)  # re-inserted last: the oldest stays first
        while len(self._seen) >= self.size:
            del self._seen[next(iter(self._seen))]
        self._seen[digest] = time.monotonic() + self.ttl

    def clear(self) -> None:
        self._seen.clear()


class Credentials:
    """Checks a secret against a stored hash: from memory when it verified recently, else
    with the KDF, once for every identical check in flight (32 parallel logins of one user
    cost one hash), and re-hashing a hash made with other parameters once it verified."""

    def __init__(self, hasher: PasswordHasher, ttl: float) -> None:
        self.hasher = hasher
        self.verified = VerifiedCredentials(ttl)
        self._inflight: dict[bytes, asyncio.Task[bool]] = {}

    async def check(self, kind: str, subject: str | None, stored_hash: str | None,
                    secret: str, upgrade: Callable[[str], Awaitable[bool]] | None = None
                    ) -> bool:
        """Whether `secret` matches `stored_hash` (None: no such subject, a dummy hash is
        checked). `upgrade(new_hash)` stores a re-hash, unless the stored hash changed
        meanwhile (it returns False then). Raises HasherBusy when the pool is full."""
        if subject is None or stored_hash is None:
            return await self.hasher.verify(None, secret, bounded=True)
        digest = self.verified.digest(kind, subject, stored_hash, secret)
        if self.verified.seen(digest):
            return True
        task = self._inflight.get(digest)
        if task is None:
            task = asyncio.ensure_future(self._verify(kind, subject, stored_hash, secret,
                                                      digest, upgrade))
            self._inflight[digest] = task
            task.add_done_callback(lambda done: self._settled(digest, done))
        return await asyncio.shield(task)

    def _settled(self, digest: bytes, task: asyncio.Task[bool]) -> None:
        self._inflight.pop(digest, None)
        if not task.cancelled():
            task.exception()  # retrieved here, in case every waiter went away

    async def _verify(self, kind: str, subject: str, stored_hash: str, secret: str,
                      digest: bytes, upgrade: Callable[[str], Awaitable[bool]] | None
                      ) -> bool:
        if not await self.hasher.verify(stored_hash, secret, bounded=True):
            return False
        self.verified.remember(digest)
        if upgrade is not None and self.hasher.needs_rehash(stored_hash):
            try:
                new_hash = await self.hasher.hash(secret)
            except HasherBusy:
                return True  # next time
            if await upgrade(new_hash):
                log.info("re-hashed the %s secret of %s with the current parameters", kind,
                         subject)
                self.verified.remember(self.verified.digest(kind, subject, new_hash, secret))
        return True
