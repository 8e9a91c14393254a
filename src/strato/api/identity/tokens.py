"""`/identity/v3/auth/...`: issue, validate, revoke tokens; the caller's catalog and scopes.

Methods: `password` (user by id, or by name in a domain given by id or name; no domain means
`default`, because keystoneauth and rclone send none when the cloud has no domain keys),
`token` (rescoping, never extending the lifetime) and `application_credential`. Scope: a
project (id, or name in a domain), a domain, `"unscoped"`, or nothing (the user's default
project, as Keystone does).
"""

from __future__ import annotations

from typing import Any

from strato.api.http import Request, Response, json_response
from strato.api.identity.common import (
    IdentityApi,
    client_address,
    field,
    invalid,
    is_admin,
    iso,
    links,
    member,
    read_json,
)
from strato.api.identity.errors import KeystoneError
from strato.domain.identity import (
    AuthContext,
    IssuedToken,
    ScopeRef,
    TooManyAttempts,
    Unauthorized,
    UserRef,
)


def _user_ref(user: dict[str, Any], where: str) -> UserRef:
    domain = field(user, "domain", dict, {}, where=where)
    user_id, name = field(user, "id", where=where), field(user, "name", where=where)
    if not user_id and not name:
        raise KeystoneError(400, "Expecting to find id or name in user.")
    return UserRef(id=user_id, name=name, domain_id=field(domain, "id", where=f"{where}/domain"),
                   domain_name=field(domain, "name", where=f"{where}/domain"))


def parse_scope(auth: dict[str, Any]) -> ScopeRef | None:
    """None when the request named no scope at all."""
    if "scope" not in auth:
        return None
    scope = auth["scope"]
    if scope == "unscoped":
        return ScopeRef(unscoped=True)
    if not isinstance(scope, dict):
        raise KeystoneError(400, "Invalid scope.")
    project = field(scope, "project", dict, where="scope")
    if project is not None:
        domain = field(project, "domain", dict, {}, where="scope/project")
        project_id = field(project, "id", where="scope/project")
        project_name = field(project, "name", where="scope/project")
        if not project_id and not project_name:
            raise KeystoneError(400, "Expecting to find id or name in project.")
        return ScopeRef(project_id=project_id, project_name=project_name,
                        project_domain_id=field(domain, "id", where="scope/project/domain"),
                        project_domain_name=field(domain, "name",
                                                  where="scope/project/domain"))
    domain = field(scope, "domain", dict, where="scope")
    if domain is not None:
        domain_id = field(domain, "id", where="scope/domain")
        domain_name = field(domain, "name", where="scope/domain")
        if not domain_id and not domain_name:
            raise KeystoneError(400, "Expecting to find id or name in domain.")
        return ScopeRef(domain_id=domain_id, domain_name=domain_name)
    if "system" in scope:
        raise KeystoneError(401, "System scope is not supported.")
    if "OS-TRUST:trust" in scope:
        raise KeystoneError(401, "Trusts are not supported.")
    return None


async def authenticate(api: IdentityApi, request: Request) -> IssuedToken:
    body = await read_json(request)
    auth = member(body, "auth")
    methods = member(auth, "identity", "methods", kind=list)
    for method in methods:
        if not isinstance(method, str):
            raise invalid("identity/methods", method, str)
    identity_doc = auth["identity"]
    scope = parse_scope(auth)
    client = client_address(request)
    service = api.identity
    try:
        if "password" in methods:
            user_doc = member(identity_doc, "password", "user")
            password = member(user_doc, "password", kind=str)
            user_ref = _user_ref(user_doc, "identity/password/user")
            user = await service.authenticate_password(user_ref, password, client)
            return await service.issue_scoped(user, scope or ScopeRef(), ("password",))
        if "token" in methods:
            token = member(identity_doc, "token", "id", kind=str)
            if scope is None:
                current = await service.validate_token(token)
                if current is None:
                    raise Unauthorized("The token is not valid.")
                scope = ScopeRef(project_id=current.project_id, domain_id=current.domain_id,
                                 unscoped=not current.project_id and not current.domain_id)
            return await service.rescope(token, scope)
        if "application_credential" in methods:
            where = "identity/application_credential"
            doc = member(identity_doc, "application_credential")
            secret = member(doc, "secret", kind=str)
            user = field(doc, "user", dict, where=where)
            user_ref = _user_ref(user, f"{where}/user") if user is not None else None
            return await service.authenticate_app_credential(
                id=field(doc, "id", where=where), name=field(doc, "name", where=where),
                user=user_ref, secret=secret, client=client)
    except TooManyAttempts as exc:
        raise KeystoneError(429, str(exc), {"Retry-After": str(exc.retry_after)}) from None
    except Unauthorized as exc:
        raise KeystoneError(401, str(exc)) from None
    raise KeystoneError(401, f"Unsupported authentication methods: {methods!r}")


