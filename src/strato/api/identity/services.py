"""Read-only `/v3/services`, `/v3/endpoints` and `/v3/regions`, rendered from the catalog
registry (services are registered in code, not through the API), for tools such as
`openstack endpoint list` and tempest that inspect the catalog administratively."""

from __future__ import annotations

from typing import Any

from strato.api.http import Request, Response, json_response
from strato.api.identity.common import IdentityApi, links
from strato.api.identity.errors import KeystoneError


def _services(api: IdentityApi) -> list[dict[str, Any]]:
    return [{"id": s.id, "type": s.type, "name": s.name, "enabled": True, "description": "",
             "links": {"self": f"{api.v3_url}/services/{s.id}"}}
            for s in api.catalog.services]


def _endpoints(api: IdentityApi) -> list[dict[str, Any]]:
    result = []
    for service in api.catalog.v3(api.base_url, api.region, "$(project_id)s"):
        for endpoint in service["endpoints"]:
            result.append({**endpoint, "service_id": service["id"], "enabled": True,
                           "links": {"self": f"{api.v3_url}/endpoints/{endpoint['id']}"}})
    return result


async def handle_catalog_admin(api: IdentityApi, request: Request, parts: list[str]
                               ) -> Response:
    if request.method not in ("GET", "HEAD"):
        raise KeystoneError(403, "Services and endpoints are registered by the server "
                            "itself and cannot be changed through the API.")
    await api.admin(request)
    kind = parts[0]
    if kind == "regions":
        items: list[dict[str, Any]] = [
            {"id": api.region, "description": "", "parent_region_id": None,
             "links": {"self": f"{api.v3_url}/regions/{api.region}"}}]
    elif kind == "services":
        items = _services(api)
        wanted = request.query.get("type")
        items = [i for i in items if wanted is None or i["type"] == wanted]
    else:
        items = _endpoints(api)
        for key in ("interface", "service_id"):
            if key in request.query:
                items = [i for i in items if i[key] == request.query[key]]
    singular = kind[:-1]
    if len(parts) == 2:
        for item in items:
            if item["id"] == parts[1]:
                return json_response(200, {singular: item})
        raise KeystoneError(404, f"Could not find {singular}: {parts[1]}.")
    if len(parts) > 2:
        raise KeystoneError(404)
    return json_response(200, {kind: items, "links": links(f"{api.v3_url}/{kind}")})
