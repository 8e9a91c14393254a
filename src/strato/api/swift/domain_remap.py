"""Domain remap (`domain_remap`): accounts and containers as host names.

With `storage_domain` set (`--storage-domain storage.example.com`, several comma-separated),
a request whose `Host` is `<account>.storage.example.com` is served as
`/v1/<account>/<path>`, and one whose `Host` is `<container>.<account>.storage.example.com`
as `/v1/<account>/<container>/<path>` — so a static website (`X-Container-Meta-Web-Index`
with a public read ACL) is served from its own host name, through a wildcard DNS record
and no CNAME lookups. As in Swift, the account label may use `-` for the `_` DNS does not
allow (`auth-<project_id>` for `AUTH_<project_id>`), its reseller prefix in any case; a
label without a known prefix gets `domain_remap_default_reseller_prefix` if set, and is
otherwise left alone; more than two labels before the storage domain is a 400. A
`Location` (the static web's trailing-slash redirect) is written back in the host's terms.
`/info` lists `domain_remap` while a storage domain is set.
"""

from __future__ import annotations

import dataclasses
from urllib.parse import quote

from strato.api.http import Request, Response, text_response
from strato.api.swift.headers import header_text

PATH_ROOT = "v1"


@dataclasses.dataclass(frozen=True, slots=True)
class Remapped:
    request: Request
    requested: str
    """The client's own path, for `Location` headers."""


class DomainRemap:
    def __init__(self, storage_domains: list[str], reseller_prefixes: list[str],
                 default_reseller_prefix: str = "") -> None:
        self.domains = ["." + d.strip(".") for d in storage_domains if d.strip(".")]
        self.prefixes = [p.rstrip("_") for p in reseller_prefixes if p.rstrip("_")]
        self.lower = [p.lower() for p in self.prefixes]
        self.default_prefix = default_reseller_prefix.rstrip("_")

    def capabilities(self) -> dict[str, str | None]:
        return {"default_reseller_prefix": self.default_prefix or None}

    def remap(self, request: Request) -> Remapped | Response | None:
        """The request as the path its host names, a 400, or None (not a remapped host)."""
        # a label may be a UTF-8 container name (header values arrive as latin-1 text)
        host = header_text(request.headers.get("host", ""))
        if ":" in host:
            host = host.rsplit(":", 1)[0]
        domain = next((d for d in self.domains if host.endswith(d)), None)
        if domain is None:
            return None
        labels = host[:-len(domain)].strip(".").split(".")
        if len(labels) == 2:
            container, account = labels
        elif len(labels) == 1:
            container, account = None, labels[0]
        else:
            return text_response(400, "Bad domain in host header")
        if self.prefixes:
            if "_" not in account and "-" in account:
                account = account.replace("-", "_", 1)
            prefix = account.split("_", 1)[0].lower()
            if prefix in self.lower:
                real = self.prefixes[self.lower.index(prefix)]
                account = real + account[len(real):]
            elif self.default_prefix:
                account = f"{self.default_prefix}_{account}"
            else:
                return None
        parts = ["", PATH_ROOT, account, *([container] if container else []),
                 request.path[1:]]
        return Remapped(dataclasses.replace(request, path="/".join(parts)), request.path)

    @staticmethod
    def restore_location(response: Response, remapped: Remapped) -> None:
        """A `Location` naming the remapped path names the client's path instead."""
        location = response.headers.get("Location")
        if not location:
            return
        new = quote(remapped.request.path)
        scheme_end = location.find("://")
        start = location.find("/", scheme_end + 3) if scheme_end >= 0 else 0
        if start >= 0 and location[start:].startswith(new):
            response.headers["Location"] = (location[:start] + quote(remapped.requested)
                                            + location[start + len(new):])
