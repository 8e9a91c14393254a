"""Background work that must run in exactly one place: expirer, orphan sweep, token purge,
rate-limit purge, container sync, the auditor (bit rot, `strato.domain.auditor`), the usage sampler
(`strato.domain.usage`), and the image service's scrubber (delayed delete), task take-over
and task purge.

Every worker of every node asks the metadata store for the lead (`MetadataStore.try_lead`:
an exclusive lock file beside the SQLite database, a session advisory lock in PostgreSQL);
the holder runs the jobs. If it dies, the lock goes with it and another worker takes over on
its next try. A leader that loses its lock (its database connection broke) stops its jobs
within LEAD_CHECK_SECONDS; every job is written so that a pass cut off midway and run again
elsewhere does no harm (deletes check the row still names the blob they saw, task
take-over is compare-and-set on the heartbeat).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from pathlib import Path

from strato.domain.auditor import Auditor
from strato.domain.container_sync import Realms
from strato.domain.images.imports import HEARTBEAT_SECONDS, ImportService
from strato.domain.images.service import ImageService
from strato.domain.policies import UnknownPolicy
from strato.domain.storage import StorageService
from strato.domain.usage import UsageSampler
from strato.server.container_sync import ContainerSyncJob
from strato.server.metrics import background_job, job_items, record_policy
from strato.server.settings import Settings
from strato.stores.metadata.base import MetadataStore

log = logging.getLogger("strato.background")

RETRY_LOCK_SECONDS = 10.0
LEAD_CHECK_SECONDS = 2.0


def auditor_state_file(settings: Settings) -> Path:
    """Where the auditor leaves its progress for `strato audit status` (in the data
    directory of the node whose worker leads)."""
    return settings.data_dir / "auditor.json"


class BackgroundRunner:
    def __init__(self, storage: StorageService, meta: MetadataStore, settings: Settings,
                 images: ImageService | None = None, imports: ImportService | None = None
                 ) -> None:
        self.storage = storage
        self.images = images
        self.imports = imports
        self.meta = meta
        self.settings = settings
        self.sync_realms = Realms.load(settings.container_sync_realms)

    async def _try_lead(self) -> bool:
        try:
            return await self.meta.try_lead()
        except Exception:
            log.exception("cannot ask the metadata store for the background-job lead")
            return False

    async def run(self) -> None:
        while True:
            while not await self._try_lead():
                await asyncio.sleep(RETRY_LOCK_SECONDS)
            log.info("background jobs run in worker pid %d", os.getpid())
            jobs = [asyncio.create_task(self._run_storage())]
            if self.sync_realms.realms:
                jobs.append(asyncio.create_task(self.run_container_sync()))
            if self.settings.auditor_bytes_per_second > 0:
                jobs.append(asyncio.create_task(self._run_auditor()))
            if self.settings.usage_interval > 0:
                jobs.append(asyncio.create_task(self.run_usage()))
            if self.images is not None and self.imports is not None:
                jobs.append(asyncio.create_task(self.run_images(self.images, self.imports)))
            try:
                while await self._try_lead():
                    await asyncio.sleep(LEAD_CHECK_SECONDS)
                log.warning("worker pid %d lost the background-job lead; jobs stopped",
                            os.getpid())
            finally:
                for job in jobs:
                    job.cancel()
                for job in jobs:
                    with contextlib.suppress(asyncio.CancelledError):
                        await job

    async def _run_storage(self) -> None:
        next_sweep = time.monotonic() + min(60.0, self.settings.sweep_interval)
        while True:
            try:
                with background_job("expirer"):
                    expired = await self.storage.expire_pass(
                        delay=self.settings.expirer_delay_reaping)
                    job_items("expirer", "objects", expired)
                if expired:
                    log.info("expirer reclaimed %d objects", expired)
                await self.record_policies()
                if time.monotonic() >= next_sweep:
                    with background_job("sweeper"):
                        blobs, temps = await self.storage.sweep_pass(
                            self.settings.sweep_min_age)
                        job_items("sweeper", "blobs", blobs)
                        job_items("sweeper", "temp_files", temps)
                    with background_job("token_purge"):
                        job_items("token_purge", "tokens",
                                  await self.meta.purge_tokens(time.time()))
                    with background_job("rate_purge"):
                        job_items("rate_purge", "keys", await self.meta.purge_rates())
                    with background_job("task_purge"):
                        job_items("task_purge", "tasks",
                                  await self.meta.purge_tasks(time.time()))
                    next_sweep = time.monotonic() + self.settings.sweep_interval
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("background pass failed; retrying next interval")
            await asyncio.sleep(self.settings.expirer_interval)

    async def run_container_sync(self) -> None:
        """Push what changed in syncing containers, every `container_sync_interval`."""
        job = ContainerSyncJob(self.storage, self.sync_realms,
                               self.settings.container_sync_batch)
        try:
            while True:
                pushed = 0
                try:
                    with background_job("container_sync"):
                        pushed = await job.run_pass()
                        job_items("container_sync", "objects", pushed)
                    if pushed:
                        log.info("container sync sent %d writes", pushed)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("container sync pass failed; retrying next interval")
                if not job.backlog:  # else more is waiting: go on at once
                    await asyncio.sleep(self.settings.container_sync_interval)
        finally:
            await job.close()

    async def _run_auditor(self) -> None:
        """A pass over every blob, then `auditor_interval` of rest; a pass cut off (lost
        lead, stop) starts over from the beginning on the next leader."""
        auditor = Auditor(self.storage, self.settings.auditor_bytes_per_second,
                          state_file=auditor_state_file(self.settings),
                          observer=lambda kind, count: job_items("auditor", kind, count))
        while True:
            try:
                with background_job("auditor"):
                    await auditor.run_pass()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("auditor pass failed; retrying next interval")
            await asyncio.sleep(self.settings.auditor_interval)

    async def run_usage(self) -> None:
        """Sample every account's and container's counters every `usage_interval` (only
        those that changed are written) and trim the history to `usage_retention`."""
        sampler = UsageSampler(self.meta, self.settings.usage_retention)
        while True:
            try:
                with background_job("usage_sampler"):
                    done = await sampler.run_pass(time.time())
                    job_items("usage_sampler", "samples", done.written)
                    job_items("usage_sampler", "samples_removed", done.removed)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("usage sampling pass failed; retrying next interval")
            await asyncio.sleep(self.settings.usage_interval)

    async def record_policies(self) -> None:
        """Each policy's containers, objects and bytes (one grouped read of the containers'
        counters, no object rows) and its filesystem's space, for the metrics."""
        totals = {policy.name: [0, 0, 0] for policy in self.storage.policies}
        for stored, stats in (await self.meta.policy_stats()).items():
            try:
                name = self.storage.policies.stored(stored).name
            except UnknownPolicy:  # left over by a policy since removed: nothing to show
                continue
            counts = totals[name]
            counts[0] += stats.container_count
            counts[1] += stats.object_count
            counts[2] += stats.bytes_used
        for policy in self.storage.policies:
            try:
                disk: tuple[int, int] | None = policy.blobs.disk_usage()
            except OSError:
                disk = None
            containers, objects, nbytes = totals[policy.name]
            record_policy(policy.name, containers, objects, nbytes, disk)

    async def run_images(self, images: ImageService, imports: ImportService) -> None:
        """Tasks whose worker died are taken over within seconds; the scrubber runs every
        `image_scrub_interval`; image objects no image refers to go with the orphan sweep."""
        next_scrub = time.monotonic()
        next_sweep = time.monotonic() + min(60.0, self.settings.sweep_interval)
        while True:
            try:
                with background_job("task_runner"):
                    job_items("task_runner", "tasks_taken_over", await imports.recover())
                if time.monotonic() >= next_scrub:
                    with background_job("image_scrubber"):
                        job_items("image_scrubber", "images", await images.scrub_pass())
                    next_scrub = time.monotonic() + self.settings.image_scrub_interval
                if time.monotonic() >= next_sweep:
                    with background_job("image_sweeper"):
                        job_items("image_sweeper", "objects", await images.sweep_orphans())
                    next_sweep = time.monotonic() + self.settings.sweep_interval
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("image background pass failed; retrying")
            await asyncio.sleep(min(HEARTBEAT_SECONDS, self.settings.image_scrub_interval))
