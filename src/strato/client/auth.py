"""Logging in: Swift v1.0, Keystone v3 (password, token, application credential) and v2.0,
or a token and storage URL obtained elsewhere. Each gives a `Token` with its catalog."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

from strato.client.errors import ConfigError, NotFound
from strato.client.transport import Transport

#: The service catalog in Keystone v3's form: [{"type", "name", "endpoints": [{"interface",
#: "region", "url"}]}]; v2.0 and v1.0 catalogs are converted to it.
Catalog = list[dict[str, Any]]


@dataclass(frozen=True)
class Token:
    value: str
    expires_at: dt.datetime | None = None
    catalog: Catalog = field(default_factory=list)
    user_id: str | None = None
    project_id: str | None = None

    def expires_within(self, seconds: float) -> bool:
        if self.expires_at is None:
            return False
        remaining = (self.expires_at - dt.datetime.now(dt.UTC)).total_seconds()
        return remaining < seconds


class Auth(Protocol):
    async def login(self, transport: Transport) -> Token: ...


def _parse_time(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def object_store_catalog(storage_url: str) -> Catalog:
    return [{"type": "object-store", "name": "swift", "endpoints": [
        {"interface": interface, "region": None, "url": storage_url}
        for interface in ("public", "internal", "admin")]}]


@dataclass(frozen=True)
class PreAuth:
    """A token and storage URL obtained elsewhere (`--os-auth-token --os-storage-url`)."""

    token: str
    storage_url: str

    async def login(self, transport: Transport) -> Token:
        return Token(self.token, catalog=object_store_catalog(self.storage_url))


@dataclass(frozen=True)
class SwiftV1Auth:
    """Swift's v1.0 auth: `X-Auth-User: project:user` and `X-Auth-Key`."""

    auth_url: str
    user: str
    key: str

    async def login(self, transport: Transport) -> Token:
        response = await transport.request("GET", self.auth_url, headers={
            "X-Auth-User": self.user, "X-Auth-Key": self.key})
        storage_url = response.headers.get("X-Storage-Url")
        token = response.headers.get("X-Auth-Token") or response.headers.get("X-Storage-Token")
        if not storage_url or not token:
            raise ConfigError(f"{self.auth_url} is not a Swift v1.0 auth endpoint "
                              "(no X-Storage-Url or X-Auth-Token in its answer)")
        expires = response.headers.get("X-Auth-Token-Expires")
        expires_at = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=float(expires))
                      if expires else None)
        return Token(token, expires_at, object_store_catalog(storage_url))


