"""Gatekeeper: the reserved header namespaces never cross the client boundary.

Feature state lives in system metadata (`X-Account-Sysmeta-*`, `X-Container-Sysmeta-*`,
`X-Object-Sysmeta-*`, `X-Object-Transient-Sysmeta-*`); `X-Backend-*` headers are internal
too. The gatekeeper runs first in the pipeline and removes every such header from client
requests — so a client can neither forge feature state nor steer internal behaviour — and
from every response, so stored state never leaks. Features set system metadata through the
request state, which no client can reach. `X-Timestamp` sent by a client is dropped as well:
the server alone decides when a write happened, except for a container sync push whose
signature the `container_sync` feature checks (the value waits in the request state for it).
"""

from __future__ import annotations

import functools
import logging
import re

from strato.api.http import Response
from strato.api.swift.context import SwiftRequest
from strato.api.swift.pipeline import Feature, Handler

log = logging.getLogger("strato.api.swift.features.gatekeeper")
INBOUND_TIMESTAMP = "inbound_x_timestamp"
"""`sr.state` key: the client's X-Timestamp, taken off the request (see the docstring)."""

_RESERVED = re.compile(
    r"x-(account|container|object)-sysmeta-|x-object-transient-sysmeta-|x-backend"
    r"|x-account-(host|device|partition)$|x-container-(host|device|partition|root-db-state)$"
    r"|x-delete-at-(host|device|partition|container)$",
    re.IGNORECASE)


@functools.lru_cache(maxsize=4096)
def is_reserved(name: str) -> bool:
    """Remembered per name: every request and response has each of its headers checked,
    and the same few names come back all the time."""
    return _RESERVED.match(name) is not None


class Gatekeeper(Feature):
    name = "gatekeeper"

    async def handle(self, sr: SwiftRequest, call_next: Handler) -> Response:
        headers = sr.headers
        removed = [key for key in headers if is_reserved(key)]
        for key in removed:
            del headers[key]
        inbound = headers.pop("x-timestamp", None)
        if inbound is not None:  # believed only on a signed container sync push
            sr.state[INBOUND_TIMESTAMP] = inbound
        if removed:
            log.debug("removed reserved request headers %s (%s)", removed,
                      sr.request.trans_id)
        response = await call_next(sr)
        leaked = [key for key in response.headers if is_reserved(key)]
        for key in leaked:
            del response.headers[key]
        return response
