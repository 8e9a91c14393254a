"""Swift v1.0 auth (`GET /auth/v1.0`): `X-Auth-User: project:user` + `X-Auth-Key`.

Wrong credentials get 401. A user locked out after too many failed logins from one client
gets 429 with `Retry-After` (seconds), as Keystone v3 and v2.0 answer, whatever the key.
"""

from __future__ import annotations

import logging
import time

from strato.api.http import Request, Response
from strato.api.swift.errors import error_response
from strato.domain.identity import IdentityService, TooManyAttempts, Unauthorized

log = logging.getLogger("strato.swift.auth")

AUTH_PATHS = ("/auth/v1.0", "/auth/v1.0/", "/auth/v1", "/auth/v1/", "/auth", "/auth/", "/v1.0",
              "/v1.0/")


async def handle_auth_v1(request: Request, identity: IdentityService, base_url: str,
                         account_prefix: str = "AUTH_") -> Response:
    if request.method not in ("GET", "HEAD"):
        return error_response(405, headers={"Allow": "GET, HEAD"})
    user = request.headers.get("x-auth-user") or request.headers.get("x-storage-user")
    key = request.headers.get("x-auth-key") or request.headers.get("x-storage-pass")
    if not user or key is None:
        return error_response(401)
    try:
        client = (request.scope.get("client") or ("",))[0]
        issued = await identity.authenticate_v1(user, key, client)
    except TooManyAttempts as exc:  # logged by the identity service, once per lockout
        return error_response(429, str(exc), headers={"Retry-After": str(exc.retry_after)})
    except Unauthorized:
        log.warning("v1 auth failed for user %r from %s", user,
                    (request.scope.get("client") or ("?",))[0])
        return error_response(401)
    ctx = issued.context
    storage_url = f"{base_url}/v1/{account_prefix}{ctx.project_id}"
    return Response(200, {
        "X-Storage-Url": storage_url,
        "X-Auth-Token": issued.token,
        "X-Storage-Token": issued.token,
        "X-Auth-Token-Expires": str(max(0, int(ctx.expires_at - time.time()))),
        "Content-Type": "text/plain; charset=UTF-8",
        "Content-Length": "0",
    })
