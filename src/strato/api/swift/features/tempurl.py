"""Temporary URLs: time-limited, signed access to objects without a token.

Set a key on the account (`swift post -m Temp-URL-Key:secret`, also `Temp-URL-Key-2` for
rotation) or on a container (`X-Container-Meta-Temp-URL-Key(-2)`; it signs only objects in
that container), then sign `METHOD\\nEXPIRES\\nPATH` with HMAC:

    swift tempurl --digest sha256 GET 3600 /v1/AUTH_p/c/o secret

- `temp_url_sig`: hex HMAC-SHA1/SHA256/SHA512 (the digest follows from the length), or
  `sha1:`/`sha256:`/`sha512:` followed by the URL-safe base64 digest.
- `temp_url_expires`: Unix time, or ISO 8601 UTC (`2026-11-22T02:47:57Z`).
- `temp_url_prefix=p`: one signature for every object whose name starts with `p`; the
  signed path is `prefix:/v1/AUTH_p/c/p`.
- `temp_url_ip_range=203.0.113.0/24`: the signed text starts with `ip=<range>\\n` and only
  clients in that range (an address or a network) may use the URL.
- `filename=name` downloads as `attachment; filename=...`; `inline` shows it in the browser.

The signed methods are configurable (`--tempurl-methods`, default GET HEAD PUT POST DELETE);
a HEAD request is accepted with a HEAD, GET, PUT or POST signature. A bad, expired or
mismatched URL gets `401 Unauthorized: Temp URL invalid`. A temp URL request cannot create
a DLO manifest or symlink (`X-Object-Manifest`, `X-Symlink-Target` → 400), loses every
query parameter other than its own, and its responses hide `X-Object-Meta-*` except
`X-Object-Meta-Public-*`. Signatures are compared in constant time; the keys themselves are
shown only to account owners.

**HP Cloud compatibility**: `temp_url_sig=<project_id>:<access_key_id>:<hex hmac>` is signed
with the secret of a per-user access key (`strato access-key create --user U`) instead of
an account key. It is accepted while the key's user still owns the project's account.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import time
from email.utils import formatdate
from typing import Any
from urllib.parse import quote, unquote

from strato.api.http import Response
from strato.api.swift.context import SwiftRequest, SwiftServices
from strato.api.swift.object import AUTHORIZE_OVERRIDE, OVERRIDE_SCOPE
from strato.api.swift.pipeline import Feature, Handler
from strato.domain.access_keys import AccessKeyService
from strato.domain.signatures import (
    DIGESTS,
    parse_expires,
    parse_signature,
    sign,
)

log = logging.getLogger("strato.tempurl")

DEFAULT_METHODS = ("GET", "HEAD", "PUT", "POST", "DELETE")
TEMPURL = "tempurl"
"""`sr.state` key: set when a temp URL authorised the request (static web then stays out)."""
INCOMING_REMOVE = ("x-timestamp", "x-open-expired")
DISALLOWED = ("x-object-manifest", "x-symlink-target")
KEPT_QUERY = ("temp_url_sig", "temp_url_expires", "temp_url_prefix", "temp_url_ip_range",
              "filename", "inline")
INVALID_BODY = b"401 Unauthorized: Temp URL invalid\n"
CONTENT_GENERATOR = "X-Backend-Content-Generator"
"""Response header static web sets on pages it makes (the gatekeeper strips it)."""


async def scoped_keys(services: SwiftServices, account: str, container: str | None
                      ) -> list[tuple[str, str]]:
    """(key, scope) pairs: the account's keys (scope "account"), then the container's."""
    keys: list[tuple[str, str]] = []
    record = await services.storage.get_account(account)
    if record is not None:
        keys += [(record.meta[k], "account") for k in (
            "x-account-meta-temp-url-key", "x-account-meta-temp-url-key-2")
            if record.meta.get(k)]
    if container is not None:
        crecord = await services.storage.get_container(account, container)
        if crecord is not None:
            keys += [(crecord.meta[k], "container") for k in (
                "x-container-meta-temp-url-key", "x-container-meta-temp-url-key-2")
                if crecord.meta.get(k)]
    return keys


async def temp_url_keys(services: SwiftServices, account: str, container: str | None
                        ) -> list[str]:
    """The account's and (if named) the container's temp URL keys."""
    return [key for key, _ in await scoped_keys(services, account, container)]


def disposition(kind: str, filename: str) -> str:
    return (f"{kind}; filename=\"{quote(filename, safe=' /')}\"; "
            f"filename*=UTF-8''{quote(filename)}")


def invalid(method: str, account: str) -> Response:
    body = b"" if method == "HEAD" else INVALID_BODY
    return Response(401, {"Content-Type": "text/html; charset=UTF-8",
                          "Content-Length": str(len(INVALID_BODY)),
                          "Www-Authenticate": f'Swift realm="{quote(account)}"'}, body)


def out_of_scope(sr: SwiftRequest, scope: str) -> bool:
    """Whether a copy reaches past what the key covers (its account, or its container)."""
    targets: list[tuple[str, str]] = []
    if "x-copy-from" in sr.headers:
        container = unquote(sr.headers["x-copy-from"]).lstrip("/").partition("/")[0]
        targets.append((sr.headers.get("x-copy-from-account", sr.account), container))
    if sr.request.method == "COPY" and "destination" in sr.headers:
        container = unquote(sr.headers["destination"]).lstrip("/").partition("/")[0]
        targets.append((sr.headers.get("destination-account", sr.account), container))
    return any(account != sr.account or (scope == "container" and container != sr.container)
               for account, container in targets)


def client_in(request_client: Any, ip_range: str) -> bool:
    try:
        network = ipaddress.ip_network(ip_range, strict=False)
        address = ipaddress.ip_address((request_client or ("",))[0])
    except ValueError:
        return False
    return address in network


class TempURL(Feature):
    name = "tempurl"

    def __init__(self, services: SwiftServices) -> None:
        super().__init__(services)
        settings = services.settings
        self.methods = tuple(m.upper() for m in (
            settings.tempurl_methods if settings is not None else DEFAULT_METHODS))
        self.digests = tuple(d for d in (settings.tempurl_allowed_digests if settings
                                         is not None else DIGESTS) if d in DIGESTS)
        self.access_keys = AccessKeyService(services.storage.meta)

    def capabilities(self) -> dict[str, Any]:
        return {
            "methods": list(self.methods),
            "allowed_digests": list(self.digests),
            "deprecated_digests": ["sha1"] if "sha1" in self.digests else [],
            "incoming_remove_headers": list(INCOMING_REMOVE),
            "incoming_allow_headers": [],
            "outgoing_remove_headers": ["x-object-meta-*"],
            "outgoing_allow_headers": ["x-object-meta-public-*"],
            "hp_access_keys": True,
        }

    async def handle(self, sr: SwiftRequest, call_next: Handler) -> Response:
        query = sr.request.query
        sig = query.get("temp_url_sig")
        expires_text = query.get("temp_url_expires")
        if sig is None and expires_text is None:
            return await call_next(sr)
        method = sr.request.method
        scope = await self._valid(sr, sig or "", expires_text or "")
        if scope is None:
            log.info("temp URL refused: %s %s (%s)", method, sr.request.path,
                     sr.request.trans_id)
            return invalid(method, sr.account)
        if method not in ("GET", "HEAD", "OPTIONS"):
            for name in DISALLOWED:
                if name in sr.headers:
                    title = "-".join(p.capitalize() for p in name.split("-"))
                    return Response(400, {"Content-Type": "text/html; charset=UTF-8"},
                                    f"The header {title!r} is not allowed in this "
                                    "tempurl".encode())
        if out_of_scope(sr, scope):
            return invalid(method, sr.account)
        for name in INCOMING_REMOVE:
            sr.headers.pop(name, None)
        sr.request.query = {k: v for k, v in query.items() if k in KEPT_QUERY}
        sr.state[AUTHORIZE_OVERRIDE] = True
        sr.state[OVERRIDE_SCOPE] = (sr.account, sr.container if scope == "container" else None)
        sr.state[TEMPURL] = True
        response = await call_next(sr)
        generated = response.headers.get(CONTENT_GENERATOR) == "staticweb"
        if sr.obj is None and 200 <= response.status < 300 and not generated:
            return invalid(method, sr.account)  # only static web may answer at the root
        return self._outgoing(sr, response, generated)

    async def _valid(self, sr: SwiftRequest, sig: str, expires_text: str) -> str | None:
        """The matching key's scope ("account" or "container"), or None if invalid."""
        method = sr.request.method
        query = sr.request.query
        prefix = query.get("temp_url_prefix")
        # the container root is reachable with an empty prefix, for static web listings
        root = method in ("GET", "HEAD") and prefix == "" and sr.obj is None
        obj = "" if root else sr.obj
        if (not sig or not expires_text or method not in self.methods or obj is None
                or sr.container is None or not (root or obj.strip("/"))):
            return None
        expires = parse_expires(expires_text)
        if expires is None or expires < time.time():
            return None
        if prefix is not None and not obj.startswith(prefix):
            return None
        ip_range = query.get("temp_url_ip_range")
        if ip_range is not None and not client_in(sr.request.scope.get("client"), ip_range):
            return None
        base = f"/v1/{sr.account}/{sr.container}/"
        path = f"prefix:{base}{prefix}" if prefix is not None else base + obj
        methods = ("HEAD", "GET", "PUT", "POST") if method == "HEAD" else (method,)
        parts = sig.split(":")
        if len(parts) == 3:
            keys = [(key, "account") for key in await self._access_key(sr, parts[0], parts[1])]
            sig = parts[2]
        else:
            keys = await scoped_keys(sr.services, sr.account, sr.container)
        parsed = parse_signature(sig)
        if not keys or parsed is None or parsed[0] not in self.digests:
            return None
        digest, given = parsed
        scope = None
        for key, key_scope in keys:
            for signed_method in methods:
                expected = sign(key, digest, signed_method, expires, path, ip_range)
                if hmac.compare_digest(expected, given) and scope is None:
                    scope = key_scope
        if scope is not None:
            sr.state["tempurl_expires"] = expires
        return scope

    async def _access_key(self, sr: SwiftRequest, project_id: str, key_id: str) -> list[str]:
        """HP mode: the key's secret, if the key's user owns this account right now."""
        authorizer = sr.services.authorizer
        if sr.account != authorizer.storage_prefix + project_id:
            return []
        resolved = await self.access_keys.resolve(key_id, project_id)
        if resolved is None:
            return []
        record, roles = resolved
        wanted = {r.lower() for r in (*authorizer.operator_roles,
                                      authorizer.reseller_admin_role)}
        return [record.secret] if any(r.lower() in wanted for r in roles) else []

    def _outgoing(self, sr: SwiftRequest, response: Response, generated: bool) -> Response:
        headers = response.headers
        for name in list(headers):
            lower = name.lower()
            if lower.startswith("x-object-meta-") and not lower.startswith(
                    "x-object-meta-public-"):
                del headers[name]
        if sr.request.method in ("GET", "HEAD") and 200 <= response.status < 300:
            query = sr.request.query
            filename = query.get("filename")
            existing = next((v for k, v in headers.items()
                             if k.lower() == "content-disposition"), None)
            for name in [k for k in headers if k.lower() == "content-disposition"]:
                del headers[name]
            if "inline" in query or generated:
                value = disposition("inline", filename) if filename else "inline"
            elif filename:
                value = disposition("attachment", filename)
            elif existing:
                value = existing
            else:
                value = disposition("attachment", (sr.obj or "").rstrip("/").rsplit("/", 1)[-1])
            headers["Content-Disposition"] = value.replace("\n", "%0A")
            headers["Expires"] = formatdate(sr.state["tempurl_expires"], usegmt=True)
        return response
