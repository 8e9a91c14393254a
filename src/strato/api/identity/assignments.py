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
    """parts: [projects|domains, target, users|groups, actor, roles, (role)]"""
    await api.admin(request)
    store = api.identity.store
    kind, target_id, actor_kind, actor_id = parts[:4]
    role_id = parts[5] if len(parts) > 5 else None
    if len(parts) > 6:
        raise KeystoneError(404)
    on_project = kind == "projects"
    target = (await store.get_project(id=target_id) if on_project
              else await store.get_domain(id=target_id))
    if target is None:
        raise KeystoneError(404, f"Could not find {kind[:-1]}: {target_id}.")
    is_group = actor_kind == "groups"
    actor = (await store.get_group(id=actor_id) if is_group
             else await store.get_user(id=actor_id))
    if actor is None:
        raise KeystoneError(404, f"Could not find {actor_kind[:-1]}: {actor_id}.")
    scope = {"project_id": target_id} if on_project else {"domain_id": target_id}
    roles_of = store.group_roles if is_group else store.user_roles
    if role_id is None:
        if request.method not in ("GET", "HEAD"):
            raise KeystoneError(405)
        roles = await roles_of(actor_id, **scope)
        return json_response(200, {"roles": [role_json(api, r) for r in roles],
                                   "links": links(f"{api.v3_url}/{'/'.join(parts)}")})
    role = await store.get_role(id=role_id)
    if role is None:
        raise KeystoneError(404, f"Could not find role: {role_id}.")
    if request.method == "PUT":
        if is_group:
            await store.assign_group_role(role.id, actor_id, **scope)
        else:
            await store.assign_role(role.id, actor_id, **scope)
        return Response(204)
    if is_group:
        held = {r.id for r in await store.group_roles(actor_id, **scope)}
    else:  # direct assignments only, as Keystone checks them
        held = {a.role_id for a in await store.list_assignments(user_id=actor_id, **scope)}
    if role.id not in held:
        raise KeystoneError(404, "Could not find role assignment.")
    if request.method in ("GET", "HEAD"):
        return Response(204)
    if request.method == "DELETE":
        if is_group:
            await store.unassign_group_role(role.id, actor_id, **scope)
        else:
            await store.unassign_role(role.id, actor_id, **scope)
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
    rows = await store.list_assignments(user_id=user_id, group_id=q.get("group.id"),
                                        project_id=q.get("scope.project.id"),
                                        domain_id=q.get("scope.domain.id"),
                                        role_id=q.get("role.id"))
    names = "include_names" in q and q["include_names"].lower() in ("", "1", "true")
    result: list[dict[str, Any]] = []
    for row in rows:
        actor_kind, actor_id = ("group", row.group_id) if row.group_id else ("user",
                                                                             row.user_id)
        entry: dict[str, Any] = {"role": {"id": row.role_id}, actor_kind: {"id": actor_id}}
        scope_kind, scope_id = ("project", row.project_id) if row.project_id else (
            "domain", row.domain_id)
        entry["scope"] = {scope_kind: {"id": scope_id}}
        entry["links"] = {"assignment": f"{api.v3_url}/{scope_kind}s/{scope_id}/"
                                        f"{actor_kind}s/{actor_id}/roles/{row.role_id}"}
        if names:
            role = await store.get_role(id=row.role_id)
            entry["role"]["name"] = role.name if role else None
            who = (await store.get_group(id=row.group_id) if row.group_id
                   else await store.get_user(id=row.user_id or ""))
            if who:
                entry[actor_kind].update(name=who.name, domain={"id": who.domain_id})
            if row.project_id:
                project = await store.get_project(id=row.project_id)
                if project:
                    entry["scope"]["project"].update(name=project.name,
                                                     domain={"id": project.domain_id})
        result.append(entry)
    return json_response(200, {"role_assignments": result,
                               "links": links(f"{api.v3_url}/role_assignments")})