async def token_document(api: IdentityApi, ctx: AuthContext, *, catalog: bool
                         ) -> dict[str, Any]:
    store = api.identity.store
    user_domain = await store.get_domain(id=ctx.user_domain_id)
    token: dict[str, Any] = {
        "methods": list(ctx.methods),
        "user": {"id": ctx.user_id, "name": ctx.user_name, "password_expires_at": None,  # nosec B105  # a field name, no secret
                 "domain": {"id": ctx.user_domain_id,
                            "name": user_domain.name if user_domain else ctx.user_domain_id}},
        "audit_ids": [ctx.audit_id],
        "expires_at": iso(ctx.expires_at),
        "issued_at": iso(ctx.issued_at),
    }
    if ctx.project_id:
        domain = await store.get_domain(id=ctx.project_domain_id)
        token["project"] = {"id": ctx.project_id, "name": ctx.project_name,
                            "domain": {"id": ctx.project_domain_id,
                                       "name": domain.name if domain else ctx.project_domain_id}}
        token["is_domain"] = False
    elif ctx.domain_id:
        domain = await store.get_domain(id=ctx.domain_id)
        token["domain"] = {"id": ctx.domain_id, "name": domain.name if domain else ctx.domain_id}
    if ctx.project_id or ctx.domain_id:
        token["roles"] = [{"id": rid, "name": name} for rid, name in zip(ctx.role_ids,
                                                                          ctx.roles, strict=True)]
        if catalog:
            token["catalog"] = api.catalog.v3(api.base_url, api.region, ctx.project_id)
    app_cred_id = ctx.extra.get("app_cred_id")
    if app_cred_id:
        record = await store.get_app_credential(id=str(app_cred_id))
        if record is not None:
            token["application_credential"] = {"id": record.id, "name": record.name,
                                               "restricted": not record.unrestricted}
    return token


def wants_catalog(request: Request) -> bool:
    return "nocatalog" not in request.query


async def issue(api: IdentityApi, request: Request) -> Response:
    issued = await authenticate(api, request)
    document = await token_document(api, issued.context, catalog=wants_catalog(request))
    return json_response(201, {"token": document}, {"X-Subject-Token": issued.token})


async def _subject(api: IdentityApi, request: Request) -> tuple[AuthContext, str]:
    caller = await api.caller(request)
    subject_token = request.headers.get("x-subject-token")
    if not subject_token:
        raise KeystoneError(400, "X-Subject-Token is required.")
    subject = await api.identity.validate_token(subject_token)
    if subject is None:
        raise KeystoneError(404, "Could not find token.")
    if not is_admin(caller) and subject.user_id != caller.user_id:
        raise KeystoneError(403)
    return subject, subject_token


async def handle_tokens(api: IdentityApi, request: Request) -> Response:
    method = request.method
    if method == "POST":
        return await issue(api, request)
    if method in ("GET", "HEAD"):
        subject, token = await _subject(api, request)
        document = await token_document(api, subject, catalog=wants_catalog(request))
        return json_response(200, {"token": document}, {"X-Subject-Token": token})
    if method == "DELETE":
        _, token = await _subject(api, request)
        await api.identity.revoke_token(token)
        return Response(204)
    raise KeystoneError(405)


async def handle_auth_lists(api: IdentityApi, request: Request, what: str) -> Response:
    """`/v3/auth/catalog`, `/v3/auth/projects`, `/v3/auth/domains` for the caller."""
    if request.method not in ("GET", "HEAD"):
        raise KeystoneError(405)
    ctx = await api.caller(request)
    url = f"{api.v3_url}/auth/{what}"
    store = api.identity.store
    if what == "catalog":
        if not ctx.project_id and not ctx.domain_id:
            raise KeystoneError(403, "An unscoped token has no catalog.")
        return json_response(200, {"catalog": api.catalog.v3(api.base_url, api.region,
                                                             ctx.project_id),
                                   "links": links(url)})
    if what == "projects":
        projects = [p for p in await store.user_projects(ctx.user_id) if p.enabled]
        return json_response(200, {"projects": [project_json(api, p) for p in projects],
                                   "links": links(url)})
    domains = []
    for domain in await store.list_domains():
        if domain.enabled and await store.user_roles(ctx.user_id, domain_id=domain.id):
            domains.append(domain_json(api, domain))
    return json_response(200, {"domains": domains, "links": links(url)})


def project_json(api: IdentityApi, project: Any) -> dict[str, Any]:
    return {"id": project.id, "name": project.name, "domain_id": project.domain_id,
            "enabled": project.enabled, "description": project.description,
            "is_domain": False, "parent_id": project.domain_id, "tags": [], "options": {},
            "links": {"self": f"{api.v3_url}/projects/{project.id}"}}


def domain_json(api: IdentityApi, domain: Any) -> dict[str, Any]:
    return {"id": domain.id, "name": domain.name, "enabled": domain.enabled,
            "description": domain.description, "tags": [], "options": {},
            "links": {"self": f"{api.v3_url}/domains/{domain.id}"}}
