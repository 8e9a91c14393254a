"""Exceptions of the client: one per HTTP status a caller may want to catch, each carrying
the request id the server gave, so a failure can be found in the server's logs."""

from __future__ import annotations


class ClientError(Exception):
    """Anything the client raises."""


class ConfigError(ClientError):
    """The cloud configuration is missing something or contradicts itself."""


class ConnectionFailed(ClientError):
    """The server could not be reached (refused, reset, timed out), after the retries."""

    def __init__(self, method: str, url: str, reason: str) -> None:
        super().__init__(f"{method} {url}: {reason}")
        self.method, self.url, self.reason = method, url, reason


class ChecksumMismatch(ClientError):
    """Bytes that arrived (or were stored) differ from what was sent (or announced)."""


class ImageFailed(ClientError):
    """An image did not reach the status waited for; `reason` says why, as the server does."""

    def __init__(self, image_id: str, status: str, reason: str) -> None:
        super().__init__(f"image {image_id} is {status}: {reason}")
        self.image_id, self.status, self.reason = image_id, status, reason


class HTTPError(ClientError):
    """The server answered with an error status."""

    status: int = 0

    def __init__(self, status: int, method: str, url: str, detail: str = "",
                 request_id: str | None = None) -> None:
        message = f"{status} on {method} {url}"
        if detail:
            message += f": {detail}"
        if request_id:
            message += f" (request id {request_id})"
        super().__init__(message)
        self.status, self.method, self.url = status, method, url
        self.detail, self.request_id = detail, request_id


class BadRequest(HTTPError):
    status = 400


class Unauthorized(HTTPError):
    status = 401


class Forbidden(HTTPError):
    status = 403


class NotFound(HTTPError):
    status = 404


class Conflict(HTTPError):
    status = 409


class PreconditionFailed(HTTPError):
    status = 412


class RequestEntityTooLarge(HTTPError):
    status = 413


class RangeNotSatisfiable(HTTPError):
    status = 416


class UnprocessableEntity(HTTPError):
    status = 422


class TooManyRequests(HTTPError):
    status = 429


class ServerError(HTTPError):
    """Any 5xx."""

    status = 500


class ServiceUnavailable(ServerError):
    status = 503


class InsufficientStorage(ServerError):
    """The cloud has no room for the write (507): it will not make room in the seconds a
    retry waits, so it is not retried and a tree transfer stops at it."""

    status = 507


_BY_STATUS: dict[int, type[HTTPError]] = {
    cls.status: cls for cls in (
        BadRequest, Unauthorized, Forbidden, NotFound, Conflict, PreconditionFailed,
        RequestEntityTooLarge, RangeNotSatisfiable, UnprocessableEntity, TooManyRequests,
        ServerError, ServiceUnavailable, InsufficientStorage)
}


def error_for(status: int, method: str, url: str, detail: str = "",
              request_id: str | None = None) -> HTTPError:
    """The most specific exception for `status`."""
    cls = _BY_STATUS.get(status) or (ServerError if status >= 500 else HTTPError)
    error = cls(status, method, url, detail, request_id)
    error.status = status
    return error
