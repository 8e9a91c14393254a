"""Administrative CRUD: `/v3/domains`, `/v3/projects`, `/v3/users`, `/v3/roles`.

Keystone's default policy: these calls need the `admin` role, except that users may read
themselves, list their own projects, change their own password and manage their own
application credentials. Deleting or disabling a user, project or role takes effect on the
next request on every worker, because tokens are checked against the store each time.
"""

from __future__ import annotations

from typing import Any

from strato.api.http import Request, Response, json_response
from strato.api.identity.app_credentials import handle_app_credentials
from strato.api.identity.assignments import handle_grant, handle_role_assignments, role_json
from strato.api.identity.common import (
    IdentityApi,
    client_address,
    field,
    is_admin,
    links,
    member,
    read_json,
)
from strato.api.identity.ec2 import handle_credentials, handle_os_ec2
from strato.api.identity.errors import KeystoneError
from strato.api.identity.groups import groups_response, handle_groups
from strato.api.identity.services import handle_catalog_admin
from strato.api.identity.tokens import domain_json, project_json
from strato.domain.identity import DEFAULT_DOMAIN_ID, PasswordRejected, Unauthorized, new_id
from strato.stores.metadata.base import Conflict
from strato.stores.metadata.records import (
    DomainRecord,
    ProjectRecord,
    RoleRecord,
    UserRecord,
)


def user_json(api: IdentityApi, user: UserRecord) -> dict[str, Any]:
    doc: dict[str, Any] = {"id": user.id, "name": user.name, "domain_id": user.domain_id,
                           "enabled": user.enabled, "password_expires_at": None,  # nosec B105  # a field name, no secret
                           "options": {}, "links": {"self": f"{api.v3_url}/users/{user.id}"}}
    if user.default_project_id:
        doc["default_project_id"] = user.default_project_id
    return doc


def _collection(api: IdentityApi, name: str, items: list[dict[str, Any]],
                request: Request) -> Response:
    wanted = request.query.get("name")
    if wanted is not None:
        items = [i for i in items if i.get("name") == wanted]
    for key in ("domain_id", "enabled"):
        if key in request.query:
            value: Any = request.query[key]
            if key == "enabled":
                value = value.lower() not in ("0", "false", "no")
            items = [i for i in items if i.get(key) == value]
    return json_response(200, {name: items, "links": links(f"{api.v3_url}/{name}")})


def _description(doc: dict[str, Any], kind: str, current: str) -> str:
    """A PATCH's description: unchanged when absent, "" when null."""
    if "description" not in doc:
        return current
    return str(field(doc, "description", str, "", nullable=True, where=kind))


def _conflict(kind: str) -> KeystoneError:
    return KeystoneError(409, f"Conflict occurred attempting to store {kind} - Duplicate entry.")


async def handle_admin(api: IdentityApi, request: Request, parts: list[str]) -> Response:
    head = parts[0]
    if len(parts) >= 5 and head in ("projects", "domains") and parts[2] in ("users", "groups") \
            and parts[4] == "roles":
        return await handle_grant(api, request, parts)
    if head == "role_assignments" and len(parts) == 1:
        return await handle_role_assignments(api, request)
    if head == "application_credentials":
        caller = await api.caller(request)
        return await handle_app_credentials(api, request, caller, caller.user_id, parts[1:])
    if head == "users":
        return await _users(api, request, parts[1:])
    if head == "groups":
        return await handle_groups(api, request, parts[1:])
    if head == "credentials":
        return await handle_credentials(api, request, parts[1:])
    if head in ("services", "endpoints", "regions"):
        return await handle_catalog_admin(api, request, parts)
    if head == "projects" and len(parts) <= 2:
        return await _projects(api, request, parts[1:])
    if head == "domains" and len(parts) <= 2:
        return await _domains(api, request, parts[1:])
    if head == "domains" and parts[2:4] == ["config", "security_compliance"] and len(parts) <= 5:
        return await _security_compliance(api, request, parts[1], parts[4:])
    if head == "roles" and len(parts) <= 2:
        return await _roles(api, request, parts[1:])
    raise KeystoneError(404)


