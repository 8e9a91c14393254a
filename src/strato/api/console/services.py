"""The image and identity APIs through the console: `/console/api/image/...` and
`/console/api/identity/...`.

As with the Swift API (`/console/api/v1/...`), the request is handed in-process to the
service's own front-end as if it carried the signed-in user's `X-Auth-Token`; Glance's and
Keystone's policies decide (an image action only an admin may take, a user list only an
admin may read), so the console holds no authorisation rule of its own. The router checks the
session and the CSRF token before anything gets here.

What passes is narrowed to what the console's pages use:

- image: all of Glance v2 (`/image/v2/...`); a downloaded image file gets the same
  `sandbox` CSP as an object body.
- identity: only Keystone v3's administrative collections (users, projects, roles, role
  assignments). `/v3/auth/...`, v2.0 and the rest stay out, so no request through the
  console can mint a token the page could read; `X-Subject-Token` is dropped from answers
  all the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol
from urllib.parse import urlencode

from strato.api.http import Request, Response

SERVICES = {"image": "/image", "identity": "/identity"}
"""Console path segment -> where the service's front-end is mounted."""
IDENTITY_COLLECTIONS = ("users", "projects", "roles", "role_assignments")
STRIPPED = ("cookie", "authorization", "x-auth-token", "x-storage-token", "x-service-token",
            "x-subject-token", "x-csrf-token")
DROPPED_ANSWER_HEADERS = ("www-authenticate", "x-subject-token")
FILE_CSP = "sandbox; default-src 'none'; frame-ancestors 'none'"


class Handler(Protocol):
    async def handle(self, request: Request) -> Response: ...


class NotProxied(Exception):
    """A path under a service the console does not pass on (404 to the page)."""


class ServiceProxy:
    """Forwards console requests to the image and identity front-ends with a token."""

    def __init__(self, handlers: Mapping[str, Handler]) -> None:
        self.handlers = {name: h for name, h in handlers.items() if name in SERVICES}

    def service_of(self, rest: str) -> str | None:
        """The service a path under `/console/api` is for (`rest` starts with `/`)."""
        name = rest.split("/", 2)[1] if rest.count("/") >= 1 else ""
        return name if name in self.handlers else None

    def target(self, name: str, rest: str) -> str:
        """The service's own path for `/console/api/<name>/...`, or NotProxied."""
        sub = rest[len(name) + 1:]
        segments = sub.split("/")[1:]
        if not segments or any(s in (".", "..") for s in segments):
            raise NotProxied(rest)
        if name == "image" and segments[0] != "v2":
            raise NotProxied(rest)
        if name == "identity" and (segments[0] != "v3" or len(segments) < 2
                                   or segments[1] not in IDENTITY_COLLECTIONS):
            raise NotProxied(rest)
        return SERVICES[name] + sub

    async def forward(self, request: Request, token: str, name: str, rest: str) -> Response:
        path = self.target(name, rest)
        headers = {k: v for k, v in request.headers.items() if k not in STRIPPED}
        headers["x-auth-token"] = token
        query_string = request.query_string or urlencode(request.query)
        inner = Request(request.scope, request.receive, request.method, path,
                        dict(request.query), headers, request.trans_id, query_string)
        response = await self.handlers[name].handle(inner)
        for header in list(response.headers):
            if header.lower() in DROPPED_ANSWER_HEADERS:
                del response.headers[header]
        if name == "image" and path.endswith("/file"):
            response.headers["Content-Security-Policy"] = FILE_CSP
        return response
