"""`GET /crossdomain.xml`: a cross-domain policy for Flash, Java and Silverlight clients.

As Swift's `crossdomain` middleware, offered only when configured: set `crossdomain_policy`
(`--crossdomain-policy`, `STRATO_CROSSDOMAIN_POLICY`) to the `<allow-access-from .../>`
lines, e.g. ``<allow-access-from domain="*.example.com" secure="true" />``. Swift's default
policy, `domain="*"`, lets every site's scripts act with a visitor's credentials, so Strato
has no default: without a policy the path is not served and `/info` does not list
`crossdomain`.
"""

from __future__ import annotations

from strato.api.http import Response

PATH = "/crossdomain.xml"


def crossdomain_response(policy: str) -> Response:
    """Swift's document, byte for byte, around the configured policy."""
    body = ('<?xml version="1.0"?>\n'
            '<!DOCTYPE cross-domain-policy SYSTEM '
            '"http://www.adobe.com/xml/dtds/cross-domain-policy.dtd" >\n'
            f'<cross-domain-policy>\n{policy}\n</cross-domain-policy>')
    return Response(200, {"Content-Type": "application/xml"}, body.encode("utf-8"))