async def _domains(api: IdentityApi, request: Request, rest: list[str]) -> Response:
    store = api.identity.store
    caller = await api.caller(request)
    if rest and request.method in ("GET", "HEAD") and rest[0] in (
            caller.domain_id, caller.project_domain_id):
        # Keystone's get_domain: any token scoped to the domain or to one of its projects
        domain = await store.get_domain(id=rest[0])
        if domain is not None:
            return json_response(200, {"domain": domain_json(api, domain)})
    if not is_admin(caller):
        raise KeystoneError(403)
    if not rest:
        if request.method in ("GET", "HEAD"):
            return _collection(api, "domains", [domain_json(api, d)
                                                for d in await store.list_domains()], request)
        if request.method == "POST":
            doc = member(await read_json(request), "domain")
            name = member(doc, "name", kind=str)
            record = DomainRecord(field(doc, "id", where="domain") or new_id(), name,
                                  field(doc, "enabled", bool, True, where="domain"),
                                  field(doc, "description", str, "", nullable=True,
                                        where="domain"))
            try:
                await store.create_domain(record)
            except Conflict:
                raise _conflict("domain") from None
            return json_response(201, {"domain": domain_json(api, record)})
        raise KeystoneError(405)
    domain = await store.get_domain(id=rest[0])
    if domain is None:
        raise KeystoneError(404, f"Could not find domain: {rest[0]}.")
    if request.method in ("GET", "HEAD"):
        return json_response(200, {"domain": domain_json(api, domain)})
    if request.method == "PATCH":
        doc = member(await read_json(request), "domain")
        domain = DomainRecord(domain.id, field(doc, "name", str, domain.name, where="domain"),
                              field(doc, "enabled", bool, domain.enabled, where="domain"),
                              _description(doc, "domain", domain.description))
        try:
            await store.update_domain(domain)
        except Conflict:
            raise _conflict("domain") from None
        return json_response(200, {"domain": domain_json(api, domain)})
    if request.method == "DELETE":
        if domain.enabled:
            raise KeystoneError(403, "Cannot delete a domain that is enabled, please "
                                "disable it first.")
        try:
            await store.delete_domain(domain.id)
        except Conflict as exc:
            raise KeystoneError(409, str(exc)) from None
        return Response(204)
    raise KeystoneError(405)


async def _security_compliance(api: IdentityApi, request: Request, domain_id: str,
                               option: list[str]) -> Response:
    """Keystone's readable part of the domain config: the password rules, for any token
    (so a client can tell a user what a new password needs before it is refused)."""
    await api.caller(request)
    if request.method not in ("GET", "HEAD"):
        raise KeystoneError(405)
    if await api.identity.store.get_domain(id=domain_id) is None:
        raise KeystoneError(404, f"Could not find domain: {domain_id}.")
    rules = api.identity.rules
    config = {"password_regex": rules.regex or None,
              "password_regex_description": rules.description or None}
    if option:
        if option[0] not in config:
            raise KeystoneError(403, f"Reading the default for option {option[0]} in group "
                                "security_compliance is not supported")
        config = {option[0]: config[option[0]]}
    return json_response(200, {"config": config})


