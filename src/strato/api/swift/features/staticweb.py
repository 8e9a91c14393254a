"""Static web: serve a container as a website, as Swift's `staticweb` middleware does.

    swift post -r '.r:*,.rlistings' container          # public, listings allowed
    swift post -m 'web-index:index.html' container     # /c/ and /c/dir/ serve index.html
    swift post -m 'web-error:error.html' container     # 404 -> 404error.html, 401 -> 401error.html
    swift post -m 'web-listings:true' container        # HTML listings where there is no index
    swift post -m 'web-listings-css:listing.css' container

Anonymous GET/HEAD requests get website behaviour; a request with a token gets it only with
`X-Web-Mode: true` (otherwise the plain Swift API answers). A container or pseudo-directory
URL without a trailing slash redirects (301) to the one with it; an object that does not
exist but is a pseudo-directory redirects the same way. Directory marker objects
(`application/directory`, or `X-Container-Meta-Web-Directory-Type`) count as absent.
Objects still need the container's read ACL (`.r:*`), and listings `.rlistings`.
"""

from __future__ import annotations

import dataclasses
import html
from typing import Any
from urllib.parse import quote

from strato.api.http import Response, is_digits
from strato.api.swift.context import SwiftRequest
from strato.api.swift.errors import SwiftError, error_response
from strato.api.swift.features.tempurl import CONTENT_GENERATOR, TEMPURL
from strato.api.swift.headers import listing_date
from strato.api.swift.object import AUTHORIZE_OVERRIDE
from strato.api.swift.pipeline import Feature, Handler
from strato.stores.metadata.records import ContainerRecord, ListingQuery, ObjectRecord, Subdir

TRUE = ("true", "1", "yes", "on", "t", "y")
LISTING_LIMIT = 10000
DEFAULT_STYLE = """  <style type="text/css">
   h1 {font-size: 1em; font-weight: bold;}
   th {text-align: left; padding: 0px 1em 0px 1em;}
   td {padding: 0px 1em 0px 1em;}
   a {text-decoration: none;}
  </style>
"""


def human_readable(value: int) -> str:
    number = float(value)
    index = -1
    suffixes = "KMGTPEZY"
    while number >= 1024 and index + 1 < len(suffixes):
        index += 1
        number = round(number / 1024)
    return f"{int(number)}" if index == -1 else f"{round(number)}{suffixes[index]}i"


def utf8(value: str) -> str:
    """Header values are latin-1 strings of the bytes sent; object names are UTF-8."""
    try:
        return value.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return value


class StaticWeb(Feature):
    name = "staticweb"

    def capabilities(self) -> dict[str, Any]:
        return {}

    async def handle(self, sr: SwiftRequest, call_next: Handler) -> Response:
        web_mode = sr.headers.get("x-web-mode", "").lower() in TRUE
        if (sr.request.method not in ("GET", "HEAD") or sr.container is None
                or (sr.auth is not None and not web_mode and not sr.state.get(TEMPURL))):
            return await call_next(sr)
        record = await sr.services.storage.get_container(sr.account, sr.container)
        meta = record.meta if record else {}
        conf = {k[len("x-container-meta-web-"):]: utf8(v).strip() for k, v in meta.items()
                if k.startswith("x-container-meta-web-")}
        site = _Site(sr, call_next, record, conf, web_mode)
        if sr.obj is None:
            return await site.container()
        return await site.object()


