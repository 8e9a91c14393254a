"""The Swift front-end: `/auth/v1.0`, `/info`, `/healthcheck` and `/v1/<account>/...`."""

from __future__ import annotations

import logging
from dataclasses import replace
from urllib.parse import quote

from strato.api.http import BadRequest, Request, Response, json_response, text_response
from strato.api.swift.account import handle_account
from strato.api.swift.acl import ACCOUNT_ACCESS, ACCOUNT_ACL_HEADER
from strato.api.swift.auth_v1 import AUTH_PATHS, handle_auth_v1
from strato.api.swift.constraints import MAX_ACCOUNT_NAME_LENGTH
from strato.api.swift.container import handle_container
from strato.api.swift.context import (
    ACCOUNT_DOMAIN,
    OPEN_EXPIRED,
    SwiftRequest,
    SwiftServices,
    account_domain,
)
from strato.api.swift.crossdomain import PATH as CROSSDOMAIN_PATH
from strato.api.swift.crossdomain import crossdomain_response
from strato.api.swift.errors import SwiftError, error_response, storage_error
from strato.api.swift.features import FEATURES
from strato.api.swift.info import Capabilities
from strato.api.swift.object import handle_object
from strato.api.swift.pipeline import PIPELINE, build_pipeline

log = logging.getLogger("strato.swift")
TRUE_VALUES = ("true", "1", "yes", "on", "t", "y")
"""What Swift's config_true_value takes for true."""


def owns_path(path: str) -> bool:
    return (path.startswith("/v1/") or path == "/v1" or path in AUTH_PATHS
            or path in ("/info", "/healthcheck", CROSSDOMAIN_PATH))


def unrouted(path: str) -> Response:
    """What Swift's proxy answers for a path no controller takes (`/info asdf`, `/x`).

    An empty first segment (`//v1/a`) is not a path at all (404); a second segment makes the
    first an API version, and an unknown one is a 400; anything else is a 412 "Bad URL".
    """
    segments = path[1:].split("/", 2)
    if not segments[0]:
        return error_response(404)
    if len(segments) > 1 and segments[1] and segments[0] not in ("v1", "v1.0"):
        return error_response(400)
    return error_response(412, "Bad URL")


ACTIVE_TYPES = ("text/html", "application/xhtml+xml", "image/svg+xml", "text/xml",
                "application/xml", "text/xsl")
"""Content a browser runs scripts in, when it opens it."""
PAGE_SANDBOX = ("sandbox allow-scripts allow-forms allow-popups allow-modals allow-downloads "
                "allow-popups-to-escape-sandbox")
"""A stored page still renders and runs its scripts, but in an origin of its own: the web
console shares this origin, and a page of anyone's (a public container, a temp URL, a
static website) must not read the console's session or act with it."""


def sandbox_active_content(response: Response) -> None:
    """Give an answer a browser would run as a page the `PAGE_SANDBOX` CSP (unless the
    answer sets a CSP itself)."""
    headers = response.headers
    ctype = headers.get("Content-Type") or next(
        (v for k, v in headers.items() if k.lower() == "content-type"), "")
    if ctype.split(";", 1)[0].strip().lower() not in ACTIVE_TYPES:
        return  # most answers: one look-up
    if not any(name.lower() == "content-security-policy" for name in headers):
        headers["Content-Security-Policy"] = PAGE_SANDBOX