async def _projects(api: IdentityApi, request: Request, rest: list[str]) -> Response:
    store = api.identity.store
    caller = await api.caller(request)
    if not rest:
        if not is_admin(caller):
            raise KeystoneError(403)
        if request.method in ("GET", "HEAD"):
            return _collection(api, "projects", [project_json(api, p)
                                                 for p in await store.list_projects()], request)
        if request.method == "POST":
            doc = member(await read_json(request), "project")
            name = member(doc, "name", kind=str)
            domain_id = field(doc, "domain_id", where="project") or DEFAULT_DOMAIN_ID
            enabled = field(doc, "enabled", bool, True, where="project")
            description = field(doc, "description", str, "", nullable=True, where="project")
            if await store.get_domain(id=domain_id) is None:
                raise KeystoneError(400, f"Could not find domain: {domain_id}.")
            record = ProjectRecord(new_id(), name, domain_id, enabled, description)
            try:
                await store.create_project(record)
            except Conflict:
                raise _conflict("project") from None
            return json_response(201, {"project": project_json(api, record)})
        raise KeystoneError(405)
    project = await store.get_project(id=rest[0])
    if request.method in ("GET", "HEAD") and project is not None and (
            is_admin(caller) or project.id == caller.project_id):
        return json_response(200, {"project": project_json(api, project)})
    if not is_admin(caller):
        raise KeystoneError(403)
    if project is None:
        raise KeystoneError(404, f"Could not find project: {rest[0]}.")
    if request.method == "PATCH":
        doc = member(await read_json(request), "project")
        project = ProjectRecord(project.id, field(doc, "name", str, project.name,
                                                  where="project"),
                                project.domain_id,
                                field(doc, "enabled", bool, project.enabled, where="project"),
                                _description(doc, "project", project.description))
        try:
            await store.update_project(project)
        except Conflict:
            raise _conflict("project") from None
        return json_response(200, {"project": project_json(api, project)})
    if request.method == "DELETE":
        await store.delete_project(project.id)
        return Response(204)
    raise KeystoneError(405)


async def _roles(api: IdentityApi, request: Request, rest: list[str]) -> Response:
    store = api.identity.store
    caller = await api.caller(request)
    if not rest:
        if request.method in ("GET", "HEAD"):
            if not is_admin(caller):
                raise KeystoneError(403)
            return _collection(api, "roles", [role_json(api, r)
                                              for r in await store.list_roles()], request)
        if request.method == "POST":
            if not is_admin(caller):
                raise KeystoneError(403)
            name = member(await read_json(request), "role", "name", kind=str)
            record = RoleRecord(new_id(), name)
            try:
                await store.create_role(record)
            except Conflict:
                raise _conflict("role") from None
            return json_response(201, {"role": role_json(api, record)})
        raise KeystoneError(405)
    if not is_admin(caller):
        raise KeystoneError(403)
    role = await store.get_role(id=rest[0])
    if role is None:
        raise KeystoneError(404, f"Could not find role: {rest[0]}.")
    if request.method in ("GET", "HEAD"):
        return json_response(200, {"role": role_json(api, role)})
    if request.method == "PATCH":
        name = member(await read_json(request), "role", "name", kind=str)
        role = RoleRecord(role.id, name)
        try:
            await store.update_role(role)
        except Conflict:
            raise _conflict("role") from None
        return json_response(200, {"role": role_json(api, role)})
    if request.method == "DELETE":
        await store.delete_role(role.id)
        return Response(204)
    raise KeystoneError(405)