@dataclass(frozen=True)
class KeystoneAuth:
    """Keystone v3 (default) or v2.0. Password, token or application credential, whichever
    fields are given; the auth URL may name the version or leave it to discovery."""

    auth_url: str
    username: str | None = None
    user_id: str | None = None
    password: str | None = None
    user_domain_name: str | None = None
    user_domain_id: str | None = None
    project_name: str | None = None
    project_id: str | None = None
    project_domain_name: str | None = None
    project_domain_id: str | None = None
    domain_name: str | None = None
    domain_id: str | None = None
    token: str | None = None
    application_credential_id: str | None = None
    application_credential_name: str | None = None
    application_credential_secret: str | None = None
    version: str = "3"

    async def login(self, transport: Transport) -> Token:
        base = await self._versioned_url(transport)
        if base.rstrip("/").endswith("/v2.0"):
            return await self._login_v2(transport, base)
        return await self._login_v3(transport, base)

    async def _versioned_url(self, transport: Transport) -> str:
        """`.../v3` or `.../v2.0` as the URL names, else as the discovery document says."""
        path = urlsplit(self.auth_url).path.rstrip("/")
        if path.endswith(("/v3", "/v2.0")):
            return self.auth_url.rstrip("/")
        wanted = "v2.0" if self.version.startswith("2") else "v3"
        try:
            doc = (await transport.request("GET", self.auth_url.rstrip("/") + "/",
                                           ok=lambda s: s in (200, 300))).json() or {}
        except (NotFound, ValueError):
            doc = {}
        versions = doc.get("versions", {})
        values = versions.get("values", []) if isinstance(versions, dict) else versions
        if "version" in doc:
            values = [doc["version"]]
        for version in values:
            if str(version.get("id", "")).startswith(wanted):
                for link in version.get("links", []):
                    if link.get("rel") == "self":
                        return str(link["href"]).rstrip("/")
        return self.auth_url.rstrip("/") + "/" + wanted

    def _domain(self, name: str | None, ident: str | None) -> dict[str, str]:
        if ident:
            return {"id": ident}
        return {"name": name or self.domain_name or "Default"} if not self.domain_id \
            else {"id": self.domain_id}

    def _scope(self) -> dict[str, Any] | None:
        if self.project_id:
            return {"project": {"id": self.project_id}}
        if self.project_name:
            return {"project": {"name": self.project_name, "domain": self._domain(
                self.project_domain_name, self.project_domain_id)}}
        if self.domain_id or self.domain_name:
            return {"domain": {"id": self.domain_id} if self.domain_id
                    else {"name": self.domain_name}}
        return None

    def _identity_v3(self) -> dict[str, Any]:
        if self.application_credential_secret:
            cred: dict[str, Any] = {"secret": self.application_credential_secret}
            if self.application_credential_id:
                cred["id"] = self.application_credential_id
            elif self.application_credential_name:
                cred["name"] = self.application_credential_name
                cred["user"] = ({"id": self.user_id} if self.user_id else
                                {"name": self.username, "domain": self._domain(
                                    self.user_domain_name, self.user_domain_id)})
            else:
                raise ConfigError("an application credential needs its id or its name")
            return {"methods": ["application_credential"], "application_credential": cred}
        if self.password is not None:
            if self.user_id:
                user: dict[str, Any] = {"id": self.user_id}
            elif self.username:
                user = {"name": self.username, "domain": self._domain(
                    self.user_domain_name, self.user_domain_id)}
            else:
                raise ConfigError("a password login needs a username or user id")
            user["password"] = self.password
            return {"methods": ["password"], "password": {"user": user}}
        if self.token:
            return {"methods": ["token"], "token": {"id": self.token}}
        raise ConfigError("no credentials: give a password, a token or an application "
                          "credential secret")

    async def _login_v3(self, transport: Transport, base: str) -> Token:
        auth: dict[str, Any] = {"identity": self._identity_v3()}
        scope = None if self.application_credential_secret else self._scope()
        if scope:
            auth["scope"] = scope
        response = await transport.request("POST", base + "/auth/tokens", body=_json(
            {"auth": auth}), headers={"Content-Type": "application/json"})
        token = response.json()["token"]
        return Token(response.headers["X-Subject-Token"], _parse_time(token.get("expires_at")),
                     token.get("catalog", []), (token.get("user") or {}).get("id"),
                     (token.get("project") or {}).get("id"))

    async def _login_v2(self, transport: Transport, base: str) -> Token:
        auth: dict[str, Any] = {}
        if self.password is not None:
            auth["passwordCredentials"] = {"username": self.username, "password": self.password}
        elif self.token:
            auth["token"] = {"id": self.token}
        else:
            raise ConfigError("Keystone v2.0 takes a password or a token")
        if self.project_id:
            auth["tenantId"] = self.project_id
        elif self.project_name:
            auth["tenantName"] = self.project_name
        response = await transport.request("POST", base + "/tokens", body=_json({"auth": auth}),
                                           headers={"Content-Type": "application/json"})
        access = response.json()["access"]
        catalog = [{"type": service.get("type"), "name": service.get("name"), "endpoints": [
            {"interface": interface, "region": endpoint.get("region"), "url": endpoint[key]}
            for endpoint in service.get("endpoints", [])
            for interface, key in (("public", "publicURL"), ("internal", "internalURL"),
                                   ("admin", "adminURL")) if endpoint.get(key)]}
            for service in access.get("serviceCatalog", [])]
        token = access["token"]
        return Token(token["id"], _parse_time(token.get("expires")), catalog,
                     (access.get("user") or {}).get("id"),
                     (token.get("tenant") or {}).get("id"))


def _json(doc: Any) -> bytes:
    return json.dumps(doc).encode()


def select_endpoint(catalog: Catalog, service_type: str, *, region: str | None = None,
                    interface: str = "public") -> str | None:
    """The URL of `service_type` in the catalog for the region and interface asked."""
    interface = interface.removesuffix("URL")
    for service in catalog:
        if service.get("type") != service_type:
            continue
        for endpoint in service.get("endpoints", []):
            if endpoint.get("interface") != interface:
                continue
            where = endpoint.get("region_id") or endpoint.get("region")
            if region and where and where != region:
                continue
            return str(endpoint["url"]).rstrip("/")
    return None
