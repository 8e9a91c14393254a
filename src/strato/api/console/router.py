"""The web console's server side: `/console` on the same port as every API.

- `GET /console/` and `/console/static/*`: the page and its assets (plain JS modules and
  CSS shipped in the package; nothing fetched from elsewhere).
- `/console/session`: `POST` signs in (Keystone password or application credential; the
  token goes into a sealed `HttpOnly` cookie, see `session.py`), `GET` says who is signed
  in (with the CSRF token the page sends back), `DELETE` signs out and revokes the token.
- `GET /console/projects`, `PUT /console/session/project`: the user's projects and
  switching between them (a rescoped token).
- `POST /console/tempurl`, `POST /console/formpost`: sign a temp URL (an object or a prefix)
  or an upload form with the account's key, read (or set) through the Swift API with the
  user's own token, so only those Swift lets see the key get one (`sharing.py`).
- `GET /console/upload`: the upload page a form POST link opens; it needs no session (the
  signed fields travel in the link's fragment).
- `GET /console/usage`: an account's or container's usage now and over time, shown only
  to those Swift lets HEAD it (see `usage.py`).
- `/console/api/v1/...`: the Swift API itself. The request is handed in-process to the
  Swift front-end exactly as if it carried `X-Auth-Token`, so ACLs, quotas and every
  feature apply; the browser never sees the token.
- `/console/api/image/v2/...`, `/console/api/identity/v3/...`: Glance and Keystone the
  same way, with their own policies (see `services.py`).

Every state-changing request needs the session's `X-CSRF-Token`; every response carries a
CSP that allows only this origin's scripts and forbids framing.
"""

from __future__ import annotations

import logging
import mimetypes
import time
from collections.abc import Awaitable, Callable, Mapping
from importlib import resources
from typing import Any, Protocol
from urllib.parse import quote, urlencode

import orjson

from strato.api.console import sharing
from strato.api.console.services import Handler, NotProxied, ServiceProxy
from strato.api.console.session import (
    CSRF_HEADER,
    Sealer,
    Session,
    clear_cookie,
    cookie_value,
    load_key,
    set_cookie,
)
from strato.api.console.usage import UsageError, usage_response
from strato.api.http import BadRequest, Message, Request, Response, json_response
from strato.domain.identity import (
    AuthContext,
    IdentityService,
    ScopeRef,
    TooManyAttempts,
    Unauthorized,
    UserRef,
)
from strato.domain.usage import UsageHistory

log = logging.getLogger("strato.console")

PREFIX = "/console"
API = PREFIX + "/api"
SAFE_METHODS = ("GET", "HEAD")
MAX_FORM = 64 * 1024
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
       "connect-src 'self'; frame-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
       "form-action 'self'")
UPLOAD_CSP = CSP.replace("form-action 'self'", "form-action 'self' https: http:")
"""The upload page posts only to this server's Swift API (its script checks the link), but
an upload link with a redirect is a plain form submission that Swift answers with a 303 to
that other site, and browsers hold redirects after a submission to `form-action` too."""
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}
OBJECT_CSP = "sandbox; default-src 'none'; frame-ancestors 'none'"
"""For object bodies served through the console: an uploaded HTML page must not run as the
console's origin (sandbox makes it an opaque origin with no scripts)."""
PREVIEW_CSP = "sandbox; default-src 'none'; frame-ancestors 'self'"
"""For `?preview` (the object page frames a PDF): still sandboxed, but the console's own
pages may frame it. Chromium's PDF viewer works in a sandboxed frame; nothing else is
framed (images go in `<img>`, text is read and shown with textContent)."""
STRIPPED = ("cookie", "authorization", "x-auth-token", "x-storage-token", "x-service-token",
            CSRF_HEADER)


class SwiftHandler(Protocol):
    async def handle(self, request: Request) -> Response: ...


class ConsoleError(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None
                 ) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers or {}


def _client(request: Request) -> str:
    return str((request.scope.get("client") or ("",))[0])


