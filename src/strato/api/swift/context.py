"""Per-request state: the parsed target, the caller and the services, built once."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from strato.api.http import Request
from strato.api.swift.acl import Authorizer
from strato.domain.identity import AuthContext, IdentityService
from strato.domain.storage import StorageService


@dataclass(frozen=True, slots=True)
class SwiftServices:
    storage: StorageService
    identity: IdentityService
    authorizer: Authorizer
    base_url: str
    max_file_size: int
    settings: Any = None
    """The server settings (`strato.server.settings.Settings`), for feature options."""


@dataclass(slots=True)
class SwiftRequest:
    request: Request
    services: SwiftServices
    account: str
    container: str | None
    obj: str | None
    auth: AuthContext | None
    state: dict[str, Any] = field(default_factory=dict)
    """Per-request notes features leave for each other (like Swift's WSGI environ keys)."""

    @property
    def headers(self) -> dict[str, str]:
        return self.request.headers

    @property
    def is_owner(self) -> bool:
        return (self.services.authorizer.is_owner(self.auth, self.account)
                or self.state.get("account_access") == "admin")

    @property
    def account_reader(self) -> bool:
        """Granted reading the whole account by its account ACL (any level)."""
        return self.state.get("account_access") is not None

    @property
    def account_writer(self) -> bool:
        """Granted creating and deleting containers and objects by its account ACL."""
        return self.state.get("account_access") in ("admin", "read-write")

    @property
    def is_reseller(self) -> bool:
        return self.services.authorizer.is_reseller(self.auth)
