"""`/v3/users/{user}/application_credentials[/{id}]`: a user's own named login secrets.

The secret is shown once, at creation; only its hash is stored. A credential logs in as its
user on its project with at most the roles it was created with; deleting it revokes the
tokens issued through it at once.
"""

from __future__ import annotations

from typing import Any

from strato.api.http import Request, Response, json_response
from strato.api.identity.common import (
    IdentityApi,
    field,
    invalid,
    is_admin,
    links,
    member,
    parse_iso,
    read_json,
    stored_time,
)
from strato.api.identity.errors import KeystoneError
from strato.domain.access_rules import InvalidRule, Rule, check_rule
from strato.domain.identity import AuthContext, IdentityConflict, IdentityNotFound, Unauthorized
from strato.stores.metadata.records import AccessRuleRecord, AppCredentialRecord


async def app_credential_json(api: IdentityApi, record: AppCredentialRecord
                              ) -> dict[str, Any]:
    roles = []
    for role_id in record.role_ids:
        role = await api.identity.store.get_role(id=role_id)
        if role is not None:
            roles.append({"id": role.id, "name": role.name, "domain_id": None})
    return {"id": record.id, "name": record.name, "description": record.description,
            "user_id": record.user_id, "project_id": record.project_id,
            "expires_at": stored_time(record.expires_at) if record.expires_at else None,
            "unrestricted": record.unrestricted, "roles": roles,
            "access_rules": [access_rule_json(api, record.user_id, rule)
                             for rule in record.access_rules or ()],
            "links": {"self": f"{api.v3_url}/users/{record.user_id}/application_credentials/"
                              f"{record.id}"}}


def access_rule_json(api: IdentityApi, user_id: str, rule: AccessRuleRecord
                     ) -> dict[str, Any]:
    return {"id": rule.id, "service": rule.service, "method": rule.method,
            "path": rule.path,
            "links": {"self": f"{api.v3_url}/users/{user_id}/access_rules/{rule.id}"}}


async def handle_access_rules(api: IdentityApi, request: Request, caller: AuthContext,
                              user_id: str, rest: list[str]) -> Response:
    """`/v3/users/{user}/access_rules[/{id}]`: the rules a user's application credentials
    hold. A rule lives as long as a credential uses it, so deleting one always finds it in
    use (Keystone keeps unused rules until deleted; here they go with their last user)."""
    if caller.user_id != user_id and not is_admin(caller):
        raise KeystoneError(403)
    rules = await api.identity.list_access_rules(user_id)
    if not rest:
        if request.method not in ("GET", "HEAD"):
            raise KeystoneError(405)
        wanted = {k: request.query[k] for k in ("service", "method", "path")
                  if k in request.query}
        docs = [access_rule_json(api, user_id, r) for r in rules
                if all(getattr(r, k) == v for k, v in wanted.items())]
        return json_response(200, {"access_rules": docs,
                                   "links": links(f"{api.v3_url}/users/{user_id}/access_rules")})
    found = next((r for r in rules if len(rest) == 1 and r.id == rest[0]), None)
    if found is None:
        raise KeystoneError(404, f"Could not find access rule: {'/'.join(rest)}.")
    if request.method in ("GET", "HEAD"):
        return json_response(200, {"access_rule": access_rule_json(api, user_id, found)})
    if request.method == "DELETE":
        raise KeystoneError(403, f"Cannot delete access rule {found.id}: it is in use by an "
                            "application credential.")
    raise KeystoneError(405)


async def handle_app_credentials(api: IdentityApi, request: Request, caller: AuthContext,
                                 user_id: str, rest: list[str]) -> Response:
    """Keystone's policy: owners manage their own; admins may read and delete any."""
    store = api.identity.store
    own = caller.user_id == user_id
    if not own and not (is_admin(caller) and request.method in ("GET", "HEAD", "DELETE")):
        raise KeystoneError(403)
    base = f"{api.v3_url}/users/{user_id}/application_credentials"
    if not rest:
        if request.method in ("GET", "HEAD"):
            records = await store.list_app_credentials(user_id)
            wanted = request.query.get("name")
            docs = [await app_credential_json(api, r) for r in records
                    if wanted is None or r.name == wanted]
            return json_response(200, {"application_credentials": docs, "links": links(base)})
        if request.method == "POST":
            return await _create(api, request, caller)
        raise KeystoneError(405)
    if len(rest) != 1:
        raise KeystoneError(404)
    record = await store.get_app_credential(id=rest[0])
    if record is None or record.user_id != user_id:
        raise KeystoneError(404, f"Could not find application credential: {rest[0]}.")
    if request.method in ("GET", "HEAD"):
        return json_response(200, {"application_credential":
                                   await app_credential_json(api, record)})
    if request.method == "DELETE":
        await store.delete_app_credential(record.id)
        return Response(204)
    raise KeystoneError(405)


async def _create(api: IdentityApi, request: Request, caller: AuthContext) -> Response:
    if not caller.project_id:
        raise KeystoneError(403, "A project-scoped token is required to create an "
                            "application credential.")
    if "application_credential" in caller.methods:
        raise KeystoneError(403, "An application credential cannot create another.")
    doc = member(await read_json(request), "application_credential")
    name = member(doc, "name", kind=str)
    where = "application_credential"
    secret = field(doc, "secret", nullable=True, where=where) or None
    expires_at = parse_iso(field(doc, "expires_at", nullable=True, where=where))
    description = field(doc, "description", str, "", nullable=True, where=where)
    unrestricted = field(doc, "unrestricted", bool, False, where=where)
    rules = field(doc, "access_rules", list, None, nullable=True, where=where)
    wanted_rules = None if rules is None else [_access_rule(r, f"{where}/access_rules")
                                                for r in rules]
    roles = field(doc, "roles", list, [], where=where)
    for role in roles:
        if not isinstance(role, dict):
            raise invalid(f"{where}/roles", role, dict)
        field(role, "id", where=f"{where}/roles")
        field(role, "name", where=f"{where}/roles")
    role_names = []
    for role in roles:
        if role.get("name"):
            role_names.append(role["name"])
        elif role.get("id"):
            held = await api.identity.store.get_role(id=role["id"])
            if held is None:
                raise KeystoneError(404, f"Could not find role: {role['id']}.")
            role_names.append(held.name)
    try:
        record, secret = await api.identity.create_app_credential(
            caller.user_id, caller.project_id, name, secret=secret,
            role_names=role_names or None, expires_at=expires_at, description=description,
            unrestricted=unrestricted, access_rules=wanted_rules)
    except IdentityConflict as exc:
        raise KeystoneError(409, str(exc)) from None
    except IdentityNotFound as exc:
        if str(exc).startswith("Could not find access rule"):
            raise KeystoneError(404, str(exc)) from None
        raise KeystoneError(403, str(exc)) from None
    except Unauthorized as exc:
        raise KeystoneError(403, str(exc)) from None
    body = await app_credential_json(api, record)
    body["secret"] = secret
    return json_response(201, {"application_credential": body})


def _access_rule(value: object, where: str) -> Rule | str:
    """A rule of a create body: an existing rule's id, or a new service, method and path."""
    if not isinstance(value, dict):
        raise invalid(where, value, dict)
    if "id" in value and not ({"service", "method", "path"} & value.keys()):
        rule_id = field(value, "id", str, where=where)
        return str(rule_id)
    try:
        return check_rule(value.get("service"), value.get("method"), value.get("path"))
    except InvalidRule as exc:
        raise KeystoneError(400, f"Invalid input for field '{where}': {exc}.") from None
