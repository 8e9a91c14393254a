"""Glance's error responses: the status, and a JSON body whose `message` both glanceclient
and openstacksdk read out for the user."""

from __future__ import annotations

from strato.api.http import REASONS, Response, json_response


class MethodNotAllowed(Exception):
    def __init__(self, allow: str) -> None:
        super().__init__(allow)
        self.allow = allow


def error_response(status: int, message: str, headers: dict[str, str] | None = None
                   ) -> Response:
    title = REASONS.get(status, "Error")
    return json_response(status, {"error": {"code": status, "title": title,
                                            "message": message}}, headers)
