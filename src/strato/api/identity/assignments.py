"""Role grants (`/v3/{projects|domains}/{id}/users/{user}/roles[/{role}]`) and the
`/v3/role_assignments` query, with Keystone's `include_names` and filter parameters."""

from __future__ import annotations

from typing import Any

from strato.api.http import Request, Response, json_response
from strato.api.identity.common import IdentityApi, is_admin, links
from strato.api.identity.errors import KeystoneError
from strato.stores.metadata.records import RoleRecord


def role_json(api: IdentityApi, role: RoleRecord) -> dict[str, Any]:
    return {"id": role.id, "name": role.name, "domain_id": None, "description": "",
            "options": {}, "links": {"self": f"{api.v3_url}/roles/{role.id}"}}


async def handle_grant(api: IdentityApi, request: Request, parts: list[str]) -> Response:
    """parts: [projects|domains, target, users, user, roles, (role)]"""
    await api.admin(request)
    store = api.identity.store
    kind, target_id, _, user_id = parts[:4]
    role_id = parts[5] if len(parts) > 5 else None
    if len(parts) > 6:
        raise KeystoneError(404)
    on_project = kind == "projects"
    target = (await store.get_project(id=target_id) if on_project
              else await store.get_domain(id=target_id))
    if target is None:
        raise KeystoneError(404, f"Could not find {kind[:-1]}: {target_id}.")
    if await store.get_user(id=user_id) is None:
        raise KeystoneError(404, f"Could not find user: {user_id}.")
    scope = {"project_id": target_id} if on_project else {"domain_id": target_id}
    if role_id is None:
        if request.method not in ("GET", "HEAD"):
            raise KeystoneError(405)
        roles = await store.user_roles(user_id, **scope)
        return json_response(200, {"roles": [role_json(api, r) for r in roles],
                                   "links": links(f"{api.v3_url}/{'/'.join(parts)}")})
    role = await store.get_role(id=role_id)
    if role is None:
        raise KeystoneError(404, f"Could not find role: {role_id}.")
    if request.method == "PUT":
        await store.assign_role(role.id, user_id, **scope)
        return Response(204)
    held = {r.id for r in await store.user_roles(user_id, **scope)}
    if request.method in ("GET", "HEAD"):
        if role.id not in held:
            raise KeystoneError(404, "Could not find role assignment.")
        return Response(204)
    if request.method == "DELETE":
        if role.id not in held:
            raise KeystoneError(404, "Could not find role assignment.")
        await store.unassign_role(role.id, user_id, **scope)
        return Response(204)
    raise KeystoneError(405)


async def handle_role_assignments(api: IdentityApi, request: Request) -> Response:
    if request.method not in ("GET", "HEAD"):
        raise KeystoneError(405)
    caller = await api.caller(request)
    q = request.query
    user_id = q.get("user.id")
    if not is_admin(caller) and user_id != caller.user_id:
        raise KeystoneError(403)
    store = api.identity.store
    rows = await store.list_assignments(user_id=user_id, project_id=q.get("scope.project.id"),
                                        domain_id=q.get("scope.domain.id"),
                                        role_id=q.get("role.id"))
    names = "include_names" in q and q["include_names"].lower() in ("", "1", "true")
    result: list[dict[str, Any]] = []
    for row in rows:
        entry: dict[str, Any] = {"role": {"id": row.role_id}, "user": {"id": row.user_id}}
        scope_kind, scope_id = ("project", row.project_id) if row.project_id else (
            "domain", row.domain_id)
        entry["scope"] = {scope_kind: {"id": scope_id}}
        entry["links"] = {"assignment": f"{api.v3_url}/{scope_kind}s/{scope_id}/users/"
                                        f"{row.user_id}/roles/{row.role_id}"}
        if names:
            role = await store.get_role(id=row.role_id)
            user = await store.get_user(id=row.user_id)
            entry["role"]["name"] = role.name if role else None
            if user:
                entry["user"].update(name=user.name, domain={"id": user.domain_id})
            if row.project_id:
                project = await store.get_project(id=row.project_id)
                if project:
                    entry["scope"]["project"].update(name=project.name,
                                                     domain={"id": project.domain_id})
        result.append(entry)
    return json_response(200, {"role_assignments": result,
                               "links": links(f"{api.v3_url}/role_assignments")})
