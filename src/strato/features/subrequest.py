"""Sub-requests: a feature asking the rest of the pipeline for another path, as the caller.

Swift's middlewares do this with `make_subrequest`; here a sub-request is a copy of the
`SwiftRequest` with another target, method or headers. It keeps the caller's token, so the
core handlers authorise it exactly as if the client had asked.
"""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import quote

from strato.api.swift.context import SwiftRequest
from strato.api.swift.object import AUTHORIZE_OVERRIDE
from strato.stores.metadata.records import ContainerRecord

CONDITIONAL_HEADERS = ("if-match", "if-none-match", "if-modified-since", "if-unmodified-since",
                       "range")


def subrequest(sr: SwiftRequest, *, account: str | None = None, container: str | None = None,
               obj: str | None = None, method: str | None = None,
               headers: dict[str, str] | None = None, query: dict[str, str] | None = None,
               keep_override: bool = False) -> SwiftRequest:
    """A new request for `account/container/obj` (each defaults to the original's)."""
    account = sr.account if account is None else account
    container = sr.container if container is None else container
    obj = sr.obj if obj is None else obj
    path = "/v1/" + "/".join(p for p in (account, container, obj) if p)
    request = replace(sr.request, method=method or sr.request.method, path=path,
                      headers=dict(sr.request.headers if headers is None else headers),
                      query=dict(sr.request.query if query is None else query),
                      state={})
    state = {}
    if keep_override and sr.state.get(AUTHORIZE_OVERRIDE):
        state[AUTHORIZE_OVERRIDE] = sr.state[AUTHORIZE_OVERRIDE]
    return SwiftRequest(request, sr.services, account, container, obj, sr.auth, state)


def plain_headers(headers: dict[str, str]) -> dict[str, str]:
    """Request headers without conditionals and ranges (for metadata-only hops)."""
    return {k: v for k, v in headers.items() if k not in CONDITIONAL_HEADERS}


def quoted_path(account: str, container: str, obj: str) -> str:
    return quote(f"/v1/{account}/{container}/{obj}")


def may_write(sr: SwiftRequest, container: ContainerRecord | None) -> bool:
    """The caller may write into `container` (owner, write ACL, or an authorising feature)."""
    if sr.state.get(AUTHORIZE_OVERRIDE) or sr.is_owner:
        return True
    acl = container.meta.get("x-container-write") if container else None
    return sr.services.authorizer.can_write(sr.auth, acl)
