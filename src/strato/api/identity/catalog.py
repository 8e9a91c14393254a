"""The service catalog: which services this cloud offers, and where.

Every service registers itself once (`CATALOG.register(...)`) with a path template below the
external base URL; the catalog is rendered per token in the v3 and v2.0 shapes. Endpoints
whose path needs a project (`{project_id}`) are left out of tokens that have none, as
Keystone does. One region, given as both `region` and `region_id` (clients read either).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

INTERFACES = ("public", "internal", "admin")


@dataclass(frozen=True, slots=True)
class CatalogService:
    type: str
    name: str
    path: str
    """Below the base URL; may contain `{project_id}`."""
    v2_path: str | None = None
    """Where v2.0 clients expect it, when that differs (identity: `/identity/v2.0`)."""

    @property
    def id(self) -> str:
        return _stable_id(self.type, self.name)

    def url(self, base: str, project_id: str | None, *, v2: bool = False) -> str | None:
        path = self.v2_path if v2 and self.v2_path else self.path
        if "{project_id}" in path:
            if not project_id:
                return None
            path = path.replace("{project_id}", project_id)
        return base + path


def _stable_id(*parts: str) -> str:
    return hashlib.md5("/".join(parts).encode(), usedforsecurity=False).hexdigest()


class Catalog:
    def __init__(self) -> None:
        self._services: dict[str, CatalogService] = {}

    def register(self, service: CatalogService) -> None:
        """Add or replace the service of this type."""
        self._services[service.type] = service

    @property
    def services(self) -> list[CatalogService]:
        return list(self._services.values())

    def v3(self, base: str, region: str, project_id: str | None) -> list[dict[str, Any]]:
        entries = []
        for service in self._services.values():
            url = service.url(base, project_id)
            if url is None:
                continue
            endpoints = [{"id": _stable_id(service.type, interface), "interface": interface,
                          "region": region, "region_id": region, "url": url}
                         for interface in INTERFACES]
            entries.append({"id": service.id, "type": service.type, "name": service.name,
                            "endpoints": endpoints})
        return entries

    def v2(self, base: str, region: str, project_id: str | None) -> list[dict[str, Any]]:
        entries = []
        for service in self._services.values():
            url = service.url(base, project_id, v2=True)
            if url is None:
                continue
            entries.append({"type": service.type, "name": service.name, "endpoints_links": [],
                            "endpoints": [{"id": _stable_id(service.type, "v2"),
                                           "region": region, "publicURL": url,
                                           "internalURL": url, "adminURL": url}]})
        return entries


CATALOG = Catalog()
CATALOG.register(CatalogService("identity", "keystone", "/identity", "/identity/v2.0"))
CATALOG.register(CatalogService("object-store", "swift", "/v1/AUTH_{project_id}"))
