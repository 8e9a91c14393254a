"""Background work that must run in exactly one place: expirer, orphan sweep, token purge.

Every worker tries to take an exclusive lock file in the data directory; the holder runs the
jobs. If it dies, the kernel drops the lock and another worker takes over on its next try.
(The PostgreSQL backend elects with an advisory lock instead.)
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import time

from strato.domain.storage import StorageService
from strato.server.settings import Settings
from strato.stores.metadata.base import MetadataStore

log = logging.getLogger("strato.background")

RETRY_LOCK_SECONDS = 10.0


class BackgroundRunner:
    def __init__(self, storage: StorageService, meta: MetadataStore, settings: Settings
                 ) -> None:
        self.storage = storage
        self.meta = meta
        self.settings = settings
        self._lock_fd: int | None = None

    def try_lock(self) -> bool:
        if self._lock_fd is not None:
            return True
        path = self.settings.data_dir / "background.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._lock_fd = fd
        log.info("background jobs run in worker pid %d", os.getpid())
        return True

    async def run(self) -> None:
        while not self.try_lock():
            await asyncio.sleep(RETRY_LOCK_SECONDS)
        next_sweep = time.monotonic() + min(60.0, self.settings.sweep_interval)
        while True:
            try:
                expired = await self.storage.expire_pass()
                if expired:
                    log.info("expirer reclaimed %d objects", expired)
                if time.monotonic() >= next_sweep:
                    await self.storage.sweep_pass(self.settings.sweep_min_age)
                    await self.meta.purge_tokens(time.time())
                    next_sweep = time.monotonic() + self.settings.sweep_interval
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("background pass failed; retrying next interval")
            await asyncio.sleep(self.settings.expirer_interval)
