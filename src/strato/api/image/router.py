"""The image front-end: everything under `/image` (Glance v2 and its version discovery).

Thin by design: parse the path, validate the token, call the image service, render. Every
domain error carries Glance's status and a readable message; nothing a client sends turns
into a 5xx.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from strato.api.http import Request, Response, json_response
from strato.api.identity.catalog import CATALOG, CatalogService
from strato.api.image import data, images
from strato.api.image.context import ImageRequest
from strato.api.image.errors import MethodNotAllowed, error_response
from strato.api.image.schemas import Schemas
from strato.domain.identity import IdentityService
from strato.domain.images.imports import ImportService
from strato.domain.images.model import ImageCaller, ImageError, NotFound
from strato.domain.images.service import ImageService
from strato.stores.metadata.base import MetadataStore

log = logging.getLogger("strato.image.api")

PREFIX = "/image"
ADMIN_ROLE = "admin"
VERSIONS = ("2.0", "2.1", "2.2", "2.3", "2.4", "2.5", "2.6", "2.7", "2.8", "2.9", "2.12")
"""What is implemented: 2.6 brings interoperable import, 2.8 multi-store (/v2/info/stores),
2.12 the image's tasks. The newest is CURRENT, as keystoneauth picks the CURRENT one."""


class ImageServices(Protocol):
    """What the front-end takes from the composition root (`strato.server.app.Services`)."""

    settings: Any
    identity: IdentityService
    images: ImageService
    imports: ImportService
    meta: MetadataStore


class ImageApi:
    def __init__(self, services: ImageServices) -> None:
        settings = services.settings
        self.base_url: str = settings.base_url
        self.identity = services.identity
        self.images = services.images
        self.imports = services.imports
        self.meta = services.meta
        self.schemas = Schemas(settings.image_disk_formats, settings.image_container_formats,
                               additional_properties=settings.image_additional_properties)
        self.tasks_for_everyone: bool = settings.image_tasks_for_everyone

    @property
    def image_url(self) -> str:
        return self.base_url + PREFIX

    def import_headers(self) -> dict[str, str]:
        return {"OpenStack-image-import-methods": ",".join(self.images.config.import_methods),
                "OpenStack-image-store-ids": ",".join(n for n, _ in self.images.stores())}

    def versions(self) -> dict[str, Any]:
        href = f"{self.image_url}/v2/"
        return {"versions": [
            {"id": f"v{v}", "status": "CURRENT" if v == VERSIONS[-1] else "SUPPORTED",
             "links": [{"rel": "self", "href": href}]} for v in reversed(VERSIONS)]}


class ImageFrontend:
    name = "image"
    """The `api` label of its requests in the metrics."""

    def __init__(self, services: ImageServices) -> None:
        self.api = ImageApi(services)
        CATALOG.register(CatalogService("image", "glance", PREFIX))

    def owns(self, path: str) -> bool:
        return path == PREFIX or path.startswith(PREFIX + "/")

    async def handle(self, request: Request) -> Response:
        try:
            return await self._dispatch(request)
        except ImageError as exc:
            if exc.status >= 400:
                log.info("%s %s -> %d %s (%s)", request.method, request.path, exc.status,
                         exc, request.trans_id)
            return error_response(exc.status, str(exc))
        except MethodNotAllowed as exc:
            return error_response(405, f"The method {request.method} is not allowed here.",
                                  {"Allow": exc.allow})

    async def _dispatch(self, request: Request) -> Response:
        rest = request.path[len(PREFIX):].rstrip("/")
        if rest in ("", "/versions", "/v2") and request.method in ("GET", "HEAD"):
            return json_response(200 if rest == "/versions" else 300, self.api.versions())
        if not rest.startswith("/v2/"):
            raise NotFound(f"Unknown path {request.path}")
        parts = rest[len("/v2/"):].split("/")
        if parts[0] == "schemas":
            document = self.api.schemas.document("/".join(parts[1:]))
            if document is None:
                raise NotFound(f"Unknown schema {'/'.join(parts[1:])}")
            return json_response(200, document)
        ir = ImageRequest(request, self.api, await self._caller(request))
        return await route(ir, parts)

    async def _caller(self, request: Request) -> ImageCaller:
        token = request.headers.get("x-auth-token")
        ctx = await self.api.identity.validate_token(token) if token else None
        if ctx is not None and not ctx.allows("image", request.method,
                                              request.path[len(PREFIX):]):
            log.info("%s %s: the token's access rules do not allow it", request.method,
                     request.path)
            ctx = None
        if ctx is None:
            raise Unauthenticated("This server could not verify that you are authorized to "
                                  "access the document you requested.")
        return ImageCaller(ctx.project_id, ctx.user_id, ctx.has_any_role((ADMIN_ROLE,)),
                           request.trans_id)


class Unauthenticated(ImageError):
    status = 401


async def route(ir: ImageRequest, parts: list[str]) -> Response:
    method = ir.request.method
    head, n = parts[0], len(parts)
    if head == "images":
        if n == 1:
            if method == "POST":
                return await images.create(ir)
            if method in ("GET", "HEAD"):
                return await images.index(ir)
            raise MethodNotAllowed("GET, POST")
        image_id = parts[1]
        if n == 2:
            if method in ("GET", "HEAD"):
                return await images.show(ir, image_id)
            if method == "PATCH":
                return await images.update(ir, image_id)
            if method == "DELETE":
                return await images.delete(ir, image_id)
            raise MethodNotAllowed("GET, PATCH, DELETE")
        sub = parts[2]
        if n == 3 and sub == "file":
            return await data.file(ir, image_id)
        if n == 3 and sub == "stage":
            return await data.stage(ir, image_id)
        if n == 3 and sub == "import":
            return await data.start_import(ir, image_id)
        if n == 3 and sub == "tasks":
            return await data.image_tasks(ir, image_id)
        if n == 4 and sub == "tags":
            return await images.tag(ir, image_id, parts[3])
        if n == 4 and sub == "actions":
            return await images.action(ir, image_id, parts[3])
        if sub == "members" and n in (3, 4):
            return await images.members(ir, image_id, parts[3] if n == 4 else None)
    elif head == "info" and n == 2:
        return await data.info(ir, parts[1])
    elif head == "stores" and n == 3:
        return await data.store_image(ir, parts[1], parts[2])
    elif head == "tasks" and n in (1, 2):
        return await data.tasks(ir, parts[1] if n == 2 else None)
    elif head == "metadefs":
        return metadefs(ir, parts[1:])
    raise NotFound(f"Unknown path {ir.request.path}")


def metadefs(ir: ImageRequest, parts: list[str]) -> Response:
    """The metadata definitions catalogue is empty: its lists answer (so `glance
    md-namespace-list` and openstacksdk's `metadef_namespaces()` work), nothing can be added."""
    if ir.request.method not in ("GET", "HEAD"):
        raise NotImplementedHere("Metadata definitions are not supported by this cloud.")
    if parts == ["namespaces"]:
        return json_response(200, {"namespaces": [], "first": "/v2/metadefs/namespaces",
                                   "schema": "/v2/schemas/metadefs/namespaces"})
    if parts == ["resource_types"]:
        return json_response(200, {"resource_types": []})
    if len(parts) >= 2 and parts[0] == "namespaces":
        raise NotFound(f"Metadata definition namespace={parts[1]} was not found.")
    raise NotFound(f"Unknown path {ir.request.path}")


class NotImplementedHere(ImageError):
    status = 501
