"""Per-request state of the image front-end: the request, the caller, the services."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

import orjson

from strato.api.http import BadRequest as HttpBadRequest
from strato.api.http import Request
from strato.domain.images.model import BadRequest, ImageCaller, QuotaExceeded

if TYPE_CHECKING:
    from strato.api.image.router import ImageApi

MAX_JSON = 1 << 20


@dataclass(slots=True)
class ImageRequest:
    request: Request
    api: ImageApi
    caller: ImageCaller

    @property
    def params(self) -> list[tuple[str, str]]:
        """The query in order, repeated keys kept (`tag=a&tag=b`)."""
        return parse_qsl(self.request.query_string, keep_blank_values=True)


async def read_json(request: Request) -> Any:
    try:
        raw = await request.body(MAX_JSON)
    except HttpBadRequest as exc:
        if exc.status == 413:
            raise QuotaExceeded("Request body too large") from None
        raise BadRequest(str(exc)) from None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise BadRequest("Malformed JSON in request body.") from None
