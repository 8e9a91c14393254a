"""Listing parameters and the JSON, XML and plain-text renderings clients parse."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from xml.sax.saxutils import escape, quoteattr  # nosec B406  # escapes output; parses nothing

import orjson

from strato.api.http import Request, Response, is_digits
from strato.api.swift.constraints import CONTAINER_LISTING_LIMIT
from strato.api.swift.errors import SwiftError
from strato.api.swift.headers import header_text, listing_date
from strato.domain.policies import StoragePolicy
from strato.stores.metadata.records import ContainerRecord, ListingQuery, ObjectRecord, Subdir

FORMATS = {"json": "application/json", "xml": "application/xml", "plain": "text/plain"}


def listing_content_type(fmt: str) -> str:
    """The Content-Type a listing in `fmt` carries (also on HEAD, as Swift's middleware)."""
    return FORMATS.get(fmt, fmt) + "; charset=utf-8"


def listing_format(request: Request) -> str:
    """`format=` wins; else negotiate on Accept like Swift (406 when nothing fits)."""
    fmt = request.query.get("format", "").lower()
    if fmt:  # as Swift: a format it does not know means plain text, whatever Accept says
        return fmt if fmt in FORMATS else "plain"
    accept = request.headers.get("accept", "").strip()
    if not accept:
        return "plain"
    best, best_q = None, 0.0
    for order, item in enumerate(accept.split(",")):
        media, *params = (p.strip() for p in item.split(";"))
        q = 1.0
        for param in params:
            if param.startswith("q="):
                try:
                    q = float(param[2:])
                except ValueError:
                    q = 0.0
        for fmt_name, candidates in (("plain", ("text/plain", "text/*", "*/*")),
                                     ("json", ("application/json", "application/*")),
                                     ("xml", ("application/xml",)),
                                     ("text/xml", ("text/xml",))):
            if media.lower() in candidates and q > best_q:
                # exact types beat wildcards at equal q; earlier entries beat later ones
                best, best_q = fmt_name, q - (0.0001 if "*" in media else 0) - order * 1e-6
    if best is None:
        raise SwiftError(406)
    return best


def listing_query(request: Request, max_limit: int = CONTAINER_LISTING_LIMIT) -> ListingQuery:
    q = request.query
    limit = max_limit
    given = q.get("limit", "")
    if is_digits(given):  # as Swift: anything but digits is ignored, not refused
        limit = int(given)
        if limit > max_limit:
            raise SwiftError(412, f"Maximum limit is {max_limit}")
    delimiter = q.get("delimiter", "")
    for key in ("marker", "end_marker", "prefix", "path"):
        if len(q.get(key, "").encode("utf-8")) > 1024 * 4:
            raise SwiftError(400, f"Value of {key} too long")
    reverse = q.get("reverse", "").lower() in ("1", "true", "yes", "on", "t", "y")
    return ListingQuery(prefix=q.get("prefix", ""), marker=q.get("marker", ""),
                        end_marker=q.get("end_marker", ""), delimiter=delimiter,
                        limit=limit, reverse=reverse, path=q.get("path"))


def object_entry(record: ObjectRecord | Subdir) -> dict[str, object]:
    if isinstance(record, Subdir):
        return {"subdir": record.name}
    content_type = record.content_type
    if not content_type.isascii():  # kept as the header's raw bytes; listings show the text
        content_type = header_text(content_type)
    entry: dict[str, object] = {
        "name": record.name, "hash": record.etag, "bytes": record.size,
        "content_type": content_type, "last_modified": listing_date(record.timestamp)}
    meta = record.meta
    if not meta:  # most objects: nothing more to look up
        return entry
    slo_size = meta.get("x-object-sysmeta-slo-size")
    if slo_size is not None:  # a static large object lists its total size
        entry["bytes"] = int(slo_size)
    slo_etag = meta.get("x-object-sysmeta-slo-etag")
    if slo_etag is not None:  # ...and its SLO etag (so does a static link to one)
        entry["slo_etag"] = f'"{slo_etag}"'
    return entry


def container_entry(record: ContainerRecord | Subdir,
                    policy_of: Callable[[ContainerRecord], StoragePolicy]
                    ) -> dict[str, object]:
    if isinstance(record, Subdir):
        return {"subdir": record.name}
    return {"name": record.name, "count": record.object_count, "bytes": record.bytes_used,
            "last_modified": listing_date(record.put_timestamp),
            "storage_policy": policy_of(record).name}


def render(fmt: str, kind: str, name: str, entries: Sequence[dict[str, object]],
           headers: dict[str, str]) -> Response:
    """kind: 'container' (object entries) or 'account' (container entries)."""
    if fmt == "json":
        headers["Content-Type"] = "application/json; charset=utf-8"
        return Response(200, headers, orjson.dumps(list(entries)))
    if fmt in ("xml", "text/xml"):  # text/xml only when the client's Accept named it
        headers["Content-Type"] = ("text/xml" if fmt == "text/xml" else "application/xml"
                                   ) + "; charset=utf-8"
        item = "object" if kind == "container" else "container"
        parts = [f'<?xml version="1.0" encoding="UTF-8"?>\n<{kind} name={quoteattr(name)}>']
        for entry in entries:
            if "subdir" in entry:
                sub = str(entry["subdir"])
                parts.append(f"<subdir name={quoteattr(sub)}><name>{escape(sub)}</name>"
                             "</subdir>")
                continue
            fields = "".join(f"<{k}>{escape(str(v))}</{k}>" for k, v in entry.items())
            parts.append(f"<{item}>{fields}</{item}>")
        parts.append(f"</{kind}>")
        return Response(200, headers, "".join(parts).encode("utf-8"))
    headers["Content-Type"] = "text/plain; charset=utf-8"
    if not entries:
        headers["Content-Length"] = "0"  # Swift sends it on an empty 204 listing
        return Response(204, headers, b"")
    text = "".join(f"{e.get('name', e.get('subdir'))}\n" for e in entries)
    return Response(200, headers, text.encode("utf-8"))