def _secure(request: Request) -> bool:
    """Served over TLS, or behind a trusted proxy that said https (uvicorn sets the scheme
    from X-Forwarded-Proto only for `trusted_proxies`)."""
    return request.scope.get("scheme") == "https"


def _empty_receive() -> Any:
    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}
    return receive


class ConsoleFrontend:
    name = "console"

    def __init__(self, identity: IdentityService, swift: SwiftHandler, data_dir: Any,
                 storage_prefix: str, usage: UsageHistory | None = None,
                 services: Mapping[str, Handler] | None = None) -> None:
        self.identity = identity
        self.usage = usage
        self.swift = swift
        self.services = ServiceProxy(services or {})
        self.sealer = Sealer(load_key(data_dir))
        self.storage_prefix = storage_prefix
        self.assets = resources.files("strato.api.console") / "static"

    def owns(self, path: str) -> bool:
        return path == PREFIX or path.startswith(PREFIX + "/")

    async def handle(self, request: Request) -> Response:
        try:
            response = await self._dispatch(request)
        except ConsoleError as exc:
            response = json_response(exc.status, {"error": str(exc)}, exc.headers)
        except (BadRequest, UsageError) as exc:
            response = json_response(exc.status, {"error": str(exc)})
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    async def _dispatch(self, request: Request) -> Response:
        path, method = request.path, request.method
        if path.startswith(API + "/"):
            service = self.services.service_of(path[len(API):])
            if service is not None:
                return await self._service(request, service)
            return await self._proxy(request)
        if path in (PREFIX, PREFIX + "/"):
            return self._asset("index.html") if method in SAFE_METHODS else _405("GET")
        if path.startswith(PREFIX + "/static/"):
            return self._asset(path[len(PREFIX + "/static/"):])
        if path == PREFIX + "/session":
            if method == "POST":
                return await self._sign_in(request)
            if method in SAFE_METHODS:
                session, ctx = await self._session(request)
                return self._session_response(session, ctx)
            if method == "DELETE":
                return await self._sign_out(request)
            return _405("GET, POST, DELETE")
        if path == PREFIX + "/session/project":
            if method != "PUT":
                return _405("PUT")
            return await self._switch_project(request)
        if path == PREFIX + "/projects":
            if method not in SAFE_METHODS:
                return _405("GET")
            _, ctx = await self._session(request)
            projects = await self.identity.store.user_projects(ctx.user_id)
            return json_response(200, {"projects": sorted(
                ({"id": p.id, "name": p.name} for p in projects if p.enabled),
                key=lambda p: p["name"])})
        if path == PREFIX + "/usage" and self.usage is not None:
            if method not in SAFE_METHODS:
                return _405("GET")
            return await self._usage(request, self.usage)
        if path == PREFIX + "/tempurl":
            if method != "POST":
                return _405("POST")
            return await self._share(request, sharing.temp_url)
        if path == PREFIX + "/formpost":
            if method != "POST":
                return _405("POST")
            return await self._share(request, sharing.form_post)
        if path == PREFIX + "/upload":  # the form POST page: no session, see sharing.py
            if method not in SAFE_METHODS:
                return _405("GET")
            page = self._asset("upload.html")
            page.headers["Content-Security-Policy"] = UPLOAD_CSP
            return page
        raise ConsoleError(404, "Not found")

    # ---- assets ---------------------------------------------------------------------------
    def _asset(self, name: str) -> Response:
        if not name or "/" in name or name.startswith("."):
            raise ConsoleError(404, "Not found")
        file = self.assets / name
        if not file.is_file():
            raise ConsoleError(404, "Not found")
        ctype = mimetypes.guess_type(name)[0] or "application/octet-stream"
        if name.endswith(".js"):
            ctype = "text/javascript"
        if ctype.startswith("text/"):
            ctype += "; charset=utf-8"
        return Response(200, {"Content-Type": ctype, "Cache-Control": "no-cache"},
                        file.read_bytes())

    # ---- sessions -------------------------------------------------------------------------
    async def _session(self, request: Request, *, csrf: bool = False
                       ) -> tuple[Session, AuthContext]:
        """The live session; 401 (clearing the cookie) if there is none or its token no
        longer validates; 403 if `csrf` and the request lacks the session's CSRF token."""
        cookie = cookie_value(request.headers.get("cookie"))
        session = self.sealer.open(cookie) if cookie else None
        ctx = await self.identity.validate_token(session.token) if session else None
        if session is None or ctx is None or ctx.project_id is None:
            headers = {"Set-Cookie": clear_cookie(secure=_secure(request))} if cookie else {}
            raise ConsoleError(401, "Not signed in, or the session has ended.", headers)
        if csrf and not _same(request.headers.get(CSRF_HEADER, ""), session.csrf):
            raise ConsoleError(403, "Missing or wrong CSRF token.")
        return session, ctx

    def _session_response(self, session: Session, ctx: AuthContext,
                          headers: dict[str, str] | None = None) -> Response:
        return json_response(200, {
            "user": ctx.user_name, "user_id": ctx.user_id,
            "project": ctx.project_name, "project_id": ctx.project_id,
            "account": f"{self.storage_prefix}{ctx.project_id}",
            "roles": list(ctx.roles), "expires_at": ctx.expires_at,
            "csrf": session.csrf}, headers)

    def _issue(self, request: Request, token: str, ctx: AuthContext) -> Response:
        sealed = self.sealer.seal(token)
        max_age = max(1, int(ctx.expires_at - time.time()))
        return self._session_response(
            Session(token, self.sealer.csrf_for(token)), ctx,
            {"Set-Cookie": set_cookie(sealed, secure=_secure(request), max_age=max_age)})

    async def _sign_in(self, request: Request) -> Response:
        form = await _json_form(request)
        client = _client(request)
        try:
            if form.get("method") == "application_credential":
                issued = await self.identity.authenticate_app_credential(
                    id=_text(form, "id") or None, name=_text(form, "name") or None,
                    user=UserRef(name=_text(form, "user"),
                                 domain_name=_text(form, "domain") or "Default")
                    if _text(form, "user") else None,
                    secret=_text(form, "secret"), client=client)
            else:
                user = await self.identity.authenticate_password(
                    UserRef(name=_text(form, "user"),
                            domain_name=_text(form, "domain") or "Default"),
                    _text(form, "password"), client)
                project = _text(form, "project")
                scope = ScopeRef(project_name=project,
                                 project_domain_name=_text(form, "domain") or "Default"
                                 ) if project else ScopeRef()
                issued = await self.identity.issue_scoped(user, scope, ("password",))
        except TooManyAttempts as exc:
            raise ConsoleError(429, "Too many failed sign-ins; try again later.",
                               {"Retry-After": str(exc.retry_after)}) from None
        except Unauthorized as exc:
            raise ConsoleError(401, _sign_in_message(exc)) from None
        if issued.context.project_id is None:
            await self.identity.revoke_token(issued.token)
            raise ConsoleError(401, "The user has no project: name one to sign in to.")
        log.info("console sign-in: user %s project %s from %s", issued.context.user_name,
                 issued.context.project_name, client or "?")
        return self._issue(request, issued.token, issued.context)

    async def _sign_out(self, request: Request) -> Response:
        session, _ = await self._session(request, csrf=True)
        await self.identity.revoke_token(session.token)
        return Response(204, {"Set-Cookie": clear_cookie(secure=_secure(request))})

    async def _switch_project(self, request: Request) -> Response:
        session, _ = await self._session(request, csrf=True)
        form = await _json_form(request)
        try:
            issued = await self.identity.rescope(
                session.token, ScopeRef(project_id=_text(form, "project_id")))
        except Unauthorized as exc:
            raise ConsoleError(403, str(exc)) from None
        await self.identity.revoke_token(session.token)
        return self._issue(request, issued.token, issued.context)

    # ---- the Swift API --------------------------------------------------------------------
    def _swift_request(self, request: Request, token: str, method: str, path: str,
                       query: dict[str, str], headers: dict[str, str] | None = None,
                       body: bool = True) -> Request:
        hdrs = {k: v for k, v in (request.headers if headers is None else headers).items()
                if k not in STRIPPED}
        hdrs["x-auth-token"] = token
        return Request(request.scope, request.receive if body else _empty_receive(),
                       method, path, query, hdrs, request.trans_id,
                       urlencode(query, quote_via=quote))

    async def _proxy(self, request: Request) -> Response:
        session, _ = await self._session(request, csrf=request.method not in SAFE_METHODS)
        path = request.path[len(API):]
        if not path.startswith("/v1/"):
            raise ConsoleError(404, "Not found")
        query = dict(request.query)
        download = query.pop("download", None) is not None
        preview = query.pop("preview", None) is not None
        response = await self.swift.handle(
            self._swift_request(request, session.token, request.method, path, query))
        response.headers.pop("Www-Authenticate", None)
        if response.status == 401:  # the token stopped working between our check and Swift
            response.headers["Set-Cookie"] = clear_cookie(secure=_secure(request))
        if path.count("/") >= 4:  # an object: its bytes never run as this origin
            response.headers["Content-Security-Policy"] = PREVIEW_CSP if preview else OBJECT_CSP
            if preview:
                response.headers["X-Frame-Options"] = "SAMEORIGIN"
            if download and response.status < 300:
                name = path.rsplit("/", 1)[1]
                response.headers["Content-Disposition"] = (
                    f"attachment; filename*=UTF-8''{quote(name, safe='')}")
        return response

    async def _usage(self, request: Request, usage: UsageHistory) -> Response:
        session, ctx = await self._session(request)

        async def head(path: str) -> Response:
            return await self.swift.handle(self._swift_request(
                request, session.token, "HEAD", path, {}, {}, body=False))

        return await usage_response(usage, request, f"{self.storage_prefix}{ctx.project_id}",
                                    head)

    async def _service(self, request: Request, name: str) -> Response:
        """The image or identity API with the user's token (`services.py`)."""
        session, _ = await self._session(request, csrf=request.method not in SAFE_METHODS)
        try:
            response = await self.services.forward(request, session.token, name,
                                                   request.path[len(API):])
        except NotProxied:
            raise ConsoleError(404, "Not found") from None
        if response.status == 401:  # the token stopped working between our check and theirs
            response.headers["Set-Cookie"] = clear_cookie(secure=_secure(request))
        return response

    async def _share(self, request: Request, sign_with: Callable[
            [sharing.SwiftCall, str, dict[str, Any]], Awaitable[dict[str, Any]]]) -> Response:
        """A temp URL or form POST (see `sharing.py`), signed with the account's key as the
        user may read it through the Swift API."""
        session, ctx = await self._session(request, csrf=True)
        form = await _json_form(request)

        async def call(method: str, path: str, headers: dict[str, str]) -> Response:
            return await self.swift.handle(self._swift_request(
                request, session.token, method, path, {}, headers, body=False))

        try:
            document = await sign_with(call, f"/v1/{self.storage_prefix}{ctx.project_id}",
                                       form)
        except sharing.Refused as exc:
            raise ConsoleError(exc.status, str(exc)) from None
        return json_response(200, document)


def _405(allow: str) -> Response:
    return json_response(405, {"error": "Method not allowed"}, {"Allow": allow})


def _same(a: str, b: str) -> bool:
    import hmac

    return hmac.compare_digest(a.encode(), b.encode())


def _text(form: dict[str, Any], name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _sign_in_message(exc: Unauthorized) -> str:
    text = str(exc)
    if "requires authentication" in text:
        return "Wrong user name, password or credential."
    return text


async def _json_form(request: Request) -> dict[str, Any]:
    """A small JSON document. Requiring `application/json` also keeps cross-site HTML
    forms out (they cannot send that content type without a CORS preflight)."""
    if not request.headers.get("content-type", "").startswith("application/json"):
        raise ConsoleError(415, "Send JSON (Content-Type: application/json).")
    try:
        document = orjson.loads(await request.body(MAX_FORM))
    except orjson.JSONDecodeError:
        raise ConsoleError(400, "The body is not valid JSON.") from None
    if not isinstance(document, dict):
        raise ConsoleError(400, "The body must be a JSON object.")
    return document
