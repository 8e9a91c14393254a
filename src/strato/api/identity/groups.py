"""`/v3/groups`: sets of users whose roles hold for every member (admin role required),
and `/v3/users/{id}/groups`. Removing a member or a group takes its roles away from the
member's tokens on their next request."""

from __future__ import annotations

from typing import Any

from strato.api.http import Request, Response, json_response
from strato.api.identity.common import IdentityApi, field, links, member, read_json
from strato.api.identity.errors import KeystoneError
from strato.domain.identity import DEFAULT_DOMAIN_ID, new_id
from strato.stores.metadata.base import Conflict
from strato.stores.metadata.records import GroupRecord


def group_json(api: IdentityApi, group: GroupRecord) -> dict[str, Any]:
    return {"id": group.id, "name": group.name, "domain_id": group.domain_id,
            "description": group.description,
            "links": {"self": f"{api.v3_url}/groups/{group.id}"}}


def _user_json(api: IdentityApi, user: Any) -> dict[str, Any]:
    return {"id": user.id, "name": user.name, "domain_id": user.domain_id,
            "enabled": user.enabled, "links": {"self": f"{api.v3_url}/users/{user.id}"}}


def groups_response(api: IdentityApi, groups: list[GroupRecord], url: str) -> Response:
    return json_response(200, {"groups": [group_json(api, g) for g in groups],
                               "links": links(url)})


async def handle_groups(api: IdentityApi, request: Request, rest: list[str]) -> Response:
    await api.admin(request)
    store = api.identity.store
    method = request.method
    if not rest:
        if method in ("GET", "HEAD"):
            groups = await store.list_groups(request.query.get("domain_id"))
            wanted = request.query.get("name")
            return groups_response(api, [g for g in groups if wanted in (None, g.name)],
                                   f"{api.v3_url}/groups")
        if method == "POST":
            doc = member(await read_json(request), "group")
            name = member(doc, "name", kind=str)
            domain_id = field(doc, "domain_id", where="group") or DEFAULT_DOMAIN_ID
            description = field(doc, "description", str, "", nullable=True, where="group")
            if await store.get_domain(id=domain_id) is None:
                raise KeystoneError(400, f"Could not find domain: {domain_id}.")
            record = GroupRecord(new_id(), name, domain_id, description)
            try:
                await store.create_group(record)
            except Conflict:
                raise KeystoneError(409, "Conflict occurred attempting to store group - "
                                    "Duplicate entry.") from None
            return json_response(201, {"group": group_json(api, record)})
        raise KeystoneError(405)
    group = await store.get_group(id=rest[0])
    if group is None:
        raise KeystoneError(404, f"Could not find group: {rest[0]}.")
    if len(rest) == 1:
        if method in ("GET", "HEAD"):
            return json_response(200, {"group": group_json(api, group)})
        if method == "PATCH":
            doc = member(await read_json(request), "group")
            description = (field(doc, "description", str, "", nullable=True, where="group")
                           if "description" in doc else group.description)
            group = GroupRecord(group.id, field(doc, "name", str, group.name, where="group"),
                                group.domain_id, description)
            try:
                await store.update_group(group)
            except Conflict:
                raise KeystoneError(409, "Duplicate group name.") from None
            return json_response(200, {"group": group_json(api, group)})
        if method == "DELETE":
            await store.delete_group(group.id)
            return Response(204)
        raise KeystoneError(405)
    if rest[1] != "users" or len(rest) > 3:
        raise KeystoneError(404)
    if len(rest) == 2:
        if method not in ("GET", "HEAD"):
            raise KeystoneError(405)
        users = await store.group_members(group.id)
        return json_response(200, {"users": [_user_json(api, u) for u in users],
                                   "links": links(f"{api.v3_url}/groups/{group.id}/users")})
    user = await store.get_user(id=rest[2])
    if user is None:
        raise KeystoneError(404, f"Could not find user: {rest[2]}.")
    if method == "PUT":
        await store.add_group_member(group.id, user.id)
        return Response(204)
    is_member = user.id in {u.id for u in await store.group_members(group.id)}
    if not is_member:
        raise KeystoneError(404, f"User {user.id} is not a member of group {group.id}.")
    if method in ("GET", "HEAD"):
        return Response(204)
    if method == "DELETE":
        await store.remove_group_member(group.id, user.id)
        return Response(204)
    raise KeystoneError(405)
