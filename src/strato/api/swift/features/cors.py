"""CORS: browsers on other origins may use a container, as Swift's proxy allows.

Container metadata sets the policy:

- `X-Container-Meta-Access-Control-Allow-Origin`: space-separated origins, or `*`;
- `X-Container-Meta-Access-Control-Max-Age`: seconds a browser may cache a preflight;
- `X-Container-Meta-Access-Control-Expose-Headers`: extra response headers to expose.

A preflight `OPTIONS` with `Origin` on a container or object answers 200 with
`Access-Control-Allow-Origin`, `-Allow-Methods`, `-Allow-Headers` (what was asked for) and
`-Max-Age`, or 401 when the origin or the requested method is not allowed. `OPTIONS`
without `Origin` answers 200 with `Allow`. Actual requests with an allowed `Origin` get
`Access-Control-Allow-Origin` and `Access-Control-Expose-Headers` (the simple headers,
`Etag`, `X-Timestamp`, `X-Trans-Id`, `X-Openstack-Request-Id`, the metadata headers of the
response and the container's list). `strict_cors_mode` is on: a request from an origin the
container does not allow gets no CORS headers. `--cors-allow-origin` adds origins allowed
on every container.

Swift does this in its proxy server for every controller response; here it wraps the whole
feature pipeline, so responses made by features (large objects, static web) carry the same
headers.
"""

from __future__ import annotations

from strato.api.http import Response
from strato.api.swift.context import SwiftRequest, SwiftServices
from strato.api.swift.errors import SwiftError, error_response
from strato.api.swift.pipeline import Feature, Handler

OBJECT_METHODS = "COPY, DELETE, GET, HEAD, OPTIONS, POST, PUT"
CONTAINER_METHODS = "DELETE, GET, HEAD, OPTIONS, POST, PUT"
ACCOUNT_METHODS = "DELETE, GET, HEAD, OPTIONS, POST, PUT"
SIMPLE_EXPOSE = ("cache-control", "content-language", "content-type", "expires",
                 "last-modified", "pragma", "etag", "x-timestamp", "x-trans-id",
                 "x-openstack-request-id")
META = "x-container-meta-access-control-"


def _vary(headers: dict[str, str], value: str) -> None:
    headers["Vary"] = f"{headers['Vary']}, {value}" if headers.get("Vary") else value


class CORS(Feature):
    name = "cors"

    def __init__(self, services: SwiftServices) -> None:
        super().__init__(services)
        settings = services.settings
        self.allow_origin = tuple(settings.cors_allow_origin) if settings is not None else ()
        self.expose = tuple(h.lower() for h in settings.cors_expose_headers) if (
            settings is not None) else ()

    async def handle(self, sr: SwiftRequest, call_next: Handler) -> Response:
        origin = sr.headers.get("origin")
        if sr.request.method == "OPTIONS":
            return await self._options(sr, origin)
        if not origin or sr.container is None:
            return await call_next(sr)
        try:
            response = await call_next(sr)
        except SwiftError as exc:  # Swift's controllers add CORS headers to errors too
            response = error_response(exc.status, exc.message, exc.headers)
        await self._decorate(sr, origin, response)
        return response

    async def _cors_meta(self, sr: SwiftRequest) -> dict[str, str]:
        assert sr.container is not None
        record = await sr.services.storage.get_container(sr.account, sr.container)
        if record is None:
            return {}
        return {k[len(META):]: v for k, v in record.meta.items() if k.startswith(META)}

    def _allowed(self, meta: dict[str, str], origin: str) -> bool:
        origins = set(meta.get("allow-origin", "").split()) | set(self.allow_origin)
        return origin in origins or "*" in origins

    async def _options(self, sr: SwiftRequest, origin: str | None) -> Response:
        methods = (OBJECT_METHODS if sr.obj is not None else
                   CONTAINER_METHODS if sr.container is not None else ACCOUNT_METHODS)
        headers = {"Allow": methods, "Content-Type": "text/html; charset=UTF-8"}
        if not origin or sr.container is None:
            return Response(200, headers, b"")
        meta = await self._cors_meta(sr)
        wanted = sr.headers.get("access-control-request-method")
        if not self._allowed(meta, origin) or wanted not in methods.split(", "):
            return Response(401, {"Content-Type": "text/html; charset=UTF-8"}, b"")
        if meta.get("allow-origin", "").strip() == "*":
            headers["Access-Control-Allow-Origin"] = "*"
        else:
            headers["Access-Control-Allow-Origin"] = origin
            _vary(headers, "Origin")
        if meta.get("max-age"):
            headers["Access-Control-Max-Age"] = meta["max-age"]
        headers["Access-Control-Allow-Methods"] = methods
        asked = [h.strip() for h in sr.headers.get("access-control-request-headers", "").split(",")
                 if h.strip()]
        if asked:
            headers["Access-Control-Allow-Headers"] = ", ".join(dict.fromkeys(asked))
            _vary(headers, "Access-Control-Request-Headers")
        return Response(200, headers, b"")

    async def _decorate(self, sr: SwiftRequest, origin: str, response: Response) -> None:
        meta = await self._cors_meta(sr)
        if not self._allowed(meta, origin):
            return  # strict_cors_mode
        headers = response.headers
        present = {k.lower() for k in headers}
        if "access-control-expose-headers" not in present:
            expose = list(SIMPLE_EXPOSE) + list(self.expose)
            expose += [k.lower() for k in headers
                       if k.lower().startswith(("x-container-meta-", "x-object-meta-"))]
            expose += [h.lower() for h in meta.get("expose-headers", "").split()]
            headers["Access-Control-Expose-Headers"] = ", ".join(dict.fromkeys(expose))
        if "access-control-allow-origin" not in present:
            if meta.get("allow-origin", "").strip() == "*":
                headers["Access-Control-Allow-Origin"] = "*"
            else:
                headers["Access-Control-Allow-Origin"] = origin
                _vary(headers, "Origin")

    def capabilities(self) -> None:
        return None
