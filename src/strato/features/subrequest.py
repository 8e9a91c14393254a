"""In-process subrequests: a feature asks the rest of the pipeline to do one more thing.

Bulk delete, archive extraction and SLO deletes act as the caller would on each item, so
every later feature (quotas, versioning, symlinks) and the core's own authorisation apply
to each item exactly as they would to a request the client sent itself — without any HTTP.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import quote

from strato.api.http import REASONS, Message, Request, Response
from strato.api.swift.context import SwiftRequest
from strato.api.swift.errors import SwiftError
from strato.api.swift.object import AUTHORIZE_OVERRIDE
from strato.api.swift.pipeline import Handler


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
                    query: dict[str, str] | None = None) -> SwiftRequest:
    """A request by the same caller; the client's own headers are not inherited."""
    path = "/v1/" + sr.account
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
    return SwiftRequest(request, sr.services, sr.account, container, obj, sr.auth, state)


async def run(call_next: Handler, sub: SwiftRequest) -> Response:
    """The response, with errors the core raises turned into responses."""
    try:
        response = await call_next(sub)
    except SwiftError as exc:
        return Response(exc.status, dict(exc.headers), (exc.message or "").encode())
    body = response.body
    if not isinstance(body, bytes):
        aclose = getattr(body, "aclose", None)
        if aclose is not None:
            await aclose()
        response.body = b""
    return response
