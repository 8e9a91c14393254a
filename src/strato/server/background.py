"""Background work that must run in exactly one place: expirer, orphan sweep, token purge,
and the image service's scrubber (delayed delete), task take-over and task purge.

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

from strato.domain.images.imports import HEARTBEAT_SECONDS, ImportService
from strato.domain.images.service import ImageService
from strato.domain.storage import StorageService
from strato.server.settings import Settings
from strato.stores.metadata.base import MetadataStore

log = logging.getLogger("strato.background")

RETRY_LOCK_SECONDS = 10.0


class BackgroundRunner:
    def __init__(self, storage: StorageService, meta: MetadataStore, settings: Settings,
                 images: ImageService | None = None, imports: ImportService | None = None
                 ) -> None:
        self.storage = storage
        self.images = images
        self.imports = imports
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
        image_jobs = None
        if self.images is not None and self.imports is not None:
            image_jobs = asyncio.create_task(self.run_images(self.images, self.imports))
        try:
            await self._run_storage()
        finally:
            if image_jobs is not None:
                image_jobs.cancel()

    async def _run_storage(self) -> None:
        next_sweep = time.monotonic() + min(60.0, self.settings.sweep_interval)
        while True:
            try:
                expired = await self.storage.expire_pass(
                    delay=self.settings.expirer_delay_reaping)
                if expired:
                    log.info("expirer reclaimed %d objects", expired)
                if time.monotonic() >= next_sweep:
                    await self.storage.sweep_pass(self.settings.sweep_min_age)
                    await self.meta.purge_tokens(time.time())
                    await self.meta.purge_tasks(time.time())
                    next_sweep = time.monotonic() + self.settings.sweep_interval
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("background pass failed; retrying next interval")
            await asyncio.sleep(self.settings.expirer_interval)

    async def run_images(self, images: ImageService, imports: ImportService) -> None:
        """Tasks whose worker died are taken over within seconds; the scrubber runs every
        `image_scrub_interval`; image objects no image refers to go with the orphan sweep."""
        next_scrub = time.monotonic()
        next_sweep = time.monotonic() + min(60.0, self.settings.sweep_interval)
        while True:
            try:
                await imports.recover()
                if time.monotonic() >= next_scrub:
                    await images.scrub_pass()
                    next_scrub = time.monotonic() + self.settings.image_scrub_interval
                if time.monotonic() >= next_sweep:
                    await images.sweep_orphans()
                    next_sweep = time.monotonic() + self.settings.sweep_interval
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("image background pass failed; retrying")
            await asyncio.sleep(min(HEARTBEAT_SECONDS, self.settings.image_scrub_interval))
