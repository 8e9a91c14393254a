"""Sub-requests: a feature asks the rest of the pipeline to act on another path, as the caller.

Swift's middlewares do this with `make_subrequest`; here no HTTP is involved. Two builders:
`make_subrequest` starts from a clean slate (the client's headers are not inherited; bulk
delete, archive extraction and SLO deletes act on each item as the caller would), while
`subrequest` copies the original request and retargets it (symlinks and versioning follow
or archive an object with the client's own headers). Either way the caller's token goes along,
so every later feature and the core's own authorisation apply exactly as they would to a
request the client sent itself.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any
from urllib.parse import quote

from strato.api.http import REASONS, Message, Request, Response
from strato.api.swift.acl import ACCOUNT_ACCESS
from strato.api.swift.context import READ_METHODS, READS, SwiftRequest
from strato.api.swift.errors import SwiftError, storage_error
from strato.api.swift.object import AUTHORIZE_OVERRIDE, OVERRIDE_SCOPE
from strato.api.swift.pipeline import PIPELINE, Handler


def status_line(status: int) -> str:
    return f"{status} {REASONS.get(status, '')}".rstrip()


def _receiver(body: AsyncIterator[bytes] | None):  # type: ignore[no-untyped-def]
    async def receive() -> Message:
        if body is None:
            return {"type": "http.request", "body": b"", "more_body": False}
        try:
            chunk = await anext(body)
        except StopAsyncIteration:
            return {"type": "http.request", "body": b"", "more_body": False}
        return {"type": "http.request", "body": chunk, "more_body": True}

    return receive


def make_subrequest(sr: SwiftRequest, method: str, container: str | None,
                    obj: str | None = None, *, headers: dict[str, str] | None = None,
                    body: AsyncIterator[bytes] | None = None,
                    query: dict[str, str] | None = None,
                    account: str | None = None) -> SwiftRequest:
    """A request by the same caller; the client's own headers are not inherited."""
    account = account or sr.account
    path = "/v1/" + account
    if container is not None:
        path += "/" + container
        if obj is not None:
            path += "/" + obj
    hdrs = dict(headers or {})
    if body is None:
        hdrs.setdefault("content-length", "0")
    query = query or {}
    request = Request(sr.request.scope, _receiver(body), method, path, query, hdrs,
                      sr.request.trans_id,
                      "&".join(f"{quote(k)}={quote(v)}" for k, v in query.items()))
    state = {}
    if sr.state.get(AUTHORIZE_OVERRIDE):
        state[AUTHORIZE_OVERRIDE] = sr.state[AUTHORIZE_OVERRIDE]
        if OVERRIDE_SCOPE in sr.state:  # a temp URL's reach stays limited
            state[OVERRIDE_SCOPE] = sr.state[OVERRIDE_SCOPE]
    return SwiftRequest(request, sr.services, account, container, obj, sr.auth, state)


async def run(call_next: Handler, sub: SwiftRequest) -> Response:
    """The response, with errors the core raises turned into responses: a full disk or a
    newer write is the one item's answer (as in Swift, where each sub-request has its own
    response), not the whole bulk request's."""
    try:
        try:
            response = await call_next(sub)
        except Exception as exc:
            error = storage_error(exc, sub.request.method, sub.services.storage)
            if error is None:
                raise
            raise error from None
    except SwiftError as exc:
        return Response(exc.status, dict(exc.headers), (exc.message or "").encode())
    body = response.body
    if not isinstance(body, bytes):
        aclose = getattr(body, "aclose", None)
        if aclose is not None:
            await aclose()
        response.body = b""
    return response

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
    state: dict[str, Any] = {}
    if PIPELINE in sr.state:
        state[PIPELINE] = sr.state[PIPELINE]
    if READS in sr.state and request.method in READ_METHODS:
        state[READS] = sr.state[READS]
    if account == sr.account and ACCOUNT_ACCESS in sr.state:
        state[ACCOUNT_ACCESS] = sr.state[ACCOUNT_ACCESS]
    if keep_override and sr.state.get(AUTHORIZE_OVERRIDE):
        state[AUTHORIZE_OVERRIDE] = sr.state[AUTHORIZE_OVERRIDE]
        if OVERRIDE_SCOPE in sr.state:  # a temp URL's reach stays limited
            state[OVERRIDE_SCOPE] = sr.state[OVERRIDE_SCOPE]
    return SwiftRequest(request, sr.services, account, container, obj, sr.auth, state)


def plain_headers(headers: dict[str, str]) -> dict[str, str]:
    """Request headers without conditionals and ranges (for metadata-only hops)."""
    return {k: v for k, v in headers.items() if k not in CONDITIONAL_HEADERS}


def quoted_path(account: str, container: str, obj: str) -> str:
    return quote(f"/v1/{account}/{container}/{obj}")
