"""Container sync, the receiving and configuring half (Swift's `container_sync` middleware).

A container mirrors its objects to another container, on this cluster or another, when its
owner sets both::

    swift post -t '//realm1/west/AUTH_acct/backup' -k 'container-secret' photos
    swift post -k 'container-secret' backup          # on the destination

Realms and clusters come from the `container_sync_realms` file (see
`strato.domain.container_sync`); `/info` lists them under `container_sync.realms`. A
destination that names an unknown realm or cluster is refused with 400 and Swift's text
(`No realm key for 'r'`, `No cluster endpoint for 'r' 'c'`); only the
`//realm/cluster/account/container` form is accepted (not full URLs), and not on a container
with object versioning configured (400, as in Swift). Sync-To and the key are
owner-only headers: others neither see nor set them, and they never reach the logs.

Pushed writes carry `X-Container-Sync-Auth: <realm> <nonce> <sig>` instead of a token. A
valid signature (realm key or key2, with the destination container's own sync key,
compared in constant time) lets the request act as the container's owner on that container
only, keeps the sender's `X-Timestamp` (a push not newer than the stored object or the
name's last delete changes nothing: a PUT gets 202, as from Swift's proxy, a DELETE 409)
and lets a Static Large Object manifest in its stored form and a static symlink through
unchecked, as their segments or target may not have arrived yet. A bad one
gets 401 `X-Container-Sync-Auth header not valid; contact cluster operator for support.`
The pushing half is a background job (`strato.server.container_sync`).
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from strato.api.http import Response
from strato.api.swift.context import SwiftRequest, SwiftServices
from strato.api.swift.errors import SwiftError
from strato.api.swift.features.gatekeeper import INBOUND_TIMESTAMP
from strato.api.swift.features.object_versioning import ENABLED as VERSIONS_ENABLED
from strato.api.swift.object import (
    AUTHORIZE_OVERRIDE,
    OVERRIDE_SCOPE,
    SLO_OVERRIDE,
    SYMLINK_OVERRIDE,
    SYNC_TIMESTAMP,
)
from strato.api.swift.pipeline import Feature, Handler
from strato.domain.container_sync import Realms, verify

log = logging.getLogger("strato.container_sync")

INVALID_BODY = b"X-Container-Sync-Auth header not valid; contact cluster operator for support."


class ContainerSync(Feature):
    name = "container_sync"

    def __init__(self, services: SwiftServices) -> None:
        super().__init__(services)
        settings = services.settings
        self.realms = Realms.load(settings.container_sync_realms if settings else None)
        self.current = settings.container_sync_current if settings else ""

    def capabilities(self) -> dict[str, Any]:
        return {"realms": self.realms.info(self.current)}

    async def handle(self, sr: SwiftRequest, call_next: Handler) -> Response:
        method = sr.request.method
        if sr.obj is None and sr.container is not None and method in ("PUT", "POST"):
            value = sr.headers.get("x-container-sync-to")
            if value:
                try:
                    self.realms.validate(value)
                except ValueError as exc:
                    raise SwiftError(400, str(exc)) from None
                record = await sr.services.storage.get_container(sr.account, sr.container)
                if record is not None and VERSIONS_ENABLED in record.meta:
                    raise SwiftError(400, "Cannot configure container sync on a container "
                                     "with object versioning configured.")
        auth = sr.headers.pop("x-container-sync-auth", None)
        if auth is None or sr.container is None:
            return await call_next(sr)
        x_timestamp = sr.state.get(INBOUND_TIMESTAMP) or "0"
        record = await sr.services.storage.get_container(sr.account, sr.container)
        user_key = sr.services.storage.sync_key(record) if record else ""
        if not verify(self.realms, auth, method, quote(sr.request.path), x_timestamp,
                      user_key):
            log.info("container sync push refused: %s %s (%s)", method, sr.request.path,
                     sr.request.trans_id)
            return Response(401, {"Content-Type": "text/plain",
                                  "Www-Authenticate":
                                      f'SwiftContainerSync realm="{quote(sr.account)}"'},
                            b"" if method == "HEAD" else INVALID_BODY)
        sr.state[AUTHORIZE_OVERRIDE] = True
        sr.state[OVERRIDE_SCOPE] = (sr.account, sr.container)
        sr.state[SLO_OVERRIDE] = True
        sr.state[SYMLINK_OVERRIDE] = True
        try:
            # Swift's internal form may add an offset (`<time>_<hex>`): the time is what counts
            seconds = x_timestamp.partition("_")[0]
            sr.state[SYNC_TIMESTAMP] = float(seconds) if x_timestamp != "0" else None
        except ValueError:
            raise SwiftError(400, f"X-Timestamp should be a UNIX timestamp float value; "
                             f"was {x_timestamp!r}") from None
        return await call_next(sr)