class _Site:
    """One static-web request: the container's settings and the steps to answer it."""

    def __init__(self, sr: SwiftRequest, call_next: Handler, record: ContainerRecord | None,
                 conf: dict[str, str], web_mode: bool) -> None:
        self.sr = sr
        self.call_next = call_next
        self.record = record
        self.index = conf.get("index", "")
        self.error = conf.get("error", "")
        self.listings = conf.get("listings", "").lower() in TRUE
        self.css = conf.get("listings-css", "")
        self.label = conf.get("listings-label", "")
        self.dir_type = conf.get("directory-type") or "application/directory"
        self.web_mode = web_mode
        self.slash = sr.request.path.endswith("/")

    async def _get(self, obj: str | None) -> Response:
        """A subrequest through the rest of the pipeline, errors as responses."""
        sub = dataclasses.replace(self.sr, obj=obj, state=dict(self.sr.state))
        try:
            return await self.call_next(sub)
        except SwiftError as exc:
            return error_response(exc.status, exc.message, exc.headers)

    def _redirect(self) -> Response:
        path = quote(self.sr.request.path) + "/"
        host = self.sr.headers.get("host")
        scheme = self.sr.request.scope.get("scheme", "http")
        location = f"{scheme}://{host}{path}" if host else path
        return Response(301, {"Location": location, "Content-Type": "text/html; charset=UTF-8"},
                        b"<html><h1>Moved Permanently</h1><p>The resource has moved "
                        b"permanently.</p></html>")

    async def _error(self, response: Response) -> Response:
        """The container's `<status><web-error>` page for 401/404, with the error's status."""
        if not self.error or response.status not in (401, 404):
            return response
        page = await self._get(f"{response.status}{self.error}")
        if page.status // 100 != 2:
            return response
        page.status = response.status
        return page

    def _may_list(self) -> bool:
        sr = self.sr
        authorizer = sr.services.authorizer
        return bool(sr.state.get(AUTHORIZE_OVERRIDE)) or authorizer.is_owner(
            sr.auth, sr.account) or authorizer.can_read(
            sr.auth, self.record.meta.get("x-container-read") if self.record else None,
            sr.headers.get("referer"), listing=True, **sr.acl_scope(sr.account))

    async def container(self) -> Response:
        if not self._may_list():
            return await self._error(error_response(403 if self.sr.auth else 401))
        if not self.listings and not self.index:
            if self.web_mode:
                return error_response(404)
            return await self.call_next(self.sr)
        if not self.slash:
            return self._redirect()
        if not self.index:
            return await self.listing("")
        response = await self._get(self.index)
        if response.status == 404:
            return await self.listing("")
        if response.status // 100 not in (2, 3):
            return await self._error(response)
        return response

    def _is_dir_marker(self, response: Response) -> bool:
        length = response.headers.get("Content-Length") or str(response.content_length or 0)
        return (response.headers.get("Content-Type") == self.dir_type
                and is_digits(length) and int(length) <= 1)

    async def object(self) -> Response:
        obj = self.sr.obj
        assert obj is not None
        response = await self._get(obj)
        if response.status // 100 in (2, 3) and not self._is_dir_marker(response):
            return response
        if response.status // 100 in (2, 3):
            response = error_response(404)
        elif response.status != 404:
            return response
        if not self.listings and not self.index:
            return await self._error(response) if self.web_mode else response
        if self.index:
            index_response = await self._get(obj.rstrip("/") + "/" + self.index)
            if index_response.status // 100 in (2, 3):
                return self._redirect() if not self.slash else index_response
        if not self.slash:
            if self.record is None or not await self._list(obj + "/", 1):
                return await self._error(error_response(404))
            return self._redirect()
        return await self.listing(obj)

    async def _list(self, prefix: str, limit: int = LISTING_LIMIT
                    ) -> list[ObjectRecord | Subdir]:
        assert self.record is not None
        return await self.sr.services.storage.list_objects(
            self.record, ListingQuery(prefix=prefix, delimiter="/", limit=limit))

    async def listing(self, prefix: str) -> Response:
        if not self.listings:
            return await self._error(Response(404, {"Content-Type": "text/html; charset=UTF-8"},
                                              self._disabled_page(prefix).encode("utf-8")))
        if self.record is None:
            return await self._error(error_response(404))
        if not self._may_list():
            return await self._error(error_response(403 if self.sr.auth else 401))
        entries = await self._list(prefix)
        if prefix and not entries:
            return await self._error(error_response(404))
        return Response(200, {"Content-Type": "text/html; charset=UTF-8",
                              CONTENT_GENERATOR: "staticweb"},
                        self._render(prefix, entries).encode("utf-8"))

    def _label(self) -> str:
        path = self.sr.request.path
        if self.label:
            return f"{self.label}/" + "/".join(path.split("/")[4:])
        return path

    def _css(self, prefix: str) -> str:
        if self.css.startswith(("/", "http://", "https://")):
            return quote(self.css, safe=":/")
        return "../" * prefix.count("/") + quote(self.css)

    def _disabled_page(self, prefix: str) -> str:
        label = html.escape(self._label())
        page = f"<!DOCTYPE html>\n<html>\n<head>\n<title>Listing of {label}</title>\n"
        if self.css:
            page += f'  <link rel="stylesheet" type="text/css" href="{self._css(prefix)}" />\n'
        page += ("</head>\n<body>  <h1>Web Listing Disabled</h1>   <p>The owner of this web "
                 "site has disabled web listing.   <p>If you are the owner of this web site, "
                 "you can enable   web listing by setting X-Container-Meta-Web-Listings.</p>")
        if self.index:
            page += ("<h1>Index File Not Found</h1> <p>The owner of this web site has set "
                     f" <b>X-Container-Meta-Web-Index: {html.escape(self.index)}</b>. "
                     " However, this file is not found.</p>")
        return page + " </body>\n</html>\n"

    def _tempurl_query(self) -> tuple[str, str]:
        """(query to append to links, the temp URL's prefix) when a temp URL asked."""
        query = self.sr.request.query
        if not self.sr.state.get(TEMPURL) or query.get("temp_url_prefix") is None:
            return "", ""
        prefix = query["temp_url_prefix"]
        parts = [f"temp_url_prefix={quote(prefix)}",
                 f"temp_url_expires={quote(query.get('temp_url_expires', ''))}",
                 f"temp_url_sig={query.get('temp_url_sig', '')}"]
        if query.get("temp_url_ip_range"):
            parts.append(f"temp_url_ip_range={quote(query['temp_url_ip_range'])}")
        if "inline" in query:
            parts.append("inline")
        return "?" + "&amp;".join(parts), prefix

    def _render(self, prefix: str, entries: list[ObjectRecord | Subdir]) -> str:
        label = html.escape(self._label())
        qs, tempurl_prefix = self._tempurl_query()
        lines = ["<!DOCTYPE html>", "<html>", " <head>", f"  <title>Listing of {label}</title>"]
        if self.css:
            lines.append(f'  <link rel="stylesheet" type="text/css" href="{self._css(prefix)}" />')
        else:
            lines.append(DEFAULT_STYLE.rstrip("\n"))
        lines += [" </head>", " <body>", f'  <h1 id="title">Listing of {label}</h1>',
                  '  <table id="listing">', '   <tr id="heading">',
                  '    <th class="colname">Name</th>', '    <th class="colsize">Size</th>',
                  '    <th class="coldate">Date</th>', "   </tr>"]
        if len(prefix) > len(tempurl_prefix):
            lines += ['   <tr id="parent" class="item">',
                      f'    <td class="colname"><a href="../{qs}">../</a></td>',
                      '    <td class="colsize">&nbsp;</td>', '    <td class="coldate">&nbsp;</td>',
                      "   </tr>"]
        for entry in entries:
            if isinstance(entry, Subdir):
                name = entry.name[len(prefix):]
                href = quote(name).replace(".", "%2E") + qs
                lines += ['   <tr class="item subdir">',
                          f'    <td class="colname"><a href="./{href}">'
                          f"{html.escape(name)}</a></td>",
                          '    <td class="colsize">&nbsp;</td>',
                          '    <td class="coldate">&nbsp;</td>', "   </tr>"]
        for entry in entries:
            if isinstance(entry, ObjectRecord):
                name = entry.name[len(prefix):]
                href = quote(name).replace(".", "%2E") + qs
                types = " ".join("type-" + html.escape(t.lower())
                                 for t in entry.content_type.split("/"))
                date = listing_date(entry.timestamp).split(".")[0].replace("T", " ")
                lines += [f'   <tr class="item {types}">',
                          f'    <td class="colname"><a href="./{href}">'
                          f"{html.escape(name)}</a></td>",
                          f'    <td class="colsize">{human_readable(entry.size)}</td>',
                          f'    <td class="coldate">{date}</td>', "   </tr>"]
        lines += ["  </table>", " </body>", "</html>", ""]
        return "\n".join(lines)
