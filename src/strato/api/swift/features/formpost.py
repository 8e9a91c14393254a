"""Form POST: browsers upload straight into a container with a signed HTML form.

The form posts `multipart/form-data` to `/v1/AUTH_p/container[/object_prefix]` with these
fields before the file fields:

    <input type="hidden" name="redirect" value="https://example.com/done" />
    <input type="hidden" name="max_file_size" value="104857600" />
    <input type="hidden" name="max_file_count" value="10" />
    <input type="hidden" name="expires" value="1795312060" />
    <input type="hidden" name="signature" value="<hmac>" />
    <input type="hidden" name="x_delete_after" value="86400" />   (or x_delete_at)
    <input type="file" name="file1" />

`signature` is the HMAC (SHA1/SHA256/SHA512 hex, or `<digest>:<base64url>`) of
`path\\nredirect\\nmax_file_size\\nmax_file_count\\nexpires` with one of the account's or
container's temp URL keys (see `tempurl`). Each file becomes the object
`<object_prefix><filename>`, streamed to storage as it arrives, with the part's
Content-Type; quotas apply.

Answers as Swift's `formpost` does: with `redirect`, `303 See Other` to
`redirect?status=201&message=` (or the failure's status and message); without it, a
text body such as `201 Created` or `400 Bad Request\\r\\nFormPost: Max File Count Exceeded`.
An expired form or a wrong signature gets 401 (`FormPost: Form Expired` /
`FormPost: Invalid Signature`), an `expires` past 9999-12-31 (which no HTTP date can carry,
as for temp URLs) `FormPost: Expires Out Of Range`, a file over `max_file_size` 400
`FormPost: max_file_size exceeded`.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

from strato.api.http import BadRequest, ClientDisconnect, Response
from strato.api.swift.constraints import MAX_DELETE_AT, check_object_name
from strato.api.swift.context import SwiftRequest
from strato.api.swift.errors import SwiftError
from strato.api.swift.features.multipart import MultipartError, MultipartReader, parse_disposition
from strato.api.swift.features.quotas import check_quota, limit_stream
from strato.api.swift.features.tempurl import temp_url_keys
from strato.api.swift.object import guess_type
from strato.api.swift.pipeline import Feature, Handler
from strato.domain.signatures import DIGESTS, MAX_EXPIRES, form_signature, parse_signature
from strato.domain.storage import ContainerNotFound, ObjectTooLarge, OlderThanStored

log = logging.getLogger("strato.formpost")

MAX_VALUE_LENGTH = 4096
STATUS_TEXT = {201: "201 Created", 202: "202 Accepted", 400: "400 Bad Request",
               401: "401 Unauthorized", 404: "404 Not Found", 413: "413 Request Entity Too Large",
               499: "499 Client Disconnect", 500: "500 Internal Error"}


class FormInvalid(Exception):
    """400 with `FormPost: <message>`."""


class FormUnauthorized(Exception):
    """401 with `FormPost: <Message Title-Cased>`."""


def _int(attributes: dict[str, str], name: str, message: str) -> int:
    try:
        return int(attributes.get(name) or 0)
    except ValueError:
        raise FormInvalid(message) from None


async def _capped(body: AsyncIterator[bytes], limit: int) -> AsyncIterator[bytes]:
    seen = 0
    async for chunk in body:
        seen += len(chunk)
        if seen > limit:
            raise FormInvalid("max_file_size exceeded")
        yield chunk


class FormPost(Feature):
    name = "formpost"

    def __init__(self, services: Any) -> None:
        super().__init__(services)
        settings = services.settings
        self.digests = tuple(d for d in (settings.tempurl_allowed_digests if settings
                                         is not None else DIGESTS) if d in DIGESTS)

    def capabilities(self) -> dict[str, Any]:
        return {"allowed_digests": list(self.digests),
                "deprecated_digests": ["sha1"] if "sha1" in self.digests else []}

    async def handle(self, sr: SwiftRequest, call_next: Handler) -> Response:
        if sr.request.method != "POST" or sr.container is None:
            return await call_next(sr)
        kind, params = parse_disposition(sr.headers.get("content-type", ""))
        if kind != "multipart/form-data" or not params.get("boundary"):
            return await call_next(sr)
        try:
            return await self._translate(sr, params["boundary"])
        except MultipartError:
            return self._plain(400, "FormPost: invalid starting boundary")
        except FormInvalid as exc:
            log.info("form POST refused: %s (%s)", exc, sr.request.trans_id)
            return self._plain(400, f"FormPost: {exc}")
        except FormUnauthorized as exc:
            log.info("form POST refused: %s (%s)", exc, sr.request.trans_id)
            return Response(401, {"Content-Type": "text/html; charset=UTF-8",
                                  "Www-Authenticate": f'Swift realm="{quote(sr.account)}"'},
                            f"FormPost: {str(exc).title()}".encode())
        except ClientDisconnect:
            raise SwiftError(499) from None
        except BadRequest as exc:
            raise SwiftError(exc.status, str(exc)) from None

    @staticmethod
    def _plain(status: int, text: str) -> Response:
        return Response(status, {"Content-Type": "text/plain"}, text.encode())

    async def _translate(self, sr: SwiftRequest, boundary: str) -> Response:
        reader = MultipartReader(sr.request.stream(), boundary)
        keys = await temp_url_keys(sr.services, sr.account, sr.container)
        attributes: dict[str, str] = {}
        status, message, file_count = 0, "", 0
        while (headers := await reader.next_part()) is not None:
            kind, params = parse_disposition(headers.get("content-disposition", ""))
            if kind == "form-data" and params.get("filename"):
                file_count += 1
                if file_count > _int(attributes, "max_file_count",
                                     "max_file_count not an integer"):
                    status, message = 400, "max file count exceeded"
                    break
                attributes["filename"] = params["filename"]
                if "content-type" not in attributes and "content-type" in headers:
                    attributes["content-type"] = (headers["content-type"]
                                                  or "application/octet-stream")
                status, message = await self._upload(sr, reader, attributes, keys)
                if status // 100 != 2:
                    break
            else:
                value = b""
                while (chunk := await reader.read()) is not None:
                    if len(value) < MAX_VALUE_LENGTH:
                        value += chunk[:MAX_VALUE_LENGTH - len(value)]
                if "name" in params:
                    attributes[params["name"].lower()] = value.decode(
                        "utf-8", "replace").rstrip("\r\n")
        if not status:
            status, message = 400, "no files to process"
        status_text = STATUS_TEXT.get(status, str(status))
        redirect = attributes.get("redirect")
        if not redirect:
            body = status_text + (f"\r\nFormPost: {message.title()}" if message else "")
            return self._plain(int(status_text.split()[0]), body)
        location = (redirect + ("&" if "?" in redirect else "?")
                    + f"status={quote(str(status))}&message={quote(message)}")
        html = f'<html><body><p><a href="{location}">Click to continue...</a></p></body></html>'
        return Response(303, {"Location": location, "Content-Type": "text/html; charset=UTF-8"},
                        html.encode())

    async def _upload(self, sr: SwiftRequest, reader: MultipartReader,
                      attributes: dict[str, str], keys: list[str]) -> tuple[int, str]:
        """Check the form's signature and limits, then stream one file into storage."""
        assert sr.container is not None
        if not keys:
            raise FormUnauthorized("invalid signature")
        max_file_size = _int(attributes, "max_file_size", "max_file_size not an integer")
        delete_at: int | None = None
        if "x_delete_at" in attributes:
            delete_at = _int(attributes, "x_delete_at",
                             "x_delete_at not an integer: Unix timestamp required.")
        if "x_delete_after" in attributes:
            delete_at = int(time.time()) + min(MAX_DELETE_AT, _int(
                attributes, "x_delete_after",
                "x_delete_after not an integer: Number of seconds required."))
        if delete_at is not None:  # capped as the X-Delete-At header is
            delete_at = min(delete_at, MAX_DELETE_AT)
        expires = _int(attributes, "expires", "expired not an integer")
        if expires < time.time():
            raise FormUnauthorized("form expired")
        if expires > MAX_EXPIRES:  # as for temp URLs: no date can carry it
            raise FormUnauthorized("expires out of range")
        parsed = parse_signature(attributes.get("signature") or "")
        if parsed is None or parsed[0] not in self.digests:
            raise FormUnauthorized("invalid signature")
        digest, given = parsed
        ok = False
        for key in keys:
            expected = form_signature(
                key, digest, sr.request.path, attributes.get("redirect") or "",
                attributes.get("max_file_size") or "0", attributes.get("max_file_count") or "0",
                attributes.get("expires") or "0")
            ok |= hmac.compare_digest(expected, given)
        if not ok:
            raise FormUnauthorized("invalid signature")
        name = (sr.obj or "") + attributes["filename"]
        try:
            check_object_name(name)
        except SwiftError as exc:
            return exc.status, exc.message or ""
        storage = sr.services.storage
        container = await storage.get_container(sr.account, sr.container)
        if container is None:
            return 404, ""
        body = _capped(reader.iter_part(), max_file_size)
        try:
            room = await check_quota(sr, sr.account, container, 0)
            if room is not None:
                body = limit_stream(body, room)
            await storage.put_object(
                container, name, body,
                content_type=attributes.get("content-type") or guess_type(name), meta={},
                delete_at=delete_at)
        except SwiftError as exc:
            return exc.status, exc.message or ""
        except ObjectTooLarge:
            return 413, "Your request is too large."
        except ContainerNotFound:
            return 404, ""
        except OlderThanStored:  # a newer write of the name won: Swift's PUT gives 202
            return 202, ""
        return 201, ""
