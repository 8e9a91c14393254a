"""The composition root: builds stores and services, routes each request to its front-end.

One ASGI app serves every protocol on one port (the OpenStack URL map in
docs/architecture.md). It adds what every response needs (transaction ids, header limits,
access log) so front-ends stay thin.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator
from typing import Protocol

from strato.api.http import (
    POLICY,
    ZERO_COPY,
    BadRequest,
    ClientDisconnect,
    Receive,
    Request,
    Response,
    Scope,
    Send,
    new_trans_id,
    send_response,
    text_response,
)
from strato.api.swift.acl import Authorizer, service_role_rules
from strato.api.swift.constraints import MAX_HEADER_COUNT, MAX_HEADER_SIZE
from strato.api.swift.context import SwiftServices
from strato.api.swift.domain_remap import DomainRemap
from strato.api.swift.errors import error_response
from strato.api.swift.info import Capabilities
from strato.api.swift.router import SwiftFrontend, owns_path, unrouted
from strato.domain.identity import IdentityService, LoginLimits, LoginObserver, PasswordRules
from strato.domain.images.config import ImageConfig, ImageQuotas
from strato.domain.images.imports import ImportService, reclaim_scratch
from strato.domain.images.service import ImageService
from strato.domain.passwords import PasswordHasher
from strato.domain.policies import PolicySet, StoragePolicy
from strato.domain.storage import StorageService
from strato.domain.usage import UsageHistory
from strato.server.access_log import AccessLog
from strato.server.background import BackgroundRunner
from strato.server.connections import configure as configure_connections
from strato.server.lifeline import die_with_parent
from strato.server.logs import configure_logging
from strato.server.metrics import LoginMetrics, RequestMetrics
from strato.server.operations import OperationsFrontend
from strato.server.settings import Settings
from strato.stores.blob.local import LocalBlobStore
from strato.stores.metadata.base import MetadataStore
from strato.stores.metadata.secretbox import KeyRepository, SecretBox
from strato.stores.metadata.sqlite import SqliteMetadataStore

log = logging.getLogger("strato.server")


class Frontend(Protocol):
    name: str
    """The `api` label of its requests in the metrics."""

    def owns(self, path: str) -> bool: ...

    async def handle(self, request: Request) -> Response: ...


def open_metadata(settings: Settings) -> MetadataStore:
    """The metadata store the settings name (not opened yet), sealing secrets with the
    credential key repository."""
    store: MetadataStore
    if settings.metadata:
        from strato.stores.metadata.postgresql import PostgresMetadataStore

        store = PostgresMetadataStore(settings.metadata, settings.data_dir / "identity.mark")
    else:
        store = SqliteMetadataStore(settings.data_dir / "metadata.db")
    store.secret_box = SecretBox(KeyRepository(settings.credential_keys_path))
    return store


@contextlib.asynccontextmanager
async def opened_storage(settings: Settings) -> AsyncIterator[StorageService]:
    """The storage service on the settings' metadata and policies, for a host-side command
    (audit, image-admin) that works beside a running server; the store closes after."""
    meta = open_metadata(settings)
    await meta.open()
    try:
        yield StorageService(meta, build_policies(settings),
                             max_file_size=settings.max_file_size,
                             inline_bytes=settings.inline_bytes)
    finally:
        await meta.close()


def build_policies(settings: Settings) -> PolicySet:
    """One local blob store per configured storage policy."""
    return PolicySet([
        StoragePolicy(p.name, tuple(p.aliases), p.default, p.deprecated,
                      LocalBlobStore(settings.policy_root(p), fsync=settings.fsync))
        for p in settings.storage_policies])


def image_config(settings: Settings) -> ImageConfig:
    return ImageConfig(
        size_cap=settings.image_size_cap, hash_algo=settings.image_hash_algo,
        delayed_delete=settings.image_delayed_delete,
        scrub_time=settings.image_scrub_time,
        import_methods=tuple(settings.image_import_methods),
        import_allowed_hosts=tuple(settings.image_import_allowed_hosts),
        import_allowed_ports=tuple(settings.image_import_allowed_ports),
        conversion_format=settings.image_conversion_format,
        inject_properties=dict(p.split("=", 1) for p in settings.image_inject_properties),
        task_ttl=settings.image_task_ttl, import_wait=settings.image_import_wait,
        quotas=ImageQuotas(settings.image_quota_count, settings.image_quota_bytes,
                           settings.image_quota_stage_bytes, settings.image_quota_uploading))


def identity_service(settings: Settings, store: MetadataStore, *, threads: int | None = None,
                     observer: LoginObserver | None = None) -> IdentityService:
    """The identity service with the login settings: hash parameters, its hash threads
    (by default the cores one worker's share is), failure limits, verified-secret memory."""
    auto = max(1, (os.cpu_count() or 1) // max(1, settings.workers))
    hasher = PasswordHasher(settings.password_hash_params(),
                            threads=threads or settings.login_hash_threads or auto,
                            queue=settings.login_hash_queue)
    limits = LoginLimits(settings.login_max_failures, settings.login_max_failures_per_client,
                         settings.login_max_failures_per_user, settings.login_lockout_seconds,
                         settings.login_refused_delay)
    return IdentityService(store, token_ttl=settings.token_ttl, limits=limits, hasher=hasher,
                           verified_ttl=settings.login_verified_seconds, observer=observer,
                           rules=PasswordRules(
                               settings.password_regex, settings.password_regex_description,
                               expires_days=settings.password_expires_days,
                               minimum_age_days=settings.minimum_password_age,
                               unique_last_count=settings.unique_last_password_count,
                               change_upon_first_use=settings.change_password_upon_first_use))


async def prepare_storage(settings: Settings) -> int:
    """Once, before workers start: each policy's directory must be its own (labelled on
    first use), temp files of uploads cut off by a crash are reclaimed, and the stored
    containers must fit the configured policies; an image left
    `saving` by a server that died mid-upload is ready for a new upload. Returns how many
    containers from before policies joined the default policy."""
    started = time.time()
    policies = build_policies(settings)
    reclaimed = 0
    for policy in policies:
        assert isinstance(policy.blobs, LocalBlobStore)
        policy.blobs.claim(policy.name, policy.names)
        # no worker of this server runs yet, so no temp file older than now is being
        # written by one; a live writer of another process holds its file's lock
        reclaimed += policy.blobs.sweep_temp(started)
    reclaimed += reclaim_scratch(settings.data_dir / "tmp", started)
    if reclaimed:
        log.info("%d temp files left by an interrupted upload reclaimed", reclaimed)
    meta = open_metadata(settings)
    await meta.open()
    try:
        storage = StorageService(meta, policies, max_file_size=settings.max_file_size)
        adopted = await storage.check_policies()
        reset = await ImageService(meta, storage, image_config(settings)).recover_interrupted()
        if reset:
            log.info("%d images cut off mid-upload are queued again", reset)
        return adopted
    finally:
        await meta.close()


class Services:
    """Everything a worker process holds open."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.meta = open_metadata(settings)
        self.storage = StorageService(self.meta, build_policies(settings),
                                      max_file_size=settings.max_file_size,
                                      inline_bytes=settings.inline_bytes)
        self.identity = identity_service(settings, self.meta, observer=LoginMetrics())
        self.authorizer = Authorizer(tuple(settings.operator_roles),
                                     settings.reseller_admin_role,
                                     tuple(settings.reseller_prefixes),
                                     service_role_rules(settings.service_roles))
        self.capabilities = Capabilities(settings.max_file_size, self.storage.policies)
        self.images = ImageService(self.meta, self.storage, image_config(settings))
        self.imports = ImportService(self.images,
                                     account_prefix=settings.reseller_prefixes[0],
                                     scratch_dir=settings.data_dir / "tmp")

    async def open(self) -> None:
        await self.meta.open()

    async def close(self) -> None:
        await self.meta.close()
        self.identity.passwords.close()


class SwiftAdapter:
    name = "swift"

    def __init__(self, frontend: SwiftFrontend) -> None:
        self.frontend = frontend

    def owns(self, path: str) -> bool:
        return owns_path(path)

    async def handle(self, request: Request) -> Response:
        return await self.frontend.handle(request)


def build_frontends(services: Services, requests: RequestMetrics) -> list[Frontend]:
    swift = SwiftFrontend(
        SwiftServices(services.storage, services.identity, services.authorizer,
                      services.settings.base_url, services.settings.max_file_size,
                      services.settings),
        services.capabilities)
    settings = services.settings
    frontends: list[Frontend] = [
        SwiftAdapter(swift),
        OperationsFrontend(services.meta, services.storage, services.identity,
                           settings.data_dir, settings.ready_disk_full_percent, requests)]
    consoled: dict[str, Frontend] = {}  # the APIs the console passes its users' requests to
    try:  # the identity front-end lives in its own package
        from strato.api.identity.router import IdentityFrontend
    except ImportError:  # pragma: no cover - present in every release build
        pass
    else:
        consoled["identity"] = IdentityFrontend(services)
        frontends.append(consoled["identity"])
    from strato.api.image.router import ImageFrontend

    consoled["image"] = ImageFrontend(services)
    frontends.append(consoled["image"])
    from strato.api.console.router import ConsoleFrontend

    frontends.append(ConsoleFrontend(
        services.identity, swift, services.settings.data_dir,
        services.authorizer.storage_prefix,
        usage=UsageHistory(services.meta, settings.usage_interval, settings.usage_retention),
        services=consoled))
    return frontends


class StratoApp:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.services = Services(settings)
        self.frontends: list[Frontend] = []
        self.background = BackgroundRunner(self.services.storage, self.services.meta, settings,
                                           self.services.images, self.services.imports)
        self._background_task: asyncio.Task[None] | None = None
        self.requests = RequestMetrics()
        self._metrics_task: asyncio.Task[None] | None = None
        self.access_log = AccessLog(False)
        """Set up at startup, in the worker process, once logging is configured."""
        self.domain_remap = DomainRemap(
            settings.storage_domain, settings.reseller_prefixes,
            settings.domain_remap_default_reseller_prefix) if settings.storage_domain else None
        if self.domain_remap is not None:
            self.services.capabilities.register("domain_remap",
                                                self.domain_remap.capabilities())

    async def startup(self) -> None:
        self.access_log = AccessLog(self.settings.access_log)
        await self.services.open()
        self.frontends = build_frontends(self.services, self.requests)
        self._background_task = asyncio.create_task(self.background.run())
        self._metrics_task = asyncio.create_task(self.requests.run())

    async def shutdown(self) -> None:
        if self._background_task:
            self._background_task.cancel()
        if self._metrics_task:
            self._metrics_task.cancel()
        self.requests.flush()
        await self.services.close()
        self.access_log.close()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        started = time.perf_counter()
        response, request, api = await self._respond(scope, receive)
        trans_id = request.trans_id if request else new_trans_id()
        response.headers.setdefault("X-Trans-Id", trans_id)
        response.headers.setdefault("X-Openstack-Request-Id", trans_id)
        sent = 0
        try:
            sent = await send_response(send, response, head=scope["method"] == "HEAD",
                                       receive=receive,
                                       zero_copy=ZERO_COPY in scope.get("extensions", ()))
        except Exception:  # the client went away or the blob failed mid-stream
            log.warning("response to %s %s cut short (%s)", scope["method"], scope["path"],
                        trans_id, exc_info=log.isEnabledFor(logging.DEBUG))
        elapsed = time.perf_counter() - started
        if request is None:
            self.requests.record(api, scope["method"], response.status, "", elapsed, 0, sent)
        else:
            self.requests.record(api, request.method, response.status,
                                 request.state.get(POLICY, ""), elapsed, request.consumed,
                                 sent)
        if self.access_log.enabled:
            self.access_log.line(
                (scope.get("client") or ("-",))[0], scope["method"],
                scope.get("raw_path", b"").decode("latin-1") or scope["path"],
                scope.get("query_string", b"").decode("latin-1"), response.status, sent,
                elapsed, trans_id)

    async def _respond(self, scope: Scope, receive: Receive
                       ) -> tuple[Response, Request | None, str]:
        """The response, the parsed request (None if it could not be parsed) and the
        `api` metrics label of the front-end that answered."""
        headers = scope["headers"]
        if len(headers) > MAX_HEADER_COUNT:
            return error_response(400, "Too many headers"), None, "other"
        for name, value in headers:
            if len(name) + len(value) > MAX_HEADER_SIZE:
                return error_response(400, "Header line too long"), None, "other"
        try:
            request = Request.from_scope(scope, receive)
        except BadRequest as exc:
            return error_response(exc.status, str(exc)), None, "other"
        remapped = self.domain_remap.remap(request) if self.domain_remap else None
        if isinstance(remapped, Response):
            return remapped, request, "swift"
        if remapped is not None:
            request = remapped.request
        for frontend in self.frontends:
            if frontend.owns(request.path):
                try:
                    response = await frontend.handle(request)
                    if remapped is not None:
                        DomainRemap.restore_location(response, remapped)
                    return response, request, frontend.name
                except ClientDisconnect:  # a body cut short, in any front-end: no one reads
                    log.info("client went away during %s %s (%s)", request.method,
                             request.path, request.trans_id)  # the answer; never a 500
                    return error_response(400), request, frontend.name
                except Exception as exc:
                    if self.services.meta.unavailable(exc):
                        log.warning("metadata database unavailable in %s %s (%s): %s",
                                    request.method, request.path, request.trans_id, exc)
                        return (error_response(503, headers={"Retry-After": "1"}), request,
                                frontend.name)
                    log.exception("unhandled error in %s %s (%s)", request.method,
                                   request.path, request.trans_id)
                    return error_response(500), request, frontend.name
        if request.path == "/":
            return text_response(200, "Strato\n"), request, "other"
        return unrouted(request.path), request, "other"

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as exc:
                    log.exception("startup failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return


def create_app() -> StratoApp:
    """Factory for uvicorn workers: settings come from the environment the CLI prepared."""
    die_with_parent()  # a worker spawned by `strato serve` ends with it, even on SIGKILL
    settings = Settings()
    configure_connections(settings)
    if not logging.getLogger().handlers:  # uvicorn did not set up logging (not the CLI)
        configure_logging(settings.log_level, settings.log_format)
    return StratoApp(settings)