class SwiftFrontend:
    def __init__(self, services: SwiftServices, capabilities: Capabilities) -> None:
        self.services = services
        self.capabilities = capabilities
        features = [cls(services) for cls in FEATURES]
        for feature in features:
            section = feature.capabilities()
            if section is not None:
                capabilities.register(feature.name, section)
        self.pipeline = build_pipeline(features, endpoint)
        settings = services.settings
        self.allow_open_expired = bool(settings and settings.allow_open_expired)
        capabilities.add_to("swift", {"allow_open_expired": self.allow_open_expired})
        self.crossdomain_policy = settings.crossdomain_policy if settings else ""
        if self.crossdomain_policy:
            capabilities.register("crossdomain", {})
        self.sandbox_pages = bool(settings is None or settings.sandbox_stored_pages)

    async def handle(self, request: Request) -> Response:
        try:
            try:
                response = await self._dispatch(request)
            except BadRequest as bad:  # framing a feature met first (a Content-Length that
                raise SwiftError(bad.status, str(bad)) from None  # is no number): 400, not 500
            except Exception as exc:  # a full store, a newer write: from any write path
                error = storage_error(exc, request.method, self.services.storage)
                if error is None:
                    raise
                raise error from None
        except SwiftError as exc:
            if exc.status >= 400:
                log.info("%s %s -> %d %s (%s)", request.method, request.path, exc.status,
                         exc.message or "", request.trans_id)
            if exc.status == 401 and request.path.startswith("/v1/"):
                account = request.path[len("/v1/"):].split("/", 1)[0]
                exc.headers.setdefault("Www-Authenticate", f'Swift realm="{quote(account)}"')
            response = error_response(exc.status, exc.message, exc.headers)
        if request.headers.get("connection", "").lower() == "keep-alive":
            response.headers.setdefault("Connection", "keep-alive")  # Swift echoes it
        if self.sandbox_pages:
            sandbox_active_content(response)
        return response

    async def _dispatch(self, request: Request) -> Response:
        path = request.path
        if path in AUTH_PATHS:
            return await handle_auth_v1(request, self.services.identity, self.services.base_url,
                                        self.services.authorizer.storage_prefix)
        if path == "/info":
            if request.method == "OPTIONS":  # Swift's info controller answers it, token or not
                return Response(200, {"Allow": "HEAD, GET, OPTIONS",
                                      "Content-Type": "text/html; charset=UTF-8"}, b"")
            if request.method not in ("GET", "HEAD"):
                raise SwiftError(405, headers={"Allow": "HEAD, GET, OPTIONS"})
            return json_response(200, self.capabilities.document())
        if path == "/healthcheck":
            return text_response(200, "OK")
        if path == CROSSDOMAIN_PATH:
            if self.crossdomain_policy and request.method == "GET":
                return crossdomain_response(self.crossdomain_policy)
            return unrouted(path)
        parts = path[len("/v1/"):].split("/", 2) if path.startswith("/v1/") else [""]
        account = parts[0]
        container = parts[1] if len(parts) > 1 and parts[1] else None
        obj = parts[2] if len(parts) > 2 and parts[2] else None
        if not account or (obj is not None and container is None) or (
                len(parts) > 2 and parts[2] and not parts[1]):
            if path.rstrip("/") == "/v1":
                raise SwiftError(412, "Bad URL")
            raise SwiftError(404)  # an empty path segment: Swift's proxy answers 404
        if len(account.encode("utf-8")) > MAX_ACCOUNT_NAME_LENGTH:
            raise SwiftError(400, "Account name length too long")
        token = request.headers.get("x-auth-token") or request.headers.get("x-storage-token")
        identity = self.services.identity
        auth = await identity.validate_token(token) if token else None
        if auth is not None and not auth.allows("object-store", request.method, path):
            # as keystonemiddleware: a token its access rules refuse is no token at all
            log.info("%s %s: the token's access rules do not allow it", request.method, path)
            auth = None
        service_token = request.headers.get("x-service-token")
        if auth is not None and service_token:
            # as keystonemiddleware: an invalid service token just adds no service roles
            service = await identity.validate_token(service_token)
            if service is not None:
                auth = replace(auth, service_roles=service.roles)
        sr = SwiftRequest(request, self.services, account, container, obj, auth)
        sr.state[PIPELINE] = self.pipeline
        if obj is not None and self.allow_open_expired and request.method in (
                "GET", "HEAD", "POST") and request.headers.get(
                "x-open-expired", "").lower() in TRUE_VALUES:
            sr.state[OPEN_EXPIRED] = True
        if auth is not None and not sr.is_owner:
            sr.state[ACCOUNT_DOMAIN] = await account_domain(self.services, account)
            record = await sr.get_account(account)
            sr.state[ACCOUNT_ACCESS] = self.services.authorizer.account_access(
                auth, record.meta.get(ACCOUNT_ACL_HEADER) if record else None)
        return await self.pipeline(sr)


async def endpoint(sr: SwiftRequest) -> Response:
    """The core handlers, innermost in the pipeline."""
    if sr.obj is not None:
        return await handle_object(sr)
    if sr.container is not None:
        return await handle_container(sr)
    return await handle_account(sr)
