"""The result document of bulk operations (bulk delete, extract archive, SLO put/delete).

Swift answers these with a small report in the format the client's `Accept` asks for:
plain text `Key: value` lines, JSON, or XML, each ending with the per-item `Errors` list
of `[quoted name, status]` pairs.
"""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import escape  # nosec B406  # escapes output; parses nothing

import orjson

ACCEPTABLE_FORMATS = ("text/plain", "application/json", "application/xml", "text/xml")


def best_format(accept: str | None) -> str | None:
    """The best of ACCEPTABLE_FORMATS for an Accept header; text/plain without one."""
    if not accept or not accept.strip():
        return ACCEPTABLE_FORMATS[0]
    best: str | None = None
    best_q = 0.0
    for item in accept.split(","):
        media, *params = (p.strip() for p in item.split(";"))
        media = media.lower()
        q = 1.0
        for param in params:
            if param.startswith("q="):
                try:
                    q = float(param[2:])
                except ValueError:
                    q = 0.0
        for offer in ACCEPTABLE_FORMATS:
            kind = offer.partition("/")[0]
            if media in (offer, f"{kind}/*", "*/*") or media == "*":
                exact = 0.001 if media == offer else 0.0
                if q > 0 and q + exact > best_q:
                    best, best_q = offer, q + exact
                break
    return best


def render(fmt: str | None, result: dict[str, Any], errors: list[list[str]],
           root_tag: str) -> bytes:
    if fmt == "application/json":
        return orjson.dumps({**result, "Errors": errors})
    if fmt is not None and fmt.endswith("/xml"):
        out = ['<?xml version="1.0" encoding="UTF-8"?>\n', f"<{root_tag}>\n"]
        for key in sorted(result):
            tag = key.replace(" ", "_").lower()
            out.append(f"<{tag}>{escape(str(result[key]))}</{tag}>\n")
        out.append("<errors>\n")
        for name, status in errors:
            out.append(f"<object><name>{escape(name)}</name><status>{escape(status)}"
                       "</status></object>\n")
        out.append(f"</errors>\n</{root_tag}>\n")
        return "".join(out).encode("utf-8")
    lines = [f"{key}: {result[key]}\n" for key in sorted(result)]
    lines.append("Errors:\n")
    lines.extend(f"{name}, {status}\n" for name, status in errors)
    return "".join(lines).encode("utf-8")
