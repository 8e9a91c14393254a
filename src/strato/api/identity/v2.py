"""Keystone v2.0 `POST /identity/v2.0/tokens`, for the clients that still call it directly
(swift `-V 2`, libcloud `2.0_password`, sregistry `keystonev2`, rclone with a v2.0 URL).

rclone sends `RAX-KSKEY:apiKeyCredentials` first when the key is long and falls back to
`passwordCredentials` only on 401/400, so that form is refused with 401.
"""

from __future__ import annotations

from typing import Any

from strato.api.http import Request, Response, json_response
from strato.api.identity.common import (
    IdentityApi,
    client_address,
    field,
    iso,
    member,
    read_json,
)
from strato.api.identity.discovery import v2_version
from strato.api.identity.errors import KeystoneError
from strato.domain.identity import (
    AuthContext,
    IssuedToken,
    ScopeRef,
    TooManyAttempts,
    Unauthorized,
    UserRef,
)


async def _authenticate(api: IdentityApi, request: Request) -> IssuedToken:
    body = await read_json(request)
    auth = member(body, "auth")
    tenant_id = field(auth, "tenantId", where="auth")
    tenant_name = field(auth, "tenantName", where="auth")
    scope = ScopeRef(project_id=tenant_id, project_name=None if tenant_id else tenant_name)
    service = api.identity
    try:
        creds = field(auth, "passwordCredentials", dict, where="auth")
        if creds is not None:
            name = member(creds, "username", kind=str)
            password = member(creds, "password", kind=str)
            user = await service.authenticate_password(UserRef(name=name), password,
                                                       client_address(request))
            return await service.issue_scoped(user, scope, ("password",))
        if field(auth, "token", dict, where="auth") is not None:
            token = member(auth, "token", "id", kind=str)
            return await service.rescope(token, scope)
    except TooManyAttempts as exc:
        raise KeystoneError(429, str(exc), {"Retry-After": str(exc.retry_after)}) from None
    except Unauthorized as exc:
        raise KeystoneError(401, str(exc)) from None
    raise KeystoneError(401, "Unsupported credentials; use passwordCredentials.")


def access_document(api: IdentityApi, token: str, ctx: AuthContext) -> dict[str, Any]:
    token_doc: dict[str, Any] = {"id": token, "issued_at": iso(ctx.issued_at),
                                 "expires": iso(ctx.expires_at)[:19] + "Z",
                                 "audit_ids": [ctx.audit_id]}
    if ctx.project_id:
        token_doc["tenant"] = {"id": ctx.project_id, "name": ctx.project_name,
                               "enabled": True, "description": ""}
    roles = [{"name": name} for name in ctx.roles]
    return {"access": {
        "token": token_doc,
        "user": {"id": ctx.user_id, "name": ctx.user_name, "username": ctx.user_name,
                 "roles": roles, "roles_links": []},
        "serviceCatalog": api.catalog.v2(api.base_url, api.region, ctx.project_id)
        if ctx.project_id else [],
        "metadata": {"is_admin": 0, "roles": list(ctx.role_ids)},
    }}


async def handle_v2(api: IdentityApi, request: Request, rest: str) -> Response:
    if rest in ("", "/"):
        if request.method not in ("GET", "HEAD"):
            raise KeystoneError(405)
        return json_response(200, {"version": {**v2_version(api.identity_url),
                                               "status": "deprecated"}})
    if rest in ("/tokens", "/tokens/"):
        if request.method != "POST":
            raise KeystoneError(405)
        issued = await _authenticate(api, request)
        return json_response(200, access_document(api, issued.token, issued.context))
    raise KeystoneError(404)
