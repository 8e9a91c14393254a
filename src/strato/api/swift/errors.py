"""Swift's error responses, in one table: status, default HTML body, content type."""

from __future__ import annotations

import logging

from strato.api.http import REASONS, Response
from strato.domain.storage import InsufficientStorage, OlderThanStored, StorageService

log = logging.getLogger("strato.storage")

_DEFAULT_BODIES = {
    202: "The request is accepted for processing.",
    400: "The server could not comply with the request since it is either malformed or "
         "otherwise incorrect.",
    401: "This server could not verify that you are authorized to access the document you "
         "requested.",
    403: "Access was denied to this resource.",
    404: "The resource could not be found.",
    405: "The method is not allowed for this resource.",
    406: "The server could not provide the requested content type.",
    409: "There was a conflict when trying to complete your request.",
    411: "Length Required.",
    412: "A precondition for this request was not met.",
    413: "The body of your request was too large for this server.",
    416: "The Range requested is not available.",
    422: "The entity is unprocessable.",
    499: "The client disconnected during request.",
    500: "An error occurred.",
    503: "The server is currently unavailable. Please try again at a later time.",
}


class SwiftError(Exception):
    """Raised anywhere in the Swift front-end; rendered by the router."""

    def __init__(self, status: int, message: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message or REASONS.get(status, ""))
        self.status = status
        self.message = message
        self.headers = headers or {}


def insufficient_storage(drive: str) -> SwiftError:
    """Swift's 507 for a write that found no room, with its body naming the drive (here the
    storage policy, or `metadata` for the database)."""
    return SwiftError(507, "<html><h1>Insufficient Storage</h1><p>There was not enough space "
                      f"to save the resource. Drive: {drive}</p></html>",
                      {"Content-Type": "text/html; charset=UTF-8"})


def storage_error(exc: Exception, method: str, storage: StorageService) -> SwiftError | None:
    """Swift's answer to what any write path can meet in the store, for a client's request
    and a feature's sub-request alike; None for anything else. No room: 507, the policy's
    filesystem or the metadata database being full (for a container's or an account's row
    as much as an object's). A newer write of the name won: Swift's proxy turns its object
    servers' 409 into 202 for a PUT (COPY being one) and passes the 409 of a POST or DELETE
    on."""
    if isinstance(exc, InsufficientStorage):
        return insufficient_storage(exc.where)
    if isinstance(exc, OlderThanStored):
        return SwiftError(202 if method in ("PUT", "COPY") else 409)
    if storage.metadata_full(exc):
        log.warning("metadata store is full: a %s was refused (%s)", method, exc)
        return insufficient_storage("metadata")
    return None


def error_response(status: int, message: str | None = None,
                   headers: dict[str, str] | None = None) -> Response:
    """Plain text when there is a specific message (as Swift's constraints give), else HTML."""
    hdrs = dict(headers or {})
    if message is not None:  # a caller may keep Swift's HTML type for a specific text
        hdrs.setdefault("Content-Type", "text/plain; charset=UTF-8")
        body = message.encode("utf-8")
    else:
        hdrs["Content-Type"] = "text/html; charset=UTF-8"
        text = _DEFAULT_BODIES.get(status, "")
        body = f"<html><h1>{REASONS.get(status, '')}</h1><p>{text}</p></html>".encode()
    return Response(status, hdrs, body)
