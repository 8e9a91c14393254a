"""The identity front-end: everything under `/identity` (Keystone v3, v2.0 tokens, discovery).

Discovery documents carry absolute self links built from the external base URL, because
keystoneauth POSTs to whatever `self` link it finds. Errors are Keystone's JSON form, and a
401 names the identity endpoint in `WWW-Authenticate`.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from strato.api.http import Request, Response, json_response
from strato.api.identity.admin import handle_admin
from strato.api.identity.catalog import CATALOG, CatalogService
from strato.api.identity.common import PREFIX, IdentityApi
from strato.api.identity.discovery import root_document, v3_version
from strato.api.identity.errors import KeystoneError, error_response
from strato.api.identity.tokens import handle_auth_lists, handle_tokens
from strato.api.identity.v2 import handle_v2
from strato.domain.identity import IdentityService

log = logging.getLogger("strato.identity.api")



class IdentityServices(Protocol):
    """What the front-end takes from the composition root (`strato.server.app.Services`)."""

    settings: Any
    identity: IdentityService
    meta: Any
    """The metadata store; its access keys are the EC2 credentials."""


class IdentityFrontend:
    name = "identity"
    """The `api` label of its requests in the metrics."""

    def __init__(self, services: IdentityServices) -> None:
        settings = services.settings
        self.api = IdentityApi(services.identity, settings.base_url, settings.region,
                               access_keys=services.meta)
        # the storage account is named with the first reseller prefix (`AUTH_` by default)
        prefix = (getattr(settings, "reseller_prefixes", None) or ["AUTH_"])[0]
        CATALOG.register(CatalogService("object-store", "swift", f"/v1/{prefix}{{project_id}}"))

    def owns(self, path: str) -> bool:
        return path == PREFIX or path.startswith(PREFIX + "/")

    async def handle(self, request: Request) -> Response:
        try:
            return await self._dispatch(request)
        except KeystoneError as exc:
            if exc.status >= 400:
                log.info("%s %s -> %d %s (%s)", request.method, request.path, exc.status,
                         exc.message, request.trans_id)
            return error_response(exc, self.api.identity_url)

    async def _dispatch(self, request: Request) -> Response:
        api = self.api
        rest = request.path[len(PREFIX):]
        if rest in ("", "/"):
            _read_only(request)
            return json_response(300, root_document(api.identity_url),
                                 {"Location": f"{api.identity_url}/v3/"})
        if rest == "/v2.0" or rest.startswith("/v2.0/"):
            return await handle_v2(api, request, rest[len("/v2.0"):])
        if not (rest == "/v3" or rest.startswith("/v3/")):
            raise KeystoneError(404)
        path = rest[len("/v3"):].rstrip("/")
        if path == "":
            _read_only(request)
            return json_response(200, {"version": v3_version(api.identity_url)})
        if path == "/auth/tokens":
            return await handle_tokens(api, request)
        if path in ("/auth/catalog", "/auth/projects", "/auth/domains"):
            return await handle_auth_lists(api, request, path.rsplit("/", 1)[1])
        return await handle_admin(api, request, path.lstrip("/").split("/"))


def _read_only(request: Request) -> None:
    if request.method not in ("GET", "HEAD"):
        raise KeystoneError(405)
