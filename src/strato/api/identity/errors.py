"""Keystone's error form: `{"error": {"code", "title", "message"}}`, one table for the front-end."""

from __future__ import annotations

from strato.api.http import REASONS, Response, json_response

TITLES = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
          405: "Method Not Allowed", 409: "Conflict", 413: "Request Entity Too Large",
          415: "Unsupported Media Type", 429: "Too Many Requests", 500: "Internal Server Error"}

DEFAULT_MESSAGES = {
    401: "The request you have made requires authentication.",
    403: "You are not authorized to perform the requested action.",
    404: "Could not find the requested resource.",
}


class KeystoneError(Exception):
    """Raised anywhere in the identity front-end; rendered by the router."""

    def __init__(self, status: int, message: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        self.status = status
        self.message = message or DEFAULT_MESSAGES.get(status) or REASONS.get(status, "Error")
        self.headers = headers or {}
        super().__init__(self.message)


def error_response(exc: KeystoneError, identity_url: str) -> Response:
    headers = dict(exc.headers)
    if exc.status == 401:
        headers["WWW-Authenticate"] = f'Keystone uri="{identity_url}"'
    title = TITLES.get(exc.status, REASONS.get(exc.status, "Error"))
    return json_response(exc.status, {"error": {"code": exc.status, "title": title,
                                                "message": exc.message}}, headers)