async def _users(api: IdentityApi, request: Request, rest: list[str]) -> Response:
    store = api.identity.store
    if len(rest) == 2 and rest[1] == "password":
        return await _change_password(api, request, rest[0])
    caller = await api.caller(request)
    if not rest:
        if not is_admin(caller):
            raise KeystoneError(403)
        if request.method in ("GET", "HEAD"):
            return _collection(api, "users", [user_json(api, u)
                                              for u in await store.list_users()], request)
        if request.method == "POST":
            return await _create_user(api, member(await read_json(request), "user"))
        raise KeystoneError(405)
    user = await store.get_user(id=rest[0])
    is_self = user is not None and user.id == caller.user_id
    if not is_self and not is_admin(caller):
        raise KeystoneError(403)
    if user is None:
        raise KeystoneError(404, f"Could not find user: {rest[0]}.")
    sub = rest[1] if len(rest) > 1 else None
    if sub == "application_credentials":
        return await handle_app_credentials(api, request, caller, user.id, rest[2:])
    if sub == "credentials" and rest[2:3] == ["OS-EC2"]:
        return await handle_os_ec2(api, request, caller, user.id, rest[3:])
    if sub == "projects" and len(rest) == 2 and request.method in ("GET", "HEAD"):
        projects = await store.user_projects(user.id)
        return json_response(200, {"projects": [project_json(api, p) for p in projects],
                                   "links": links(f"{api.v3_url}/users/{user.id}/projects")})
    if sub == "groups" and len(rest) == 2 and request.method in ("GET", "HEAD"):
        return groups_response(api, await store.user_groups(user.id),
                               f"{api.v3_url}/users/{user.id}/groups")
    if sub is not None:
        raise KeystoneError(404)
    if request.method in ("GET", "HEAD"):
        return json_response(200, {"user": user_json(api, user)})
    if not is_admin(caller):
        raise KeystoneError(403)
    if request.method == "PATCH":
        doc = member(await read_json(request), "user")
        name = field(doc, "name", str, user.name, where="user")
        enabled = field(doc, "enabled", bool, user.enabled, where="user")
        project_id = (field(doc, "default_project_id", nullable=True, where="user")
                      if "default_project_id" in doc else user.default_project_id)
        field(doc, "description", nullable=True, where="user")
        password = field(doc, "password", nullable=True, where="user")
        if password:
            _check_password(api, password)
        password_hash = (await api.identity.passwords.hash(password) if password
                         else user.password_hash)
        user = UserRecord(user.id, name, user.domain_id, password_hash, enabled, project_id,
                          user.extra)
        await store.update_user(user)
        return json_response(200, {"user": user_json(api, user)})
    if request.method == "DELETE":
        await store.delete_user(user.id)
        return Response(204)
    raise KeystoneError(405)


async def _change_password(api: IdentityApi, request: Request, user_id: str) -> Response:
    """`POST /v3/users/{id}/password`: a user changes its own password by proving the
    current one. As in Keystone the call needs no token (a user whose password expired
    has none); the original password is the proof, so failures count toward lockout."""
    if request.method != "POST":
        raise KeystoneError(405)
    doc = member(await read_json(request), "user")
    original = member(doc, "original_password", kind=str)
    new = member(doc, "password", kind=str)
    try:
        await api.identity.change_password(user_id, original, new, client_address(request))
    except Unauthorized:
        raise KeystoneError(401, "The request you have made requires authentication."
                            ) from None
    except PasswordRejected as exc:
        raise KeystoneError(400, str(exc)) from None
    return Response(204)


def _check_password(api: IdentityApi, password: str) -> None:
    try:
        api.identity.rules.check(password)
    except PasswordRejected as exc:
        raise KeystoneError(400, str(exc)) from None


async def _create_user(api: IdentityApi, doc: dict[str, Any]) -> Response:
    store = api.identity.store
    name = member(doc, "name", kind=str)
    domain_id = field(doc, "domain_id", where="user") or DEFAULT_DOMAIN_ID
    project_id = field(doc, "default_project_id", nullable=True, where="user")
    password = field(doc, "password", nullable=True, where="user")
    enabled = field(doc, "enabled", bool, True, where="user")
    field(doc, "description", nullable=True, where="user")
    if await store.get_domain(id=domain_id) is None:
        raise KeystoneError(400, f"Could not find domain: {domain_id}.")
    if project_id and await store.get_project(id=project_id) is None:
        raise KeystoneError(400, f"Could not find project: {project_id}.")
    if password:
        _check_password(api, password)
    password_hash = await api.identity.passwords.hash(password) if password else "!"
    record = UserRecord(new_id(), name, domain_id, password_hash, enabled, project_id)
    try:
        await store.create_user(record)
    except Conflict:
        raise _conflict("user") from None
    return json_response(201, {"user": user_json(api, record)})
