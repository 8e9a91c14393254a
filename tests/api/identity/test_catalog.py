"""The catalog registry: one registration adds a service to every token's catalog."""

from __future__ import annotations

from strato.api.identity.catalog import Catalog, CatalogService

BASE = "https://cloud.example.com"


def test_a_service_joins_with_one_registration() -> None:
    catalog = Catalog()
    catalog.register(CatalogService("object-store", "swift", "/v1/AUTH_{project_id}"))
    catalog.register(CatalogService("image", "glance", "/image"))
    v3 = {s["type"]: s for s in catalog.v3(BASE, "RegionTwo", "p1")}
    assert v3["image"]["name"] == "glance"
    assert {e["url"] for e in v3["image"]["endpoints"]} == {f"{BASE}/image"}
    assert {e["region_id"] for e in v3["object-store"]["endpoints"]} == {"RegionTwo"}
    assert v3["object-store"]["endpoints"][0]["url"] == f"{BASE}/v1/AUTH_p1"
    v2 = {s["type"]: s for s in catalog.v2(BASE, "RegionTwo", "p1")}
    assert v2["image"]["endpoints"][0]["publicURL"] == f"{BASE}/image"


def test_project_endpoints_left_out_without_a_project() -> None:
    catalog = Catalog()
    catalog.register(CatalogService("identity", "keystone", "/identity", "/identity/v2.0"))
    catalog.register(CatalogService("object-store", "swift", "/v1/AUTH_{project_id}"))
    assert [s["type"] for s in catalog.v3(BASE, "RegionOne", None)] == ["identity"]
    v2 = catalog.v2(BASE, "RegionOne", "p")
    assert v2[0]["endpoints"][0]["publicURL"] == f"{BASE}/identity/v2.0"
